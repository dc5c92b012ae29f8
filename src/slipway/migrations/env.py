"""Alembic environment: run with a connection handed in by slipway.db.migrate (or the alembic CLI)."""

from alembic import context
from sqlalchemy import create_engine

import slipway.models  # noqa: F401
from slipway.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # alembic CLI: `alembic -x url=sqlite:///… revision --autogenerate`
        url = context.get_x_argument(as_dictionary=True)["url"]
        with create_engine(url).connect() as conn:
            _run_with(conn)
            conn.commit()
    else:
        _run_with(connection)


def _run_with(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
