"""The deploy log: lines go to the database in small batches, so any process can stream them."""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from slipway.db import transaction, utcnow
from slipway.deploys.models import DeployLogLine
from slipway.redaction import Redactor


class DeployLog:
    def __init__(self, factory: sessionmaker[Session], deploy_id: int, *, flush_every: float = 0.2,
                 batch: int = 50) -> None:
        self._factory = factory
        self._deploy_id = deploy_id
        self._pending: list[tuple[dt.datetime, str]] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._flush_every = flush_every
        self._batch = batch
        self._redactor = Redactor()

    def redact(self, values: list[str]) -> None:
        """Never let an env value reach the log (nor its base64 or URL-encoded form), even if the app prints it."""
        self._redactor = Redactor(values)

    def scrub(self, text: str) -> str:
        return self._redactor(text)

    def __call__(self, line: str) -> None:
        # PostgreSQL's text cannot hold NUL: an app printing one must not make the deploy's log write fail
        line = self.scrub(line).replace("\x00", "\ufffd")
        with self._lock:
            self._pending.append((utcnow(), line))
            due = len(self._pending) >= self._batch or time.monotonic() - self._last_flush >= self._flush_every
        if due:
            self.flush()

    def step(self, title: str) -> None:
        self(f"-----> {title}")
        self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if pending:
            with transaction(self._factory) as session:
                session.add_all(DeployLogLine(deploy_id=self._deploy_id, ts=ts, line=line)
                                for ts, line in pending)


def lines(session: Session, deploy_id: int, *, after_id: int = 0, limit: int = 1000) -> list[DeployLogLine]:
    return list(session.scalars(
        select(DeployLogLine).where(DeployLogLine.deploy_id == deploy_id, DeployLogLine.id > after_id)
        .order_by(DeployLogLine.id).limit(limit)
    ))
