"""The outbox: state changes and the events they cause are written in one transaction.

Consumers (audit, notifications, live streams) read the table; nothing is kept in module globals,
so any number of server and worker processes see the same events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from slipway.db import Base, utcnow


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)  # e.g. deploy.succeeded, app.created
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), default=None)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


def emit(session: Session, kind: str, /, *, app_id: int | None = None, actor: str = "system",
         **payload: Any) -> Event:
    event = Event(kind=kind, app_id=app_id, actor=actor, payload=payload)
    session.add(event)
    return event
