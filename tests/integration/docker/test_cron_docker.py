"""Scheduled job runs of a docker app: a fresh one-off container of the live release's image with the
app's env, its output in log search; a run over its timeout is killed and its container removed."""

from __future__ import annotations

import docker
import pytest

from tests.integration.conftest import Api
from tests.integration.cron.test_cron_api import run_cron
from tests.integration.docker.conftest import docker_app_files

pytestmark = pytest.mark.integration


def test_cron_runs_in_a_one_off_container(dapi: Api, make_repo, app_name: str, engine_host: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=docker_app_files("1"))
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    dapi.call("PATCH", f"/apps/{app_name}/env", 200, json={"set": {"GREETING": "container-env"}})
    deploy = dapi.deploy(app_name)
    assert deploy["status"] == "succeeded", dapi.log(app_name, deploy["id"])
    base = {"schedule": "@daily", "process_type": "worker"}
    dapi.call("POST", f"/apps/{app_name}/cron", 201, json={**base, "name": "greet", "command": [
        "python3", "-c", "import os; print('in container', os.environ['GREETING'], os.path.exists('/.dockerenv') "
        "or os.path.exists('/run/.containerenv'))"]})
    dapi.call("POST", f"/apps/{app_name}/cron", 201, json={**base, "name": "slow", "timeout": 3, "command": [
        "python3", "-c", "import time; print('sleeping', flush=True); time.sleep(120)"]})
    dapi.call("POST", f"/apps/{app_name}/cron/greet/run", 202)
    dapi.call("POST", f"/apps/{app_name}/cron/slow/run", 202)
    run_cron(dapi.platform)

    greet = dapi.call("GET", f"/apps/{app_name}/cron/greet/runs", 200).json()[0]
    assert (greet["status"], greet["exit_code"]) == ("succeeded", 0)
    lines = dapi.call("GET", f"/apps/{app_name}/logs/search", 200, params={"instance": greet["instance"]}).json()
    assert "in container container-env True" in "\n".join(line["text"] for line in lines["lines"])
    slow = dapi.call("GET", f"/apps/{app_name}/cron/slow/runs", 200).json()[0]
    assert slow["status"] == "timeout"
    client = docker.DockerClient(base_url=engine_host, version="1.41")
    names = {c.name for c in client.containers.list(all=True)}
    assert greet["instance"] not in names and slow["instance"] not in names  # one-offs are removed
