"""Shared fixtures: real databases (SQLite by default, PostgreSQL when SLIPWAY_TEST_POSTGRES is set),
isolated settings, a platform with the real local runtime, git repositories of small apps."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slipway.config import Settings

POSTGRES_ENV = "SLIPWAY_TEST_POSTGRES"  # e.g. postgresql+psycopg://postgres@127.0.0.1:5432


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's SLIPWAY_* settings or git config."""
    for key in list(os.environ):
        if key.startswith("SLIPWAY_") and key != POSTGRES_ENV:
            monkeypatch.delenv(key)
    # nothing a test does may write the real ~/.ssh/authorized_keys
    monkeypatch.setenv("SLIPWAY_GIT_AUTHORIZED_KEYS", str(tmp_path / "ssh" / "authorized_keys"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Test\n\temail = test@example.com\n"
                                        "[init]\n\tdefaultBranch = main\n")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests hash with argon2 at its lowest cost: production cost (~50 ms a hash) made every user
    fixture slow. Servers the integration tests start in their own processes keep the real cost."""
    from argon2 import PasswordHasher

    from slipway.auth import service as auth_service

    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def postgres_base() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database migrated to the newest schema per test session; every test gets a fresh copy of it
    (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL) instead of migrating again."""
    import sqlalchemy

    from slipway.db import make_engine, migrate

    base = postgres_base()
    if base is None:
        path = tmp_path_factory.mktemp("db-template") / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        engine.dispose()  # the last connection checkpoints the WAL into the file
        yield str(path)
        return
    name = f"slipway_tpl_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{base}/{name}")
    migrate(engine)
    engine.dispose()  # a template must have no open connection while it is copied
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path, _migrated_template: str) -> Iterator[str]:
    base = postgres_base()
    if base is None:
        target = tmp_path / "slipway.db"
        shutil.copyfile(_migrated_template, target)
        yield f"sqlite:///{target}"
        return
    name = f"slipway_test_{secrets.token_hex(6)}"
    with _PG_ADMIN.engine(base).connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template}"')
    try:
        yield f"{base}/{name}"
    finally:
        _PG_ADMIN.drop_later(base, name)


class _PgAdmin:
    """Drops test databases in a background thread: a DROP takes ~0.5 s the next test need not wait for."""

    def __init__(self) -> None:
        import queue
        import threading

        self._engines: dict[str, object] = {}
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._drop_loop, daemon=True)
        self._started = False

    def engine(self, base: str):  # type: ignore[no-untyped-def]
        import sqlalchemy

        if base not in self._engines:
            self._engines[base] = sqlalchemy.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        return self._engines[base]

    def drop_later(self, base: str, name: str) -> None:
        if not self._started:
            self._thread.start()
            self._started = True
        self._queue.put((base, name))

    def _drop_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            base, name = item
            try:
                with self.engine(base).connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                self._queue.task_done()

    def finish(self) -> None:
        if self._started:
            self._queue.join()


_PG_ADMIN = _PgAdmin()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _PG_ADMIN.finish()  # every test database is gone before the run ends
    _remove_app_users(session)


def _remove_app_users(session: pytest.Session) -> None:
    """System users the sandbox created for apps of this run's homes (users mode, as root) go with it."""
    if os.geteuid() != 0:
        return
    import pwd

    from slipway.sandbox import USER_COMMENT, USER_PREFIX, _delete_user

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = str(factory.getbasetemp())
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(USER_PREFIX) and entry.pw_gecos.startswith(USER_COMMENT) and base in entry.pw_gecos:
            _delete_user(entry.pw_name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_range(size: int = 40) -> str:
    """A block of ports nobody listens on, distinct per test so parallel runs don't meet."""
    for _ in range(50):
        start = 20000 + secrets.randbelow(30000)
        block = range(start, start + size)
        if all(_port_free(p) for p in block[:5]):
            return f"{block.start}-{block.stop - 1}"
    raise RuntimeError("no free port block")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, router="none", secret_key="test-key-" + "x" * 24,
                    listen=f"127.0.0.1:{free_port()}", http_port=free_port(), https_port=free_port(),
                    port_range=free_range(), health_timeout=20,
                    watch_seconds=1.0, stop_grace=3, drain_seconds=0.2, workers=0)


# ---- git repositories of small apps ------------------------------------------------------------

APP_PY = '''\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("version.txt").read().strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait for an ACK between

    def do_GET(self):
        body = json.dumps({"version": VERSION, "greeting": os.environ.get("GREETING", ""),
                           "release": os.environ.get("SLIPWAY_RELEASE")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True).stdout

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD").strip()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()


def python_app_files(version: str = "1", *, procfile: str = "web: python app.py\n") -> dict[str, str]:
    return {"app.py": APP_PY, "version.txt": version + "\n", "requirements.txt": "", "Procfile": procfile}


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Repo]:
    def make(name: str = "repo", files: dict[str, str] | None = None) -> Repo:
        path = tmp_path / "repos" / name
        path.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        repo = Repo(path)
        repo.commit(files if files is not None else python_app_files(), "initial")
        return repo

    return make
