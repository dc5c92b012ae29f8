"""Process types and their scale, as the API and the `slipway` CLI show them: `apps show` lists them,
`ps` on a static site says the router serves it, `scale` refuses a type the app does not have."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from tests.conftest import python_app_files
from tests.integration.conftest import Api
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration

STATIC = {"public/index.html": "<h1>hi</h1>\n"}


def test_scale_refuses_a_process_type_the_live_release_lacks(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=python_app_files(procfile="web: python app.py\nclock: python app.py\n"))
    api.call("POST", "/apps", 201, json={"name": "duo", "git_url": repo.url})
    # before the first deploy the types are unknown: a scale is kept for the release that will have them
    api.call("PUT", "/apps/duo/scale", 200, json={"processes": {"clock": 0}})
    assert api.deploy("duo")["status"] == "succeeded"
    shown = api.call("GET", "/apps/duo", 200).json()
    assert shown["processes"] == {"web": 1, "clock": 0} and shown["static"] is False

    refused = api.call("PUT", "/apps/duo/scale", 422, json={"processes": {"web": 2, "worker": 1}}).json()
    assert refused["error"] == "duo has no worker process: its process types are web, clock"
    after = api.call("GET", "/apps/duo", 200).json()
    assert after["scale"] == {"web": 1, "clock": 0}  # nothing half-applied: web=2 was refused with it
    assert after["last_deploy"]["kind"] == "deploy"  # and no restart was queued

    api.call("PUT", "/apps/duo/scale", 200, json={"processes": {"worker": 0}})  # 0 of nothing is harmless
    scaled = api.call("PUT", "/apps/duo/scale", 200, json={"processes": {"clock": 1}}).json()
    assert scaled["deploy_id"]


def test_a_static_site_has_no_process_to_scale(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=STATIC)
    api.call("POST", "/apps", 201, json={"name": "site", "git_url": repo.url})
    assert api.deploy("site")["status"] == "succeeded"
    shown = api.call("GET", "/apps/site", 200).json()
    assert shown["static"] is True and shown["processes"] == {} and shown["instances"] == []
    refused = api.call("PUT", "/apps/site/scale", 422, json={"processes": {"web": 2}}).json()
    assert refused["error"] == "site is a static site served by the router: it has no processes to scale"


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    with running_host(settings, tmp_path) as h:
        yield h


def test_the_cli_shows_process_types_and_explains_refusals(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    repo = make_repo("web", files=python_app_files(procfile="web: python app.py\nclock: python app.py\n"))
    host.cli("apps", "create", "duo", "--git", repo.url)
    host.cli("scale", "duo", "clock=0")
    assert "none deployed yet (scale: web=1 clock=0)" in host.cli("apps", "show", "duo").stdout
    host.cli("deploy", "duo")
    show = host.cli("apps", "show", "duo").stdout
    assert any(line.split() == ["processes", "web=1", "clock=0"] for line in show.splitlines()), show

    refused = host.cli("scale", "duo", "worker=1", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: duo has no worker process: its process types are web, clock"

    site = "a-static-site-whose-name-is-long-enough-to-overflow-80-columns"  # 62 of at most 63
    host.cli("apps", "create", site, "--git", make_repo("site", files=STATIC).url)
    host.cli("deploy", site)
    assert host.cli("ps", site).stdout.strip() == f"{site} is a static site, served by the router: it runs no process"
    assert host.cli_json("ps", site) == []  # scripts keep the plain list
    assert "none: a static site, served by the router" in host.cli("apps", "show", site).stdout
    static_scale = host.cli("scale", site, "web=1", check=False)
    assert static_scale.returncode == 1 and "static site served by the router" in static_scale.stderr
    assert "Traceback" not in refused.stderr + static_scale.stderr

    # through a pipe, a table row stays on one line however long (here: a long name, and its URL)
    listed = host.cli("apps", "list").stdout.splitlines()
    row = next(line for line in listed if line.startswith(site))
    assert row.split()[:3] == [site, "running", "v1"] and row.split()[3].startswith(f"http://{site}.")
    assert len(row) > 2 * len(site)
