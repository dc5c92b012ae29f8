"""Unisolated mode (no sandbox on this host, or SLIPWAY_SANDBOX=off): loud, and it refuses what needs a
boundary between code and the platform: a pull request from a fork, a second team."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter


def client_for(settings: Settings, sandbox: str) -> Iterator[tuple[TestClient, Platform]]:
    plat = build_platform(settings.model_copy(update={"sandbox": sandbox}), router=MemoryRouter())
    with transaction(plat.sessions) as s:
        auth_service.create_user(s, username="ann", password="a-long-password-1", role="owner")
        auth_service.create_user(s, username="bob", password="a-long-password-2", role=None)
        token, _ = auth_service.create_token(s, name="host")
    try:
        with TestClient(create_app(platform=plat, background=False), follow_redirects=False) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client, plat
    finally:
        plat.close()


@pytest.fixture
def unisolated(settings: Settings) -> Iterator[tuple[TestClient, Platform]]:
    yield from client_for(settings, "off")


@pytest.fixture
def isolated(settings: Settings) -> Iterator[tuple[TestClient, Platform]]:
    yield from client_for(settings, "auto")


def test_health_says_unisolated_and_why(unisolated: tuple[TestClient, Platform]) -> None:
    client, plat = unisolated
    assert plat.isolation.mode == "unisolated" and not plat.isolation.isolated
    body = client.get("/api/v1/health").json()
    assert body["isolation"] == {"mode": "unisolated", "reason": "SLIPWAY_SANDBOX=off"}


def test_every_dashboard_page_shows_the_banner(unisolated: tuple[TestClient, Platform]) -> None:
    client, _ = unisolated
    client.headers.pop("Authorization")
    page = client.get("/login")
    assert page.status_code == 200 and 'id="unisolated-banner"' in page.text and "SLIPWAY_SANDBOX=off" in page.text


def test_a_second_team_is_refused_with_the_reason(unisolated: tuple[TestClient, Platform]) -> None:
    client, _ = unisolated
    response = client.post("/api/v1/teams", json={"name": "other", "owner": "bob"})
    assert response.status_code == 409, response.text
    assert "unisolated" in response.text and "bubblewrap" in response.text
    assert [t["name"] for t in client.get("/api/v1/teams").json()] == ["default"]


@pytest.mark.skipif(not Path("/usr/bin/bwrap").exists(), reason="bubblewrap is not installed")
def test_with_the_sandbox_there_is_no_banner_and_a_second_team_is_fine(isolated: tuple[TestClient, Platform]) -> None:
    client, plat = isolated
    assert plat.isolation.isolated
    assert client.get("/api/v1/health").json()["isolation"]["mode"] in ("users", "namespaces")
    client.headers.pop("Authorization")
    assert 'id="unisolated-banner"' not in client.get("/login").text
    with transaction(plat.sessions) as s:
        token, _ = auth_service.create_token(s, name="host2")
    client.headers["Authorization"] = f"Bearer {token}"
    assert client.post("/api/v1/teams", json={"name": "other", "owner": "bob"}).status_code == 201
