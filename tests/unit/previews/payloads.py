"""Pull/merge request payloads as the providers publish them, trimmed to what previews read.

Sources:
- GitHub: octokit/webhooks payload-examples/api.github.com/pull_request/opened.payload.json (Codertocat/
  Hello-World #2, head "changes", base "master") and docs.github.com "Webhook events and payloads" →
  pull_request (actions opened, reopened, synchronize, closed with pull_request.merged).
- GitLab: docs.gitlab.com "Webhook events" → Merge request events example (object_kind "merge_request",
  object_attributes.iid/action/source_project_id/target_project_id/last_commit, "oldrev" only when
  commits were pushed).
- Gitea: docs.gitea.com "Webhooks" and modules/structs/hook.go PullRequestPayload (action, number,
  pull_request.head/base with repo.full_name; sync action "synchronized").
- Bitbucket Cloud: support.atlassian.com "Event payloads" → Pull request events (pullrequest:created,
  pullrequest.source.commit.hash is 12 characters, source/destination repository full_name).
"""

from __future__ import annotations

from typing import Any


def github_pull(action: str, number: int, sha: str, *, fork: bool = False, merged: bool = False,
                head_ref: str = "changes") -> dict[str, Any]:
    base_repo = {"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World", "fork": False}
    head_repo = ({"id": 186853261, "name": "Hello-World", "full_name": "Forker/Hello-World", "fork": True}
                 if fork else base_repo)
    return {
        "action": action, "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/Codertocat/Hello-World/pulls/{number}", "id": 279147437,
            "html_url": f"https://github.com/Codertocat/Hello-World/pull/{number}", "number": number,
            "state": "closed" if action == "closed" else "open", "locked": False,
            "title": "Update the README with new information.",
            "user": {"login": "Forker" if fork else "Codertocat", "id": 21031067},
            "merged": merged, "merge_commit_sha": None,
            "head": {"label": f"{head_repo['full_name'].split('/')[0]}:{head_ref}", "ref": head_ref, "sha": sha,
                     "repo": head_repo},
            "base": {"label": "Codertocat:master", "ref": "master",
                     "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "repo": base_repo},
        },
        "repository": base_repo,
        "sender": {"login": "Codertocat", "id": 21031067, "type": "User"},
    }


def gitlab_merge_request(action: str, iid: int, sha: str, *, fork: bool = False,
                         new_commits: bool = True) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "id": 99, "iid": iid, "target_branch": "master", "source_branch": "ms-viewport",
        "source_project_id": 15 if fork else 14, "target_project_id": 14, "author_id": 51,
        "title": "MS-Viewport", "state": "opened", "merge_status": "unchecked",
        "url": f"http://example.com/diaspora/merge_requests/{iid}",
        "last_commit": {"id": sha, "message": "fixed readme", "timestamp": "2012-01-03T23:36:29+02:00"},
        "action": action,
    }
    if action == "update" and new_commits:
        attrs["oldrev"] = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    return {
        "object_kind": "merge_request", "event_type": "merge_request",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": {"id": 14, "name": "Gitlab Test", "path_with_namespace": "gitlabhq/gitlab-test",
                    "default_branch": "master"},
        "object_attributes": attrs,
        "source": {"name": "Awesome Project", "path_with_namespace": "awesome_space/awesome_project" if fork
                   else "gitlabhq/gitlab-test"},
        "target": {"name": "Gitlab Test", "path_with_namespace": "gitlabhq/gitlab-test"},
    }


def gitea_pull(action: str, number: int, sha: str, *, fork: bool = False) -> dict[str, Any]:
    base = {"id": 1, "name": "webhooks", "full_name": "gitea/webhooks"}
    head = {"id": 2, "name": "webhooks", "full_name": "someone/webhooks"} if fork else base
    return {"action": action, "number": number,
            "pull_request": {"id": 5, "number": number, "title": "Add feature", "html_url":
                             f"http://localhost:3000/gitea/webhooks/pulls/{number}", "merged": False,
                             "head": {"ref": "feature", "sha": sha, "repo": head},
                             "base": {"ref": "main", "sha": "28e1879d029cb852e4844d9c718537df08844e03", "repo": base}},
            "repository": base, "sender": {"id": 1, "login": "gitea"}}


def bitbucket_pull(event: str, number: int, short_hash: str = "d3022fc0ca3d", *,
                   fork: bool = False) -> dict[str, Any]:
    base = {"type": "repository", "full_name": "team_name/repo_name", "name": "repo_name"}
    head = {"type": "repository", "full_name": "forker/repo_name", "name": "repo_name"} if fork else base
    return {"actor": {"type": "user", "display_name": "Emma"},
            "pullrequest": {"id": number, "title": "Title of pull request", "state": "OPEN",
                            "source": {"branch": {"name": "feature"}, "commit": {"hash": short_hash},
                                       "repository": head},
                            "destination": {"branch": {"name": "main"}, "commit": {"hash": "ce5965ddd289"},
                                            "repository": base},
                            "links": {"html": {"href": f"https://bitbucket.org/team_name/repo_name/pull-requests/{number}"}}},
            "repository": base}
