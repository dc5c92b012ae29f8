"""The corpus apps of the health gate and static sites, deployed as they are (tests/apps/<name>), with what
the corpus harness does not check: the exact reason, the log tail, and the dotfiles through a real Caddy."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.deploys import reasons
from slipway.routing.base import MemoryRouter, Route, RouteTable
from slipway.routing.caddy import CaddyRouter
from tests.integration.conftest import Api
from tests.integration.routing.test_caddy_router import caddy, caddy_bin, router  # noqa: F401 - fixtures
from tests.integration.routing.test_static_dotfiles import raw_get

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parents[2] / "apps"


def corpus_files(name: str) -> dict[str, str]:
    """Every file of the corpus app but its expect.toml, dotfiles included, as a repository would hold them."""
    root = APPS / name
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "expect.toml" and "__pycache__" not in p.parts}


def deploy_corpus(api: Api, make_repo, name: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    repo = make_repo(name, files=corpus_files(name))
    api.call("POST", "/apps", 201, json={"name": name, "git_url": repo.url})
    return api.deploy(name)


def test_flask_with_a_port_pinned_in_its_gunicorn_config(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    api.platform.settings.health_timeout = 120  # the reason comes from the sockets, not from a timeout
    deploy = deploy_corpus(api, make_repo, "flask-port-8080")
    log = api.log("flask-port-8080", deploy["id"])
    assert deploy["status"] == "failed", log
    if "Address already in use" in (deploy["log_tail"] or ""):
        pytest.skip("something else on this machine listens on 8080 (another test run?)")
    port = deploy["reason"].split("$PORT (")[1].split(")")[0]
    assert deploy["reason"] == (f"the web process listens on 0.0.0.0:8080, not on $PORT ({port}): bind to $PORT, "
                                "e.g. gunicorn --bind 0.0.0.0:$PORT")
    assert "Listening at: http://0.0.0.0:8080" in deploy["log_tail"]  # gunicorn's own words, in the tail
    assert "nothing was live, nothing changed" in log


def test_an_app_answering_500(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    deploy = deploy_corpus(api, make_repo, "answers-500")
    assert deploy["status"] == "failed"
    assert deploy["reason"] == "GET / answered 500: Missing staticfiles manifest entry for 'css/site.css'"
    assert "ValueError: Missing staticfiles manifest entry" in deploy["log_tail"]


def test_an_app_exiting_with_code_3(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    deploy = deploy_corpus(api, make_repo, "exits-code-3")
    assert deploy["status"] == "failed" and reasons.is_one_line(deploy["reason"])
    assert deploy["reason"] == ("the web process crashed before it answered (exited with code 3): "
                                "DATABASE_URL is not set: cannot start")


def test_a_static_site_keeps_its_dotfiles(api: Api, make_repo, router: CaddyRouter) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    deploy = deploy_corpus(api, make_repo, "static-dotfiles")
    assert deploy["status"] == "succeeded", api.log("static-dotfiles", deploy["id"])
    memory = api.platform.router
    assert isinstance(memory, MemoryRouter)
    root = next(r.static_root for r in memory.table.routes if r.app == "static-dotfiles")
    assert root is not None and (Path(root) / ".env").is_file()  # in the release: only the router hides it
    # the same route, through a real Caddy
    router.apply(RouteTable([Route("site.localhost", static_root=root, app="static-dotfiles")]))
    status, body = raw_get(router.http_port, "site.localhost", "/")
    assert status == 200 and b"Hello from a static site" in body
    assert raw_get(router.http_port, "site.localhost", "/sub/page.html")[0] == 200
    assert raw_get(router.http_port, "site.localhost", "/.well-known/security.txt")[0] == 200
    for path in ("/.env", "/.npmignore", "/.gitignore", "/sub/.hidden", "/.config/settings.ini", "/.git/config"):
        status, body = raw_get(router.http_port, "site.localhost", path)
        assert status == 404 and b"corpus-only" not in body, (path, status, body)
