"""Engine, sessions and the declarative Base. Migrations (Alembic) live in slipway/migrations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, TypeDecorator, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from slipway import db_sqlite


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (which drops zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, dict[str, str]: JSON,
                           dict[str, int]: JSON, list[str]: JSON}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args=db_sqlite.connect_args())
        db_sqlite.configure(engine)  # pragmas, BEGIN IMMEDIATE, one writer thread at a time
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads: on SQLite it takes no write lock (cheap polling, safe to nest)."""
    engine = factory.kw["bind"]
    with engine.connect().execution_options(read_only=True) as connection, Session(bind=connection) as session:
        yield session


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    import slipway.models  # noqa: F401  (register every table on Base.metadata)

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("slipway") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")  # every branch: features add their own revisions


def migrate_in_subprocess(url: str) -> None:
    """Migrate from a short-lived child process, so a long-running server never loads Alembic (~10 MB)."""
    import os
    import sys

    from slipway.proc import run

    # the URL may hold a password: pass it in the environment, not on a command line others can read
    code = "import os; from slipway.db import make_engine, migrate; migrate(make_engine(os.environ['_SLIPWAY_DB']))"
    result = run([sys.executable, "-c", code], env={**os.environ, "_SLIPWAY_DB": url}, timeout=600)
    if not result.ok:
        raise RuntimeError("database migration failed:\n" + "\n".join(result.tail))
