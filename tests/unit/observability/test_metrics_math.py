"""Rollup math, resolution choice and time windows."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.errors import Invalid
from slipway.observability.models import METRICS
from slipway.observability.rollup import HOUR, MINUTE, aggregate, floor
from slipway.observability.series.service import choose_resolution, parse_time, parse_window

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def raw(target: str, seconds: float, **values: float | None) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(METRICS)
    row.update(values, scope="instance", target=target, ts=T0 + dt.timedelta(seconds=seconds))
    return row


def test_floor_to_minute_and_hour() -> None:
    moment = dt.datetime(2024, 5, 1, 12, 34, 56, 789, tzinfo=dt.UTC)
    assert floor(moment, MINUTE) == dt.datetime(2024, 5, 1, 12, 34, tzinfo=dt.UTC)
    assert floor(moment, HOUR) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def test_raw_samples_roll_up_to_minute_avg_and_max_per_target() -> None:
    rows = [raw("a", 0, cpu=10, mem=100), raw("a", 10, cpu=30, mem=300), raw("a", 50, cpu=20, mem=None),
            raw("a", 61, cpu=99), raw("b", 5, cpu=1)]
    out = {(r["target"], r["ts"]): r for r in aggregate(rows, MINUTE, source="raw")}
    first = out[("a", T0)]
    assert first["n"] == 3
    assert first["cpu_avg"] == pytest.approx(20.0) and first["cpu_max"] == 30
    assert first["mem_avg"] == pytest.approx(200.0) and first["mem_max"] == 300  # NULL samples are skipped
    assert first["net_rx_avg"] is None and first["net_rx_max"] is None  # never measured stays NULL
    assert out[("a", T0 + MINUTE)]["cpu_avg"] == 99 and out[("a", T0 + MINUTE)]["n"] == 1
    assert out[("b", T0)]["cpu_max"] == 1


def test_minutes_roll_up_to_hours_weighted_by_sample_count() -> None:
    def minute(offset: int, n: int, avg: float, top: float) -> dict[str, object]:
        row: dict[str, object] = {f"{m}_{a}": None for m in METRICS for a in ("avg", "max")}
        row.update(scope="app", target="7", ts=T0 + dt.timedelta(minutes=offset), n=n, cpu_avg=avg, cpu_max=top)
        return row

    [hour] = aggregate([minute(0, 6, 10.0, 15.0), minute(1, 2, 50.0, 80.0)], HOUR, source="rollup")
    assert hour["n"] == 8
    assert hour["cpu_avg"] == pytest.approx((6 * 10 + 2 * 50) / 8)  # not (10 + 50) / 2
    assert hour["cpu_max"] == 80


@pytest.mark.parametrize(("span", "resolution"), [
    (dt.timedelta(hours=1), "raw"), (dt.timedelta(hours=6), "raw"), (dt.timedelta(hours=6, seconds=1), "minute"),
    (dt.timedelta(days=7), "minute"), (dt.timedelta(days=7, seconds=1), "hour"), (dt.timedelta(days=90), "hour"),
])
def test_resolution_follows_the_span(span: dt.timedelta, resolution: str) -> None:
    assert choose_resolution(span) == resolution


def test_windows_from_ranges_and_times() -> None:
    now = T0
    assert parse_window("24h", None, None, now=now) == (now - dt.timedelta(hours=24), now)
    assert parse_window(None, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00", now=now) == (
        T0 - dt.timedelta(hours=2), T0 - dt.timedelta(hours=1))
    assert parse_time("15m", now=now) == now - dt.timedelta(minutes=15)
    for bad in (("2y", None, None), (None, "12h", "13h"), (None, "yesterday", None)):
        with pytest.raises(Invalid):
            parse_window(*bad, now=now)
