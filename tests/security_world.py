"""A small world for security tests: app `alpha` in the default project, one user per role in the default
team, an outsider who owns team `other` (with app `beta`), and tokens. Shared by tests/unit/auth,
tests/unit/audit and tests/integration/security."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.apps import service as app_service
from slipway.auth import service as auth_service
from slipway.auth import teams
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter

PASSWORD = "correct horse battery"
ROLES = ("owner", "admin", "developer", "viewer")


@dataclass
class Who:
    name: str
    cookie: str | None = None
    csrf: str | None = None
    token: str | None = None

    def headers(self, method: str = "GET") -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.cookie and method not in ("GET", "HEAD"):
            return {"X-CSRF-Token": self.csrf or ""}
        return {}

    def cookies(self) -> dict[str, str]:
        return {"slipway_session": self.cookie} if self.cookie else {}


@dataclass
class World:
    platform: Platform
    client: TestClient
    who: dict[str, Who] = field(default_factory=dict)

    def call(self, who: str, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        w = self.who[who]
        self.client.cookies.clear()
        for k, v in w.cookies().items():
            self.client.cookies.set(k, v)
        headers = {**w.headers(method), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


def _session(platform: Platform, username: str) -> tuple[str, str]:
    with transaction(platform.sessions) as session:
        result = auth_service.login(session, username=username, password=PASSWORD, ip="10.0.0.1")
        assert result is not None
        return result[0], result[1].csrf_token


def build_world(settings: Settings, **app_kwargs) -> Iterator[World]:  # type: ignore[no-untyped-def]
    plat = build_platform(settings, router=MemoryRouter())
    with transaction(plat.sessions) as s:
        app_service.create(s, name="alpha", git_url="https://example.com/alpha.git", check_remote=False)
        users = {role: auth_service.create_user(s, username=role, password=PASSWORD, role=role) for role in ROLES}
        outsider = auth_service.create_user(s, username="outsider", password=PASSWORD, role=None)
        other = teams.create_team(s, name="other", owner=outsider, actor="admin")
        project = teams.create_project(s, team=other, name="other", actor="admin")
        app_service.create(s, name="beta", git_url="https://example.com/beta.git", check_remote=False,
                           project_id=project.id)
        host_token, _ = auth_service.create_token(s, name="host")
        read_token, _ = auth_service.create_token(s, name="ro", user_id=users["owner"].id, scope="read")
        deploy_token, _ = auth_service.create_token(s, name="dp", user_id=users["owner"].id, scope="deploy")
        other_token, _ = auth_service.create_token(s, name="ot", user_id=outsider.id, team_id=other.id)
    world_who = {role: Who(role, *_session(plat, role)) for role in ROLES}
    world_who["outsider"] = Who("outsider", *_session(plat, "outsider"))
    world_who["anonymous"] = Who("anonymous")
    world_who["host-token"] = Who("host-token", token=host_token)
    world_who["read-token"] = Who("read-token", token=read_token)
    world_who["deploy-token"] = Who("deploy-token", token=deploy_token)
    world_who["other-token"] = Who("other-token", token=other_token)
    app = create_app(platform=plat, background=False, **app_kwargs)
    try:
        with TestClient(app, follow_redirects=False) as client:
            yield World(plat, client, world_who)
    finally:  # also when the test fails: no instance outlives its test
        for instance_id in plat.runtime.instances():
            plat.runtime.stop(instance_id, 0.5)
        plat.close()


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from build_world(settings)
