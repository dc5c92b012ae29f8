"""The real `slipway server` with Caddy, driven by the real CLI: apps outlive the control plane."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from tests.conftest import postgres_base
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.router = "caddy"
    settings.job_lease = 3.0
    with running_host(settings, tmp_path) as h:
        yield h


def wait_for(check, timeout: float = 30.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def test_cli_deploy_survives_kill9_of_server(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    server = host.server()
    host.login()
    # the dashboard and API answer through the router too, at slipway.<base domain>
    assert host.through_router("slipway", "/api/v1/health").json()["status"] == "ok"
    repo = make_repo()
    created = host.cli_json("apps", "create", "hello", "--git", repo.url, "--branch", "main")
    assert created["name"] == "hello" and created["url"].startswith("http://hello.localhost:")

    deploy = host.cli("deploy", "hello")  # streams the log, exits 0 on success
    assert "Building" in deploy.stdout and "succeeded" in deploy.stdout
    assert host.through_router("hello").json()["version"] == "1"
    env = host.cli("env", "set", "hello", "GREETING=hi", "DATABASE_URL=postgres://u:pw@db/x")
    assert env.returncode == 0
    assert host.through_router("hello").json()["greeting"] == "hi"
    listed = host.cli("env", "list", "hello").stdout
    assert "GREETING" in listed and "postgres://u:pw" not in listed and "hi" not in listed.split()
    assert host.cli_json("env", "list", "hello", "--reveal")["env"]["GREETING"] == "hi"

    before = host.cli_json("ps", "hello")
    assert [(i["process_type"], i["state"]) for i in before] == [("web", "running")]

    host.kill9(server)  # the control plane dies; the app and the router must not notice
    for _ in range(20):
        assert host.through_router("hello").json()["version"] == "1"

    host.server()  # re-attaches: same instance, same pid, routes rebuilt from the database
    after = host.cli_json("ps", "hello")
    assert [(i["id"], i["pid"]) for i in after] == [(i["id"], i["pid"]) for i in before]
    assert host.through_router("hello").json()["greeting"] == "hi"

    repo.commit({"version.txt": "2\n"}, "v2")
    assert host.cli_json("deploy", "hello")["status"] == "succeeded"
    assert host.through_router("hello").json()["version"] == "2"
    back = host.cli_json("rollback", "hello")
    assert back["status"] == "succeeded" and back["kind"] == "rollback"
    assert host.through_router("hello").json()["version"] == "1"
    releases = host.cli_json("releases", "hello")
    assert releases[0]["live"] and releases[0]["kind"] == "rollback"
    assert "listening on" in host.cli("logs", "hello").stdout


def test_kill9_mid_deploy_fails_the_deploy_with_a_reason(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    server = host.server()
    host.login()
    repo = make_repo()
    host.cli("apps", "create", "slow", "--git", repo.url)
    host.cli("deploy", "slow")
    repo.commit({"slipway.toml": '[build]\ncommand = "sleep 60"\n', "version.txt": "2\n"}, "slow build")
    queued = host.cli_json("deploy", "slow", "--no-follow")
    wait_for(lambda: host.cli_json("apps", "show", "slow")["status"] == "deploying")
    time.sleep(1.0)  # well into the 60 s build

    host.kill9(server)
    assert host.through_router("slow").json()["version"] == "1"
    host.server()
    def dead_deploy():  # type: ignore[no-untyped-def]
        deploy = next(x for x in host_deploys(host, "slow") if x["id"] == queued["id"])
        return deploy if deploy["status"] == "failed" else None

    failed = wait_for(dead_deploy, timeout=30)
    assert "lease expired" in failed["reason"]
    assert host.through_router("slow").json()["version"] == "1"
    # the app is free again: the next deploy runs
    repo.commit({"slipway.toml": "", "version.txt": "3\n"}, "fast again")
    assert host.cli_json("deploy", "slow")["status"] == "succeeded"
    assert host.through_router("slow").json()["version"] == "3"


def host_deploys(host: Host, app: str) -> list[dict]:  # type: ignore[type-arg]
    import httpx

    response = httpx.get(f"{host.settings.api_url}/api/v1/apps/{app}/deploys",
                         headers={"Authorization": f"Bearer {host.env['SLIPWAY_TOKEN']}"}, timeout=5)
    return response.json()  # type: ignore[no-any-return]


def test_cli_errors_are_readable_and_exit_non_zero(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    bad = host.cli("apps", "create", "Bad_Name", "--git", "/tmp", check=False)
    assert bad.returncode == 1 and "invalid app name" in bad.stderr
    missing = host.cli("deploy", "nope", check=False)
    assert missing.returncode == 1 and "no app named 'nope'" in missing.stderr
    host.env["SLIPWAY_TOKEN"] = "slw_wrong"
    denied = host.cli("apps", "list", check=False)
    assert denied.returncode == 1 and "authentication required" in denied.stderr


def test_build_failure_exits_non_zero_with_the_reason(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    repo = make_repo(files={"README.md": "nothing to run\n"})
    host.cli("apps", "create", "empty", "--git", repo.url)
    result = host.cli("deploy", "empty", check=False)
    assert result.returncode == 1
    assert "no app detected" in result.stdout + result.stderr


@pytest.mark.skipif(postgres_base() is None, reason="scale mode needs PostgreSQL (set SLIPWAY_TEST_POSTGRES)")
def test_two_workers_on_postgres_never_run_a_deploy_twice(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server(SLIPWAY_WORKERS="0")  # API only: the two workers below do all the work
    host.spawn("worker", extra_env={"SLIPWAY_WORKERS": "2"})
    host.spawn("worker", extra_env={"SLIPWAY_WORKERS": "2"})
    host.login()
    names = [f"app{i}" for i in range(4)]
    for name in names:
        host.cli("apps", "create", name, "--git", make_repo(name).url)
    ids = {name: host.cli_json("deploy", name, "--no-follow")["id"] for name in names}
    for name in names:
        wait_for(lambda n=name: next(d for d in host_deploys(host, n) if d["id"] == ids[n])["status"]
                 in ("succeeded", "failed"), timeout=120)
    for name in names:
        deploys = host_deploys(host, name)
        assert [d["status"] for d in deploys] == ["succeeded"], deploys
        releases = host.cli_json("releases", name)
        assert [r["version"] for r in releases] == [1]  # one build: no worker ran it a second time
        assert len(host.cli_json("ps", name)) == 1
