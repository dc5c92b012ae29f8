"""Integration fixtures: a platform over a real database and the real local runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.config import Settings
from slipway.db import transaction
from slipway.jobs import queue
from slipway.jobs.worker import Worker
from slipway.platform import Platform, build_platform
from slipway.server import HANDLERS


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    plat = build_platform(settings)
    try:
        yield plat
    finally:
        runtime = plat.runtime
        for instance_id in runtime.instances():
            runtime.stop(instance_id, 0.5)
        if plat.sandbox is not None:
            plat.sandbox.remove_all_users()  # the apps' system users (users mode)
        plat.close()


def run_jobs(platform: Platform, *, limit: int = 20) -> int:
    """Run every queued job in this thread, in order (what a worker thread would do)."""
    worker = Worker(platform, HANDLERS, threads=0, name="test")
    ran = 0
    while ran < limit:
        job = queue.claim(platform.sessions, worker="test#0", lease=platform.settings.job_lease)
        if job is None:
            return ran
        worker.run(job, "test#0")
        ran += 1
    return ran


class Api:
    """The HTTP API as a client sees it, plus a way to run the queued jobs."""

    def __init__(self, client: TestClient, platform: Platform, token: str) -> None:
        self.client = client
        self.platform = platform
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, "/api/v1" + path, headers=self.headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def deploy(self, app: str, path: str = "/deploys", body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Request a deploy-like operation, run it, return its final state."""
        deploy = self.call("POST", f"/apps/{app}{path}", 202, json=body).json()
        run_jobs(self.platform)
        return self.call("GET", f"/apps/{app}/deploys/{deploy['id']}", 200).json()  # type: ignore[no-any-return]

    def log(self, app: str, deploy_id: int) -> str:
        page = self.call("GET", f"/apps/{app}/deploys/{deploy_id}/log", 200).json()
        return "\n".join(line["line"] for line in page["lines"])


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    from slipway.auth import service as auth_service

    with transaction(platform.sessions) as session:
        token, _ = auth_service.create_token(session, name="test")
    app = create_app(platform=platform, background=False)
    with TestClient(app) as client:
        yield Api(client, platform, token)
