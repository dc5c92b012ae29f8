"""Bad input at the API edge: precise errors, the right status, nothing half-created."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from slipway.runtimes.base import InstanceState


class NoRuntime:
    """These tests never start an instance; anything that tries is a bug."""

    name = "none"

    def state(self, instance_id: str) -> InstanceState:
        return InstanceState(instance_id, "missing")

    def instances(self) -> list[str]:
        return []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        raise AssertionError(f"runtime.{name} called")


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings, runtime=NoRuntime(), router=MemoryRouter())  # type: ignore[arg-type]
    yield p
    p.close()


@pytest.fixture
def client(plat: Platform) -> Iterator[TestClient]:
    with transaction(plat.sessions) as session:
        token, _ = auth_service.create_token(session, name="t")
    with TestClient(create_app(platform=plat, background=False)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_health_needs_no_auth_but_everything_else_does(plat: Platform) -> None:
    with TestClient(create_app(platform=plat, background=False)) as c:
        assert c.get("/api/v1/health").status_code == 200
        response = c.get("/api/v1/apps")
        assert response.status_code == 401
        assert "Bearer" in response.json()["error"]
        assert c.get("/api/v1/apps", headers={"Authorization": "Bearer slw_wrong"}).status_code == 401


def test_revoked_token_is_refused(plat: Platform, client: TestClient) -> None:
    with transaction(plat.sessions) as session:
        auth_service.revoke_token(session, name="t")
    assert client.get("/api/v1/apps").status_code == 401


@pytest.mark.parametrize("name", ["Hello", "1app", "-x", "a_b", "a" * 64, "app-", "", "a b", "a;rm -rf"])
def test_invalid_app_names(client: TestClient, make_repo, name: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    response = client.post("/api/v1/apps", json={"name": name, "git_url": repo.url})
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error", "code", "detail"}
    assert client.get("/api/v1/apps").json() == []


def test_duplicate_name_is_a_conflict(client: TestClient, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    assert client.post("/api/v1/apps", json={"name": "dup", "git_url": repo.url}).status_code == 201
    response = client.post("/api/v1/apps", json={"name": "dup", "git_url": repo.url})
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/pwned", "ext::sh -c touch% /tmp/pwned", "relative/path",
                                 "ftp://example.com/repo.git", "https://exa mple.com/x.git"])
def test_dangerous_or_invalid_git_urls(client: TestClient, url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/apps", json={"name": "evil", "git_url": url})
    assert response.status_code == 422, response.text
    assert client.get("/api/v1/apps").json() == []


def test_unreachable_repo_and_unknown_branch(client: TestClient, make_repo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/apps", json={"name": "gone", "git_url": f"file://{tmp_path}/nothing-here"})
    assert response.status_code == 422
    repo = make_repo()
    response = client.post("/api/v1/apps", json={"name": "nobranch", "git_url": repo.url, "branch": "release"})
    assert response.status_code == 422
    assert "release" in response.json()["error"]
    response = client.post("/api/v1/apps", json={"name": "badbranch", "git_url": repo.url, "branch": "--force"})
    assert response.status_code == 422
    assert client.get("/api/v1/apps").json() == []


def test_env_keys_are_validated_all_or_nothing(client: TestClient, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    client.post("/api/v1/apps", json={"name": "envy", "git_url": repo.url})
    response = client.patch("/api/v1/apps/envy/env", json={"set": {"GOOD": "1", "9BAD": "2"}})
    assert response.status_code == 422
    assert "9BAD" in response.json()["error"]
    assert client.patch("/api/v1/apps/envy/env", json={"set": {"PORT": "80"}}).status_code == 422
    assert client.get("/api/v1/apps/envy/env").json()["env"] == {}
    assert client.patch("/api/v1/apps/envy/env", json={"unset": ["NOPE"]}).status_code == 404


def test_unknown_app_and_unknown_fields(client: TestClient) -> None:
    assert client.get("/api/v1/apps/nope").status_code == 404
    assert client.post("/api/v1/apps/nope/deploys").status_code == 404
    response = client.post("/api/v1/apps", json={"name": "x", "git_url": "/tmp", "surprise": 1})
    assert response.status_code == 422


def test_rollback_without_history_is_a_clear_conflict(client: TestClient, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    client.post("/api/v1/apps", json={"name": "fresh", "git_url": repo.url})
    response = client.post("/api/v1/apps/fresh/rollback")
    assert response.status_code == 409
    assert "no live release" in response.json()["error"]
    assert client.post("/api/v1/apps/fresh/restart").status_code == 409


def test_oversized_body_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/apps", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413


# ---- infrastructure failures: one mapping (errors.from_exception), JSON on every route ---------------

def test_infrastructure_failures_are_classified(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import errno
    import sqlite3

    import psycopg
    from sqlalchemy import exc as sa_exc

    from slipway.errors import DatabaseUnavailable, DiskFull, from_exception

    full = from_exception(OSError(errno.ENOSPC, "No space left on device", "/srv/slipway/x"))
    assert isinstance(full, DiskFull) and full.status == 507 and full.message == "disk full: No space left on device"
    assert from_exception(OSError(errno.ENOENT, "No such file")) is None  # a bug, not the disk
    assert from_exception(ValueError("x")) is None

    def sqlite_error(code: int, text: str) -> sa_exc.OperationalError:
        orig = sqlite3.OperationalError(text)
        orig.sqlite_errorcode = code  # type: ignore[attr-defined]
        return sa_exc.OperationalError("SELECT 1", {}, orig)

    assert isinstance(from_exception(sqlite_error(13, "database or disk is full")), DiskFull)
    cantopen = from_exception(sqlite_error(14, "unable to open database file"))
    assert isinstance(cantopen, DatabaseUnavailable) and cantopen.status == 503
    assert cantopen.message == "database unavailable: unable to open database file"
    # SQLite calls a full disk under its WAL a "disk I/O error" (SQLITE_IOERR_WRITE = 778): told apart by space
    assert isinstance(from_exception(sqlite_error(778, "disk I/O error"), disks=[tmp_path]), DatabaseUnavailable)
    assert from_exception(sqlite_error(1, "no such table: apps")) is None  # a bug of ours: stays a 500

    refused = psycopg.OperationalError('connection failed: connection to server at "10.1.2.3", port 5432 '
                                       'failed: Connection refused')
    error = from_exception(sa_exc.OperationalError("SELECT 1", {}, refused))
    assert isinstance(error, DatabaseUnavailable) and error.message == "database unavailable: Connection refused"
    assert "10.1.2.3" not in error.message
    assert isinstance(from_exception(sa_exc.TimeoutError("QueuePool limit reached")), DatabaseUnavailable)


def test_a_full_disk_on_any_route_is_json(plat: Platform, client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import errno

    from slipway.apps import service as app_service

    def no_space(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(app_service, "create", no_space)
    response = client.post("/api/v1/apps", json={"name": "full", "git_url": "https://example.com/x.git"})
    assert response.status_code == 507, response.text
    assert response.json() == {"error": "disk full: No space left on device", "code": "disk_full",
                               "detail": "disk full: No space left on device"}
    assert client.get("/api/v1/apps").json() == []
