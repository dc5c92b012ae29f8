"""Webhook pushes and scheduled deploys through the real pipeline: git, build, local runtime, releases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from slipway.db import transaction, utcnow
from slipway.jobs.models import Job
from tests.conftest import python_app_files
from tests.integration.conftest import Api, run_jobs
from tests.unit.hooks.payloads import github_push, gitlab_push, signed

pytestmark = pytest.mark.integration


def _hooked(api: Api, repo: Any) -> dict[str, Any]:
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "branch": "main"})
    return api.call("GET", "/apps/hello/hook?reveal=true", 200).json()  # type: ignore[no-any-return]


def _send(api: Api, hook: dict[str, Any], provider: str, payload: Any, delivery: str) -> dict[str, Any]:
    body, headers = signed(provider, hook["secret"], payload, delivery=delivery)
    response = api.client.post(f"/hooks/{provider}/{hook['hook_id']}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_pushed_commit_is_deployed_not_the_branch_head(api: Api, make_repo: Any) -> None:
    repo = make_repo(files=python_app_files("1"))
    hook = _hooked(api, repo)
    pushed = repo.commit({"version.txt": "2\n"})
    head = repo.commit({"version.txt": "3\n"})  # the branch moved on after the push
    answer = _send(api, hook, "github", github_push("refs/heads/main", pushed), "gh-1")
    assert answer["status"] == "queued"
    run_jobs(api.platform)
    deploy = api.call("GET", f"/apps/hello/deploys/{answer['deploy_id']}", 200).json()
    assert deploy["status"] == "succeeded", api.log("hello", deploy["id"])
    [release] = api.call("GET", "/apps/hello/releases", 200).json()
    assert release["commit"] == pushed != head and release["live"]
    # the redelivery of the same push deploys nothing more
    body, headers = signed("github", hook["secret"], github_push("refs/heads/main", pushed), delivery="gh-1")
    again = api.client.post(f"/hooks/github/{hook['hook_id']}", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert run_jobs(api.platform) == 0


def test_a_burst_deploys_the_newest_commit_once_more(api: Api, make_repo: Any) -> None:
    repo = make_repo(files=python_app_files("1"))
    hook = _hooked(api, repo)
    shas = [repo.commit({"version.txt": f"{i}\n"}) for i in range(2, 7)]
    ids = {_send(api, hook, "gitlab", gitlab_push("refs/heads/main", sha), f"gl-{i}")["deploy_id"]
           for i, sha in enumerate(shas)}
    assert len(ids) == 1  # nothing was in flight: the burst is one queued deploy
    run_jobs(api.platform)
    deploys = api.call("GET", "/apps/hello/deploys", 200).json()
    assert [(d["status"], d["commit"]) for d in deploys] == [("succeeded", shas[-1])]
    assert api.call("GET", "/apps/hello/releases", 200).json()[0]["commit"] == shas[-1]


def test_a_scheduled_deploy_runs_when_due_and_a_cancelled_one_never(api: Api, make_repo: Any) -> None:
    repo = make_repo(files=python_app_files("1"))
    _hooked(api, repo)
    at = (utcnow() + dt.timedelta(minutes=5)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    due = api.call("POST", "/apps/hello/deploys", 202,
                   json={"at": at.strftime("%Y-%m-%d %H:%M"), "tz": "Etc/GMT-1"}).json()  # Etc/GMT-1 is UTC+1
    dropped = api.call("POST", "/apps/hello/deploys", 202, json={"at": "2099-01-01 00:00"}).json()
    assert due["status"] == dropped["status"] == "scheduled"
    assert run_jobs(api.platform) == 0  # nothing is due yet
    api.call("POST", f"/apps/hello/deploys/{dropped['id']}/cancel", 200)
    with transaction(api.platform.sessions) as session:  # time passes: both jobs are now due
        for job in session.scalars(select(Job)):
            job.run_at = utcnow() - dt.timedelta(seconds=1)
    assert run_jobs(api.platform) == 1
    ran = api.call("GET", f"/apps/hello/deploys/{due['id']}", 200).json()
    assert ran["status"] == "succeeded", api.log("hello", due["id"])
    assert api.call("GET", f"/apps/hello/deploys/{dropped['id']}", 200).json()["status"] == "cancelled"
