"""Signature checks and payload reading, per provider, against what the providers document."""

from __future__ import annotations

import json

import pytest

from slipway.hooks import providers
from slipway.hooks.providers import Malformed, RefUpdate, hmac_hex
from tests.unit.hooks.payloads import ZERO, bitbucket_push, gitea_push, github_push, gitlab_push, signed

SHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
SECRET = "s3cret-value"


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_github_documented_test_vector() -> None:
    # docs.github.com "Validating webhook deliveries" → "Testing the webhook payload validation":
    # secret "It's a Secret to Everybody", payload "Hello, World!", signature sha256=757107ea0e…
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert "sha256=" + hmac_hex("It's a Secret to Everybody", b"Hello, World!") == signature
    github = providers.get("github")
    assert github is not None
    assert github.check("It's a Secret to Everybody", b"Hello, World!", {"x-hub-signature-256": signature}) is None
    assert github.check("It's a Secret to Everybody", b"Hello, World?", {"x-hub-signature-256": signature})


@pytest.mark.parametrize("name", ["github", "gitlab", "gitea", "forgejo", "bitbucket"])
def test_good_wrong_and_missing_signatures(name: str) -> None:
    provider = providers.get(name)
    assert provider is not None
    body, headers = signed(name, SECRET, {"ref": "refs/heads/main"})
    headers = lower(headers)
    assert provider.check(SECRET, body, headers) is None
    assert provider.check("another-secret", body, headers) is not None
    assert provider.check(SECRET, body + b" ", headers) is not None or name == "gitlab"  # GitLab signs nothing
    bare = {k: v for k, v in headers.items() if k not in providers.SECRET_HEADERS}
    assert "missing" in (provider.check(SECRET, body, bare) or "")


def test_forgejo_signature_header_is_accepted() -> None:
    body = b'{"ref": "refs/heads/main"}'
    gitea = providers.get("forgejo")
    assert gitea is not None
    assert gitea.check(SECRET, body, {"x-forgejo-signature": hmac_hex(SECRET, body)}) is None
    assert gitea.check(SECRET, body, {"x-forgejo-signature": "sha256=" + hmac_hex(SECRET, body)}) is not None


def test_github_prefix_is_required() -> None:
    body = b"{}"
    github = providers.get("github")
    assert github is not None
    assert github.check(SECRET, body, {"x-hub-signature-256": hmac_hex(SECRET, body)}) is not None
    assert github.check(SECRET, body, {"x-hub-signature-256": "sha1=" + hmac_hex(SECRET, body)}) is not None


def test_github_parse() -> None:
    github = providers.REGISTRY["github"]
    assert github.parse("ping", {"zen": "x"}).ping
    parsed = github.parse("push", github_push("refs/heads/main", SHA))
    assert parsed.updates == (RefUpdate("branch", "main", SHA),)
    # octokit/webhooks payload-examples/api.github.com/push/payload.json: a deleted tag, after = 40 zeros
    deleted = github.parse("push", github_push("refs/tags/simple-tag", ZERO))
    assert deleted.updates == (RefUpdate("tag", "simple-tag", None),)
    assert "does not deploy" in (github.parse("issues", {}).ignored or "")


def test_gitlab_parse_uses_checkout_sha() -> None:
    gitlab = providers.REGISTRY["gitlab"]
    payload = gitlab_push("refs/heads/master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    payload["checkout_sha"] = SHA  # for annotated tags and merges checkout_sha is the commit to build
    assert gitlab.parse("Push Hook", payload).updates == (RefUpdate("branch", "master", SHA),)
    tag = gitlab.parse("Tag Push Hook", gitlab_push("refs/tags/v1.0.0", SHA, tag=True))
    assert tag.updates == (RefUpdate("tag", "v1.0.0", SHA),)
    gone = gitlab.parse("Push Hook", gitlab_push("refs/heads/master", ZERO))
    assert gone.updates[0].commit is None
    assert gitlab.parse("Issue Hook", {"object_kind": "issue"}).ignored


def test_gitea_and_bitbucket_parse() -> None:
    gitea = providers.REGISTRY["gitea"]
    # docs.gitea.com example: ref refs/heads/develop, after bffeb742…
    assert gitea.parse("push", gitea_push("refs/heads/develop", "bffeb74224043ba2feb48d137756c8a9331c449a")).updates \
        == (RefUpdate("branch", "develop", "bffeb74224043ba2feb48d137756c8a9331c449a"),)
    assert gitea.parse("issues", {}).ignored
    bitbucket = providers.REGISTRY["bitbucket"]
    assert bitbucket.parse("diagnostics:ping", {}).ping
    assert bitbucket.parse("repo:push", bitbucket_push("main", SHA)).updates == (RefUpdate("branch", "main", SHA),)
    assert bitbucket.parse("repo:push", bitbucket_push("main", None)).updates == (RefUpdate("branch", "main", None),)
    assert bitbucket.parse("repo:push", bitbucket_push("v2", SHA, kind="tag")).updates[0].kind == "tag"
    assert bitbucket.parse("pullrequest:comment_created", {}).ignored


@pytest.mark.parametrize("payload", [
    {"ref": "refs/heads/main", "after": "not-a-sha"},
    {"after": SHA},
    {"ref": "refs/heads/main", "after": SHA.upper()},
])
def test_malformed_pushes(payload: dict[str, object]) -> None:
    with pytest.raises(Malformed):
        providers.REGISTRY["github"].parse("push", payload)
    with pytest.raises(Malformed):
        providers.REGISTRY["bitbucket"].parse("repo:push", {"push": {"changes": "nope"}})


def test_secret_headers_are_not_kept() -> None:
    from slipway.hooks.service import _kept_headers

    for name in ("github", "gitlab", "gitea", "bitbucket"):
        _, headers = signed(name, SECRET, {})
        kept = _kept_headers(lower(headers))
        assert SECRET not in json.dumps(kept)
        assert not set(kept) & providers.SECRET_HEADERS
