"""When what Slipway stands on fails: the health endpoint tells the truth, every API route answers JSON.

For real: a SQLite file that cannot be opened, a PostgreSQL URL at a closed port, a Caddy that was
stopped, a filesystem (tmpfs) that is full. After each, nothing was half-written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.errors import Unavailable
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy
from tests.unit.test_api_edges import NoRuntime

pytestmark = pytest.mark.integration
KEY = "test-key-" + "x" * 24


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the socket is: nothing listens there


def sqlite_settings(home: Path, db: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{db}", router="none", secret_key=KEY)


@contextlib.contextmanager
def served(plat: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform=plat, background=False), raise_server_exceptions=False) as client:
        yield client


def token_of(plat: Platform) -> dict[str, str]:
    with transaction(plat.sessions) as session:
        token, _ = auth_service.create_token(session, name="t")
    return {"Authorization": f"Bearer {token}"}


def assert_json_error(response: httpx.Response, status: int, code: str, cause: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["code"] == code and cause in body["error"] and cause in str(body["detail"]), body


# every kind of route: public, read, write, dashboard-authenticated, with or without a body
ROUTES = [("GET", "/api/v1/apps", None), ("POST", "/api/v1/apps", {"name": "later", "git_url": "https://x/y.git"}),
          ("GET", "/api/v1/whoami", None), ("PATCH", "/api/v1/apps/first/env", {"set": {"A": "1"}}),
          ("GET", "/api/v1/ssh-keys", None), ("GET", "/api/v1/apps/first/deploys", None)]


def every_operation(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every operation of the API's schema, path parameters filled in."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), re.sub(r"\{[^}]*\}", "1", path)


def test_sqlite_that_cannot_be_opened(tmp_path: Path, make_repo) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "slipway.db"
    plat = build_platform(sqlite_settings(tmp_path / "home", db), runtime=NoRuntime(),  # type: ignore[arg-type]
                          router=MemoryRouter())
    try:
        headers = token_of(plat)
        with served(plat) as client:
            assert client.get("/api/v1/health").json()["checks"] == {"database": "ok", "router": "ok"}
            assert client.post("/api/v1/apps", headers=headers,
                               json={"name": "first", "git_url": make_repo().url}).status_code == 201
            # the file is gone and a directory is in its place: no connection can open it (root included)
            plat.engine.dispose()
            db.rename(tmp_path / "moved.db")
            db.mkdir()
            health = client.get("/api/v1/health")
            assert health.status_code == 503, health.text
            body = health.json()
            assert body["status"] == "unavailable" and body["version"] and body["checks"]["router"] == "ok"
            assert body["checks"]["database"] == "database unavailable: unable to open database file"
            assert "database unavailable" in body["error"]
            for method, path, payload in ROUTES:
                assert_json_error(client.request(method, path, headers=headers, json=payload), 503,
                                  "database_unavailable", "database unavailable: unable to open database file")
            # back: nothing of what was refused was written
            plat.engine.dispose()
            db.rmdir()
            (tmp_path / "moved.db").rename(db)
            assert client.get("/api/v1/health").status_code == 200
            assert [a["name"] for a in client.get("/api/v1/apps", headers=headers).json()] == ["first"]
            assert client.get("/api/v1/apps/first/env", headers=headers).json()["env"] == {}
    finally:
        plat.close()


def test_postgresql_at_a_closed_port(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", router="none", secret_key=KEY,
                        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/slipway")
    plat = build_platform(settings, runtime=NoRuntime(), router=MemoryRouter(),  # type: ignore[arg-type]
                          run_migrations=False)
    try:
        with served(plat) as client:
            health = client.get("/api/v1/health")
            assert health.status_code == 503, health.text
            assert health.json()["checks"]["database"] == "database unavailable: Connection refused"
            assert "127.0.0.1" not in health.text  # the cause, not where the database is
            for method, path, payload in ROUTES:
                assert_json_error(client.request(method, path, headers={"Authorization": "Bearer slw_x"},
                                                 json=payload), 503, "database_unavailable",
                                  "database unavailable: Connection refused")
            # the class, not the examples: no operation at all answers 500 or anything but JSON
            checked = 0
            for method, path in every_operation(client.app):  # type: ignore[arg-type]
                response = client.request(method, path, headers={"Authorization": "Bearer slw_x"}, json={},
                                          follow_redirects=False)
                checked += 1
                assert response.status_code != 500, (method, path, response.text)
                if response.status_code >= 400:
                    assert response.headers["content-type"].startswith("application/json"), (method, path)
            assert checked > 100
    finally:
        plat.close()


def test_router_down(tmp_path: Path, settings: Settings) -> None:
    try:
        binary = find_caddy()
    except Unavailable as exc:
        pytest.skip(exc.message)
    admin = str(tmp_path / "caddy" / "admin.sock")  # the admin API is a unix socket (egress); nobody listens
    process = CaddyProcess(binary, admin, tmp_path / "caddy")
    router = CaddyRouter(admin, closed_port(), closed_port(), process=process, bind_host="127.0.0.1")
    plat = build_platform(settings, runtime=NoRuntime(), router=router)  # type: ignore[arg-type]
    try:
        process.start()
        with served(plat) as client:
            health = client.get("/api/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
            process.stop()
            health = client.get("/api/v1/health")
            assert health.status_code == 503, health.text
            assert health.json()["checks"] == {
                "database": "ok", "router": "router unavailable: its admin API does not answer (is Caddy running?)"}
            assert health.json()["error"].startswith("router unavailable")
            process.start()
            assert client.get("/api/v1/health").status_code == 200
    finally:
        process.stop()
        process.close()
        plat.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (root only): SLIPWAY_HOME and the database on it, to be filled."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory: Path) -> Path:
    """Write until the filesystem says ENOSPC; the file is kept (the caller removes it)."""
    filler = directory / "filler"
    chunk = b"\0" * (1024 * 1024)
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        while True:  # the last partial MB too
            try:
                fh.write(b"\0" * 4096)
            except OSError:
                break
    return filler


def test_disk_full(small_disk: Path, make_repo) -> None:  # type: ignore[no-untyped-def]
    db = small_disk / "slipway.db"
    plat = build_platform(sqlite_settings(small_disk / "home", db), runtime=NoRuntime(),  # type: ignore[arg-type]
                          router=MemoryRouter())
    try:
        headers = token_of(plat)
        with served(plat) as client:
            assert client.post("/api/v1/apps", headers=headers,
                               json={"name": "first", "git_url": make_repo().url}).status_code == 201
            plat.engine.dispose()  # the WAL is checkpointed and gone: the next write must grow a file
            filler = fill(small_disk)
            second = {"name": "second", "git_url": make_repo("two").url}
            created = client.post("/api/v1/apps", headers=headers, json=second)
            assert_json_error(created, 507, "disk_full", "disk full")
            env = client.patch("/api/v1/apps/first/env", headers=headers, json={"set": {"A": "1"}})
            assert_json_error(env, 507, "disk_full", "disk full")
            listed = client.get("/api/v1/apps", headers=headers)  # reads: served, or a JSON error
            assert listed.status_code == 200 or listed.json()["code"] == "disk_full", listed.text
            filler.unlink()
            plat.engine.dispose()
            assert client.get("/api/v1/health").status_code == 200
            # nothing half-written: no second app, no env var, and the database is intact
            assert [a["name"] for a in client.get("/api/v1/apps", headers=headers).json()] == ["first"]
            assert client.get("/api/v1/apps/first/env", headers=headers).json()["env"] == {}
            with plat.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        plat.close()
