from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class Instance(Base):
    """One running copy of a process type, as Slipway placed it. Live state comes from the runtime."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    process_type: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str] = mapped_column(String(32), default="local")
    port: Mapped[int | None] = mapped_column(default=None)
    # starting → running (healthy, may receive traffic) → stopping → stopped | failed
    status: Mapped[str] = mapped_column(String(16), default="starting")
    ooms: Mapped[int] = mapped_column(default=0)  # OOM kills already recorded as instance.oom events
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PortLease(Base):
    """A port handed to an instance; the primary key makes a double lease impossible."""

    __tablename__ = "port_leases"

    port: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    instance_id: Mapped[str] = mapped_column(String(128), unique=True)
    leased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
