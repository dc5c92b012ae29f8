"""Every app of tests/apps deploys through a real `slipway server` (real builds, sandbox, Caddy) and answers
its page, or fails with its one-line reason within the seconds its expect.toml allows."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slipway.config import Settings
from tests.integration.apps.corpus import CorpusApp, apps
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.router = "caddy"
    settings.health_timeout = 60
    with running_host(settings, tmp_path) as h:
        yield h


def _skip_missing(app: CorpusApp) -> None:
    if app.runtime == "docker" and not os.environ.get("SLIPWAY_TEST_DOCKER_HOST"):
        pytest.skip("docker runtime: set SLIPWAY_TEST_DOCKER_HOST (scripts/podman-up)")


def deploy(host: Host, app: CorpusApp, tmp_path: Path) -> tuple[dict[str, object], float]:
    """Create the app from its repository, set its env, deploy; (the deploy as the API shows it, seconds)."""
    repo = app.repository(tmp_path / "repo" / app.name)
    create = ["apps", "create", app.name, "--git", f"file://{repo}", "--branch", "main"]
    if app.runtime != "local":
        create += ["--runtime", app.runtime]
    host.cli(*create)
    if app.env:
        host.cli("env", "set", app.name, *(f"{k}={v}" for k, v in app.env.items()), "--no-deploy")
    started = time.monotonic()
    result = host.cli("deploy", app.name, "--json", check=False, timeout=900)
    took = time.monotonic() - started
    return json.loads(result.stdout), took


@pytest.mark.parametrize("app", apps(), ids=lambda a: a.name)
def test_corpus_app(host: Host, app: CorpusApp, tmp_path: Path) -> None:
    _skip_missing(app)
    host.server()
    host.login()
    if app.runtime == "docker":
        host.env["SLIPWAY_DOCKER_HOST"] = os.environ["SLIPWAY_TEST_DOCKER_HOST"]
    outcome, took = deploy(host, app, tmp_path)
    log = deploy_log(host, app.name, int(outcome["id"]))  # type: ignore[call-overload]
    if app.ok is not None:
        assert outcome["status"] == "succeeded", f"{outcome.get('reason')}\n{log}\n{host.logs()[-2000:]}"
        path = str(app.ok.get("path", "/"))
        response = _answer(host, app.name, path)
        assert response.status_code == int(app.ok.get("status", 200)), response.text[:500]  # type: ignore[call-overload]
        for text in app.contains:
            assert text in response.text, response.text[:500]
    else:
        assert app.failed is not None
        assert outcome["status"] == "failed", outcome
        reason = str(outcome.get("reason") or "")
        assert str(app.failed["reason_contains"]) in reason, reason
        assert took <= float(app.failed.get("within_seconds", 10)), f"failed after {took:.1f}s: {reason}"  # type: ignore[arg-type]


def deploy_log(host: Host, app: str, deploy_id: int) -> str:
    page = httpx.get(f"{host.settings.api_url}/api/v1/apps/{app}/deploys/{deploy_id}/log", timeout=10,
                     headers={"Authorization": f"Bearer {host.env['SLIPWAY_TOKEN']}"}).json()
    return "\n".join(line["line"] for line in page["lines"])


def _answer(host: Host, app: str, path: str) -> httpx.Response:
    """The page through the router (the switch happened before `deploy` returned; Caddy may still be
    applying its route for a moment on a loaded machine)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            response = host.through_router(app, path)
            if response.status_code != 502 or time.monotonic() > deadline:
                return response
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
