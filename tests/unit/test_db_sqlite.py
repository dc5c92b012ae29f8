"""SQLite: the threads of one process take turns at the one writer, and WAL checkpoints leave commits alone."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from slipway.db import make_engine
from slipway.db_sqlite import Checkpointer


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    yield engine
    engine.dispose()


def _wal_frames(path: str) -> int:
    with sqlite3.connect(path) as conn:  # a PASSIVE checkpoint that copies nothing new: the log's length
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_writer_waits_for_the_one_before_it_instead_of_failing(engine: Engine) -> None:
    """Two threads write at once: the second starts when the first commits, with no "database is locked"."""
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
            first_in.set()
            time.sleep(0.3)  # longer than SQLite's first busy-handler steps
            order.append("first commits")

    def second() -> None:
        first_in.wait(5)
        with engine.begin() as conn:
            order.append("second begins")
            conn.execute(text("INSERT INTO t (v) VALUES ('second')"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first commits", "second begins"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2


@pytest.mark.parametrize("ending", ["commit", "rollback", "error", "close"])
def test_the_writer_lock_is_given_back_however_the_transaction_ends(engine: Engine, ending: str) -> None:
    conn = engine.connect()
    conn.begin()
    conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
    if ending == "commit":
        conn.commit()
    elif ending == "rollback":
        conn.rollback()
    elif ending == "error":
        with pytest.raises(OperationalError):
            conn.execute(text("INSERT INTO nowhere VALUES (1)"))
        conn.rollback()
    conn.close()
    done = threading.Event()

    def writer() -> None:
        with engine.begin() as other:
            other.execute(text("INSERT INTO t (v) VALUES ('y')"))
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    assert done.wait(5), f"the lock was kept after {ending}"


def test_readers_do_not_wait_for_the_writer(engine: Engine) -> None:
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t (v) VALUES ('x')"))
        read: list[int] = []

        def reader() -> None:
            with engine.connect().execution_options(read_only=True) as conn:
                read.append(int(conn.execute(text("SELECT count(*) FROM t")).scalar() or 0))

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(5)
        assert read == [0]  # done while the write transaction is still open, and it does not see it


def test_with_a_checkpointer_commits_leave_the_log_to_it_and_it_stays_short(engine: Engine) -> None:
    path = str(engine.url.database)
    checkpointer = Checkpointer(engine, every=0.05, max_frames=200)
    checkpointer.start()
    try:
        for i in range(600):  # several times max_frames of log
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 2000 + str(i)})
        with engine.connect() as conn:  # the connections were told to leave checkpoints alone
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpointer.backstop
        deadline = time.monotonic() + 5
        while _wal_frames(path) >= checkpointer.max_frames and time.monotonic() < deadline:
            with engine.begin() as conn:  # a writer rewinds a log that was copied back completely
                conn.execute(text("INSERT INTO t (v) VALUES ('tick')"))
            time.sleep(0.05)
        assert _wal_frames(path) < checkpointer.max_frames
    finally:
        checkpointer.stop()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t WHERE v != 'tick'")).scalar() == 600
    with engine.begin() as conn:  # stopped: commits checkpoint again as SQLite does by default
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_the_checkpointer_is_a_no_op_off_sqlite_files(tmp_path: Path) -> None:
    memory = make_engine("sqlite://")
    checkpointer = Checkpointer(memory)
    checkpointer.start()
    assert not checkpointer.enabled
    checkpointer.stop()
    memory.dispose()
