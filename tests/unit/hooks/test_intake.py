"""POST /hooks/<provider>/<hook id> through the real app and database: statuses, what is queued, the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from slipway.db import transaction, utcnow
from slipway.deploys.models import Deploy
from slipway.deploys.pipeline import DeployRun
from slipway.events import Event
from slipway.jobs import queue
from slipway.jobs.models import Job
from tests.unit.hooks.conftest import Hooked
from tests.unit.hooks.payloads import GITHUB_PING, ZERO, bitbucket_push, gitea_push, github_push, gitlab_push, signed


def test_hook_shows_urls_and_hides_the_secret(hooked: Hooked) -> None:
    shown = hooked.client.get("/api/v1/apps/hello/hook").json()
    assert shown["secret"] is None and shown["revealed"] is False
    assert set(shown["urls"]) == {"github", "gitlab", "gitea", "bitbucket"}
    assert shown["urls"]["github"].endswith(f"/hooks/github/{shown['hook_id']}")
    assert shown["branch_filter"] == "main" and shown["deploy_tags"] is False
    assert len(hooked.secret) >= 32


@pytest.mark.parametrize(("provider", "payload"), [
    ("github", github_push("refs/heads/main", "{sha}")),
    ("gitlab", gitlab_push("refs/heads/main", "{sha}")),
    ("gitea", gitea_push("refs/heads/main", "{sha}")),
    ("forgejo", gitea_push("refs/heads/main", "{sha}")),
    ("bitbucket", bitbucket_push("main", "{sha}")),
])
def test_each_provider_queues_the_pushed_commit(hooked: Hooked, provider: str, payload: Any) -> None:
    old = hooked.repo.head()
    hooked.repo.commit({"version.txt": "2\n"})  # the pushed commit is not the branch head any more
    import json

    payload = json.loads(json.dumps(payload).replace("{sha}", old))
    response = hooked.send(provider, payload)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    [deploy] = hooked.deploys()
    assert deploy.id == response.json()["deploy_id"] and deploy.commit == old and deploy.status == "queued"
    with hooked.platform.sessions() as session:
        event = session.scalar(select(Event).where(Event.kind == "deploy.requested"))
        assert event is not None and event.actor == f"webhook:{provider}"
    [logged] = hooked.deliveries()
    assert logged["verified"] and logged["outcome"] == "queued" and logged["commit"] == old
    assert logged["deploy_id"] == deploy.id and logged["delivery_id"] == "d-1" and logged["body_kept"]
    assert hooked.secret not in str(logged["headers"])


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket"])
def test_wrong_or_missing_signature_is_401_and_queues_nothing(hooked: Hooked, provider: str) -> None:
    payload = github_push("refs/heads/main", hooked.repo.head())
    assert hooked.send(provider, payload, secret="not-the-secret").status_code == 401
    body, headers = signed(provider, hooked.secret, payload)
    bare = {k: v for k, v in headers.items() if "signature" not in k.lower() and "token" not in k.lower()}
    response = hooked.client.post(f"/hooks/{provider}/{hooked.hook['hook_id']}", content=body, headers=bare)
    assert response.status_code == 401 and "missing" in response.json()["error"]
    assert hooked.deploys() == []
    logged = hooked.deliveries()
    assert [d["outcome"] for d in logged] == ["rejected", "rejected"]
    assert not any(d["verified"] or d["delivery_id"] for d in logged)  # a forger cannot burn a delivery id


def test_unknown_provider_or_hook_is_404(hooked: Hooked) -> None:
    payload = github_push("refs/heads/main", hooked.repo.head())
    assert hooked.send("github", payload, path="/hooks/sourcehut/" + hooked.hook["hook_id"]).status_code == 404
    assert hooked.send("github", payload, path="/hooks/github/no-such-hook").status_code == 404
    assert hooked.deploys() == []


def test_malformed_json_is_400(hooked: Hooked) -> None:
    response = hooked.send("github", None, raw=b'{"ref": "refs/heads/main", ')
    assert response.status_code == 400 and set(response.json()) == {"error", "code", "detail"}
    response = hooked.send("gitlab", None, raw=b"[1, 2]", delivery="d-2")
    assert response.status_code == 400
    response = hooked.send("github", {"ref": "refs/heads/main", "after": "zzz"}, delivery="d-3")
    assert response.status_code == 400
    assert hooked.deploys() == []
    assert {d["outcome"] for d in hooked.deliveries()} == {"invalid"}


def test_body_over_the_limit_is_413(hooked: Hooked) -> None:
    big = {"ref": "refs/heads/main", "padding": "x" * (70 * 1024)}
    assert hooked.send("github", big).status_code == 413  # Content-Length over the webhook limit
    body, headers = signed("github", hooked.secret, big)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the route counts as it reads
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    response = hooked.client.post(f"/hooks/github/{hooked.hook['hook_id']}", content=chunks(), headers=headers)
    assert response.status_code == 413
    # a webhook may be bigger than the 1 MB API limit: only /hooks/ uses SLIPWAY_WEBHOOK_MAX_BYTES
    assert hooked.platform.settings.webhook_max_bytes < 1024 * 1024
    assert hooked.deploys() == []


def test_ping_is_200_and_other_events_are_ignored(hooked: Hooked) -> None:
    assert hooked.send("github", GITHUB_PING, event="ping").status_code == 200
    assert hooked.send("bitbucket", {}, event="diagnostics:ping", delivery="d-2").status_code == 200
    response = hooked.send("github", {"action": "opened"}, event="issues", delivery="d-3")
    assert response.status_code == 202
    assert response.json()["status"] == "ignored" and "issues" in response.json()["reason"]
    deleted = hooked.send("github", github_push("refs/heads/main", ZERO), delivery="d-4")
    assert deleted.status_code == 202 and "deleted" in deleted.json()["reason"]
    assert hooked.deploys() == []


def test_branch_filter_exact_and_glob(hooked: Hooked) -> None:
    sha = hooked.repo.head()
    other = hooked.send("github", github_push("refs/heads/feature", sha), delivery="a")
    assert other.json()["status"] == "ignored" and "does not match" in other.json()["reason"]
    patched = hooked.client.patch("/api/v1/apps/hello/hook", json={"branch_filter": "release/*, main"})
    assert patched.status_code == 200 and patched.json()["branch_filter"] == "release/*,main"
    assert hooked.send("github", github_push("refs/heads/release/1.2", sha), delivery="b").json()["status"] == "queued"
    assert hooked.send("github", github_push("refs/heads/releases", sha), delivery="c").json()["status"] == "ignored"
    hooked.client.patch("/api/v1/apps/hello/hook", json={"branch_filter": ""})
    assert hooked.client.get("/api/v1/apps/hello/hook").json()["branch_filter"] == "main"
    assert hooked.client.patch("/api/v1/apps/hello/hook", json={"branch_filter": "a b"}).status_code == 422


def test_tags_deploy_only_when_asked(hooked: Hooked) -> None:
    sha = hooked.repo.head()
    first = hooked.send("gitlab", gitlab_push("refs/tags/v1", sha, tag=True), event="Tag Push Hook", delivery="a")
    assert first.json()["status"] == "ignored" and "deploy_tags" in first.json()["reason"]
    hooked.client.patch("/api/v1/apps/hello/hook", json={"deploy_tags": True})
    second = hooked.send("gitlab", gitlab_push("refs/tags/v1", sha, tag=True), event="Tag Push Hook", delivery="b")
    assert second.json()["status"] == "queued"
    assert [d.commit for d in hooked.deploys()] == [sha]


def test_a_redelivery_never_deploys_twice(hooked: Hooked) -> None:
    payload = github_push("refs/heads/main", hooked.repo.head())
    first = hooked.send("github", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = hooked.send("github", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "deploy_id": first.json()["deploy_id"],
                            "delivery": first.json()["delivery"]}
    with hooked.platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
    assert len(hooked.deploys()) == 1 and len(hooked.deliveries()) == 1


def test_a_burst_coalesces_to_one_running_and_one_queued_at_the_newest(hooked: Hooked) -> None:
    shas = [hooked.repo.head()] + [hooked.repo.commit({"version.txt": f"{i}\n"}) for i in range(2, 6)]
    first = hooked.send("github", github_push("refs/heads/main", shas[0]), delivery="p0").json()["deploy_id"]
    assert DeployRun(hooked.platform, first)._lock() is True  # a worker started it: in flight
    answers = [hooked.send("github", github_push("refs/heads/main", sha), delivery=f"p{i}").json()
               for i, sha in enumerate(shas[1:], 1)]
    deploys = hooked.deploys()
    assert [(d.status, d.commit) for d in deploys] == [("running", shas[0]), ("queued", shas[-1])]
    assert {a["deploy_id"] for a in answers} == {deploys[1].id}
    with hooked.platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2


def test_rotate_refuses_the_old_secret(hooked: Hooked) -> None:
    old = hooked.secret
    rotated = hooked.client.post("/api/v1/apps/hello/hook/rotate").json()
    assert rotated["secret"] != old and rotated["hook_id"] == hooked.hook["hook_id"]
    payload = github_push("refs/heads/main", hooked.repo.head())
    assert hooked.send("github", payload, secret=old).status_code == 401
    assert hooked.send("github", payload, secret=rotated["secret"]).status_code == 202


def test_replay_queues_the_same_commit_again(hooked: Hooked) -> None:
    sha = hooked.repo.head()
    hooked.send("bitbucket", bitbucket_push("main", sha))
    [delivery] = hooked.deliveries()
    with transaction(hooked.platform.sessions) as session:  # the first deploy has finished
        session.get(Deploy, delivery["deploy_id"]).status = "succeeded"  # type: ignore[union-attr]
    replayed = hooked.client.post(f"/api/v1/apps/hello/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 202 and replayed.json()["commit"] == sha
    assert replayed.json()["id"] != delivery["deploy_id"]
    hooked.send("github", GITHUB_PING, event="ping", delivery="ping")
    ping = hooked.deliveries()[0]
    assert hooked.client.post(f"/api/v1/apps/hello/deliveries/{ping['id']}/replay").status_code == 409
    assert hooked.client.post("/api/v1/apps/hello/deliveries/9999/replay").status_code == 404


def test_prune_drops_bodies_then_rows(hooked: Hooked) -> None:
    from slipway.hooks import service as hook_service
    from slipway.hooks.models import HookDelivery

    hooked.send("github", GITHUB_PING, event="ping")
    assert hook_service.prune(hooked.platform) == (0, 0)
    assert hook_service.prune(hooked.platform, now=utcnow() + dt.timedelta(days=8)) == (1, 0)
    assert hooked.deliveries()[0]["body_kept"] is False
    assert hook_service.prune(hooked.platform, now=utcnow() + dt.timedelta(days=91)) == (0, 1)
    with hooked.platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HookDelivery)) == 0


def test_pushes_outside_the_deploy_window_wait_for_it(hooked: Hooked) -> None:
    now = utcnow()
    start = (now + dt.timedelta(hours=2)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=3)).strftime("%H:%M")
    window = hooked.client.patch("/api/v1/apps/hello/hook", json={"deploy_window": f"{start}-{end} UTC"})
    assert window.status_code == 200
    answer = hooked.send("github", github_push("refs/heads/main", hooked.repo.head())).json()
    [deploy] = hooked.deploys()
    assert answer["status"] == "queued" and deploy.status == "scheduled"
    assert deploy.run_at is not None and dt.timedelta(hours=1) < deploy.run_at - now < dt.timedelta(hours=2, minutes=1)
    assert queue.claim(hooked.platform.sessions, worker="w", lease=30) is None  # not due yet
    newer = hooked.repo.commit({"version.txt": "9\n"})
    again = hooked.send("github", github_push("refs/heads/main", newer), delivery="d-2").json()
    assert again["deploy_id"] == deploy.id and [d.commit for d in hooked.deploys()] == [newer]
    assert "deploy window" in hooked.deliveries()[0]["reason"]
    assert hooked.client.patch("/api/v1/apps/hello/hook", json={"deploy_window": "whenever"}).status_code == 422
