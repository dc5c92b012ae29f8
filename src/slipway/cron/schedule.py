"""Cron expressions: parsing, the next run times in a job's time zone, and the schedule in words.

The arithmetic is cronsim's (the library behind Healthchecks.io): cron(5) semantics — a restricted
day-of-month and day-of-week match when EITHER matches — and DST handled as Debian's cron does: a
time skipped by a spring-forward runs right after the change, a time repeated by a fall-back runs
once. We add the @-macros, the 5-field rule and time zones by IANA name.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from cronsim import CronSim, CronSimError

from slipway.errors import Invalid

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_PREVIEW = 100
MAX_SCHEDULE_LENGTH = 200
FIELDS = "minute hour day-of-month month day-of-week"


@dataclass(frozen=True)
class Schedule:
    expression: str  # as the user wrote it (macros kept: they read better)
    fields: str  # the 5-field form
    tz: zoneinfo.ZoneInfo

    def after(self, instant: dt.datetime) -> Iterator[dt.datetime]:
        """Run times strictly after `instant` (an aware datetime), in the schedule's zone."""
        start = instant.astimezone(self.tz)  # astimezone sets fold on a repeated wall time
        return iter(CronSim(self.fields, start))

    def next_runs(self, instant: dt.datetime, count: int) -> list[dt.datetime]:
        return list(islice(self.after(instant), count))

    def describe(self) -> str:
        """The schedule in words ("At 02:30", "Every fifth minute"); the expression if cronsim can't say."""
        try:
            return str(CronSim(self.fields, dt.datetime.now(self.tz)).explain())
        except Exception:  # noqa: BLE001 - explain() is a nicety: never fail a listing over it
            return self.expression


def zone(name: str) -> zoneinfo.ZoneInfo:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise Invalid(f"unknown time zone {name!r}: use an IANA name such as Europe/Lisbon or UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {name!r}: use an IANA name such as Europe/Lisbon or UTC") from exc


def parse(expression: str, tz: str = "UTC") -> Schedule:
    """A Schedule, or Invalid with the reason (the field that is wrong, as cronsim reports it)."""
    text = " ".join(expression.split())
    if not text:
        raise Invalid("the schedule is empty: write 5 fields (" + FIELDS + ") or @hourly/@daily/…")
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise Invalid(f"the schedule is longer than {MAX_SCHEDULE_LENGTH} characters")
    if text.startswith("@"):
        fields = MACROS.get(text.lower())
        if fields is None:
            raise Invalid(f"unknown schedule {text!r}: the macros are " + ", ".join(MACROS))
    else:
        fields = text
        if len(fields.split(" ")) != 5:
            raise Invalid(f"a schedule has 5 fields ({FIELDS}), {text!r} has {len(fields.split(' '))}")
    where = zone(tz)
    try:
        CronSim(fields, dt.datetime.now(where))
    except CronSimError as exc:
        raise Invalid(f"invalid schedule {text!r}: {exc}") from exc
    return Schedule(expression=text, fields=fields, tz=where)


def preview(expression: str, tz: str = "UTC", *, after: dt.datetime | None = None, count: int = 5) -> list[str]:
    """The next `count` run times after `after` (default: now), as ISO 8601 with the zone's offset."""
    if not 1 <= count <= MAX_PREVIEW:
        raise Invalid(f"count must be between 1 and {MAX_PREVIEW}")
    if after is not None and after.tzinfo is None:
        raise Invalid("after must be an instant with an offset or Z, e.g. 2026-03-29T00:00:00Z")
    schedule = parse(expression, tz)
    return [t.isoformat() for t in schedule.next_runs(after or dt.datetime.now(dt.UTC), count)]
