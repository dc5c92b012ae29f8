"""Deploy outcomes reach real receivers: a failed deploy's message carries the reason and the log tail;
in a running server the dispatcher and the delivery workers do it on their own."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from slipway.notify import dispatch, signing
from slipway.server import Background
from tests.conftest import python_app_files
from tests.integration.conftest import Api
from tests.unit.notify.receivers import HttpReceiver, Request, drain

pytestmark = pytest.mark.integration
SECRET = "integration-secret-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Callable[..., HttpReceiver]]:
    made: list[HttpReceiver] = []

    def make(**kwargs: Any) -> HttpReceiver:
        made.append(HttpReceiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def signed(request: Request) -> bool:
    return signing.verify(SECRET, body=request.body, timestamp=request.headers["x-slipway-timestamp"],
                          signature=request.headers["x-slipway-signature"])


def test_failed_deploy_notifies_with_reason_and_log_tail(api: Api, make_repo: Callable[..., Any],
                                                         receiver: Callable[..., HttpReceiver]) -> None:
    hook, slack = receiver(verify=signed), receiver()
    files = python_app_files()
    files["slipway.toml"] = '[release]\ncommand = "echo cannot reach the database at db:5432; exit 4"\n'
    api.call("POST", "/apps", 201, json={"name": "broken", "git_url": make_repo(files=files).url})
    api.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                             "config": {"url": f"{hook.url}/slipway", "secret": SECRET}})
    api.call("POST", "/channels", 201, json={"name": "slack", "type": "slack",
                                             "config": {"webhook_url": f"{slack.url}/services/X"}})
    api.call("POST", "/rules", 201, json={"event": "deploy.*", "app": "broken", "channels": ["hook"]})
    api.call("POST", "/rules", 201, json={"event": "deploy.failed", "channels": ["slack"]})

    deploy = api.deploy("broken")
    assert deploy["status"] == "failed"
    dispatch.dispatch(api.platform)
    drain(api.platform)

    by_kind = {r.json()["kind"]: r.json() for r in hook.requests}
    assert set(by_kind) == {"deploy.requested", "deploy.started", "deploy.failed"}
    failed = by_kind["deploy.failed"]
    assert failed["app"] == "broken" and failed["environment"] == "production"
    assert failed["deploy_id"] == deploy["id"] and failed["commit"] == deploy["commit"]
    assert "release command exited with code 4" in failed["reason"]
    assert any("cannot reach the database at db:5432" in line for line in failed["log_tail"])
    assert failed["url"].endswith(f"/apps/broken/deploys/{deploy['id']}")
    assert failed["title"] == f"broken: deploy #{deploy['id']} failed" and failed["severity"] == "error"

    [message] = [r.json() for r in slack.requests]
    text = str(message["blocks"])
    assert message["text"] == f"❌ broken: deploy #{deploy['id']} failed"
    assert "release command exited with code 4" in text and "cannot reach the database" in text
    assert api.call("GET", "/deliveries?app=broken&status=sent", 200).json()[0]["channel"] in ("hook", "slack")


def test_a_running_server_dispatches_and_delivers_by_itself(api: Api, make_repo: Callable[..., Any],
                                                           receiver: Callable[..., HttpReceiver]) -> None:
    hook = receiver(verify=signed, fail_first=1)
    api.call("POST", "/apps", 201, json={"name": "live", "git_url": make_repo().url})
    api.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                             "config": {"url": hook.url, "secret": SECRET}})
    api.call("POST", "/channels", 201, json={"name": "inbox", "type": "browser"})
    api.call("POST", "/rules", 201, json={"event": "env.*", "channels": ["hook", "inbox"]})
    api.platform.settings.notify_backoff = 0.05
    background = Background(api.platform, workers=1, router=False)
    background.start()
    try:
        api.call("PATCH", "/apps/live/env", 200, json={"set": {"GREETING": "hi"}, "deploy": False})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(hook.requests) >= 2 and api.call("GET", "/notifications", 200).json()["unread"]:
                break
            time.sleep(0.1)
    finally:
        background.stop()
    assert [r.json()["kind"] for r in hook.requests] == ["env.set", "env.set"]  # a 503, then the retry
    assert hook.requests[0].headers["x-slipway-delivery"] == hook.requests[1].headers["x-slipway-delivery"]
    [note] = api.call("GET", "/notifications", 200).json()["items"]
    assert note["app"] == "live" and note["kind"] == "env.set" and "GREETING" in note["body"]
