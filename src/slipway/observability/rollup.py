"""Rollups (raw → minute → hour, avg and max per metric) and retention per resolution.

Both are periodic tasks any process may run: a rollup rewrites whole buckets in one transaction
(delete, then insert), so running it twice gives the same rows; a concurrent duplicate on PostgreSQL
fails on the primary key and is ignored (the other process did the work).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from slipway.db import transaction, utcnow
from slipway.observability.models import METRICS, TABLES, metric_hour, metric_minute, metric_raw
from slipway.platform import Platform

log = logging.getLogger(__name__)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
SETTLE = dt.timedelta(seconds=15)  # a bucket is rolled up once it ended this long ago (late writers)
MAX_CATCH_UP = dt.timedelta(days=2)  # per run: a long outage is caught up over several runs


def floor(ts: dt.datetime, step: dt.timedelta) -> dt.datetime:
    seconds = int(step.total_seconds())
    epoch = int(ts.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


def aggregate(rows: Iterable[Mapping[str, Any]], step: dt.timedelta, *, source: str) -> list[dict[str, Any]]:
    """Group rows by (scope, target, bucket) and compute each metric's avg and max.

    source "raw": each row is one sample (value = avg = max, weight 1).
    source "minute": each row is a bucket of `n` samples; the avg is weighted by n, the max is the max of maxes.
    A metric that is NULL in every row of a bucket stays NULL.
    """
    groups: dict[tuple[str, str, dt.datetime], dict[str, Any]] = {}
    for row in rows:
        key = (row["scope"], row["target"], floor(row["ts"], step))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"n": 0, "sums": {}, "weights": {}, "maxes": {}}
        weight = 1 if source == "raw" else int(row["n"])
        group["n"] += weight
        for metric in METRICS:
            avg = row[metric] if source == "raw" else row[f"{metric}_avg"]
            top = row[metric] if source == "raw" else row[f"{metric}_max"]
            if avg is not None:
                group["sums"][metric] = group["sums"].get(metric, 0.0) + avg * weight
                group["weights"][metric] = group["weights"].get(metric, 0) + weight
            if top is not None:
                group["maxes"][metric] = max(group["maxes"].get(metric, top), top)
    out = []
    for (scope, target, bucket), group in groups.items():
        row_out: dict[str, Any] = {"scope": scope, "target": target, "ts": bucket, "n": group["n"]}
        for metric in METRICS:
            weight = group["weights"].get(metric)
            row_out[f"{metric}_avg"] = group["sums"][metric] / weight if weight else None
            row_out[f"{metric}_max"] = group["maxes"].get(metric)
        out.append(row_out)
    return out


def _roll(platform: Platform, *, source: Table, target: Table, step: dt.timedelta, now: dt.datetime) -> int:
    end = floor(now - SETTLE, step)  # exclusive: the bucket in progress waits
    with platform.sessions() as session:
        last = session.scalar(select(func.max(target.c.ts)))
        first = session.scalar(select(func.min(source.c.ts))) if last is None else None
    if last is not None:
        start = last + step
    elif first is not None:
        start = floor(first, step)
    else:
        return 0
    end = min(end, start + MAX_CATCH_UP)
    if start >= end:
        return 0
    with transaction(platform.sessions) as session:
        rows = session.execute(select(source).where(source.c.ts >= start, source.c.ts < end)).mappings()
        buckets = aggregate(rows, step, source="raw" if source is metric_raw else "rollup")
        session.execute(delete(target).where(target.c.ts >= start, target.c.ts < end))
        if buckets:
            session.execute(insert(target), buckets)
    return len(buckets)


def roll_up(platform: Platform, *, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    done = {}
    for name, source, target, step in (("minute", metric_raw, metric_minute, MINUTE),
                                       ("hour", metric_minute, metric_hour, HOUR)):
        try:
            done[name] = _roll(platform, source=source, target=target, step=step, now=now)
        except IntegrityError:
            log.info("%s rollup: another process wrote the same buckets", name)
            done[name] = 0
    return done


def enforce_retention(platform: Platform, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete points older than each resolution's retention; returns rows deleted per resolution."""
    settings = platform.settings
    now = now or utcnow()
    keep = {"raw": dt.timedelta(hours=settings.metrics_raw_retention_hours),
            "minute": dt.timedelta(days=settings.metrics_minute_retention_days),
            "hour": dt.timedelta(days=settings.metrics_hour_retention_days)}
    deleted = {}
    for name, table in TABLES.items():
        with transaction(platform.sessions) as session:
            deleted[name] = session.execute(delete(table).where(table.c.ts < now - keep[name])).rowcount
    return deleted
