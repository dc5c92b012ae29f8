"""Tables of observability: metric points (raw, per minute, per hour), checks, their results, incidents,
and which apps show on the public status page.

Metric points are *wide* rows (one row per target and timestamp, one column per metric) rather than one
row per metric: 200 instances sampled every 10 s are 1,200 rows a minute instead of ~15,000, and a chart
query reads one index range. They are Core tables built from METRICS, because the rollup tables carry an
`<m>_avg` and `<m>_max` column per metric and are written with bulk inserts, never as ORM objects.
The primary key (scope, target, ts) is the index every range query uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, UTCDateTime, utcnow

# scope: "host" (target "local"), "app" (target: the app's id), "instance" (target: the instance id)
METRICS: tuple[str, ...] = (
    "cpu",         # percent of one core (may exceed 100 on several cores); host: percent of all cores
    "mem",         # bytes: resident set size of the process tree; host: used memory
    "mem_total",   # bytes: host only
    "net_rx",      # bytes/s received; host only for local instances (see collector.py)
    "net_tx",      # bytes/s sent
    "disk_read",   # bytes/s read from storage
    "disk_write",  # bytes/s written to storage
    "disk_used",   # bytes used on $SLIPWAY_HOME's filesystem: host only
    "disk_total",  # bytes: host only
    "pids",        # processes in the instance's tree; host: all processes
    "fds",         # open file descriptors of the tree
    "threads",     # threads of the tree
    "restarts",    # restarts counted by the runtime (sum over an app's instances)
    "load1",       # host load averages
    "load5",
    "load15",
)
RESOLUTIONS = ("raw", "minute", "hour")


def _key() -> list[Column[Any]]:
    return [Column("scope", String(16), primary_key=True), Column("target", String(128), primary_key=True),
            Column("ts", UTCDateTime(), primary_key=True)]


# the ts index serves what crosses targets: rollups, retention, "latest sample of every app"
metric_raw = Table("metric_raw", Base.metadata, *_key(), *(Column(m, Float, nullable=True) for m in METRICS),
                   Index("ix_metric_raw_ts", "ts"))


def _rollup_table(name: str) -> Table:
    columns = [Column(f"{m}_{agg}", Float, nullable=True) for m in METRICS for agg in ("avg", "max")]
    return Table(name, Base.metadata, *_key(), Column("n", Integer, nullable=False), *columns,
                 Index(f"ix_{name}_ts", "ts"))


metric_minute = _rollup_table("metric_minute")
metric_hour = _rollup_table("metric_hour")
TABLES: dict[str, Table] = {"raw": metric_raw, "minute": metric_minute, "hour": metric_hour}


class Check(Base):
    """A health check of an app (app_id set) or a standalone monitor (app_id None)."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True,
                                               default=None)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # http | tcp | json
    method: Mapped[str] = mapped_column(String(8), default="GET")
    # http/json: an absolute URL, or for app checks a path probed on each live web instance
    target: Mapped[str] = mapped_column(String(2048))
    expected_status: Mapped[int | None] = mapped_column(default=None)  # None: any 2xx/3xx
    body_contains: Mapped[str | None] = mapped_column(String(1024), default=None)
    headers: Mapped[dict[str, str]] = mapped_column(default=dict)
    interval: Mapped[float] = mapped_column(default=60.0)
    timeout: Mapped[float] = mapped_column(default=5.0)
    retries: Mapped[int] = mapped_column(default=3)  # consecutive failures before "down"
    enabled: Mapped[bool] = mapped_column(default=True)
    monitor: Mapped[bool] = mapped_column(default=True)  # run every `interval`
    smoke: Mapped[bool] = mapped_column(default=False)  # run after every deploy switch
    status_page: Mapped[bool] = mapped_column(default=False)  # monitors: listed on the public page
    state: Mapped[str] = mapped_column(String(16), default="unknown")  # unknown|healthy|degraded|down
    failures: Mapped[int] = mapped_column(default=0)  # consecutive
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_response_ms: Mapped[float | None] = mapped_column(default=None)
    last_output: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CheckResult(Base):
    __tablename__ = "check_results"
    __table_args__ = (Index("ix_check_results_check_ts", "check_id", "ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("health_checks.id", ondelete="CASCADE"))
    ts: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16))  # up | degraded | down
    response_ms: Mapped[float | None] = mapped_column(default=None)
    output: Mapped[str | None] = mapped_column(Text, default=None)  # kept for failures only


class Incident(Base):
    """From the failure that made a check "down" to the success that ended it."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_app_started", "app_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("health_checks.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cause: Mapped[str] = mapped_column(String(255))
    output: Mapped[str | None] = mapped_column(Text, default=None)

    @property
    def duration(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


class StatusPageEntry(Base):
    """An app listed on the public status page (the apps table is not ours to widen)."""

    __tablename__ = "status_page_entries"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True,
                                        autoincrement=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    display_name: Mapped[str | None] = mapped_column(String(100), default=None)
