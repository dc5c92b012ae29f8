from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class Release(Base):
    """An immutable, numbered build of one commit plus a config and env snapshot."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # build | rollback | config
    commit: Mapped[str] = mapped_column(String(64))
    build_kind: Mapped[str] = mapped_column(String(32))  # python | node | static | procfile
    artifact_path: Mapped[str] = mapped_column(String(1024))
    # the build's output: process types, release command, health check, runtime env (PATH…)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    env_enc: Mapped[str] = mapped_column(Text)  # encrypted JSON of the app's env vars at release time
    source_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), default=None)
    description: Mapped[str] = mapped_column(String(255), default="")
    pruned: Mapped[bool] = mapped_column(default=False)
    # its deploy failed after the release was recorded: never a rollback target, not counted as kept
    failed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Deploy(Base):
    """One attempt to bring a release live: steps, a log and an outcome."""

    __tablename__ = "deploys"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # deploy | rollback | config | restart | start | stop
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # [scheduled →] queued → running → succeeded | failed | rolled_back;  scheduled | queued → cancelled
    step: Mapped[str] = mapped_column(String(32), default="queued")
    commit: Mapped[str | None] = mapped_column(String(64), default=None)
    # where the commit comes from: None = the app's git URL; "push" = the app's repository on this host
    source: Mapped[str | None] = mapped_column(String(16), default=None)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), default=None)
    target_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # one line (reasons.one_line)
    log_tail: Mapped[str | None] = mapped_column(Text, default=None)  # the output that explains a failure
    # the job that runs this deploy, and when it is due (later than created_at: scheduled, deploy window)
    job_id: Mapped[int | None] = mapped_column(default=None)
    run_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # when traffic reached the new release, and when its crash watch ends (None: nothing to watch)
    live_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    watch_until: Mapped[dt.datetime | None] = mapped_column(default=None)


class DeployLogLine(Base):
    __tablename__ = "deploy_log_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    deploy_id: Mapped[int] = mapped_column(ForeignKey("deploys.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(default=utcnow)
    line: Mapped[str] = mapped_column(Text)
