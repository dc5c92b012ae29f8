"""Hostile repositories on the local runtime: links out of the checkout never reach a build, a deploy log, a
deploy's reason or a page Caddy serves. The planted secret lives under the test's $SLIPWAY_HOME."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest
from tests.conftest import Repo, python_app_files
from tests.integration.conftest import Api

from slipway.routing.base import MemoryRouter, Route, RouteTable

pytestmark = pytest.mark.integration

SECRET = "planted-secret-5be1d0c2"


@pytest.fixture
def secret_file(settings) -> Path:  # type: ignore[no-untyped-def]
    path = settings.home / "planted.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{SECRET}\n")
    return path


def commit_links(repo: Repo, links: dict[str, str], files: dict[str, str] | None = None) -> None:
    for name, target in links.items():
        link = repo.path / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    repo.commit(files or {}, "links")


def deploy_everything(api: Api, name: str, repo: Repo) -> tuple[dict, str]:  # type: ignore[type-arg]
    api.call("POST", "/apps", 201, json={"name": name, "git_url": repo.url})
    deploy = api.deploy(name)
    log = api.log(name, deploy["id"])
    events = api.call("GET", f"/apps/{name}/deploys/{deploy['id']}", 200).text
    assert SECRET not in log and SECRET not in (deploy["reason"] or "") and SECRET not in events
    return deploy, log


@pytest.mark.parametrize("name", ["Procfile", "slipway.toml", "requirements.txt", "package.json", "index.html"])
def test_named_repository_file_linked_out_is_never_read(api: Api, make_repo, secret_file: Path,  # type: ignore[no-untyped-def]
                                                         name: str) -> None:
    files = {"app.py": "print('x')\n"} if name != "index.html" else {}
    repo = make_repo(files=files or {"README": "x"})
    commit_links(repo, {name: str(secret_file)})
    deploy, log = deploy_everything(api, "hostile", repo)
    assert deploy["status"] == "failed"
    assert f"removed the symlink {name}: it points outside the repository" in log


def test_relative_link_and_requirements_include_out(api: Api, make_repo, secret_file: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=python_app_files())
    relative = os.path.relpath(secret_file, repo.path / "deps")  # via '..', no absolute path
    commit_links(repo, {"deps/extra.txt": relative})
    deploy, log = deploy_everything(api, "hostile", repo)
    assert "removed the symlink deps/extra.txt" in log
    # no link at all: an include that climbs out with '..'
    climb = os.path.relpath(secret_file, repo.path)
    repo.commit({"requirements.txt": f"-r {climb}\n"})
    deploy, log = deploy_everything(api, "hostile2", repo)
    assert deploy["status"] == "failed"
    assert "resolves outside the repository" in deploy["reason"]


def test_static_site_never_serves_a_link_out(api: Api, make_repo, secret_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy

    repo = make_repo(files={"public/index.html": "<h1>site</h1>\n",
                            # the app's own build command plants a link too: checked after the build
                            "slipway.toml": f"[build]\ncommand = \"ln -s {secret_file} public/built-leak\"\n"})
    commit_links(repo, {"public/leak": str(secret_file), "public/leak-dir": str(secret_file.parent),
                        "public/rel": os.path.relpath(secret_file, repo.path / "public")})
    deploy, log = deploy_everything(api, "site", repo)
    assert deploy["status"] == "succeeded", log
    for name in ("public/leak", "public/leak-dir", "public/rel", "public/built-leak"):
        assert f"removed the symlink {name}:" in log
    router = api.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == "site")
    assert route.static_root
    root = Path(route.static_root)
    assert not [p for p in root.rglob("*") if p.is_symlink()]

    def port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    caddy = CaddyProcess(find_caddy(), tmp_path / "caddy" / "admin.sock", tmp_path / "caddy")
    caddy.start()
    served = CaddyRouter(caddy.admin, port(), port(), process=caddy, bind_host="127.0.0.1")
    try:
        served.apply(RouteTable([Route("site.localhost", static_root=route.static_root, app="site")]))
        base = f"http://127.0.0.1:{served.http_port}"
        with httpx.Client(headers={"Host": "site.localhost"}) as http:
            assert "site" in http.get(f"{base}/").text
            for path in ("/leak", "/rel", "/built-leak", "/leak-dir/planted.key"):
                response = http.get(base + path)
                assert response.status_code == 404 and SECRET not in response.text, path
    finally:
        served.close()
        caddy.stop()
        caddy.close()
