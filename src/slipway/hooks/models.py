from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class AppHook(Base):
    """An app's webhook endpoint: a URL-safe id for /hooks/<provider>/<hook_id> and a shared secret."""

    __tablename__ = "app_hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    hook_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_enc: Mapped[str] = mapped_column(Text)
    # branches that deploy: names or fnmatch globs separated by commas; None means the app's branch
    branch_filter: Mapped[str | None] = mapped_column(String(255), default=None)
    deploy_tags: Mapped[bool] = mapped_column(default=False)
    # e.g. "Mon-Fri 09:00-17:00 Europe/Lisbon": pushes outside it wait for the next opening
    deploy_window: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class HookDelivery(Base):
    """One webhook request as received: the delivery log, and the idempotency key of redeliveries."""

    __tablename__ = "hook_deliveries"
    # a redelivery carries the same delivery id: the constraint makes "deploy once" hold across processes.
    # Rejected (unsigned) requests are stored with delivery_id NULL, so a forger cannot burn a real id.
    __table_args__ = (UniqueConstraint("app_id", "provider", "delivery_id", name="uq_hook_deliveries_key"),
                      Index("ix_hook_deliveries_app_received", "app_id", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(64), default="")
    delivery_id: Mapped[str | None] = mapped_column(String(128), default=None)
    verified: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(16))  # queued | ignored | ping | rejected | invalid
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    ref: Mapped[str | None] = mapped_column(String(255), default=None)
    commit: Mapped[str | None] = mapped_column(String(64), default=None)
    deploy_id: Mapped[int | None] = mapped_column(ForeignKey("deploys.id", ondelete="SET NULL"), default=None)
    headers: Mapped[dict[str, str]] = mapped_column(default=dict)
    body: Mapped[str | None] = mapped_column(Text, default=None)  # dropped after the retention period
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
