"""What each forge sends: how its signature is checked, where the event and delivery id are, what a push says.

Each provider is verified exactly as its documentation says, always with constant-time comparison:
  GitHub     X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
  GitLab     X-Gitlab-Token: <the secret itself>
  Gitea      X-Gitea-Signature (Forgejo: X-Forgejo-Signature): <hex HMAC-SHA256 of the raw body>
  Bitbucket  X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>  (Bitbucket Cloud)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.crypto import same
from slipway.errors import SlipwayError

Headers = Mapping[str, str]  # lower-case names


class Malformed(SlipwayError):
    status = 400
    code = "malformed"


@dataclass(frozen=True)
class RefUpdate:
    kind: str  # branch | tag
    name: str
    commit: str | None  # None: the ref was deleted


@dataclass(frozen=True)
class PullRequest:
    """A pull/merge request event: what its preview should do."""

    number: int
    action: str  # open (opened, reopened) | sync (new commits) | close (closed, merged, declined)
    head_commit: str | None  # None: deploy the tip of head_ref (Bitbucket sends 12-character hashes)
    head_ref: str
    head_repo: str | None  # None: the fork was deleted
    base_repo: str | None
    fork: bool  # the head lives in another repository: its code is untrusted, it gets no secrets
    title: str = ""
    url: str | None = None
    merged: bool = False


@dataclass(frozen=True)
class Parsed:
    event: str
    ping: bool = False
    ignored: str | None = None  # why we do not act on it
    updates: tuple[RefUpdate, ...] = field(default=())
    pull: PullRequest | None = None
    repo: str | None = None  # the repository at the forge (owner/name; GitLab: the project id), for statuses


def _get(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Malformed(f"{what} is not a pull request number: {str(value)[:40]!r}")
    return value


def _pull(action: str, *, number: Any, head_sha: Any, head_ref: Any, head_repo: Any, base_repo: Any,
          title: Any, url: Any, merged: bool = False, fork: bool | None = None, short_sha_ok: bool = False
          ) -> PullRequest:
    if short_sha_ok and isinstance(head_sha, str) and len(head_sha) < 40:
        commit = None
    else:
        commit = _sha(head_sha, "the pull request's head sha")
    head, base = _text(head_repo), _text(base_repo)
    return PullRequest(number=_number(number, "the pull request number"), action=action, head_commit=commit,
                       head_ref=_text(head_ref) or "", head_repo=head, base_repo=base,
                       fork=fork if fork is not None else (head is None or head != base),
                       title=(_text(title) or "")[:255], url=_text(url), merged=merged)


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _sha(value: Any, what: str) -> str | None:
    """A commit sha from a payload; None for the all-zero sha of a deletion."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) not in (40, 64) or any(c not in "0123456789abcdef" for c in value):
        raise Malformed(f"{what} is not a commit sha: {str(value)[:80]!r}")
    return None if set(value) == {"0"} else value


def _ref(value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or not value:
        raise Malformed("the push has no ref")
    if value.startswith("refs/heads/"):
        return "branch", value[len("refs/heads/"):]
    if value.startswith("refs/tags/"):
        return "tag", value[len("refs/tags/"):]
    return "other", value


def _head_commit(payload: dict[str, Any]) -> Any:
    head = payload.get("head_commit")
    return head.get("id") if isinstance(head, dict) else None


class Provider:
    name = ""
    title = ""
    signature_headers: tuple[str, ...] = ()
    event_headers: tuple[str, ...] = ()
    delivery_headers: tuple[str, ...] = ()

    def _first(self, headers: Headers, names: tuple[str, ...]) -> str | None:
        for name in names:
            value = headers.get(name)
            if value:
                return value
        return None

    def event(self, headers: Headers) -> str:
        return (self._first(headers, self.event_headers) or "")[:64]

    def delivery_id(self, headers: Headers) -> str | None:
        value = self._first(headers, self.delivery_headers)
        return value[:128] if value else None

    def check(self, secret: str, body: bytes, headers: Headers) -> str | None:
        """None when the request is signed with `secret`; otherwise why not."""
        given = self._first(headers, self.signature_headers)
        if not given:
            return f"missing {self.signature_headers[0]} header"
        return None if self._matches(secret, body, given.strip()) else f"{self.signature_headers[0]} does not match"

    def _matches(self, secret: str, body: bytes, given: str) -> bool:
        raise NotImplementedError

    def parse(self, event: str, payload: dict[str, Any]) -> Parsed:
        raise NotImplementedError


class GitHub(Provider):
    name, title = "github", "GitHub"
    signature_headers = ("x-hub-signature-256",)
    event_headers = ("x-github-event",)
    delivery_headers = ("x-github-delivery",)

    def _matches(self, secret: str, body: bytes, given: str) -> bool:
        return same(given, "sha256=" + hmac_hex(secret, body))

    def parse(self, event: str, payload: dict[str, Any]) -> Parsed:
        if event == "ping":
            return Parsed(event, ping=True)
        repo = _text(_get(payload, "repository", "full_name"))
        if event == "pull_request":
            return _github_like_pull(self.title, event, payload, repo, sync_actions=("synchronize",))
        if event != "push":
            return Parsed(event, ignored=f"GitHub event {event or '(none)'!r} does not deploy")
        kind, name = _ref(payload.get("ref"))
        commit = _sha(payload.get("after"), "after")
        if kind == "tag" and commit is not None:  # an annotated tag's `after` is the tag object
            commit = _sha(_head_commit(payload), "head_commit.id") or commit
        return Parsed(event, updates=(RefUpdate(kind, name, commit),), repo=repo)


class GitLab(Provider):
    name, title = "gitlab", "GitLab"
    signature_headers = ("x-gitlab-token",)
    event_headers = ("x-gitlab-event",)
    # Idempotency-Key (GitLab 17.4+) and X-Gitlab-Event-UUID stay the same when a delivery is resent
    delivery_headers = ("idempotency-key", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid")

    def _matches(self, secret: str, body: bytes, given: str) -> bool:
        return same(given, secret)

    def parse(self, event: str, payload: dict[str, Any]) -> Parsed:
        kind = payload.get("object_kind")
        repo = _text(payload.get("project_id")) or _text(_get(payload, "project", "id"))
        if kind == "merge_request":
            return self._merge_request(event, payload, repo)
        if kind not in ("push", "tag_push"):
            return Parsed(event, ignored=f"GitLab event {event or kind or '(none)'!r} does not deploy")
        ref_kind, name = _ref(payload.get("ref"))
        after = _sha(payload.get("after"), "after")
        # checkout_sha is the commit (also for annotated tags); null when the ref was deleted
        commit = _sha(payload.get("checkout_sha"), "checkout_sha") if after is not None else None
        return Parsed(event, updates=(RefUpdate(ref_kind, name, commit or after),), repo=repo)

    def _merge_request(self, event: str, payload: dict[str, Any], repo: str | None) -> Parsed:
        attrs = payload.get("object_attributes")
        if not isinstance(attrs, dict):
            raise Malformed("a merge request event without object_attributes")
        action = attrs.get("action")
        if action == "update" and "oldrev" not in attrs:  # GitLab sets oldrev only when commits were pushed
            return Parsed(event, ignored="merge request updated without new commits", repo=repo)
        mapped = {"open": "open", "reopen": "open", "update": "sync", "close": "close", "merge": "close"}
        if action not in mapped:
            return Parsed(event, ignored=f"merge request action {action!r} changes no preview", repo=repo)
        source, target = attrs.get("source_project_id"), attrs.get("target_project_id")
        return Parsed(event, repo=repo or _text(target), pull=_pull(
            mapped[action], number=attrs.get("iid"), head_sha=_get(attrs, "last_commit", "id"),
            head_ref=attrs.get("source_branch"),
            head_repo=_get(payload, "source", "path_with_namespace") or _text(source),
            base_repo=_get(payload, "target", "path_with_namespace") or _text(target),
            fork=source is None or source != target, title=attrs.get("title"), url=attrs.get("url"),
            merged=action == "merge"))


class Gitea(Provider):
    name, title = "gitea", "Gitea / Forgejo"
    signature_headers = ("x-gitea-signature", "x-forgejo-signature")
    event_headers = ("x-gitea-event", "x-forgejo-event")
    delivery_headers = ("x-gitea-delivery", "x-forgejo-delivery")

    def check(self, secret: str, body: bytes, headers: Headers) -> str | None:
        given = self._first(headers, self.signature_headers)
        if not given:
            return "missing X-Gitea-Signature (or X-Forgejo-Signature) header"
        return None if self._matches(secret, body, given.strip()) else "X-Gitea-Signature does not match"

    def _matches(self, secret: str, body: bytes, given: str) -> bool:
        return same(given.lower(), hmac_hex(secret, body))

    def parse(self, event: str, payload: dict[str, Any]) -> Parsed:
        repo = _text(_get(payload, "repository", "full_name"))
        # X-Gitea-Event is "pull_request" for every pull request action (X-Gitea-Event-Type says which)
        if event in ("pull_request", "pull_request_sync"):
            return _github_like_pull(self.title, event, payload, repo, sync_actions=("synchronized",))
        if event != "push":
            return Parsed(event, ignored=f"Gitea event {event or '(none)'!r} does not deploy")
        kind, name = _ref(payload.get("ref"))
        commit = _sha(payload.get("after"), "after")
        if kind == "tag" and commit is not None:
            commit = _sha(_head_commit(payload), "head_commit.id") or commit
        return Parsed(event, updates=(RefUpdate(kind, name, commit),), repo=repo)


class Bitbucket(Provider):
    name, title = "bitbucket", "Bitbucket Cloud"
    signature_headers = ("x-hub-signature",)
    event_headers = ("x-event-key",)
    delivery_headers = ("x-request-uuid",)

    def _matches(self, secret: str, body: bytes, given: str) -> bool:
        return same(given, "sha256=" + hmac_hex(secret, body))

    def parse(self, event: str, payload: dict[str, Any]) -> Parsed:
        if event == "diagnostics:ping":
            return Parsed(event, ping=True)
        repo = _text(_get(payload, "repository", "full_name"))
        if event.startswith("pullrequest:"):
            return self._pull_request(event, payload, repo)
        if event != "repo:push":
            return Parsed(event, ignored=f"Bitbucket event {event or '(none)'!r} does not deploy")
        push = payload.get("push")
        changes = push.get("changes") if isinstance(push, dict) else None
        if not isinstance(changes, list):
            raise Malformed("repo:push without push.changes")
        updates = []
        for change in changes:
            if not isinstance(change, dict):
                raise Malformed("push.changes holds a non-object")
            new, old = change.get("new"), change.get("old")
            ref = new if isinstance(new, dict) else old if isinstance(old, dict) else None
            if ref is None or not isinstance(ref.get("name"), str):
                raise Malformed("a push change names no ref")
            target = new.get("target") if isinstance(new, dict) else None
            commit = _sha(target.get("hash"), "new.target.hash") if isinstance(target, dict) else None
            updates.append(RefUpdate("tag" if ref.get("type") == "tag" else "branch", ref["name"], commit))
        return Parsed(event, updates=tuple(updates), repo=repo)

    def _pull_request(self, event: str, payload: dict[str, Any], repo: str | None) -> Parsed:
        mapped = {"pullrequest:created": "open", "pullrequest:updated": "sync", "pullrequest:fulfilled": "close",
                  "pullrequest:rejected": "close"}
        if event not in mapped:
            return Parsed(event, ignored=f"Bitbucket event {event!r} changes no preview", repo=repo)
        pr = payload.get("pullrequest")
        if not isinstance(pr, dict):
            raise Malformed(f"{event} without pullrequest")
        # Bitbucket gives the head as a 12-character hash: the preview deploys the source branch's tip
        return Parsed(event, repo=repo, pull=_pull(
            mapped[event], number=pr.get("id"), head_sha=_get(pr, "source", "commit", "hash"),
            head_ref=_get(pr, "source", "branch", "name"), head_repo=_get(pr, "source", "repository", "full_name"),
            base_repo=_get(pr, "destination", "repository", "full_name") or repo, title=pr.get("title"),
            url=_get(pr, "links", "html", "href"), merged=event == "pullrequest:fulfilled", short_sha_ok=True))


def _github_like_pull(title: str, event: str, payload: dict[str, Any], repo: str | None, *,
                      sync_actions: tuple[str, ...]) -> Parsed:
    """GitHub's pull_request event, which Gitea and Forgejo copy (their sync action is "synchronized")."""
    action = payload.get("action")
    mapped = {"opened": "open", "reopened": "open", "closed": "close", **{a: "sync" for a in sync_actions}}
    if action not in mapped:
        return Parsed(event, ignored=f"{title} pull_request action {action!r} changes no preview", repo=repo)
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        raise Malformed("a pull_request event without pull_request")
    base_repo = _get(pr, "base", "repo", "full_name") or repo
    return Parsed(event, repo=repo or _text(base_repo), pull=_pull(
        mapped[action], number=payload.get("number", pr.get("number")), head_sha=_get(pr, "head", "sha"),
        head_ref=_get(pr, "head", "ref"), head_repo=_get(pr, "head", "repo", "full_name"), base_repo=base_repo,
        title=pr.get("title"), url=pr.get("html_url"), merged=bool(pr.get("merged"))))


REGISTRY: dict[str, Provider] = {p.name: p for p in (GitHub(), GitLab(), Gitea(), Bitbucket())}
REGISTRY["forgejo"] = REGISTRY["gitea"]

# headers that carry the secret or a credential: never stored in the delivery log
SECRET_HEADERS = frozenset({"x-hub-signature", "x-hub-signature-256", "x-gitlab-token", "x-gitea-signature",
                            "x-forgejo-signature", "x-gogs-signature", "authorization", "cookie"})


def get(name: str) -> Provider | None:
    return REGISTRY.get(name)
