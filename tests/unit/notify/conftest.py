"""Fixtures of the notification tests: a platform on the real test database, the API with a token,
loopback receivers that are shut down after the test, and a way to run queued deliveries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from tests.unit.notify.receivers import Certs, HttpReceiver, SmtpReceiver, make_certs


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    # retries in milliseconds instead of seconds; nothing else changes
    return settings.model_copy(update={"notify_backoff": 0.01, "notify_backoff_max": 0.05, "notify_timeout": 5.0,
                                       "notify_max_attempts": 5,
                                       "public_url": "https://slipway.example.com",
                                       # the receivers listen on loopback: an Admin must allow it explicitly
                                       "egress_allow": "127.0.0.0/8"})


@pytest.fixture
def platform(notify_settings: Settings) -> Iterator[Platform]:
    plat = build_platform(notify_settings, router=MemoryRouter())
    try:
        yield plat
    finally:
        plat.close()


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, "/api/v1" + path, headers=self.headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    from slipway.auth import service as auth_service

    with transaction(platform.sessions) as session:
        token, _ = auth_service.create_token(session, name="test")
    with TestClient(create_app(platform=platform, background=False)) as client:
        yield Api(client, token)


@pytest.fixture
def receiver() -> Iterator[Callable[..., HttpReceiver]]:
    made: list[HttpReceiver] = []

    def make(**kwargs: Any) -> HttpReceiver:
        made.append(HttpReceiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


@pytest.fixture
def smtp(certs: Certs) -> Iterator[Callable[..., SmtpReceiver]]:
    pytest.importorskip("aiosmtpd", reason="aiosmtpd (dev extra) runs the SMTP server of these tests")
    made: list[SmtpReceiver] = []

    def make(**kwargs: Any) -> SmtpReceiver:
        made.append(SmtpReceiver(certs, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()
