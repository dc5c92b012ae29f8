"""Reading metric series: pick the resolution for a time range, return columns ready to chart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.db import utcnow
from slipway.errors import Invalid
from slipway.observability.models import METRICS, TABLES

RANGES = {"1h": dt.timedelta(hours=1), "6h": dt.timedelta(hours=6), "24h": dt.timedelta(hours=24),
          "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30), "90d": dt.timedelta(days=90)}
STEP = {"raw": None, "minute": 60, "hour": 3600}
INSTANCE_METRICS = ("cpu", "mem", "net_rx", "net_tx", "disk_read", "disk_write", "pids", "fds", "threads",
                    "restarts")
HOST_METRICS = ("cpu", "mem", "mem_total", "net_rx", "net_tx", "disk_read", "disk_write", "disk_used",
                "disk_total", "pids", "load1", "load5", "load15")
MAX_SPAN = dt.timedelta(days=400)


def choose_resolution(span: dt.timedelta) -> str:
    """raw up to 6 h (10 s points: ≤ 2,160), per minute up to 7 days (≤ 10,080), per hour beyond."""
    if span <= dt.timedelta(hours=6):
        return "raw"
    if span <= dt.timedelta(days=7):
        return "minute"
    return "hour"


def parse_window(range_: str | None, start: str | None, end: str | None,
                 *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    now = now or utcnow()
    if start or end:
        begin = parse_time(start, now=now) if start else now - RANGES["1h"]
        finish = parse_time(end, now=now) if end else now
    else:
        key = range_ or "1h"
        if key not in RANGES:
            raise Invalid(f"unknown range {key!r}: use one of {', '.join(RANGES)} or from/to")
        begin, finish = now - RANGES[key], now
    if finish <= begin:
        raise Invalid("'from' must be before 'to'")
    if finish - begin > MAX_SPAN:
        raise Invalid(f"a window spans at most {MAX_SPAN.days} days")
    return begin, finish


RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)\Z")


def parse_time(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """ISO 8601 (a naive time is UTC; 'Z' allowed) or a duration ago: 30s, 15m, 2h, 7d."""
    try:
        return _parse_time(value, now=now or utcnow())
    except OverflowError:  # 99999999999d ago, or year 1 at +14:00: before the first datetime
        raise Invalid(f"invalid time {value!r}: out of range") from None


def _parse_time(value: str, *, now: dt.datetime) -> dt.datetime:
    match = RELATIVE.match(value.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return now - dt.timedelta(seconds=amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"invalid time {value!r}: use ISO 8601 (2024-05-01T12:00:00Z) or 15m, 2h, 7d") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


@dataclass
class Series:
    scope: str
    target: str
    resolution: str
    start: dt.datetime
    end: dt.datetime
    ts: list[dt.datetime]
    # metric → {"avg": [...], "max": [...]}; for raw points avg and max are the sample itself
    values: dict[str, dict[str, list[float | None]]]

    def as_json(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "step": STEP[self.resolution], "from": self.start.isoformat(),
                "to": self.end.isoformat(), "ts": [t.isoformat() for t in self.ts], "metrics": self.values}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        metrics = list(self.values)
        writer.writerow(["ts", *(f"{m}_{agg}" for m in metrics for agg in ("avg", "max"))])
        for i, ts in enumerate(self.ts):
            writer.writerow([ts.isoformat(), *(_fmt(self.values[m][agg][i]) for m in metrics
                                               for agg in ("avg", "max"))])
        return out.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def query(session: Session, *, scope: str, target: str, start: dt.datetime, end: dt.datetime,
          metrics: tuple[str, ...] = INSTANCE_METRICS, resolution: str | None = None) -> Series:
    resolution = resolution or choose_resolution(end - start)
    table = TABLES[resolution]
    metrics = tuple(m for m in metrics if m in METRICS)
    if resolution == "raw":
        columns = [table.c[m] for m in metrics]
    else:
        columns = [table.c[f"{m}_{agg}"] for m in metrics for agg in ("avg", "max")]
    rows = session.execute(
        select(table.c.ts, *columns)
        .where(table.c.scope == scope, table.c.target == target, table.c.ts >= start, table.c.ts <= end)
        .order_by(table.c.ts)
    ).all()
    ts = [row[0] for row in rows]
    values: dict[str, dict[str, list[float | None]]] = {}
    for i, metric in enumerate(metrics):
        if resolution == "raw":
            column = [row[1 + i] for row in rows]
            values[metric] = {"avg": column, "max": column}
        else:
            values[metric] = {"avg": [row[1 + 2 * i] for row in rows], "max": [row[2 + 2 * i] for row in rows]}
    return Series(scope, target, resolution, start, end, ts, values)
