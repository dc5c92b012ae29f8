"""SQLite, the default database: how the threads of one process share its single writer, and WAL
checkpoints kept off the request path. (PostgreSQL needs none of this.)

- **One writer at a time.** A connection that finds SQLite's write lock taken sleeps in SQLite's busy
  handler in growing steps (1, 2, 5, 10, 15, 20, 25 … 100 ms) and retries, so a 5 ms write of one thread
  costs another up to 18 ms: under load that is the latency tail (webhook intake waiting behind the event
  dispatchers). The threads of this process therefore queue on a lock of the engine's and start the moment
  the writer before them is done. Other processes still meet the busy handler.
- **Checkpoints.** In WAL mode a commit that finds more than `wal_autocheckpoint` pages (1,000) in the log
  copies them back into the database file itself, inside its COMMIT, holding the write lock: every ~60
  webhook deliveries one of them took 5-6 ms more, and every writer queued behind it. With a `Checkpointer`
  running (the server starts one), a thread of its own copies the log back every 0.2 s without the write
  lock (PASSIVE: writers go on meanwhile), and commits no longer checkpoint below a far backstop. The log is
  only rewound from its start once it has been copied back completely while no one appended to it, so when
  it grows past `max_frames` the checkpointer finishes the copy holding the writer lock for the last few
  pages (well under a millisecond).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

BUSY_SECONDS = 30.0
DEFAULT_AUTOCHECKPOINT = 1000  # pages: SQLite's own default, for processes without a Checkpointer


class _State:
    """Per engine (not per process: tests build several)."""

    def __init__(self) -> None:
        self.writer_lock = threading.Lock()
        self.autocheckpoint = DEFAULT_AUTOCHECKPOINT


_STATES: weakref.WeakKeyDictionary[Engine, _State] = weakref.WeakKeyDictionary()


class SQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its engine's writer lock back once its write transaction is over
    (after the real COMMIT or ROLLBACK, or on close)."""

    state: _State | None = None
    holds_writer_lock = False
    autocheckpoint = DEFAULT_AUTOCHECKPOINT

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer()

    def close(self) -> None:
        try:
            super().close()  # (rolls back an open transaction)
        finally:
            self.release_writer(force=True)

    def release_writer(self, *, force: bool = False) -> None:
        """Give the lock back unless a transaction is still open (a COMMIT that failed stays the writer's)."""
        if self.holds_writer_lock and self.state is not None and (force or not self.in_transaction):
            self.holds_writer_lock = False
            self.state.writer_lock.release()


def connect_args() -> dict[str, Any]:
    return {"check_same_thread": False, "timeout": BUSY_SECONDS, "factory": SQLiteConnection}


def configure(engine: Engine) -> None:
    """Pragmas on every new connection, and how transactions begin (see the module's docstring)."""
    state = _STATES[engine] = _State()

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # autocommit at the driver level so that we alone decide how a transaction begins
        dbapi_conn.isolation_level = None
        dbapi_conn.state = state
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later writes
        # fails at once with SQLITE_BUSY instead of waiting when another writer got there first.
        # Connections marked read-only (see db.read_only()) never write, so they need no lock.
        if conn.get_execution_options().get("read_only"):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_conn = conn.connection.dbapi_connection
        if not dbapi_conn.holds_writer_lock:
            if not state.writer_lock.acquire(timeout=BUSY_SECONDS):  # what SQLite says after busy_timeout
                raise sqlite3.OperationalError("database is locked")
            dbapi_conn.holds_writer_lock = True
        try:
            if dbapi_conn.autocheckpoint != state.autocheckpoint:  # a Checkpointer started or stopped
                dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={state.autocheckpoint}")
                dbapi_conn.autocheckpoint = state.autocheckpoint
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_conn.release_writer(force=True)
            raise


class Checkpointer:
    """Copies the WAL back into the database file from a thread of its own (see the module's docstring).
    A no-op for an engine that is not a configured SQLite file database."""

    def __init__(self, engine: Engine, *, every: float = 0.2, max_frames: int = 4000, finish_below: int = 64,
                 backstop: int = 20000) -> None:
        self.state = _STATES.get(engine)
        self.path = engine.url.database if engine.dialect.name == "sqlite" else None
        self.every, self.max_frames, self.finish_below, self.backstop = every, max_frames, finish_below, backstop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.state is not None and self.path not in (None, "", ":memory:") and "mode=memory" not in str(
            self.path)

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        assert self.state is not None
        self.state.autocheckpoint = self.backstop  # commits stop checkpointing (below the backstop)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="slipway-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None
        if self.state is not None:
            self.state.autocheckpoint = DEFAULT_AUTOCHECKPOINT

    def _loop(self) -> None:
        conn = sqlite3.connect(str(self.path), timeout=BUSY_SECONDS, isolation_level=None,
                               check_same_thread=False)
        try:
            seen = -1
            while not self._stop.wait(self.every):
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]  # moves on others' commits
                    if version != seen:
                        seen = version
                        self.run_once(conn)
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (commits will checkpoint instead): %s", exc)
        finally:
            conn.close()

    def run_once(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """One round; returns (frames in the log, frames copied back) as the last checkpoint saw them."""
        frames, copied = self._passive(conn)
        if frames < self.max_frames:  # the log was rewound not long ago
            return frames, copied
        # SQLite rewinds the log when a writer begins after everything in it was copied back: catch up
        # without the lock while writers go on (each pass copies what was appended during the one before) …
        for _ in range(8):
            before = copied
            frames, copied = self._passive(conn)
            if copied - before < self.finish_below:
                break
        assert self.state is not None
        if self.state.writer_lock.acquire(timeout=1.0):  # … then the last few, with no writer here meanwhile
            try:
                frames, copied = self._passive(conn)
            finally:
                self.state.writer_lock.release()
        return frames, copied

    @staticmethod
    def _passive(conn: sqlite3.Connection) -> tuple[int, int]:
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames), int(copied)
