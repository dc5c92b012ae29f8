"""Webhook payloads in the shape the providers publish, trimmed to what matters, and signed requests.

Sources (each builder below names the one it follows):
- GitHub: octokit/webhooks payload-examples/api.github.com/push/payload.json (a tag deletion) and the
  push event schema in docs.github.com "Webhook events and payloads" (ref, before, after, head_commit).
- GitLab: docs.gitlab.com "Webhook events" → Push events / Tag events examples (object_kind, checkout_sha),
  the same sample GitLab sends from the hook's Test button (gitlab-org/gitlab issue 52556 shows it).
- Gitea: docs.gitea.com "Webhooks" → Event information example (X-Gitea-Delivery, X-Gitea-Event: push).
- Bitbucket Cloud: support.atlassian.com "Event payloads" → Push (repo:push: push.changes[].new.target.hash).
"""

from __future__ import annotations

import json
from typing import Any

from slipway.hooks.providers import hmac_hex

ZERO = "0" * 40


def github_push(ref: str, after: str, before: str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246") -> dict[str, Any]:
    deleted = after == ZERO
    return {
        "ref": ref, "before": before, "after": after, "created": False, "deleted": deleted, "forced": False,
        "base_ref": None, "compare": f"https://github.com/Codertocat/Hello-World/compare/{before[:12]}...{after[:12]}",
        "commits": [] if deleted else [{"id": after, "message": "Update README.md", "distinct": True}],
        "head_commit": None if deleted else {"id": after, "message": "Update README.md"},
        "repository": {"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
                       "clone_url": "https://github.com/Codertocat/Hello-World.git", "default_branch": "master"},
        "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
        "sender": {"login": "Codertocat", "id": 21031067, "type": "User"},
    }


GITHUB_PING = {"zen": "Keep it logically awesome.", "hook_id": 30, "hook": {"type": "Repository", "id": 30,
               "events": ["push"], "active": True, "config": {"content_type": "json"}},
               "repository": {"id": 186853002, "full_name": "Codertocat/Hello-World"}}


def gitlab_push(ref: str, after: str, *, tag: bool = False,
                before: str = "95790bf891e76fee5e1747ab589903a6a1f80f22") -> dict[str, Any]:
    kind = "tag_push" if tag else "push"
    return {
        "object_kind": kind, "event_name": kind, "before": before, "after": after, "ref": ref,
        "ref_protected": True, "checkout_sha": None if after == ZERO else after, "message": "Hello World",
        "user_id": 4, "user_name": "John Smith", "user_username": "jsmith", "user_email": "john@example.com",
        "project_id": 15, "project": {"id": 15, "name": "Diaspora", "path_with_namespace": "mike/diaspora",
                                      "default_branch": "master"},
        "commits": [{"id": after, "message": "Update Catalan translation to e38cb41.",
                     "timestamp": "2011-12-12T14:27:31+02:00", "author": {"name": "Jordi Mallach",
                                                                          "email": "jordi@softcatala.org"}}],
        "total_commits_count": 1,
        "repository": {"name": "Diaspora", "url": "git@example.com:mike/diaspora.git",
                       "homepage": "http://example.com/mike/diaspora", "visibility_level": 0},
    }


def gitea_push(ref: str, after: str, before: str = "28e1879d029cb852e4844d9c718537df08844e03") -> dict[str, Any]:
    return {
        "ref": ref, "before": before, "after": after,
        "compare_url": f"http://localhost:3000/gitea/webhooks/compare/{before}...{after}",
        "commits": [{"id": after, "message": "Webhooks Yay!",
                     "url": f"http://localhost:3000/gitea/webhooks/commit/{after}",
                     "author": {"name": "Gitea", "email": "someone@gitea.io", "username": "gitea"},
                     "timestamp": "2017-03-13T13:52:11-04:00"}],
        "head_commit": {"id": after, "message": "Webhooks Yay!"},
        "repository": {"id": 140, "name": "webhooks", "full_name": "gitea/webhooks", "private": False,
                       "default_branch": "master"},
        "pusher": {"id": 1, "login": "gitea", "full_name": "Gitea", "email": "someone@gitea.io"},
        "sender": {"id": 1, "login": "gitea", "full_name": "Gitea", "email": "someone@gitea.io"},
    }


def bitbucket_push(name: str, commit: str | None, *, kind: str = "branch") -> dict[str, Any]:
    old = {"type": kind, "name": name, "target": {"type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}}
    new = None if commit is None else {"type": kind, "name": name,
                                      "target": {"type": "commit", "hash": commit, "message": "Add readme\n"}}
    return {
        "actor": {"type": "user", "display_name": "Emma", "uuid": "{a54f16da-24e9-4d7f-a3a7-b1ba2cd98aa3}"},
        "repository": {"type": "repository", "full_name": "team_name/repo_name", "name": "repo_name",
                       "uuid": "{673a6070-3421-46c9-9d48-90745f7bfe8e}"},
        "push": {"changes": [{"new": new, "old": old, "created": False, "forced": False, "closed": commit is None,
                              "commits": [] if commit is None else [{"hash": commit, "type": "commit"}],
                              "truncated": False}]},
    }


def signed(provider: str, secret: str, payload: Any, *, event: str | None = None, delivery: str = "d-1",
           raw: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers a provider sends for `payload`, signed with `secret` the provider's way."""
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if provider == "github":
        headers |= {"X-GitHub-Event": event or "push", "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body), "User-Agent": "GitHub-Hookshot/044aadd"}
    elif provider == "gitlab":
        headers |= {"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Event-UUID": delivery,
                    "X-Gitlab-Webhook-UUID": delivery + "-w", "X-Gitlab-Token": secret}
    elif provider in ("gitea", "forgejo"):
        headers |= {"X-Gitea-Event": event or "push", "X-Gitea-Delivery": delivery,
                    "X-Gitea-Signature": hmac_hex(secret, body)}
    elif provider == "bitbucket":
        headers |= {"X-Event-Key": event or "repo:push", "X-Request-UUID": delivery,
                    "X-Hub-Signature": "sha256=" + hmac_hex(secret, body)}
    return body, headers
