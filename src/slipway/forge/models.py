"""An app's link to its forge (API base URL, encrypted token) and the commit statuses Slipway reports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class ForgeLink(Base):
    __tablename__ = "forge_links"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # github | gitlab | gitea
    api_url: Mapped[str] = mapped_column(String(1024))
    token_enc: Mapped[str] = mapped_column(Text)
    repo: Mapped[str | None] = mapped_column(String(255), default=None)  # default: what the webhooks say
    comments: Mapped[bool] = mapped_column(default=True)  # one PR comment with the preview URL
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ForgeTarget(Base):
    """One commit status at the forge, kept current: the jobs post whatever state it holds when they run,
    so retries and out-of-order jobs never leave an older state last."""

    __tablename__ = "forge_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)  # the linked app
    deploy_id: Mapped[int | None] = mapped_column(ForeignKey("deploys.id", ondelete="CASCADE"), default=None,
                                                  index=True)
    preview_id: Mapped[int | None] = mapped_column(ForeignKey("previews.id", ondelete="CASCADE"), default=None)
    repo: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | success | failure | error
    description: Mapped[str] = mapped_column(String(140), default="")
    target_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    posted_state: Mapped[str | None] = mapped_column(String(16), default=None)  # last state the forge took
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
