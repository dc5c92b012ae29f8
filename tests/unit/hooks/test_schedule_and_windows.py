"""Scheduled times in named zones, and deploy windows."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.deploys.schedule import parse_when
from slipway.errors import Invalid
from slipway.hooks import windows

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)  # a Monday


def test_time_in_a_zone_becomes_utc() -> None:
    # Lisbon is UTC+0 in winter (WET) and UTC+1 in summer (WEST)
    assert parse_when("2026-12-01 03:00", "Europe/Lisbon", now=NOW) == dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    assert parse_when("2026-07-01 03:00", "Europe/Lisbon", now=NOW) == dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.UTC)
    assert parse_when("2026-07-01 03:00", None, now=NOW) == dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)
    assert parse_when("2026-07-01T03:00:00+02:00", None, now=NOW) == dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("at", "tz", "words"), [
    ("2026-05-31 23:59", "UTC", "in the past"),
    ("2026-06-01 13:30", "Europe/Lisbon", "in the past"),  # 12:30 UTC… no: 13:30 WEST = 12:30 UTC, future
    ("tomorrow", None, "cannot read"),
    ("2026-12-01 03:00", "Mars/Olympus", "unknown time zone"),
    ("2027-03-28 01:30", "Europe/Lisbon", "does not exist"),  # clocks jump 01:00 → 02:00
    ("2026-12-01T03:00+01:00", "Europe/Lisbon", "offset"),
])
def test_refused_times(at: str, tz: str | None, words: str) -> None:
    if at == "2026-06-01 13:30":
        assert parse_when(at, tz, now=NOW) == dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC)
        with pytest.raises(Invalid, match="in the past"):
            parse_when("2026-06-01 12:59", tz, now=NOW)  # 11:59 UTC
        return
    with pytest.raises(Invalid, match=words):
        parse_when(at, tz, now=NOW)


def test_window_open_and_next_opening() -> None:
    window = windows.parse("Mon-Fri 09:00-17:00 Europe/Lisbon")
    assert window.next_opening(NOW) is None  # Monday 13:00 in Lisbon
    evening = dt.datetime(2026, 6, 1, 17, 30, tzinfo=dt.UTC)  # 18:30 Lisbon
    assert window.next_opening(evening) == dt.datetime(2026, 6, 2, 8, 0, tzinfo=dt.UTC)
    friday_night = dt.datetime(2026, 6, 5, 20, 0, tzinfo=dt.UTC)
    assert window.next_opening(friday_night) == dt.datetime(2026, 6, 8, 8, 0, tzinfo=dt.UTC)


def test_overnight_and_daily_windows() -> None:
    night = windows.parse("22:00-02:00")
    assert night.next_opening(dt.datetime(2026, 6, 2, 1, 0, tzinfo=dt.UTC)) is None
    assert night.next_opening(dt.datetime(2026, 6, 2, 3, 0, tzinfo=dt.UTC)) == dt.datetime(2026, 6, 2, 22, 0,
                                                                                          tzinfo=dt.UTC)
    weekend = windows.parse("Sat,Sun 10:00-12:00")
    assert weekend.next_opening(NOW) == dt.datetime(2026, 6, 6, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("spec", ["", "Mon-Fri", "Mon-Fri 9-17", "Funday 09:00-10:00", "10:00-10:00",
                                  "09:00-17:00 Nowhere/Zone", "09:00-17:00 UTC extra"])
def test_bad_windows(spec: str) -> None:
    with pytest.raises(Invalid):
        windows.parse(spec)
