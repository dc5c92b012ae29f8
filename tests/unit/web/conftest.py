"""Dashboard fixtures: a platform over a real SQLite database, the app under TestClient, a user."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter

USER, PASSWORD = "ada", "correct horse battery"


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings, router=MemoryRouter())
    with transaction(p.sessions) as session:
        auth_service.create_user(session, username=USER, password=PASSWORD)
    yield p
    p.close()


@pytest.fixture
def client(plat: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform=plat, background=False), follow_redirects=False) as c:
        yield c


def login_form_token(client: TestClient, next_: str = "/") -> str:
    page = client.get("/login", params={"next": next_})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def log_in(client: TestClient, password: str = PASSWORD, next_: str = "/", username: str = USER):
    token = login_form_token(client, next_)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": next_})


def page_csrf(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token, as a page hands it to its forms."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@pytest.fixture
def logged_in(client: TestClient) -> TestClient:
    assert log_in(client).status_code == 303
    return client
