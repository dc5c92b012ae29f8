"""Key rotation: re-encrypt every secret at rest under the first key of SLIPWAY_SECRET_KEY.

Every column written with platform.box is listed in ENCRYPTED; a new encrypted column must be added
here (tests/unit/auth/test_rotate_key.py checks that every `*_enc` column of the schema is listed).

Procedure (no downtime, see docs/guide.md "Rotating the secret key"):
  1. every process: SLIPWAY_SECRET_KEY=<new>, SLIPWAY_OLD_SECRET_KEYS=<old> (rolling restart: each
     process reads both keys; values are written under the new one)
  2. `slipway admin rotate-key`: rewrites every value under the new key, in small transactions
  3. drop SLIPWAY_OLD_SECRET_KEYS (rolling restart again)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from slipway.crypto import Box


def encrypted_columns() -> list[tuple[Any, str]]:
    from slipway.apps.models import EnvVar
    from slipway.auth.models import User
    from slipway.deploys.models import Release
    from slipway.hooks.models import AppHook
    from slipway.notify.models import Channel

    return [(EnvVar, "value_enc"), (Release, "env_enc"), (AppHook, "secret_enc"), (Channel, "secrets_enc"),
            (User, "totp_secret_enc")]


def rotate(sessions: sessionmaker[Session], box: Box, *, batch: int = 200) -> dict[str, int]:
    """Re-encrypt every value under the box's first key; returns the count per table.column.

    Batches commit one by one: a value is readable with either key before and after its batch, so
    servers keep running throughout, and an interrupted rotation is simply run again."""
    counts: dict[str, int] = {}
    for model, column in encrypted_columns():
        label = f"{model.__tablename__}.{column}"
        counts[label] = 0
        pk = model.__mapper__.primary_key[0]
        last = None
        while True:
            with sessions() as session:
                query = select(model).where(getattr(model, column).is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = session.scalars(query).all()
                if not rows:
                    break
                for row in rows:
                    setattr(row, column, box.rotate(getattr(row, column)))
                last = getattr(rows[-1], pk.key)
                session.commit()
                counts[label] += len(rows)
    with sessions() as session:
        from slipway import events

        events.emit(session, "secrets.rotated", actor="admin", counts=counts)
        session.commit()
    return counts
