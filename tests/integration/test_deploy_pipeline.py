"""The deploy pipeline end to end through the API: real git, real builds, real supervised processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway.routing.base import MemoryRouter
from tests.conftest import python_app_files
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration


def serve(api: Api, app: str) -> dict[str, Any]:
    """What the app's routed web instance answers."""
    router = api.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == app)
    assert route.upstreams, f"{app} has no upstream: {route}"
    return httpx.get(f"http://{route.upstreams[0].dial}/", timeout=5).json()  # type: ignore[no-any-return]


def test_deploy_env_redeploy_rollback(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "branch": "main"})

    first = api.deploy("hello")
    assert first["status"] == "succeeded", api.log("hello", first["id"])
    assert first["release"] == 1
    assert serve(api, "hello")["version"] == "1"

    # env vars: stored encrypted, masked, applied with a new release
    changed = api.call("PATCH", "/apps/hello/env", 200, json={"set": {"GREETING": "hi there"}}).json()
    assert changed["env"] == {"GREETING": "••••••••"}
    from tests.integration.conftest import run_jobs

    run_jobs(api.platform)
    assert serve(api, "hello")["greeting"] == "hi there"
    assert api.call("GET", "/apps/hello/env", 200).json()["env"]["GREETING"] != "hi there"
    assert api.call("GET", "/apps/hello/env?reveal=true", 200).json()["env"]["GREETING"] == "hi there"

    repo.commit({"version.txt": "2\n"}, "v2")
    second = api.deploy("hello")
    assert second["status"] == "succeeded", api.log("hello", second["id"])
    assert serve(api, "hello") == {"version": "2", "greeting": "hi there", "release": "3"}

    # rollback: the previous release again, from its artifact, without a build
    back = api.deploy("hello", "/rollback")
    assert back["status"] == "succeeded", api.log("hello", back["id"])
    assert serve(api, "hello") == {"version": "1", "greeting": "hi there", "release": "4"}
    assert "Building" not in api.log("hello", back["id"])

    back_to_1 = api.deploy("hello", "/rollback", {"version": 1})
    assert back_to_1["status"] == "succeeded"
    assert serve(api, "hello") == {"version": "1", "greeting": "", "release": "5"}
    # like Heroku, a rollback brings back that release's env vars too
    assert api.call("GET", "/apps/hello/env", 200).json()["env"] == {}

    releases = api.call("GET", "/apps/hello/releases", 200).json()
    assert [(r["version"], r["kind"]) for r in releases] == [
        (5, "rollback"), (4, "rollback"), (3, "build"), (2, "config"), (1, "build")]
    assert releases[0]["live"] and not any(r["live"] for r in releases[1:])

    # exactly one web instance runs, on the live release
    instances = api.call("GET", "/apps/hello/instances", 200).json()
    assert [(i["process_type"], i["release"], i["state"]) for i in instances] == [("web", 5, "running")]


def test_release_that_crashes_never_gets_traffic(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "steady", "git_url": repo.url})
    assert api.deploy("steady")["status"] == "succeeded"

    repo.commit({"app.py": "import sys\nprint('boom: missing DATABASE_URL', flush=True)\nsys.exit(3)\n"}, "broken")
    broken = api.deploy("steady")
    assert broken["status"] == "failed"
    assert "crashed" in broken["reason"] and "boom: missing DATABASE_URL" in broken["reason"]
    assert "(exited with code 3)" in broken["reason"] and "\n" not in broken["reason"]
    assert "boom: missing DATABASE_URL" in broken["log_tail"]
    assert "v1 keeps serving" in api.log("steady", broken["id"])
    assert serve(api, "steady")["version"] == "1"  # the old release kept serving
    app = api.call("GET", "/apps/steady", 200).json()
    assert app["live_release"] == 1 and len(app["instances"]) == 1


def test_release_that_never_answers_times_out(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 2
    repo = make_repo(files=python_app_files(procfile="web: python -c 'import time; time.sleep(60)'\n"))
    api.call("POST", "/apps", 201, json={"name": "silent", "git_url": repo.url})
    deploy = api.deploy("silent")
    assert deploy["status"] == "failed"
    assert deploy["reason"].startswith("nothing listens on $PORT ("), deploy["reason"]
    assert "nothing was live, nothing changed" in api.log("silent", deploy["id"])
    assert api.call("GET", "/apps/silent", 200).json()["instances"] == []


def test_restart_stop_start_delete(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "cycle", "git_url": repo.url})
    assert api.deploy("cycle")["status"] == "succeeded"
    before = api.call("GET", "/apps/cycle/instances", 200).json()[0]["id"]

    assert api.deploy("cycle", "/restart")["status"] == "succeeded"
    after = api.call("GET", "/apps/cycle/instances", 200).json()
    assert len(after) == 1 and after[0]["id"] != before
    assert serve(api, "cycle")["version"] == "1"

    assert api.deploy("cycle", "/stop")["status"] == "succeeded"
    assert api.call("GET", "/apps/cycle", 200).json()["status"] == "stopped"
    assert api.call("GET", "/apps/cycle/instances", 200).json() == []

    assert api.deploy("cycle", "/start")["status"] == "succeeded"
    assert serve(api, "cycle")["version"] == "1"

    api.call("DELETE", "/apps/cycle", 204)
    api.call("GET", "/apps/cycle", 404)
    assert api.platform.runtime.instances() == []


def test_release_command_runs_before_start(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    files = python_app_files()
    files["slipway.toml"] = '[release]\ncommand = "echo migrating > $HOME/migrated.txt"\n[health]\npath = "/health"\n'
    repo = make_repo(files=files)
    api.call("POST", "/apps", 201, json={"name": "migrates", "git_url": repo.url})
    deploy = api.deploy("migrates")
    assert deploy["status"] == "succeeded", api.log("migrates", deploy["id"])
    log = api.log("migrates", deploy["id"])
    assert "Running release command" in log and "GET /health" in log


def test_failing_release_command_keeps_old_release(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "mig", "git_url": repo.url})
    assert api.deploy("mig")["status"] == "succeeded"
    repo.commit({"slipway.toml": '[release]\ncommand = "echo no database; exit 4"\n', "version.txt": "2\n"})
    deploy = api.deploy("mig")
    assert deploy["status"] == "failed"
    assert "release command exited with code 4" in deploy["reason"]
    assert serve(api, "mig")["version"] == "1"


def test_secret_values_never_reach_the_deploy_log(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    files = python_app_files()
    files["slipway.toml"] = '[release]\ncommand = "echo token is $API_TOKEN"\n'
    repo = make_repo(files=files)
    api.call("POST", "/apps", 201, json={"name": "leaky", "git_url": repo.url})
    api.call("PATCH", "/apps/leaky/env", 200, json={"set": {"API_TOKEN": "s3cr3t-canary-value"}})
    deploy = api.deploy("leaky")
    assert deploy["status"] == "succeeded", api.log("leaky", deploy["id"])
    log = api.log("leaky", deploy["id"])
    assert "token is ••••••••" in log
    assert "s3cr3t-canary-value" not in log


def test_crash_right_after_switch_rolls_back_automatically(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    settings.watch_seconds = 4
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "flaky", "git_url": repo.url})
    assert api.deploy("flaky")["status"] == "succeeded"
    # healthy at first, then dies two seconds after it starts: after the switch, inside the watch window
    crashing = python_app_files("2")["app.py"].replace(
        'print("listening on"',
        'import threading; threading.Timer(2.0, lambda: os._exit(7)).start()\nprint("listening on"')
    repo.commit({"app.py": crashing, "version.txt": "2\n"}, "crashes later")
    deploy = api.deploy("flaky")
    assert deploy["status"] == "rolled_back", api.log("flaky", deploy["id"])
    assert "rolling back automatically" in api.log("flaky", deploy["id"])
    assert deploy["reason"].startswith("v2 crashed within ") and "exited with code 7" in deploy["reason"]
    assert deploy["reason"].endswith(")"), deploy["reason"]
    assert serve(api, "flaky")["version"] == "1"
    app = api.call("GET", "/apps/flaky", 200).json()
    assert app["live_release"] == 1
    assert [i["release"] for i in app["instances"]] == [1]


def test_static_site_is_served_by_the_router(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={"public/index.html": "<h1>hi</h1>\n"})
    api.call("POST", "/apps", 201, json={"name": "site", "git_url": repo.url})
    deploy = api.deploy("site")
    assert deploy["status"] == "succeeded", api.log("site", deploy["id"])
    router = api.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == "site")
    assert route.static_root and route.static_root.endswith("public") and not route.upstreams
    assert api.call("GET", "/apps/site/instances", 200).json() == []


def test_port_pool_exhausted_is_a_clear_failure(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    low = int(settings.port_range.split("-")[0])
    settings.port_range = f"{low}-{low}"  # room for exactly one instance
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "one", "git_url": repo.url})
    api.call("POST", "/apps", 201, json={"name": "two", "git_url": repo.url})
    assert api.deploy("one")["status"] == "succeeded"
    second = api.deploy("two")
    assert second["status"] == "failed"
    assert f"port pool {low}-{low} is exhausted" in second["reason"]
    assert serve(api, "one")["version"] == "1"
    # releasing a port makes room again
    api.call("DELETE", "/apps/one", 204)
    assert api.deploy("two")["status"] == "succeeded"


def test_malformed_slipway_toml_fails_with_its_position(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    files = python_app_files()
    files["slipway.toml"] = "[release\ncommand = 1\n"
    repo = make_repo(files=files)
    api.call("POST", "/apps", 201, json={"name": "typo", "git_url": repo.url})
    deploy = api.deploy("typo")
    assert deploy["status"] == "failed"
    assert "slipway.toml" in deploy["reason"] and "line 1" in deploy["reason"]
    assert api.call("GET", "/apps/typo/releases", 200).json() == []


def test_env_values_are_not_stored_in_clear(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "vault", "git_url": repo.url})
    canary = "canary-7f3a9c1e5b2d"
    api.call("PATCH", "/apps/vault/env", 200, json={"set": {"SECRET": canary}})
    assert api.deploy("vault")["status"] == "succeeded"
    shown = api.call("GET", "/apps/vault", 200).text + api.call("GET", "/apps/vault/env", 200).text
    assert canary not in shown
    if settings.db_url.startswith("sqlite"):
        api.platform.engine.dispose()  # checkpoint the WAL so the file holds everything
        db_file = settings.db_url.removeprefix("sqlite:///")
        blob = b"".join(Path(p).read_bytes() for p in (db_file, db_file + "-wal") if Path(p).exists())
        assert canary.encode() not in blob
    else:
        from sqlalchemy import text

        with api.platform.engine.connect() as conn:
            dump = " ".join(str(row) for table in ("env_vars", "releases", "events", "deploy_log_lines")
                            for row in conn.execute(text(f"select * from {table}")))
        assert canary not in dump


def test_old_releases_are_pruned_and_cannot_be_rolled_back_to(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    settings.release_retention = 2
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "keep", "git_url": repo.url})
    for version in ("2", "3", "4"):
        repo.commit({"version.txt": version + "\n"}, f"v{version}")
        assert api.deploy("keep")["status"] == "succeeded"
    releases = api.call("GET", "/apps/keep/releases", 200).json()
    assert [(r["version"], r["pruned"]) for r in releases] == [(3, False), (2, False), (1, True)]
    refused = api.call("POST", "/apps/keep/rollback", 409, json={"version": 1}).json()
    assert "pruned" in refused["error"]
    assert not list((settings.home / "artifacts" / "keep").glob("build-1"))
    assert api.deploy("keep", "/rollback", {"version": 2})["status"] == "succeeded"
    assert serve(api, "keep")["version"] == "3"


def test_failed_releases_take_no_retention_slot(api: Api, make_repo, settings) -> None:  # type: ignore[no-untyped-def]
    """Releases that crashed after the switch (rolled back) are failed: a run of them must not push the last
    good release out of the kept ones, nor become a rollback target."""
    settings.release_retention = 2
    settings.watch_seconds = 4
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "slots", "git_url": repo.url})
    assert api.deploy("slots")["status"] == "succeeded"
    crashing = python_app_files("x")["app.py"].replace(
        'print("listening on"',
        'import threading; threading.Timer(2.0, lambda: os._exit(7)).start()\nprint("listening on"')
    for attempt in ("2", "3"):
        repo.commit({"app.py": crashing, "version.txt": attempt + "\n"}, f"crashes {attempt}")
        assert api.deploy("slots")["status"] == "rolled_back"
    repo.commit({"app.py": python_app_files()["app.py"], "version.txt": "4\n"}, "fixed")
    assert api.deploy("slots")["status"] == "succeeded"
    releases = api.call("GET", "/apps/slots/releases", 200).json()
    assert [(r["version"], r["failed"], r["pruned"]) for r in releases] == [
        (4, False, False), (3, True, True), (2, True, True), (1, False, False)]
    refused = api.call("POST", "/apps/slots/rollback", 409, json={"version": 3}).json()
    assert "failed to deploy" in refused["error"]
    back = api.deploy("slots", "/rollback")  # the previous good release, still kept
    assert back["status"] == "succeeded"
    assert serve(api, "slots")["version"] == "1"


class RefusingRouter(MemoryRouter):
    """A router that refuses new tables, as Caddy does with an invalid config or when it is down."""

    refuse = False

    def apply(self, table):  # type: ignore[no-untyped-def]
        from slipway.errors import Unavailable

        if self.refuse:
            raise Unavailable("caddy rejected the config", "test")
        super().apply(table)


def test_router_refusing_the_switch_keeps_the_old_release(settings, make_repo) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from slipway.app import create_app
    from slipway.auth import service as auth_service
    from slipway.db import transaction
    from slipway.platform import build_platform

    router = RefusingRouter()
    platform = build_platform(settings, router=router)
    try:
        with transaction(platform.sessions) as session:
            token, _ = auth_service.create_token(session, name="t")
        with TestClient(create_app(platform=platform, background=False)) as client:
            api = Api(client, platform, token)
            repo = make_repo()
            api.call("POST", "/apps", 201, json={"name": "held", "git_url": repo.url})
            assert api.deploy("held")["status"] == "succeeded"
            repo.commit({"version.txt": "2\n"}, "v2")
            router.refuse = True
            failed = api.deploy("held")
            assert failed["status"] == "failed" and "could not switch traffic" in failed["reason"]
            router.refuse = False
            app = api.call("GET", "/apps/held", 200).json()
            assert app["live_release"] == 1
            assert [(i["release"], i["status"]) for i in app["instances"]] == [(1, "running")]
            assert serve(api, "held")["version"] == "1"
    finally:
        for instance_id in platform.runtime.instances():
            platform.runtime.stop(instance_id, 0.5)
        platform.close()


def test_scale_runs_several_web_instances_behind_the_route(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "wide", "git_url": repo.url})
    assert api.deploy("wide")["status"] == "succeeded"
    scaled = api.call("PUT", "/apps/wide/scale", 200, json={"processes": {"web": 2}}).json()
    assert scaled["scale"] == {"web": 2} and scaled["deploy_id"]
    from tests.integration.conftest import run_jobs

    run_jobs(api.platform)
    instances = api.call("GET", "/apps/wide/instances", 200).json()
    assert [(i["process_type"], i["state"]) for i in instances] == [("web", "running")] * 2
    router = api.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == "wide")
    assert sorted(u.dial for u in route.upstreams) == sorted(f"127.0.0.1:{i['port']}" for i in instances)
    api.call("PUT", "/apps/wide/scale", 422, json={"processes": {"web": 99}})
    api.call("PUT", "/apps/wide/scale", 422, json={"processes": {"bad name": 1}})


def test_stream_resumes_after_last_event_id(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "resume", "git_url": repo.url})
    deploy = api.deploy("resume")
    lines = api.call("GET", f"/apps/resume/deploys/{deploy['id']}/log", 200).json()["lines"]
    cut = lines[-3]["id"]
    with api.client.stream("GET", f"/api/v1/apps/resume/deploys/{deploy['id']}/stream",
                           headers={**api.headers, "Last-Event-ID": str(cut)}) as response:
        body = "".join(response.iter_text())
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == [line["id"] for line in lines if line["id"] > cut]
    assert "event: end" in body


def test_env_change_on_a_stopped_app_does_not_start_it(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "asleep", "git_url": repo.url})
    assert api.deploy("asleep")["status"] == "succeeded"
    assert api.deploy("asleep", "/stop")["status"] == "succeeded"
    changed = api.call("PATCH", "/apps/asleep/env", 200, json={"set": {"GREETING": "later"}}).json()
    from tests.integration.conftest import run_jobs

    run_jobs(api.platform)
    app = api.call("GET", "/apps/asleep", 200).json()
    assert changed["deploy_id"] and app["status"] == "stopped" and app["instances"] == []
    assert app["live_release"] == 2
    assert api.deploy("asleep", "/start")["status"] == "succeeded"
    assert serve(api, "asleep")["greeting"] == "later"


def test_instance_whose_supervisor_died_is_replaced(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import signal

    from slipway.deploys import reconcile

    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "orphan", "git_url": repo.url})
    assert api.deploy("orphan")["status"] == "succeeded"
    [before] = api.call("GET", "/apps/orphan/instances", 200).json()
    state_file = api.platform.settings.home / "instances" / before["id"] / "state.json"
    supervisor_pid = json.loads(state_file.read_text())["supervisor_pid"]
    os.kill(supervisor_pid, signal.SIGKILL)  # e.g. the OOM killer, or a reboot took it
    os.kill(before["pid"], signal.SIGKILL)
    import time

    time.sleep(0.5)
    assert api.call("GET", "/apps/orphan", 200).json()["status"] == "crashed"
    reconcile.reconcile_instances(api.platform)
    [after] = api.call("GET", "/apps/orphan/instances", 200).json()
    assert after["id"] != before["id"] and after["state"] == "running"
    assert serve(api, "orphan")["version"] == "1"


def test_failing_smoke_check_after_the_switch_rolls_back(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "smoky", "git_url": repo.url})
    assert api.deploy("smoky")["status"] == "succeeded"
    # the smoke check expects what v1 answers; v2 answers something else
    api.call("POST", "/apps/smoky/checks", 201, json={
        "name": "answers v1", "target": "/", "body_contains": '"version": "1"', "smoke": True, "retries": 1,
        "monitor": False})
    repo.commit({"version.txt": "2\n"}, "v2")
    deploy = api.deploy("smoky")
    assert deploy["status"] == "rolled_back", api.log("smoky", deploy["id"])
    assert "Smoke checks failed" in api.log("smoky", deploy["id"])
    assert deploy["reason"].startswith("smoke checks failed after the switch: ") and "\n" not in deploy["reason"]
    assert serve(api, "smoky")["version"] == "1"
    assert api.call("GET", "/apps/smoky", 200).json()["live_release"] == 1
