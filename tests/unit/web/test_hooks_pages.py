"""The webhooks page of an app: URLs, the secret only on an explicit POST, rotate, settings, the delivery
log and replay; CSRF on every POST."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.deploys.models import Deploy
from slipway.hooks import service as hook_service
from slipway.hooks.models import HookDelivery
from slipway.platform import Platform

from .conftest import page_csrf


@pytest.fixture
def app_id(plat: Platform, make_repo: Callable[..., object]) -> int:
    repo = make_repo("hello")
    with transaction(plat.sessions) as session:
        return app_service.create(session, name="hello", git_url=repo.url, branch="main").id  # type: ignore[attr-defined]


def secret_of(plat: Platform) -> str:
    with plat.sessions() as session:
        hook = hook_service.get(session, app_service.get(session, "hello"))
        assert hook is not None
        return hook_service.secret(plat.box, hook)


def test_secret_shown_only_on_reveal_and_rotate(logged_in: TestClient, plat: Platform, app_id: int) -> None:
    page = logged_in.get("/apps/hello/webhooks")
    assert page.status_code == 200
    secret = secret_of(plat)
    assert secret not in page.text
    for provider in ("github", "gitlab", "gitea", "bitbucket"):
        assert f"/hooks/{provider}/" in page.text
    token = page_csrf(logged_in, "/apps/hello/webhooks")
    assert logged_in.post("/apps/hello/webhooks/reveal").status_code == 403
    revealed = logged_in.post("/apps/hello/webhooks/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200 and secret in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert logged_in.post("/apps/hello/webhooks/rotate", data={"csrf_token": "nope"}).status_code == 403
    assert secret_of(plat) == secret
    rotated = logged_in.post("/apps/hello/webhooks/rotate", data={"csrf_token": token})
    assert rotated.status_code == 200
    new = secret_of(plat)
    assert new != secret and new in rotated.text and "rotated" in rotated.text


def test_settings_validate_and_save(logged_in: TestClient, plat: Platform, app_id: int) -> None:
    token = page_csrf(logged_in, "/apps/hello/webhooks")
    bad = logged_in.post("/apps/hello/webhooks/settings", data={"csrf_token": token, "deploy_window": "someday"})
    assert bad.status_code == 422 and 'value="someday"' in bad.text
    ok = logged_in.post("/apps/hello/webhooks/settings",
                        data={"csrf_token": token, "branch_filter": "main, release/*", "deploy_tags": "true",
                              "deploy_window": "Mon-Fri 09:00-17:00 UTC"})
    assert ok.status_code == 303
    with plat.sessions() as session:
        hook = hook_service.get(session, app_service.get(session, "hello"))
        assert hook is not None
        assert (hook.branch_filter, hook.deploy_tags, hook.deploy_window) == \
            ("main,release/*", True, "Mon-Fri 09:00-17:00 UTC")
    page = logged_in.get("/apps/hello/webhooks").text
    assert 'value="main,release/*"' in page and "checked" in page


def test_delivery_log_and_replay(logged_in: TestClient, plat: Platform, app_id: int) -> None:
    with transaction(plat.sessions) as session:
        session.add_all([
            HookDelivery(app_id=app_id, provider="github", event="push", verified=True, outcome="queued",
                         ref="refs/heads/main", commit="c" * 40),
            HookDelivery(app_id=app_id, provider="gitlab", event="push", verified=True, outcome="ignored",
                         reason="branch feature is not deployed", ref="refs/heads/feature"),
        ])
    page = logged_in.get("/apps/hello/webhooks")
    assert "branch feature is not deployed" in page.text and "refs/heads/main" in page.text
    assert page.text.count("Replay</button>") == 1  # only what deployed a commit can be replayed
    with plat.sessions() as session:
        ids = {d.outcome: d.id for d in session.scalars(select(HookDelivery))}
    token = page_csrf(logged_in, "/apps/hello/webhooks")
    nothing = logged_in.post(f"/apps/hello/webhooks/deliveries/{ids['ignored']}/replay", data={"csrf_token": token})
    assert nothing.status_code == 303 and nothing.headers["location"].endswith("#deliveries")
    replayed = logged_in.post(f"/apps/hello/webhooks/deliveries/{ids['queued']}/replay", data={"csrf_token": token})
    assert replayed.status_code == 303
    with plat.sessions() as session:
        deploy = session.scalars(select(Deploy)).one()
    assert deploy.commit == "c" * 40 and replayed.headers["location"] == f"/apps/hello/deploys/{deploy.id}"
    assert logged_in.post(f"/apps/hello/webhooks/deliveries/{ids['queued']}/replay").status_code == 403
