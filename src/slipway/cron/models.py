"""Scheduled jobs of an app and the ledger of their runs (expected and actual, missed included)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class CronJob(Base):
    __tablename__ = "cron_jobs"
    __table_args__ = (UniqueConstraint("app_id", "name", name="uq_cron_jobs_app_name"),
                      Index("ix_cron_jobs_due", "paused", "next_run_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    schedule: Mapped[str] = mapped_column(String(200))
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    command: Mapped[list[str]] = mapped_column(default=list)  # argv: never run through a shell
    timeout: Mapped[int] = mapped_column(default=600)  # seconds
    concurrency: Mapped[str] = mapped_column(String(8), default="forbid")  # forbid | allow | replace
    retries: Mapped[int] = mapped_column(default=0)
    process_type: Mapped[str] = mapped_column(String(63), default="worker")
    catch_up: Mapped[str] = mapped_column(String(8), default="once")  # once | none
    paused: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(8), default="api")  # api | repo (slipway.toml, follows releases)
    # the next scheduled time not yet put in the ledger; moved forward by one compare-and-set per tick
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CronRun(Base):
    """One expected or actual run. The unique (job, scheduled time) makes a double schedule impossible."""

    __tablename__ = "cron_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_at", name="uq_cron_runs_job_time"),
                      Index("ix_cron_runs_job_status", "job_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("cron_jobs.id", ondelete="CASCADE"))
    scheduled_at: Mapped[dt.datetime] = mapped_column()
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual | catch-up
    # queued → running → succeeded | failed | timeout | replaced;  or missed | skipped (never started)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    release: Mapped[int | None] = mapped_column(default=None)
    instance_id: Mapped[str | None] = mapped_column(String(128), default=None)  # its output in log search
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
