"""One row per hostname an app answers at besides `<app>.<base domain>`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class Domain(Base):
    """A custom domain. A `redirect_to` row (www.shop.example.com) only redirects to its primary name, and
    goes away with it. A certificate is asked for only once `dns_status` is "ok" (the doctor passed)."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)  # ASCII (punycode), lower case, no trailing dot
    redirect_to: Mapped[str | None] = mapped_column(String(253), default=None)
    dns_status: Mapped[str] = mapped_column(String(16), default="unchecked")  # unchecked | ok | failed
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # the doctor's last report
    checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    https_redirect: Mapped[bool] = mapped_column(default=True)  # HTTP → HTTPS once a certificate is served
    hsts: Mapped[bool] = mapped_column(default=False)
    # "acme" (Caddy obtains and renews it) or "uploaded" (the user's own, never renewed by us)
    cert_source: Mapped[str] = mapped_column(String(16), default="acme")
    cert_enc: Mapped[str | None] = mapped_column(Text, default=None)  # uploaded chain + key, encrypted JSON
    # what the last look at the served certificate found (certs.py)
    cert_issuer: Mapped[str | None] = mapped_column(String(255), default=None)
    cert_not_after: Mapped[dt.datetime | None] = mapped_column(default=None)
    cert_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    cert_checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expiry_warned: Mapped[int | None] = mapped_column(default=None)  # the last cert.expiring threshold sent (days)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
