"""Forge API clients: a commit status, and one pull request comment created once then edited.

Endpoints as each forge documents them:
  GitHub  POST  /repos/{owner}/{repo}/statuses/{sha}            docs.github.com/rest/commits/statuses
          POST  /repos/{owner}/{repo}/issues/{n}/comments        docs.github.com/rest/issues/comments
          PATCH /repos/{owner}/{repo}/issues/comments/{id}
  GitLab  POST  /projects/:id/statuses/:sha                      docs.gitlab.com/api/commits (commit status)
          POST  /projects/:id/merge_requests/:iid/notes          docs.gitlab.com/api/notes
          PUT   /projects/:id/merge_requests/:iid/notes/:note_id
  Gitea / Forgejo: GitHub's paths under /api/v1, `Authorization: token …`   (gitea.com/api/swagger)

The base URL is a per-app setting (GitHub Enterprise, self-hosted GitLab, Gitea); tests point it at a
recording HTTP server on loopback. `transport` lets unit tests pass httpx.MockTransport instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from slipway.egress import Policy

DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
PROVIDERS = ("github", "gitlab", "gitea")


class ForgeError(Exception):
    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient  # worth retrying: the forge or the network failed, not our request
        self.status = status


class Forge:
    provider = ""
    states: dict[str, str] = {}  # ours (pending running success failure error cancelled) → the forge's

    def __init__(self, api_url: str, token: str, *, policy: Policy, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        # The token goes wherever api_url points: every connection obeys the egress rules (a test may pass
        # its own transport). No redirects: a 3xx must not carry the token to another host.
        self.http = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout,
                                 transport=transport or policy.transport(), trust_env=False,
                                 follow_redirects=False, headers={"User-Agent": "slipway", **self._auth(token)})

    def close(self) -> None:
        self.http.close()

    def _auth(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    def _call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ForgeError(f"{method} {path}: {type(exc).__name__}: {exc}", transient=True) from exc
        if response.status_code >= 400:
            transient = response.status_code >= 500 or response.status_code in (408, 429)
            raise ForgeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}",
                             transient=transient, status=response.status_code)
        try:
            return response.json() if response.content else None
        except ValueError:
            return None

    def status(self, *, repo: str, sha: str, state: str, context: str, description: str,
               target_url: str | None) -> None:
        raise NotImplementedError

    def create_comment(self, *, repo: str, number: int, body: str) -> str:
        raise NotImplementedError

    def update_comment(self, *, repo: str, number: int, comment_id: str, body: str) -> None:
        raise NotImplementedError


class GitHub(Forge):
    provider = "github"
    states = {"pending": "pending", "running": "pending", "success": "success", "failure": "failure",
              "error": "error", "cancelled": "error"}

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}

    def status(self, *, repo: str, sha: str, state: str, context: str, description: str,
               target_url: str | None) -> None:
        body = {"state": self.states[state], "context": context, "description": description[:140]}
        if target_url:
            body["target_url"] = target_url
        self._call("POST", f"/repos/{repo}/statuses/{sha}", body)

    def create_comment(self, *, repo: str, number: int, body: str) -> str:
        return str(self._call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})["id"])

    def update_comment(self, *, repo: str, number: int, comment_id: str, body: str) -> None:
        self._call("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", {"body": body})


class Gitea(GitHub):
    provider = "gitea"
    states = {**GitHub.states}

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}


class GitLab(Forge):
    provider = "gitlab"
    states = {"pending": "pending", "running": "running", "success": "success", "failure": "failed",
              "error": "failed", "cancelled": "canceled"}

    def _auth(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def _project(self, repo: str) -> str:
        return quote(repo, safe="")  # a numeric id, or "group/project" URL-encoded

    def status(self, *, repo: str, sha: str, state: str, context: str, description: str,
               target_url: str | None) -> None:
        body = {"state": self.states[state], "name": context, "description": description[:255]}
        if target_url:
            body["target_url"] = target_url
        self._call("POST", f"/projects/{self._project(repo)}/statuses/{sha}", body)

    def create_comment(self, *, repo: str, number: int, body: str) -> str:
        return str(self._call("POST", f"/projects/{self._project(repo)}/merge_requests/{number}/notes",
                              {"body": body})["id"])

    def update_comment(self, *, repo: str, number: int, comment_id: str, body: str) -> None:
        self._call("PUT", f"/projects/{self._project(repo)}/merge_requests/{number}/notes/{comment_id}",
                   {"body": body})


CLIENTS: dict[str, type[Forge]] = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}


def client(provider: str, api_url: str, token: str, *, policy: Policy, timeout: float = 10.0,
           transport: httpx.BaseTransport | None = None) -> Forge:
    return CLIENTS[provider](api_url, token, policy=policy, timeout=timeout, transport=transport)


def forge_of_hook(hook_provider: str) -> str | None:
    """The forge API that answers for deliveries of a webhook provider (Forgejo speaks Gitea's)."""
    return {"github": "github", "gitlab": "gitlab", "gitea": "gitea", "forgejo": "gitea"}.get(hook_provider)
