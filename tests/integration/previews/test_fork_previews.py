"""A fork's preview builds exactly the pull request's head, fetched through refs/pull/N/head of the base
repository, never the base's branch of the same name; `slipway deploy <app>--pr-N` does the same."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import python_app_files
from tests.integration.conftest import Api, run_jobs
from tests.integration.previews.test_preview_pipeline import _send
from tests.integration.test_deploy_pipeline import serve
from tests.unit.previews.payloads import github_pull

pytestmark = pytest.mark.integration


def test_fork_preview_serves_the_pull_request_head_not_a_same_named_branch(api: Api, make_repo: Any) -> None:
    repo = make_repo(files=python_app_files("production"))
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url})
    api.call("PATCH", "/apps/hello/env", 200, json={"set": {"SECRET_KEY": "prod-secret-123"}, "deploy": False})
    api.call("PATCH", "/apps/hello/preview-settings", 200, json={"forks": True, "shared_keys": ["SECRET_KEY"]})
    hook = api.call("GET", "/apps/hello/hook?reveal=true", 200).json()
    # the fork's commit exists in the base repository only as refs/pull/7/head (as GitHub serves it)
    repo.git("checkout", "-q", "-b", "fork-work")
    fork_head = repo.commit({"version.txt": "fork-code\n"})
    repo.git("update-ref", "refs/pull/7/head", fork_head)
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-D", "fork-work")
    # and the base has a branch named like the fork's branch ("changes"), holding other code
    repo.git("checkout", "-q", "-b", "changes")
    repo.commit({"version.txt": "base-branch-code\n"})
    repo.git("checkout", "-q", "main")

    answer = _send(api, hook, github_pull("opened", 7, fork_head, fork=True, head_ref="changes"), "f-1")
    assert answer["status"] == "queued" and answer["fork"] is True
    run_jobs(api.platform)
    deploy = api.call("GET", f"/apps/hello--pr-7/deploys/{answer['deploy_id']}", 200).json()
    log = api.log("hello--pr-7", deploy["id"])
    assert deploy["status"] == "succeeded", log
    assert "refs/pull/7/head" in log and "prod-secret-123" not in log
    assert serve(api, "hello--pr-7")["version"] == "fork-code"

    # `slipway deploy hello--pr-7` (no commit given): the PR head again, not the branch "changes"
    again = api.deploy("hello--pr-7")
    assert again["status"] == "succeeded", api.log("hello--pr-7", again["id"])
    assert again["commit"] == fork_head
    assert serve(api, "hello--pr-7")["version"] == "fork-code"
    [preview] = api.call("GET", "/apps/hello/previews", 200).json()
    assert preview["live_commit"] == fork_head

    # the ref moved without an event (or the event lied): the fetched commit is not the one named, refused
    repo.git("checkout", "-q", "-b", "other")
    moved = repo.commit({"version.txt": "unannounced\n"})
    repo.git("update-ref", "refs/pull/7/head", moved)
    repo.git("checkout", "-q", "main")
    refused = api.deploy("hello--pr-7")
    assert refused["status"] == "failed"
    assert "refs/pull/7/head is at" in refused["reason"] and fork_head[:12] in refused["reason"]
    assert serve(api, "hello--pr-7")["version"] == "fork-code"  # the live preview keeps serving
    # its event arrives: that commit is deployed
    answer = _send(api, hook, github_pull("synchronize", 7, moved, fork=True, head_ref="changes"), "f-2")
    run_jobs(api.platform)
    assert api.call("GET", f"/apps/hello--pr-7/deploys/{answer['deploy_id']}", 200).json()["status"] == "succeeded"
    assert serve(api, "hello--pr-7")["version"] == "unannounced"


def test_gitlab_and_github_refs() -> None:
    from slipway.previews.service import pull_ref

    assert pull_ref("github", 7) == "refs/pull/7/head"
    assert pull_ref("gitea", 7) == pull_ref("forgejo", 7) == "refs/pull/7/head"
    assert pull_ref("gitlab", 11) == "refs/merge-requests/11/head"
    assert pull_ref("bitbucket", 3) is None
