"""Deploy windows such as "Mon-Fri 09:00-17:00 Europe/Lisbon": when a webhook push may go live."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from slipway.deploys.schedule import zone
from slipway.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: dt.time
    end: dt.time  # not after start: the window runs past midnight
    tz: str

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """None when `now` is inside the window; otherwise the UTC instant it next opens."""
        tzinfo = zone(self.tz)
        local = now.astimezone(tzinfo)
        for offset in range(-1, 9):
            day = local.date() + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = dt.datetime.combine(day, self.start, tzinfo=tzinfo)
            closes_day = day if self.end > self.start else day + dt.timedelta(days=1)
            closes = dt.datetime.combine(closes_day, self.end, tzinfo=tzinfo)
            if opens <= local < closes:
                return None
            if opens > local:
                return opens.astimezone(dt.UTC)
        return None  # unreachable with at least one day


def _days(spec: str) -> frozenset[int]:
    spec = spec.lower()
    if spec in ("*", "daily", "every"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        try:
            a = DAYS.index(first[:3])
            b = DAYS.index(last[:3]) if last else a
        except ValueError as exc:
            raise Invalid(f"cannot read the days {part!r}: use e.g. Mon-Fri or Sat,Sun") from exc
        days.update(DAYS.index(d) % 7 for d in (DAYS * 2)[a:(b if b >= a else b + 7) + 1])
    return frozenset(days)


def _time(text: str) -> dt.time:
    try:
        return dt.datetime.strptime(text, "%H:%M").time()
    except ValueError as exc:
        raise Invalid(f"cannot read the time {text!r}: use HH:MM") from exc


def parse(spec: str) -> Window:
    """'Mon-Fri 09:00-17:00 Europe/Lisbon' (days and zone optional: daily, UTC)."""
    parts = spec.split()
    if not parts:
        raise Invalid("empty deploy window")
    days = frozenset(range(7))
    if ":" not in parts[0]:
        days = _days(parts.pop(0))
    if not parts or parts[0].count("-") != 1:
        raise Invalid(f"cannot read the deploy window {spec!r}: expected e.g. 'Mon-Fri 09:00-17:00 Europe/Lisbon'")
    start, end = (_time(t) for t in parts[0].split("-"))
    if start == end:
        raise Invalid("a deploy window must not start and end at the same time")
    tz = parts[1] if len(parts) > 1 else "UTC"
    if len(parts) > 2:
        raise Invalid(f"unexpected {' '.join(parts[2:])!r} in the deploy window")
    zone(tz)
    return Window(days, start, end, tz)
