"""Local git sources (paths, file:// URLs): never inside $SLIPWAY_HOME, Owners and Admins only, and only as
SLIPWAY_LOCAL_GIT allows; checked when set (API, dashboard) and again at every fetch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import run_jobs
from tests.security_world import World

pytestmark = pytest.mark.integration


def git_repo(path: Path, content: str = "hello") -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "index.html").write_text(content)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "x"], check=True)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "srv" / "site")


@pytest.fixture
def other_app_repo(world: World) -> Path:
    """Another team's repository where Slipway keeps pushed code: inside $SLIPWAY_HOME."""
    return git_repo(world.platform.settings.home / "repos" / "beta-src", "other team's code")


def create(world: World, who: str, name: str, url: str):  # type: ignore[no-untyped-def]
    return world.call(who, "POST", "/api/v1/apps", json={"name": name, "git_url": url})


def update(world: World, who: str, url: str):  # type: ignore[no-untyped-def]
    return world.call(who, "PATCH", "/api/v1/apps/alpha", json={"git_url": url})


def test_only_owners_and_admins_by_default(world: World, outside: Path) -> None:
    assert world.platform.settings.local_git == "admins"
    for who in ("developer", "deploy-token"):
        response = update(world, who, str(outside))
        assert response.status_code == 403, response.text
        if who == "developer":
            assert "Owner or Admin" in response.json()["error"]
    assert update(world, "developer", "https://example.com/fine.git").status_code == 200  # URLs stay open
    assert update(world, "admin", str(outside)).status_code == 200
    assert update(world, "owner", f"file://{outside}").status_code == 200
    assert create(world, "admin", "site", str(outside)).status_code == 201
    assert create(world, "host-token", "site2", f"file://{outside}").status_code == 201


def test_none_refuses_everyone_and_all_opens_to_developers(world: World, outside: Path) -> None:
    world.platform.settings.local_git = "none"
    for who in ("owner", "host-token"):
        response = create(world, who, "site", str(outside))
        assert response.status_code == 403 and "SLIPWAY_LOCAL_GIT=none" in response.text
    assert update(world, "owner", f"file://{outside}").status_code == 403
    world.platform.settings.local_git = "all"
    assert update(world, "developer", str(outside)).status_code == 200


@pytest.mark.parametrize("form", ["path", "file-url", "symlink", "gitfile", "alternates", "home"])
def test_sources_inside_slipway_home_are_refused(world: World, other_app_repo: Path, tmp_path: Path,
                                                 form: str) -> None:
    home = world.platform.settings.home
    if form == "path":
        url = str(other_app_repo)
    elif form == "file-url":
        url = f"file://{other_app_repo}"
    elif form == "home":
        url = str(home)
    elif form == "symlink":
        (tmp_path / "innocent").symlink_to(other_app_repo)
        url = str(tmp_path / "innocent")
    elif form == "gitfile":  # a work tree outside whose .git points in
        (tmp_path / "wt").mkdir()
        (tmp_path / "wt" / ".git").write_text(f"gitdir: {other_app_repo / '.git'}\n")
        url = str(tmp_path / "wt")
    else:  # an object store borrowed from the other repository
        borrowed = git_repo(tmp_path / "borrow")
        (borrowed / ".git" / "objects" / "info" / "alternates").write_text(f"{other_app_repo}/.git/objects\n")
        url = str(borrowed)
    for response in (create(world, "owner", "thief", url), update(world, "host-token", url)):
        assert response.status_code == 422, response.text
        assert "SLIPWAY_HOME" in response.json()["error"]
    assert world.call("owner", "GET", "/api/v1/apps/alpha").json()["git_url"] == "https://example.com/alpha.git"


def test_dashboard_form_is_checked_too(world: World, other_app_repo: Path) -> None:
    response = world.call("admin", "POST", "/apps", data={"name": "thief", "git_url": str(other_app_repo)})
    assert response.status_code == 422 and "SLIPWAY_HOME" in response.text
    assert world.call("admin", "GET", "/api/v1/apps/thief").status_code == 404


def test_fetch_time_recheck_catches_a_swapped_path(world: World, outside: Path, other_app_repo: Path) -> None:
    assert create(world, "owner", "site", str(outside)).status_code == 201
    # later, the approved path becomes a link into another app's repository
    outside.rename(outside.with_name("moved"))
    outside.symlink_to(other_app_repo)
    deploy = world.call("owner", "POST", "/api/v1/apps/site/deploys").json()
    run_jobs(world.platform)
    done = world.call("owner", "GET", f"/api/v1/apps/site/deploys/{deploy['id']}").json()
    assert done["status"] == "failed" and "SLIPWAY_HOME" in done["reason"]
    log = world.call("owner", "GET", f"/api/v1/apps/site/deploys/{deploy['id']}/log").text
    assert "other team's code" not in log and "Building" not in log
    # and a setting turned to none after the fact stops the next fetch
    outside.unlink()
    outside.with_name("moved").rename(outside)
    world.platform.settings.local_git = "none"
    deploy = world.call("owner", "POST", "/api/v1/apps/site/deploys").json()
    run_jobs(world.platform)
    done = world.call("owner", "GET", f"/api/v1/apps/site/deploys/{deploy['id']}").json()
    assert done["status"] == "failed" and "SLIPWAY_LOCAL_GIT=none" in done["reason"]


@pytest.mark.parametrize("url", ["ssh://git@[-oProxyCommand=touch]/x", "ssh://%2DoProxyCommand=touch/x",
                                 "-oProxyCommand=touch", "ext::sh -c touch% /tmp/x", "fd::3"])
def test_option_urls_are_a_422_everywhere(world: World, url: str, tmp_path: Path) -> None:
    for response in (create(world, "owner", "opt", url), update(world, "owner", url)):
        assert response.status_code == 422, response.text
