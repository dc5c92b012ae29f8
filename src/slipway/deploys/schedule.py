"""When a scheduled deploy runs: a wall-clock time in a named time zone, turned into one UTC instant."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slipway.db import utcnow
from slipway.errors import Invalid

FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {name!r}: use an IANA name such as Europe/Lisbon or UTC") from exc


def parse_when(at: str, tz: str | None = None, *, now: dt.datetime | None = None) -> dt.datetime:
    """'2026-12-01 03:00' in tz (default UTC) → an aware UTC datetime, refused when not in the future.

    An ISO time with an offset ('…T03:00+00:00') is taken as is (tz must then be absent). A local time
    that does not exist (skipped by a DST change) is refused rather than silently shifted.
    """
    text = at.strip()
    value: dt.datetime | None = None
    for fmt in FORMATS:
        try:
            value = dt.datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if value is None:
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise Invalid(f"cannot read the time {at!r}: expected 'YYYY-MM-DD HH:MM'") from exc
    if value.tzinfo is not None:
        if tz:
            raise Invalid(f"{at!r} already has a UTC offset: leave out the time zone ({tz})")
        instant = value.astimezone(dt.UTC)
    else:
        local = value.replace(tzinfo=zone(tz or "UTC"))
        instant = local.astimezone(dt.UTC)
        if instant.astimezone(local.tzinfo).replace(tzinfo=None) != value:
            raise Invalid(f"{text} does not exist in {tz} (the clocks skip it for daylight saving time)")
    current = now or utcnow()
    if instant <= current:
        raise Invalid(f"{text} {tz or 'UTC'} is in the past (it is now {current:%Y-%m-%d %H:%M} UTC)",
                      detail={"at": instant.isoformat(), "now": current.isoformat()})
    return instant
