"""Previews through the real pipeline: git (the PR head at refs/pull/N/head, as GitHub serves it), build,
the local runtime, releases; what reaches the instance's environment; teardown; forge statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from slipway.apps.models import App
from slipway.forge import jobs as forge_jobs
from slipway.instances.models import Instance
from tests.conftest import python_app_files
from tests.integration.conftest import Api, run_jobs
from tests.unit.forge.recorder import Recorder
from tests.unit.hooks.payloads import signed
from tests.unit.previews.payloads import github_pull

pytestmark = pytest.mark.integration


def _send(api: Api, hook: dict[str, Any], payload: Any, delivery: str) -> dict[str, Any]:
    body, headers = signed("github", hook["secret"], payload, event="pull_request", delivery=delivery)
    response = api.client.post(f"/hooks/github/{hook['hook_id']}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _instance_env(api: Api, app: str) -> dict[str, str]:
    [instance] = [i for i in api.call("GET", f"/apps/{app}/instances", 200).json() if i["state"] == "running"]
    assert instance["pid"], instance
    return _environ(instance["pid"])


def test_a_fork_preview_runs_without_any_production_secret_and_goes_when_closed(api: Api, make_repo: Any) -> None:
    repo = make_repo(files=python_app_files("1"))
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url})
    api.call("PATCH", "/apps/hello/env", 200, json={"set": {"SECRET_KEY": "prod-secret-123",
                                                            "GREETING": "from-production"}, "deploy": False})
    api.call("PATCH", "/apps/hello/preview-settings", 200, json={
        "shared_keys": ["GREETING", "SECRET_KEY"],  # even shared ones never reach a fork
        "set": {"DATABASE_URL": "postgres://preview-db", "PREVIEW_BANNER": "fork-ok"},
        "fork_safe_keys": ["PREVIEW_BANNER"], "forks": True})
    hook = api.call("GET", "/apps/hello/hook?reveal=true", 200).json()
    # the fork's commit, as GitHub serves it from the base repository: refs/pull/7/head
    repo.git("checkout", "-q", "-b", "fork-work")
    head = repo.commit({"version.txt": "fork\n"})
    repo.git("update-ref", "refs/pull/7/head", head)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-D", "fork-work")
    answer = _send(api, hook, github_pull("opened", 7, head, fork=True), "fork-1")
    assert answer["status"] == "queued" and answer["fork"] is True
    run_jobs(api.platform)
    deploy = api.call("GET", f"/apps/hello--pr-7/deploys/{answer['deploy_id']}", 200).json()
    assert deploy["status"] == "succeeded", api.log("hello--pr-7", deploy["id"])
    env = _instance_env(api, "hello--pr-7")
    assert env["PREVIEW_BANNER"] == "fork-ok" and env["SLIPWAY_APP"] == "hello--pr-7"
    assert "prod-secret-123" not in "\n".join(env.values()) and "SECRET_KEY" not in env
    assert "GREETING" not in env and "DATABASE_URL" not in env
    [preview] = api.call("GET", "/apps/hello/previews", 200).json()
    assert preview["status"] == "running" and preview["live_commit"] == head
    with api.platform.sessions() as session:
        pids = [i.id for i in session.scalars(select(Instance).where(Instance.status == "running"))]
    # closed: routes, instances, releases and artifacts go
    assert _send(api, hook, github_pull("closed", 7, head, fork=True), "fork-2")["status"] == "teardown"
    run_jobs(api.platform)
    assert api.platform.runtime.instances() == [] or not set(pids) & set(api.platform.runtime.instances())
    with api.platform.sessions() as session:
        assert session.scalar(select(App.id).where(App.name == "hello--pr-7")) is None
    assert not (api.platform.settings.home / "artifacts" / "hello--pr-7").exists()
    assert api.call("GET", "/apps/hello/previews", 200).json() == []


def test_a_same_repo_preview_gets_shared_vars_and_reports_to_the_forge(api: Api, make_repo: Any,
                                                                        forge: Recorder) -> None:
    repo = make_repo(files=python_app_files("1"))
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url})
    api.call("PATCH", "/apps/hello/env", 200, json={"set": {"SECRET_KEY": "prod-secret-123",
                                                            "GREETING": "shared"}, "deploy": False})
    api.call("PATCH", "/apps/hello/preview-settings", 200, json={"shared_keys": ["GREETING"],
                                                                 "set": {"DATABASE_URL": "postgres://preview"}})
    api.call("PUT", "/apps/hello/forge", 200, json={"provider": "github", "token": "t", "api_url": forge.url})
    hook = api.call("GET", "/apps/hello/hook?reveal=true", 200).json()
    forge_jobs.dispatch(api.platform)
    repo.git("checkout", "-q", "-b", "changes")
    head = repo.commit({"version.txt": "2\n"})
    answer = _send(api, hook, github_pull("opened", 3, head), "pr-1")
    run_jobs(api.platform)
    forge_jobs.dispatch(api.platform)
    run_jobs(api.platform)
    deploy = api.call("GET", f"/apps/hello--pr-3/deploys/{answer['deploy_id']}", 200).json()
    assert deploy["status"] == "succeeded", api.log("hello--pr-3", deploy["id"])
    env = _instance_env(api, "hello--pr-3")
    assert env["GREETING"] == "shared" and env["DATABASE_URL"] == "postgres://preview" and "SECRET_KEY" not in env
    assert [s for s in forge.statuses() if s[0] == head][-1] == (head, "success")
    [comment] = [c for c in forge.calls if c.method == "POST" and c.path.endswith("/issues/3/comments")]
    assert "pr-3.hello.localhost" in [c for c in forge.calls if "comments" in c.path][-1].body["body"]
    assert comment.headers["authorization"] == "Bearer t"
    # a new commit redeploys it; the comment is edited, not repeated
    head2 = repo.commit({"version.txt": "3\n"})
    _send(api, hook, github_pull("synchronize", 3, head2), "pr-2")
    run_jobs(api.platform)
    forge_jobs.dispatch(api.platform)
    run_jobs(api.platform)
    assert [s for s in forge.statuses() if s[0] == head2][-1] == (head2, "success")
    assert len([c for c in forge.calls if c.method == "POST" and "comments" in c.path]) == 1
    assert api.call("GET", "/apps/hello/previews", 200).json()[0]["live_commit"] == head2
