"""Key rotation: re-encrypt every secret at rest under the first key of SLIPWAY_SECRET_KEY.

Every column written with platform.box ends in `_enc` (env vars, release env snapshots, webhook secrets,
notification channel credentials, TOTP secrets, and whatever a feature adds later under that naming
rule): the rotation finds them all in the schema, so a new encrypted column needs no change here.

Procedure (no downtime, see docs/guide.md "Rotating the secret key"):
  1. every process: SLIPWAY_SECRET_KEY=<new>, SLIPWAY_OLD_SECRET_KEYS=<old> (rolling restart: each
     process reads both keys; new values are written under the new one). With several processes, first
     roll out SLIPWAY_OLD_SECRET_KEYS=<new> alone, so that no process meets a value it cannot read.
  2. `slipway admin rotate-key`: rewrites every value under the new key, in small transactions
  3. drop SLIPWAY_OLD_SECRET_KEYS (rolling restart again)
"""

from __future__ import annotations

from sqlalchemy import Column, Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from slipway.crypto import Box


def encrypted_columns() -> list[tuple[Table, Column]]:  # type: ignore[type-arg]
    import slipway.models  # noqa: F401  (every table)
    from slipway.db import Base

    return [(table, column) for table in Base.metadata.sorted_tables for column in table.columns
            if column.name.endswith("_enc")]


def rotate(sessions: sessionmaker[Session], box: Box, *, batch: int = 200) -> dict[str, int]:
    """Re-encrypt every value under the box's first key; returns the count per table.column.

    Batches commit one by one: a value is readable with either key before and after its batch, so
    servers keep running throughout, and an interrupted rotation is simply run again."""
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        label = f"{table.name}.{column.name}"
        counts[label] = 0
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            raise RuntimeError(f"{table.name}: key rotation needs a one-column primary key")
        key = pk[0]
        last = None
        while True:
            with sessions() as session:
                query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch)
                if last is not None:
                    query = query.where(key > last)
                rows = session.execute(query).all()
                if not rows:
                    break
                for ident, value in rows:
                    session.execute(update(table).where(key == ident).values({column.name: box.rotate(value)}))
                last = rows[-1][0]
                session.commit()
                counts[label] += len(rows)
    with sessions() as session:
        from slipway import events

        events.emit(session, "secrets.rotated", actor="admin", counts=counts)
        session.commit()
    return counts
