"""Memory and CPU limits, enforced for real: the kernel's OOM killer and CFS quota, on both runtimes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from slipway.events import Event
from slipway.instances import service as instance_service
from slipway.runtimes import cgroups
from slipway.runtimes.base import InstanceSpec, Limits
from slipway.runtimes.docker import DockerRuntime
from slipway.runtimes.local import LocalRuntime
from tests.conftest import python_app_files
from tests.integration.conftest import Api
from tests.integration.docker.conftest import docker_app_files
from tests.integration.docker.engine import BASE_IMAGE

pytestmark = pytest.mark.integration

# sleeps past the deploy's watch window, then allocates (and touches) far more than 64 MB
HOG = '''\
import time
print("hog starting", flush=True)
time.sleep(4)
chunks = []
for i in range(40):
    chunks.append(b"x" * (10 * 1024 * 1024))
    print("holding", (i + 1) * 10, "MB", flush=True)
time.sleep(60)
'''
BUSY = "while True: pass"


def needs_cgroups() -> None:
    support = cgroups.detect()
    if not support.ok:
        pytest.skip(f"the local runtime cannot enforce limits here: {support.detail}")


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def oom_through_the_pipeline(api: Api, app: str, repo_url: str, runtime: str) -> None:
    api.call("POST", "/apps", 201, json={"name": app, "git_url": repo_url, "runtime": runtime})
    api.call("PUT", f"/apps/{app}/scale", 200, json={"processes": {"hog": 1}})
    limits = api.call("PUT", f"/apps/{app}/limits/hog", 200, json={"memory": "64M", "cpus": 1}).json()
    assert limits["limits"] == {"hog": {"memory": 64 * 1024**2, "cpus": 1.0}}
    deploy = api.deploy(app)
    log = api.log(app, deploy["id"])
    assert deploy["status"] == "succeeded", log
    assert "limits of hog: memory 64 MB, 1 CPU" in log

    def hog() -> dict:  # type: ignore[type-arg]
        return next(i for i in api.call("GET", f"/apps/{app}/instances", 200).json() if i["process_type"] == "hog")

    wait_until(lambda: hog()["oom_kills"] >= 1 and hog()["restarts"] >= 1, 60, "the hog to be OOM-killed and restarted")
    assert "out of memory (OOM)" in hog()["last_exit"]
    assert instance_service.record_ooms(api.platform) >= 1
    with api.platform.sessions() as session:
        events = list(session.scalars(select(Event).where(Event.kind == "instance.oom")))
    assert events and events[0].payload["process_type"] == "hog"
    assert "OOM" in events[0].payload["reason"]
    # the web process, without limits, was never touched
    web = next(i for i in api.call("GET", f"/apps/{app}/instances", 200).json() if i["process_type"] == "web")
    assert web["restarts"] == 0 and web["oom_kills"] == 0


def test_memory_limit_oom_kill_local(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    needs_cgroups()
    files = python_app_files(procfile="web: python app.py\nhog: python hog.py\n")
    repo = make_repo(files={**files, "hog.py": HOG})
    oom_through_the_pipeline(api, "hoglocal", repo.url, "local")


def test_memory_limit_oom_kill_docker(dapi: Api, make_repo, app_name: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=docker_app_files("1", **{"hog.py": HOG, "Procfile": "web: python3 -u app.py\n"
                                                                              "hog: python3 -u hog.py\n"}))
    oom_through_the_pipeline(dapi, app_name, repo.url, "docker")


def test_half_a_cpu_local(tmp_path: Path) -> None:
    needs_cgroups()
    runtime = LocalRuntime(tmp_path / "instances")
    spec = InstanceSpec("busy-local", "busy", 1, "web", f"{sys.executable} -c '{BUSY}'", str(tmp_path),
                        {"PATH": "/usr/bin:/bin"}, None, 2.0, limits=Limits(cpus=0.5))
    runtime.start(spec)
    try:
        pid = runtime.state("busy-local").pid
        assert pid
        proc = psutil.Process(pid)
        time.sleep(0.5)
        before, start = proc.cpu_times(), time.monotonic()
        time.sleep(4)
        after, elapsed = proc.cpu_times(), time.monotonic() - start
        share = (after.user + after.system - before.user - before.system) / elapsed
        assert 0.3 <= share <= 0.7, f"{share:.0%} of a core under a 0.5 CPU limit"
    finally:
        runtime.stop("busy-local", 1.0)
        runtime.remove("busy-local")


def test_half_a_cpu_docker(engine_host: str, app_name: str) -> None:
    runtime = DockerRuntime(engine_host)
    instance_id = f"{app_name}-busy"
    spec = InstanceSpec(instance_id, app_name, 1, "web", f"python3 -c '{BUSY}'", "/", {}, None, 1.0,
                        limits=Limits(cpus=0.5), image=BASE_IMAGE)
    runtime.start(spec)
    try:
        time.sleep(0.5)
        runtime.stats(instance_id)  # the first sample only sets the baseline
        time.sleep(4)
        stats = runtime.stats(instance_id)
        assert stats["cpu_percent"] is not None and 30 <= stats["cpu_percent"] <= 70, stats
        assert stats["pids"] and stats["pids"] >= 1 and stats["memory_bytes"]
    finally:
        runtime.stop(instance_id, 1.0)
        runtime.remove(instance_id)
