"""Fixtures: an app with a webhook, on a real database, with a runtime that must never be used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.deploys.models import Deploy
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from tests.unit.hooks.payloads import signed
from tests.unit.test_api_edges import NoRuntime


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings.model_copy(update={"webhook_max_bytes": 64 * 1024}), runtime=NoRuntime(),  # type: ignore[arg-type]
                       router=MemoryRouter())
    yield p
    p.close()


class Hooked:
    def __init__(self, client: TestClient, platform: Platform, repo: Any) -> None:
        self.client, self.platform, self.repo = client, platform, repo
        assert client.post("/api/v1/apps", json={"name": "hello", "git_url": repo.url}).status_code == 201
        self.refresh()

    def refresh(self) -> None:
        self.hook = self.client.get("/api/v1/apps/hello/hook", params={"reveal": True}).json()
        self.secret = self.hook["secret"]

    def send(self, provider: str, payload: Any, *, secret: str | None = None, path: str | None = None,
             **kwargs: Any) -> Any:
        body, headers = signed(provider, secret or self.secret, payload, **kwargs)
        url = path or f"/hooks/{provider}/{self.hook['hook_id']}"
        return self.client.post(url, content=body, headers=headers)

    def deploys(self) -> list[Deploy]:
        with self.platform.sessions() as session:
            return list(session.scalars(select(Deploy).order_by(Deploy.id)))

    def deliveries(self) -> list[dict[str, Any]]:
        return self.client.get("/api/v1/apps/hello/deliveries").json()  # type: ignore[no-any-return]


@pytest.fixture
def hooked(plat: Platform, make_repo: Any) -> Iterator[Hooked]:
    with transaction(plat.sessions) as session:
        token, _ = auth_service.create_token(session, name="t")
    with TestClient(create_app(platform=plat, background=False)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield Hooked(c, plat, make_repo())
