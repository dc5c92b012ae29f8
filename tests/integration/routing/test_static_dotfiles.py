"""A static site never serves its dotfiles or dot-folders (but /.well-known/), through a real Caddy."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.integration.routing.test_caddy_router import caddy, caddy_bin, router  # noqa: F401 - fixtures

from slipway.routing.base import Route, RouteTable
from slipway.routing.caddy import CaddyRouter

pytestmark = pytest.mark.integration


def raw_get(port: int, host: str, target: str) -> tuple[int, bytes]:
    """One request with the target sent byte for byte (no client normalizes `..` or `%2e` away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.fixture
def site(tmp_path: Path) -> Path:
    # under a dot-folder itself, as ~/.slipway/... would be: that must not hide the whole site
    root = tmp_path / ".home" / "site"
    for rel, text in {"index.html": "<h1>home</h1>", ".env": "SECRET_KEY=leaked", ".git/config": "[core]",
                      ".git/HEAD": "ref: refs/heads/main", ".npmignore": "x", "sub/.hidden": "hidden",
                      "sub/page.html": "page", ".well-known/x": "well known",
                      ".well-known/acme-challenge/tok": "challenge"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_dotfiles_are_never_served(router: CaddyRouter, site: Path) -> None:  # noqa: F811
    router.apply(RouteTable([Route("static.localhost", static_root=str(site), app="site")]))
    port = router.http_port
    assert raw_get(port, "static.localhost", "/") == (200, b"<h1>home</h1>")
    assert raw_get(port, "static.localhost", "/sub/page.html") == (200, b"page")
    assert raw_get(port, "static.localhost", "/.well-known/x") == (200, b"well known")
    assert raw_get(port, "static.localhost", "/.well-known/acme-challenge/tok") == (200, b"challenge")
    for target in ("/.git/config", "/.git/HEAD", "/.git/", "/.git", "/.env", "/.npmignore", "/sub/.hidden",
                   "/%2egit/config", "/%2Eenv", "/sub/%2ehidden", "//.env", "/sub//.hidden",
                   "/.well-known/../.env", "/.well-known/%2e%2e/.env", "/sub/../.env", "/./.env", "/.env?x=1",
                   "/.well-known/..%2f.env"):
        status, body = raw_get(port, "static.localhost", target)
        assert status in (400, 404), f"{target} answered {status}: {body!r}"
        assert b"leaked" not in body and b"[core]" not in body and b"hidden" not in body, target
