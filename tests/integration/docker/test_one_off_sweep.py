"""Exited one-off containers (left behind when the control plane dies during `slipway run`) are swept;
running ones and app instances are never touched."""

from __future__ import annotations

import time

import docker
import pytest

from slipway.deploys import reconcile
from slipway.platform import Platform
from slipway.runtimes.docker import LABEL, MANAGED, ONE_OFF
from tests.integration.docker.engine import BASE_IMAGE

pytestmark = pytest.mark.integration


def test_exited_one_offs_are_swept(docker_platform: Platform, engine_host: str, app_name: str) -> None:
    client = docker.DockerClient(base_url=engine_host, version="1.41")
    app = {f"{LABEL}.app": app_name}

    def make(name: str, labels: dict[str, str], command: list[str]) -> str:
        return client.containers.run(BASE_IMAGE, command, detach=True, name=f"{app_name}-{name}",
                                     labels={**app, **labels}).id  # type: ignore[no-any-return]

    ended = make("ended", {ONE_OFF: "1"}, ["true"])
    running = make("running", {ONE_OFF: "1"}, ["sleep", "60"])
    instance = make("instance", {MANAGED: "1"}, ["true"])  # an app instance that exited: not ours to sweep
    deadline = time.monotonic() + 20
    while {client.containers.get(c).status for c in (ended, instance)} != {"exited"}:
        assert time.monotonic() < deadline, "the short containers did not exit"
        time.sleep(0.2)

    runtime = docker_platform.runtimes["docker"]
    assert runtime.prune_one_offs(older_than=3600) == 0  # ended a moment ago: kept for now
    time.sleep(1.1)
    assert runtime.prune_one_offs(older_than=1) == 1
    left = {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}.app={app_name}"})}
    assert ended not in left and running in left and instance in left
    assert reconcile.prune_one_off_containers(docker_platform) == 0  # the periodic task: hour-old ones only
