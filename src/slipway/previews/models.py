"""Pull request previews: one row per pull/merge request of an app, and the app's preview settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class Preview(Base):
    """A pull request's environment. Its app row (`<app>--pr-<n>`) exists while the preview is up; this
    row stays after the teardown so that a reopened PR updates the same forge comment."""

    __tablename__ = "previews"
    __table_args__ = (UniqueConstraint("parent_app_id", "number", name="uq_previews_pr"),
                      Index("ix_previews_state_activity", "state", "last_activity_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), default=None)
    number: Mapped[int]
    provider: Mapped[str] = mapped_column(String(16))
    repo: Mapped[str | None] = mapped_column(String(255), default=None)  # forge coordinates: owner/name, project id
    head_ref: Mapped[str] = mapped_column(String(255), default="")
    head_repo: Mapped[str | None] = mapped_column(String(255), default=None)
    head_commit: Mapped[str | None] = mapped_column(String(64), default=None)
    fork: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str | None] = mapped_column(String(1024), default=None)  # the PR's page
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | closing | closed
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # why it closed
    comment_id: Mapped[str | None] = mapped_column(String(64), default=None)  # the one forge comment
    comment_lock: Mapped[int | None] = mapped_column(default=None)  # the job writing the comment
    comment_lock_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_activity_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PreviewConfig(Base):
    """What an app's previews get. Nothing of production's env unless listed in shared_keys; pull requests
    from forks get no preview unless `forks` is on, and then only the overrides listed in fork_safe_keys."""

    __tablename__ = "preview_configs"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    shared_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    overrides_enc: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted JSON {KEY: value}
    fork_safe_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    forks: Mapped[bool] = mapped_column(default=False, server_default=false())  # previews of forks' PRs (opt-in)
    max_previews: Mapped[int | None] = mapped_column(default=None)  # None: SLIPWAY_PREVIEW_MAX_PER_APP
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
