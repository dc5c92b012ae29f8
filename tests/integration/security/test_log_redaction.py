"""Instance logs mask the app's env values (plain, base64, URL-encoded) for every caller who may not
reveal them: an app that prints its secret, read through every way logs are served, by every kind of caller."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

from slipway.apps import service as app_service
from slipway.auth import policy
from slipway.db import transaction
from slipway.redaction import MASK
from tests.conftest import APP_PY, Repo, python_app_files
from tests.integration.conftest import run_jobs
from tests.security_world import World

pytestmark = pytest.mark.integration

SECRET = "s3cr3t/value+with?odd&chars"  # base64 and URL-encoding both change it
FORMS = {"plain": SECRET, "b64": base64.b64encode(SECRET.encode()).decode(), "url": quote(SECRET, safe="")}
SHORT = "abc"  # under 4 characters: never masked (as in the deploy log)
LEAKY = '''\
import base64, os, threading, time, urllib.parse
SECRET = os.environ["API_SECRET"]


def leak():
    while True:
        print("plain:", SECRET, flush=True)
        print("b64:", base64.b64encode(SECRET.encode()).decode(), flush=True)
        print("url:", urllib.parse.quote(SECRET, safe=""), flush=True)
        print("short:", os.environ["SHORT"], flush=True)
        time.sleep(0.5)


threading.Thread(target=leak, daemon=True).start()
'''


@pytest.fixture
def leaky(world: World, make_repo: Callable[..., Repo]) -> str:
    repo = make_repo("leaky", {**python_app_files(), "app.py": LEAKY + APP_PY})
    with transaction(world.platform.sessions) as session:
        app = app_service.create(session, name="leaky", git_url=repo.url, check_remote=False)
        app_service.set_env(session, world.platform.box, app, {"API_SECRET": SECRET, "SHORT": SHORT})
    assert world.call("host-token", "POST", "/api/v1/apps/leaky/deploys").status_code == 202
    run_jobs(world.platform)
    deploy = world.call("host-token", "GET", "/api/v1/apps/leaky/deploys").json()[0]
    assert deploy["status"] == "succeeded", deploy
    deadline = time.monotonic() + 30
    while "url:" not in world.call("host-token", "GET", "/api/v1/apps/leaky/logs").text:
        assert time.monotonic() < deadline, "the app printed nothing"
        time.sleep(0.2)
    return "leaky"


def masked(text: str) -> bool:
    """True when no form of the secret is in the text and each printed line shows the mask."""
    assert "plain:" in text and "b64:" in text and "url:" in text, text[:500]
    assert f"short: {SHORT}" in text  # short values are left alone
    return not any(form in text for form in FORMS.values()) and text.count(MASK) >= 3


def plain(text: str) -> bool:
    return all(f"{label}: {form}" in text for label, form in FORMS.items())


def follow(world: World, who: str, path: str) -> str:
    """The first lines of the live follow (SSE) as `who` sees them."""
    seen: list[str] = []
    w = world.who[who]
    world.client.cookies.clear()
    for k, v in w.cookies().items():
        world.client.cookies.set(k, v)
    with world.client.stream("GET", path, headers=w.headers()) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            if raw.startswith("data: "):
                seen.append(json.loads(raw[6:]))
            if sum("url:" in line for line in seen) >= 2:
                break
    return "\n".join(seen)


CALLERS = {  # who → what the policy says: True clear, False masked, None no logs at all
    "owner": True, "admin": True, "developer": True, "host-token": True,  # app:env:reveal
    "deploy-token": False,  # the owner's deploy-scope token: logs, but no reveal
    "viewer": None, "read-token": None, "outsider": None,  # no app:logs (the outsider: no such app)
}


def test_each_caller_sees_the_secret_masked_or_not_as_the_policy_says(world: World, leaky: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for who, expected in CALLERS.items():
        check_api(world, leaky, who, expected)
    probe(world, leaky)
    dashboard(world, leaky, monkeypatch)


def check_api(world: World, leaky: str, who: str, expected: bool | None) -> None:
    paths = [f"/api/v1/apps/{leaky}/logs", f"/api/v1/apps/{leaky}/logs?since=1h",
             f"/api/v1/apps/{leaky}/logs/search?format=text", f"/api/v1/apps/{leaky}/logs/search"]
    for path in paths:
        answer = world.call(who, "GET", path)
        if expected is None:
            assert answer.status_code in (403, 404), (path, answer.status_code)
            continue
        assert answer.status_code == 200, (path, answer.text)
        text = answer.text if "search?" not in path or "format=text" in path else \
            "\n".join(hit["text"] for hit in answer.json()["lines"])
        assert (plain(text) if expected else masked(text)), (who, path, text[-800:])
    if expected is not None:
        text = follow(world, who, f"/api/v1/apps/{leaky}/logs?follow=true&lines=5")
        assert (plain(text) if expected else masked(text)), (who, text[-800:])


def probe(world: World, leaky: str) -> None:
    """A search runs on what the caller sees: it cannot confirm a guess of a masked value."""
    for form in FORMS.values():
        needle = quote(form[:12], safe="")
        assert world.call("deploy-token", "GET", f"/api/v1/apps/{leaky}/logs/search?q={needle}").json()["lines"] == []
        assert world.call("deploy-token", "GET", f"/api/v1/apps/{leaky}/logs?q={needle}").text == ""
        assert world.call("owner", "GET", f"/api/v1/apps/{leaky}/logs/search?q={needle}").json()["lines"]


def dashboard(world: World, leaky: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's logs view: clear for a developer (who may reveal), masked once the role may not."""
    page = world.call("developer", "GET", f"/apps/{leaky}/logs")
    assert page.status_code == 200 and plain(page.text.replace("&amp;", "&"))
    monkeypatch.setitem(policy.ROLE_PERMS, "developer", policy.DEVELOPER - {"app:env:reveal"})
    page = world.call("developer", "GET", f"/apps/{leaky}/logs")
    assert page.status_code == 200 and masked(page.text.replace("&amp;", "&"))
    assert world.call("viewer", "GET", f"/apps/{leaky}/logs").status_code == 403
