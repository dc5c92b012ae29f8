from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class AuditRecord(Base):
    """Append-only: nothing in Slipway updates a row; only the retention prune deletes old ones.

    Ids of apps, projects and teams are kept as plain columns (no foreign keys): a record outlives
    what it describes, and `resource_name` keeps the name it had.
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160), index=True)  # user:ada, token:ci, system, webhook:github …
    user_id: Mapped[int | None] = mapped_column(default=None)
    token_id: Mapped[int | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(16))  # api | dashboard | webhook | scheduler | system | cli
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(96), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(32), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(64), default=None)
    resource_name: Mapped[str | None] = mapped_column(String(255), default=None)
    app_id: Mapped[int | None] = mapped_column(default=None, index=True)
    project_id: Mapped[int | None] = mapped_column(default=None, index=True)
    team_id: Mapped[int | None] = mapped_column(default=None, index=True)
    status: Mapped[int | None] = mapped_column(default=None)  # HTTP status when it came from a request
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the event's payload (redacted)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"table.column": [old, new]} (redacted)
