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
class Parsed:
    event: str
    ping: bool = False
    ignored: str | None = None  # why we do not act on it
    updates: tuple[RefUpdate, ...] = field(default=())


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
        if event != "push":
            return Parsed(event, ignored=f"GitHub event {event or '(none)'!r} does not deploy")
        kind, name = _ref(payload.get("ref"))
        commit = _sha(payload.get("after"), "after")
        if kind == "tag" and commit is not None:  # an annotated tag's `after` is the tag object
            commit = _sha(_head_commit(payload), "head_commit.id") or commit
        return Parsed(event, updates=(RefUpdate(kind, name, commit),))


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
        if kind not in ("push", "tag_push"):
            return Parsed(event, ignored=f"GitLab event {event or kind or '(none)'!r} does not deploy")
        ref_kind, name = _ref(payload.get("ref"))
        after = _sha(payload.get("after"), "after")
        # checkout_sha is the commit (also for annotated tags); null when the ref was deleted
        commit = _sha(payload.get("checkout_sha"), "checkout_sha") if after is not None else None
        return Parsed(event, updates=(RefUpdate(ref_kind, name, commit or after),))


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
        if event != "push":
            return Parsed(event, ignored=f"Gitea event {event or '(none)'!r} does not deploy")
        kind, name = _ref(payload.get("ref"))
        commit = _sha(payload.get("after"), "after")
        if kind == "tag" and commit is not None:
            commit = _sha(_head_commit(payload), "head_commit.id") or commit
        return Parsed(event, updates=(RefUpdate(kind, name, commit),))


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
        return Parsed(event, updates=tuple(updates))


REGISTRY: dict[str, Provider] = {p.name: p for p in (GitHub(), GitLab(), Gitea(), Bitbucket())}
REGISTRY["forgejo"] = REGISTRY["gitea"]

# headers that carry the secret or a credential: never stored in the delivery log
SECRET_HEADERS = frozenset({"x-hub-signature", "x-hub-signature-256", "x-gitlab-token", "x-gitea-signature",
                            "x-forgejo-signature", "x-gogs-signature", "authorization", "cookie"})


def get(name: str) -> Provider | None:
    return REGISTRY.get(name)
