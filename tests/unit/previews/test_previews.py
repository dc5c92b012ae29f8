"""Pull request events through the real intake, database and API: previews created, refused, torn down;
what env they get (forks: nothing of production); statuses and the one comment at a recording forge."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.deploys.models import Deploy
from slipway.forge import jobs as forge_jobs
from slipway.jobs import queue
from slipway.jobs.models import Job
from slipway.jobs.worker import Worker
from slipway.platform import Platform
from slipway.previews import service as previews
from slipway.previews.models import Preview
from slipway.routing import service as routing
from slipway.server import SIDE_HANDLERS
from tests.unit.forge.recorder import Recorder
from tests.unit.hooks.conftest import Hooked
from tests.unit.previews.payloads import bitbucket_pull, gitea_pull, github_pull, gitlab_merge_request

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
SHA2 = "34c5c7793cb3b279e22454cb6750c80560547b3a"


def run_side_jobs(platform: Platform, limit: int = 50) -> int:
    """Run queued forge and preview jobs here (deploys are left alone: the runtime is a stub)."""
    worker = Worker(platform, SIDE_HANDLERS, threads=0, name="t")
    ran = 0
    while ran < limit:
        job = queue.claim(platform.sessions, worker="t#0", lease=30, kinds=list(SIDE_HANDLERS))
        if job is None:
            return ran
        worker.run(job, "t#0")
        ran += 1
    return ran


def env_of(platform: Platform, name: str) -> dict[str, str]:
    with platform.sessions() as session:
        return app_service.env_plain(session, platform.box, app_service.get(session, name))


def test_an_opened_pull_request_gets_a_hidden_preview_app_deploying_its_head(hooked: Hooked) -> None:
    response = hooked.send("github", github_pull("opened", 7, SHA), event="pull_request", delivery="pr-1")
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "queued" and answer["preview"] == "hello--pr-7" and answer["commit"] == SHA
    assert answer["url"].startswith("http://pr-7.hello.localhost:")
    [deploy] = hooked.deploys()
    assert deploy.id == answer["deploy_id"] and deploy.commit == SHA
    # the production app list is unchanged; the preview is listed under its app
    assert [a["name"] for a in hooked.client.get("/api/v1/apps").json()] == ["hello"]
    [listed] = hooked.client.get("/api/v1/apps/hello/previews").json()
    assert listed["number"] == 7 and listed["app"] == "hello--pr-7" and listed["state"] == "active"
    assert listed["status"] == "deploying" and listed["head_commit"] == SHA and not listed["fork"]
    detail = hooked.client.get("/api/v1/apps/hello--pr-7").json()
    assert detail["url"] == answer["url"]
    [logged] = hooked.deliveries()
    assert logged["outcome"] == "queued" and logged["ref"] == "pr-7" and logged["deploy_id"] == deploy.id
    with hooked.platform.sessions() as session:
        hosts = {r.host for r in routing.table(session, hooked.platform.settings).routes}
    assert {"hello.localhost", "pr-7.hello.localhost"} <= hosts
    # a new commit on the PR redeploys it (coalesced while the first is still waiting)
    again = hooked.send("github", github_pull("synchronize", 7, SHA2), event="pull_request", delivery="pr-2")
    assert again.json()["deploy_id"] == deploy.id
    assert [d.commit for d in hooked.deploys()] == [SHA2]


def test_previews_get_only_shared_vars_and_overrides_and_forks_only_fork_safe_ones(hooked: Hooked) -> None:
    c = hooked.client
    c.patch("/api/v1/apps/hello/env", json={"set": {"SECRET_KEY": "prod-secret", "GREETING": "hi",
                                                     "DATABASE_URL": "postgres://prod"}, "deploy": False})
    settings = c.patch("/api/v1/apps/hello/preview-settings", json={
        "shared_keys": ["GREETING"], "set": {"DATABASE_URL": "postgres://preview", "FEATURE": "on"},
        "fork_safe_keys": ["FEATURE"], "forks": True}).json()
    assert settings["overrides"] == {"DATABASE_URL": "••••••••", "FEATURE": "••••••••"}
    assert hooked.send("github", github_pull("opened", 1, SHA), event="pull_request", delivery="a").status_code == 202
    assert env_of(hooked.platform, "hello--pr-1") == {"GREETING": "hi", "DATABASE_URL": "postgres://preview",
                                                      "FEATURE": "on"}
    fork = hooked.send("github", github_pull("opened", 2, SHA2, fork=True), event="pull_request", delivery="b")
    assert fork.json()["fork"] is True
    assert env_of(hooked.platform, "hello--pr-2") == {"FEATURE": "on"}  # nothing of production's
    assert hooked.client.get("/api/v1/apps/hello/previews").json()[1]["fork"] is True


def test_the_cap_refuses_a_new_pull_request_loudly(hooked: Hooked, forge: Recorder) -> None:
    c = hooked.client
    c.put("/api/v1/apps/hello/forge", json={"provider": "github", "token": "ghp_test", "api_url": forge.url})
    c.patch("/api/v1/apps/hello/preview-settings", json={"max_previews": 1})
    assert hooked.send("github", github_pull("opened", 1, SHA), event="pull_request", delivery="a").json()[
        "status"] == "queued"
    refused = hooked.send("github", github_pull("opened", 2, SHA2), event="pull_request", delivery="b")
    assert refused.status_code == 202 and refused.json()["status"] == "refused"
    assert "preview limit reached" in refused.json()["reason"] and "the limit is 1" in refused.json()["reason"]
    logged = hooked.deliveries()[0]
    assert logged["outcome"] == "refused" and "limit" in logged["reason"]
    assert len(hooked.deploys()) == 1
    run_side_jobs(hooked.platform)
    assert ("/repos/Codertocat/Hello-World/statuses/" + SHA2, "error") in [
        (c.path, c.body["state"]) for c in forge.calls if "/statuses/" in c.path]
    [comment] = [c for c in forge.calls if c.path.endswith("/issues/2/comments")]
    assert "limit" in comment.body["body"] and comment.headers["authorization"] == "Bearer ghp_test"
    states = {p["number"]: p["state"] for p in c.get("/api/v1/apps/hello/previews").json()}
    assert states == {1: "active", 2: "refused"}


def test_closing_tears_the_preview_down_and_the_ttl_sweeps_idle_ones(hooked: Hooked) -> None:
    hooked.send("github", github_pull("opened", 3, SHA), event="pull_request", delivery="a")
    hooked.send("github", github_pull("opened", 4, SHA2), event="pull_request", delivery="b")
    closed = hooked.send("github", github_pull("closed", 3, SHA, merged=True), event="pull_request", delivery="c")
    assert closed.json()["status"] == "teardown"
    with hooked.platform.sessions() as session:  # its waiting deploy will never run
        statuses = {d.app_id: d.status for d in session.scalars(select(Deploy))}
        assert sorted(statuses.values()) == ["cancelled", "queued"]
    assert run_side_jobs(hooked.platform) == 1
    with hooked.platform.sessions() as session:
        assert session.scalar(select(App.id).where(App.name == "hello--pr-3")) is None
    gone = hooked.client.get("/api/v1/apps/hello/previews", params={"all": True}).json()[0]
    assert gone["state"] == "closed" and gone["reason"] == "pull request merged" and gone["status"] == "removed"
    assert hooked.client.get("/api/v1/apps/hello/previews").json()[0]["number"] == 4
    # idle past the TTL: swept
    with transaction(hooked.platform.sessions) as session:
        session.execute(update(Preview).values(last_activity_at=utcnow() - dt.timedelta(days=8)))
    assert previews.sweep_idle(hooked.platform) == 1
    run_side_jobs(hooked.platform)
    assert hooked.client.get("/api/v1/apps/hello/previews").json() == []
    # reopened: back, same row
    again = hooked.send("github", github_pull("reopened", 3, SHA2), event="pull_request", delivery="d")
    assert again.json()["status"] == "queued"


def test_delete_api_and_deleting_the_app_removes_previews(hooked: Hooked) -> None:
    hooked.send("github", github_pull("opened", 5, SHA), event="pull_request", delivery="a")
    assert hooked.client.delete("/api/v1/apps/hello/previews/5").status_code == 202
    assert hooked.client.delete("/api/v1/apps/hello/previews/5").status_code == 409
    assert hooked.client.delete("/api/v1/apps/hello/previews/6").status_code == 404
    run_side_jobs(hooked.platform)
    hooked.send("github", github_pull("reopened", 5, SHA), event="pull_request", delivery="b")
    assert hooked.client.delete("/api/v1/apps/hello").status_code == 204
    with hooked.platform.sessions() as session:
        assert list(session.scalars(select(App.name))) == []


def test_other_providers_open_and_close_previews(hooked: Hooked) -> None:
    gl = hooked.send("gitlab", gitlab_merge_request("open", 11, SHA), event="Merge Request Hook", delivery="g1")
    assert gl.json()["preview"] == "hello--pr-11"
    quiet = hooked.send("gitlab", gitlab_merge_request("update", 11, SHA, new_commits=False),
                        event="Merge Request Hook", delivery="g2")
    assert quiet.json()["status"] == "ignored"
    assert hooked.send("gitlab", gitlab_merge_request("merge", 11, SHA), event="Merge Request Hook",
                       delivery="g3").json()["status"] == "teardown"
    hooked.client.patch("/api/v1/apps/hello/preview-settings", json={"forks": True})
    assert hooked.send("gitea", gitea_pull("opened", 12, SHA, fork=True), event="pull_request",
                       delivery="t1").json()["fork"] is True
    bb = hooked.send("bitbucket", bitbucket_pull("pullrequest:created", 13), event="pullrequest:created",
                     delivery="b1").json()
    assert bb["status"] == "queued" and bb["commit"] is None  # a short hash: the source branch's tip
    with hooked.platform.sessions() as session:
        assert session.scalar(select(App.branch).where(App.name == "hello--pr-13")) == "feature"
    fork = hooked.send("bitbucket", bitbucket_pull("pullrequest:created", 14, fork=True), event="pullrequest:created",
                       delivery="b2").json()
    assert fork["status"] == "refused" and "bitbucket serves no pull request ref" in fork["reason"]


def test_push_statuses_follow_the_deploy_and_the_preview_comment_is_edited_not_repeated(
        hooked: Hooked, forge: Recorder) -> None:
    from tests.unit.hooks.payloads import github_push

    platform = hooked.platform
    forge_jobs.dispatch(platform)  # the dispatcher's cursor starts here
    assert hooked.client.put("/api/v1/apps/hello/forge", json={
        "provider": "github", "token": "ghp_secret", "api_url": forge.url}).json()["token"] == "••••••••"
    push = hooked.send("github", github_push("refs/heads/main", SHA), delivery="p1").json()
    hooked.send("github", github_pull("opened", 9, SHA2), event="pull_request", delivery="p2")
    assert forge_jobs.dispatch(platform) > 0
    run_side_jobs(platform)
    assert forge.statuses() == [(SHA, "pending"), (SHA2, "pending")]
    forge.fail_next = [502]  # the forge has a bad moment: the job is retried
    with transaction(platform.sessions) as session:  # the deploys finish (the pipeline would emit these)
        from slipway.deploys import service as deploy_service

        for deploy in session.scalars(select(Deploy)):
            deploy_service.finish(session, deploy, status="succeeded")
    forge_jobs.dispatch(platform)
    run_side_jobs(platform)
    with transaction(platform.sessions) as session:  # retries wait for their backoff: make them due
        session.execute(update(Job).where(Job.status == "queued").values(run_at=utcnow()))
    run_side_jobs(platform)
    finals = {sha: state for sha, state in forge.statuses()}
    assert finals == {SHA: "success", SHA2: "success"}
    success = [c for c in forge.calls if "/statuses/" in c.path and c.body["state"] == "success"]
    assert {c.body["target_url"] for c in success} == {
        routing.app_url(platform.settings, "hello"), f"http://pr-9.hello.localhost:{platform.settings.http_port}/"}
    assert {c.body["context"] for c in success} == {"slipway/hello", "slipway/hello/preview"}
    creates = [c for c in forge.calls if c.method == "POST" and c.path.endswith("/issues/9/comments")]
    edits = [c for c in forge.calls if c.method == "PATCH" and "/issues/comments/" in c.path]
    assert len(creates) == 1 and edits and "pr-9.hello" in edits[-1].body["body"]
    assert "Deployed" in edits[-1].body["body"]
    assert push["status"] == "queued"


def test_turning_previews_off_stops_new_ones_but_closing_still_tears_down(hooked: Hooked) -> None:
    hooked.send("github", github_pull("opened", 5, SHA), event="pull_request", delivery="on")
    off = hooked.client.patch("/api/v1/apps/hello/preview-settings", json={"enabled": False})
    assert off.status_code == 200, off.text
    refused = hooked.send("github", github_pull("opened", 6, SHA2), event="pull_request", delivery="new")
    assert refused.json()["status"] == "ignored"
    closed = hooked.send("github", github_pull("closed", 5, SHA), event="pull_request", delivery="close")
    assert closed.json()["status"] == "teardown"
    run_side_jobs(hooked.platform)
    assert hooked.client.get("/api/v1/apps/hello/previews").json() == []


def test_fork_previews_are_opt_in_and_a_refusal_is_recorded_and_reported(hooked: Hooked, forge: Recorder) -> None:
    c = hooked.client
    settings = c.get("/api/v1/apps/hello/preview-settings").json()
    assert settings["enabled"] is True and settings["forks"] is False  # previews on, forks off by default
    c.put("/api/v1/apps/hello/forge", json={"provider": "github", "token": "t", "api_url": forge.url})
    refused = hooked.send("github", github_pull("opened", 4, SHA, fork=True), event="pull_request",
                          delivery="f1").json()
    assert refused["status"] == "refused" and "fork previews are opt-in" in refused["reason"]
    assert hooked.deploys() == []
    with hooked.platform.sessions() as session:
        assert session.scalar(select(App.id).where(App.name == "hello--pr-4")) is None
    [listed] = c.get("/api/v1/apps/hello/previews").json()
    assert listed["status"] == "refused" and listed["fork"] and "--forks" in listed["reason"]
    run_side_jobs(hooked.platform)
    comments = [call for call in forge.calls if "comments" in call.path]
    assert comments and "fork previews are opt-in" in comments[-1].body["body"]
    # a same-repository pull request is not affected
    assert hooked.send("github", github_pull("opened", 5, SHA2), event="pull_request",
                       delivery="f2").json()["status"] == "queued"
    # opted in: the fork's next event gets its preview; opted out again: it is removed at the next event
    assert c.patch("/api/v1/apps/hello/preview-settings", json={"forks": True}).json()["forks"] is True
    assert hooked.send("github", github_pull("synchronize", 4, SHA2, fork=True), event="pull_request",
                       delivery="f3").json()["status"] == "queued"
    c.patch("/api/v1/apps/hello/preview-settings", json={"forks": False})
    gone = hooked.send("github", github_pull("synchronize", 4, SHA, fork=True), event="pull_request",
                       delivery="f4").json()
    assert gone["status"] == "refused"
    with hooked.platform.sessions() as session:
        assert session.scalar(select(Preview.state).where(Preview.number == 4)) == "closing"
