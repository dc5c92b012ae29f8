"""Fuzz the whole API from its own OpenAPI schema (schemathesis), in process, as the host admin.

Checked: no 5xx from any input, and responses that match the schema. Covered: every operation, creating
and deleting apps included, each with at least 50 generated examples plus schemathesis' coverage cases
(boundaries, wrong types, missing and extra fields); then stateful sequences along the links schemathesis
infers from the schema (create a check → read, patch, run, delete it …); then the integer extremes (past 32
and 64 bits) in every integer a request carries. On SQLite, and on PostgreSQL when SLIPWAY_TEST_POSTGRES is
set (its INTEGER columns are 32-bit: what a 64-bit SQLite accepts can overflow there).

Most cases aim at real objects (an app, a team, a user, a channel, checks, a finished deploy), so they get
past the 404s and into the code; the rest keep the generated path values. Deleted objects are restored
before the next case. Nothing leaves the machine: git and HTTP clients go through a proxy address that
refuses at once, and no deploy runs (no workers)."""

from __future__ import annotations

import collections
import itertools
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[dev]' (schemathesis)")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis.errors import FlakyStrategyDefinition  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from slipway.app import create_app  # noqa: E402
from slipway.config import Settings  # noqa: E402

pytestmark = pytest.mark.integration

EXAMPLES = 50  # generated examples per operation, on top of the coverage cases
HOME = Path(tempfile.mkdtemp(prefix="slipway-fuzz-"))
# Only the schema is read from this app; the cases go to the one the `world` fixture builds on its database.
SCHEMA_APP = create_app(Settings(home=HOME / "schema", router="none", workers=0, secret_key="fuzz-" + "k" * 30),
                        background=False)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", SCHEMA_APP)
CHECKS = [not_a_server_error, response_schema_conformance]
PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once


@dataclass
class World:
    app: FastAPI
    platform: Any
    token: str
    token_id: int
    known: dict[str, Any] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=itertools.count)
    dirty: bool = True
    calls: collections.Counter[str] = field(default_factory=collections.Counter)  # per operation

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def restore(self) -> None:
        """Bring back what earlier cases deleted or renamed (the app, a membership, the channel, the checks)."""
        if self.dirty and _missing(self):
            self.known.update(_seed(self.app, self.platform, self.auth))
        self.dirty = False

    def call(self, case: Any) -> Any:
        if case.method.upper() in ("DELETE", "PATCH", "PUT"):
            self.dirty = True
        return case.call(app=self.app, headers=self.auth)

    def aim(self, case: Any) -> None:
        """Three cases in four go to a real object (past the 404s); the rest keep the generated values."""
        params = case.path_parameters or {}
        if params and next(self.counter) % 4:
            for key in params:
                if key in self.known and (key != "check_id" or "/monitors/" not in case.operation.path):
                    params[key] = self.known[key]
                elif key == "check_id":
                    params[key] = self.known["monitor_id"]


WORLD: dict[str, World] = {}


def _missing(world: World) -> bool:
    """Whether a case deleted or renamed something the cases aim at (one query), or revoked the token."""
    from sqlalchemy import text

    from slipway.auth import service as auth_service
    from slipway.db import transaction

    with transaction(world.platform.sessions) as session:
        if auth_service.authenticate_token(session, world.token) is None:  # a host token may revoke itself
            world.token, row = auth_service.create_token(session, name=f"fuzz-{secrets.token_hex(4)}")
            world.token_id = row.id
        k = world.known
        found = session.execute(text(
            "SELECT (SELECT count(*) FROM apps WHERE name = 'alpha'),"
            " (SELECT count(*) FROM notify_channels WHERE name = 'fuzz-hook'),"
            " (SELECT count(*) FROM health_checks WHERE id IN (:check, :monitor)),"
            " (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.username = 'fuzzer'),"
            " (SELECT count(*) FROM api_tokens WHERE id = :spare AND revoked_at IS NULL)"),
            {"check": k.get("check_id", 0), "monitor": k.get("monitor_id", 0), "spare": k.get("token_id", 0)},
        ).one()
    return tuple(found) != (1, 1, 2, 1, 1)


def _seed(app: FastAPI, platform: Any, auth: dict[str, str]) -> dict[str, Any]:
    from sqlalchemy import select

    from slipway.apps import service as app_service
    from slipway.apps.models import App
    from slipway.auth import service as auth_service
    from slipway.auth import teams
    from slipway.auth.models import User
    from slipway.db import transaction
    from slipway.deploys.models import Deploy

    with transaction(platform.sessions) as session:
        app_row = session.scalar(select(App).where(App.name == "alpha"))
        if app_row is None:
            app_row = app_service.create(session, name="alpha", git_url="https://example.com/a.git",
                                         check_remote=False)
        user = session.scalar(select(User).where(User.username == "fuzzer"))
        if user is None:
            user = auth_service.create_user(session, username="fuzzer", password="fuzz-password-1234",
                                            role="developer")
        elif not any(u.id == user.id for _, u, _ in teams.members(session, teams.default_team(session))):
            teams.set_member(session, team=teams.default_team(session), user=user, role="developer",
                             actor="fuzz")
        deploy = session.scalar(select(Deploy).where(Deploy.app_id == app_row.id, Deploy.status == "failed"))
        if deploy is None:  # a finished deploy: its log stream ends (a queued one would stream forever)
            deploy = Deploy(app_id=app_row.id, kind="deploy", status="failed", step="build", reason="fuzz")
            session.add(deploy)
            session.flush()
        known = {"name": "alpha", "team": teams.DEFAULT, "project": teams.DEFAULT, "username": "fuzzer",
                 "server": "local", "deploy_id": deploy.id,
                 "token_id": auth_service.create_token(session, name=f"spare-{secrets.token_hex(4)}")[1].id}
    client = TestClient(app)
    hook = client.get("/api/v1/apps/alpha/hook", headers=auth)
    assert hook.status_code == 200, hook.text
    known.update(provider="github", hook_id=hook.json()["hook_id"])
    channels = {c["name"]: c for c in client.get("/api/v1/channels", headers=auth).json()}
    if "fuzz-hook" not in channels:
        created = client.post("/api/v1/channels", headers=auth, json={
            "name": "fuzz-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32}})
        assert created.status_code == 201, created.text
        channels["fuzz-hook"] = created.json()
    known["ref"] = "fuzz-hook"
    checks = {c["name"]: c for c in client.get("/api/v1/apps/alpha/checks", headers=auth).json()}
    if "fuzz-check" not in checks:
        created = client.post("/api/v1/apps/alpha/checks", headers=auth,
                              json={"name": "fuzz-check", "target": "/health"})
        assert created.status_code == 201, created.text
        checks["fuzz-check"] = created.json()
    known["check_id"] = checks["fuzz-check"]["id"]
    monitors = {c["name"]: c for c in client.get("/api/v1/monitors", headers=auth).json()}
    if "fuzz-monitor" not in monitors:
        created = client.post("/api/v1/monitors", headers=auth,
                              json={"name": "fuzz-monitor", "target": "http://127.0.0.1:9/"})
        assert created.status_code == 201, created.text
        monitors["fuzz-monitor"] = created.json()
    known["monitor_id"] = monitors["fuzz-monitor"]["id"]
    return known


def _database() -> Iterator[str]:
    """A fresh, empty database for the module: SQLite in HOME, or a new PostgreSQL database."""
    base = os.environ.get("SLIPWAY_TEST_POSTGRES")
    if not base:
        yield f"sqlite:///{HOME / 'slipway.db'}"
        return
    import sqlalchemy

    name = f"slipway_fuzz_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from slipway.auth import service as auth_service
    from slipway.db import transaction
    from slipway.platform import build_platform
    from slipway.routing.base import MemoryRouter

    with pytest.MonkeyPatch.context() as mp:
        # nothing the fuzz makes the server do may leave the machine or wait on a network timeout
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            mp.setenv(var, PROXY)
        for var in ("no_proxy", "NO_PROXY"):
            mp.delenv(var, raising=False)
        mp.setenv("GIT_SSH_COMMAND", "false")
        for url in _database():
            settings_ = Settings(home=HOME / "home", database_url=url, router="none", workers=0,
                                 metrics_enabled=False, secret_key="fuzz-" + "k" * 30, token_burst=1_000_000,
                                 egress_allow="127.0.0.1:9")  # the seeded channel and monitor aim at the discard port
            plat = build_platform(settings_, router=MemoryRouter())
            try:
                with transaction(plat.sessions) as session:
                    token, row = auth_service.create_token(session, name="fuzz")
                app = create_app(settings_, platform=plat, background=False)
                w = World(app=app, platform=plat, token=token, token_id=row.id)
                w.restore()
                WORLD["w"] = w
                yield w
            finally:
                WORLD.clear()
                plat.close()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          phases=[Phase.explicit, Phase.generate])
def test_every_operation(case, world: World) -> None:  # type: ignore[no-untyped-def]
    world.restore()
    world.aim(case)
    world.calls[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    response = world.call(case)
    case.validate_response(response, checks=CHECKS)


def test_every_operation_was_fuzzed(world: World) -> None:
    """Runs after test_every_operation (file order): each operation got its cases; prints how many (-s)."""
    operations = {f"{method.upper()} {path}" for path, ops in SCHEMA_APP.openapi()["paths"].items() for method in ops}
    if not world.calls:
        pytest.skip("test_every_operation did not run in this session (-k)")
    assert set(world.calls) == operations
    counts = sorted(world.calls.values())
    print(f"\nfuzz: {len(operations)} operations, {sum(counts)} cases, per operation min {counts[0]} "
          f"median {counts[len(counts) // 2]} max {counts[-1]}")
    print("\n".join(f"  {n:4d} {op}" for op, n in sorted(world.calls.items(), key=lambda x: x[1]) if n < EXAMPLES))
    # an operation without parameters or body has one distinct request (hypothesis stops there); every
    # other one gets its EXAMPLES generated cases on top of the coverage cases
    with_inputs = {f"{method.upper()} {path}" for path, ops in SCHEMA_APP.openapi()["paths"].items()
                   for method, op in ops.items() if op.get("parameters") or op.get("requestBody")}
    assert len(with_inputs) > 100
    assert {op: world.calls[op] for op in with_inputs if world.calls[op] < EXAMPLES} == {}


class _Stateful(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences along the links schemathesis infers: what one call creates, the next reads or changes."""

    def setup(self) -> None:
        WORLD["w"].restore()

    def call(self, case: Any, **kwargs: Any) -> Any:
        return WORLD["w"].call(case)

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # kept: a replay of the sequence may not meet the same state again
            FOUND.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")
            raise


FOUND: list[str] = []


def test_stateful_sequences(world: World) -> None:
    FOUND.clear()
    for _ in range(3):
        try:
            _Stateful.run(settings=settings(max_examples=40, stateful_step_count=6, deadline=None, database=None,
                                            suppress_health_check=list(HealthCheck), phases=[Phase.generate]))
            break
        except FlakyStrategyDefinition:
            # the server's state moved on between a sequence and its replay: what to draw from changed
            continue
        except Exception:
            if not FOUND:
                raise
            break
    assert not FOUND, "\n\n".join(FOUND)


def _integer_parameters() -> list[tuple[str, str, str, str]]:
    """(method, path, in, name) of every integer in a path or a query string."""
    found = []
    for path, operations in SCHEMA_APP.openapi()["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                kinds = [param["schema"], *param["schema"].get("anyOf", [])]
                if param["in"] in ("path", "query") and any(k.get("type") == "integer" for k in kinds):
                    found.append((method.upper(), path, param["in"], param["name"]))
    return found


@pytest.mark.parametrize("value", [2**31, 2**63, 2**64, -(2**63) - 1, 10**30])
def test_integer_extremes(world: World, value: int) -> None:
    """Past 32 bits (PostgreSQL's INTEGER), past 64 bits (SQLite's), far past: a 4xx, in every integer."""
    params = _integer_parameters()
    assert len(params) >= 40
    failures = []
    for method, path, where, name in params:
        world.restore()
        operation = schema[path][method]
        path_parameters = {key: world.known["monitor_id"] if key == "check_id" and "/monitors/" in path
                           else world.known.get(key, "x") for key in re.findall(r"{(\w+)}", path)}
        query = {}
        if where == "path":
            path_parameters[name] = value
        else:
            query[name] = value
        try:  # in process, the server's exception comes through instead of its 500
            response = world.call(operation.Case(path_parameters=path_parameters or None, query=query or None))
        except Exception as exc:  # noqa: BLE001 - every operation is tried; all failures are listed
            failures.append(f"{method} {path} {name}={value}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        if response.status_code >= 500:
            failures.append(f"{method} {path} {name}={value}: {response.status_code} {response.text[:200]}")
    assert failures == [], "\n".join(failures)
