"""Docker apps through the same pipeline as local ones: real podman, real images, real containers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from sqlalchemy import select

from slipway.deploys.models import Release
from slipway.instances.models import Instance
from slipway.runtimes.docker import DockerRuntime
from tests.integration.conftest import Api, run_jobs
from tests.integration.docker.conftest import docker_app_files
from tests.integration.docker.engine import cleanup
from tests.integration.test_deploy_pipeline import serve

pytestmark = pytest.mark.integration


def engine(host: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=host, version="1.41")


def releases(api: Api, app: str) -> dict[int, Release]:
    from slipway.apps.models import App

    with api.platform.sessions() as session:
        query = select(Release).join(App, App.id == Release.app_id).where(App.name == app)
        return {r.version: r for r in session.scalars(query)}


def running_containers(host: str, app: str) -> list[Any]:
    return engine(host).containers.list(filters={"label": f"io.slipway.app={app}"})


def test_dockerfile_app_env_redeploy_rollback(dapi: Api, make_repo, app_name: str, engine_host: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=docker_app_files("1"))
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    dapi.call("PATCH", f"/apps/{app_name}/env", 200,
              json={"set": {"GREETING": "hello from env", "API_TOKEN": "s3cr3t-token-value"}, "deploy": False})
    dapi.call("PATCH", f"/apps/{app_name}/build-config", 200, json={"build_args": {"BUILD_NOTE": "from-config"}})

    first = dapi.deploy(app_name)
    log = dapi.log(app_name, first["id"])
    assert first["status"] == "succeeded", log
    answer = serve(dapi, app_name)
    assert answer == {"version": "1", "greeting": "hello from env", "release": "1", "port": "8000"}
    assert "build note: from-config" in log  # the build's own output streamed into the deploy log
    assert "s3cr3t-token-value" not in log

    # the container: labelled, published on loopback only, env injected, image tagged per release
    (container,) = running_containers(engine_host, app_name)
    labels = container.labels
    assert labels["io.slipway.app"] == app_name and labels["io.slipway.release"] == "1"
    assert labels["io.slipway.process-type"] == "web" and labels["io.slipway.instance"] == container.name
    bindings = container.attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    rel = releases(dapi, app_name)
    assert rel[1].artifact_path == f"slipway/{app_name}:1" and rel[1].build_kind == "dockerfile"
    image = engine(engine_host).images.get(f"slipway/{app_name}:1")
    assert image.id == rel[1].config["image_id"] == container.image.id
    # the app's env never went into the image: not in its config, not in its history
    assert not any("s3cr3t" in e for e in image.attrs["Config"].get("Env") or [])
    assert "s3cr3t" not in json.dumps(image.history())

    repo.commit({"version.txt": "2\n"}, "v2")
    second = dapi.deploy(app_name)
    assert second["status"] == "succeeded", dapi.log(app_name, second["id"])
    assert serve(dapi, app_name)["version"] == "2"

    back = dapi.deploy(app_name, "/rollback")
    back_log = dapi.log(app_name, back["id"])
    assert back["status"] == "succeeded", back_log
    assert serve(dapi, app_name)["version"] == "1"
    assert "Building" not in back_log and "docker build" not in back_log and "STEP" not in back_log
    rel = releases(dapi, app_name)
    assert rel[3].kind == "rollback" and rel[3].config["image_id"] == rel[1].config["image_id"]
    (container,) = running_containers(engine_host, app_name)
    assert container.image.id == rel[1].config["image_id"]  # the very image of v1, not a rebuild

    # ps and logs work as for local apps
    instances = dapi.call("GET", f"/apps/{app_name}/instances", 200).json()
    assert [(i["runtime"], i["state"], i["release"]) for i in instances] == [("docker", "running", 3)]
    logs = dapi.call("GET", f"/apps/{app_name}/logs", 200).text
    assert "stdout listening on 8000" in logs


def test_container_that_crashes_at_start_never_gets_traffic(dapi: Api, make_repo, app_name: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=docker_app_files("1"))
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    assert dapi.deploy(app_name)["status"] == "succeeded"

    repo.commit({"app.py": "import sys\nprint('boom: missing DATABASE_URL', flush=True)\nsys.exit(3)\n"}, "broken")
    broken = dapi.deploy(app_name)
    assert broken["status"] == "failed"
    assert "crashed" in broken["reason"] and "boom: missing DATABASE_URL" in broken["reason"], broken["reason"]
    assert serve(dapi, app_name)["version"] == "1"
    app = dapi.call("GET", f"/apps/{app_name}", 200).json()
    assert app["live_release"] == 1 and len(app["instances"]) == 1


def test_prebuilt_image_and_one_off_run(dapi: Api, make_repo, app_name: str, engine_host: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = tmp_path / "prebuilt"
    context.mkdir()
    for name, content in docker_app_files("prebuilt").items():
        (context / name).write_text(content)
    ref = f"localhost/{app_name}-b:1"
    client = engine(engine_host)
    client.images.build(path=str(context), tag=ref, labels={"io.slipway.app": f"{app_name}-b"})
    try:
        dapi.call("POST", "/apps", 201, json={"name": app_name, "runtime": "docker", "image": ref})
        deploy = dapi.deploy(app_name)
        log = dapi.log(app_name, deploy["id"])
        assert deploy["status"] == "succeeded", log
        assert "no build" in log and "STEP" not in log
        assert serve(dapi, app_name)["version"] == "prebuilt"
        assert releases(dapi, app_name)[1].artifact_path == ref

        # a one-off command in a new container of the live release, output streamed, exit code returned
        with dapi.client.stream("POST", f"/api/v1/apps/{app_name}/run", headers=dapi.headers,
                                json={"command": ["sh", "-c", "cat version.txt; echo release=$SLIPWAY_RELEASE; exit 7"]}
                                ) as response:
            assert response.status_code == 200
            body = "".join(response.iter_text())
        assert '"prebuilt"' in body and '"release=1"' in body and "event: exit\ndata: 7" in body
        # the one-off container is gone, the app's container is untouched
        assert len(running_containers(engine_host, app_name)) == 1
        assert not client.containers.list(all=True, filters={"label": ["io.slipway.one-off=1",
                                                                       f"io.slipway.app={app_name}"]})
    finally:
        try:
            client.images.remove(ref, force=True)
        except docker.errors.APIError:
            pass


def test_unknown_runtime_is_refused(dapi: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    response = dapi.call("POST", "/apps", 422, json={"name": "nope", "git_url": repo.url, "runtime": "kubernetes"})
    assert "runtime 'kubernetes' is not configured" in response.json()["error"]


def test_engine_unreachable_fails_clearly_and_old_release_keeps_serving(  # type: ignore[no-untyped-def]
        settings, make_repo, engine_host: str, app_name: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from slipway.app import create_app
    from slipway.auth import service as auth_service
    from slipway.db import transaction
    from slipway.platform import build_platform

    # a second API service over the same engine storage, that this test can kill
    sock = tmp_path / "doomed.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    settings.health_timeout = 40
    plat = build_platform(settings, runtimes={"docker": DockerRuntime(f"unix://{sock}", timeout=10)})
    try:
        deadline = time.monotonic() + 20
        while not DockerRuntime(f"unix://{sock}").ping():
            assert time.monotonic() < deadline, "the second podman service did not come up"
            time.sleep(0.1)
        with transaction(plat.sessions) as session:
            token, _ = auth_service.create_token(session, name="test")
        with TestClient(create_app(platform=plat, background=False)) as client:
            api = Api(client, plat, token)
            repo = make_repo(files=docker_app_files("1"))
            api.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
            assert api.deploy(app_name)["status"] == "succeeded"
            assert serve(api, app_name)["version"] == "1"

            os.killpg(service.pid, signal.SIGKILL)  # the engine's API is gone; the containers are not
            service.wait()
            repo.commit({"version.txt": "2\n"}, "v2")
            failed = api.deploy(app_name)
            assert failed["status"] == "failed"
            assert "docker engine" in failed["reason"] and "unreachable" in failed["reason"], failed["reason"]
            assert serve(api, app_name)["version"] == "1"  # the running release is untouched
            app = api.call("GET", f"/apps/{app_name}", 200).json()  # still answers, with the reason
            assert app["live_release"] == 1
            assert app["instances"][0]["state"] == "unknown" and "unreachable" in app["instances"][0]["last_exit"]
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
        cleanup(engine_host, [app_name])
        plat.close()


def test_run_one_off_on_local_runtime(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "oneoff", "git_url": repo.url})
    assert api.deploy("oneoff")["status"] == "succeeded"
    with api.client.stream("POST", "/api/v1/apps/oneoff/run", headers=api.headers,
                           json={"command": ["python", "-c", "print(open('version.txt').read().strip())"]}) as r:
        body = "".join(r.iter_text())
    assert 'data: "1"' in body and "event: exit\ndata: 0" in body
    assert len(api.call("GET", "/apps/oneoff/instances", 200).json()) == 1
    run_jobs(api.platform)
    with api.platform.sessions() as session:
        assert session.scalar(select(Instance.runtime)) == "local"


def test_pushed_commit_builds_on_docker(dapi: Api, make_repo, app_name: str) -> None:  # type: ignore[no-untyped-def]
    """An app fed by `git push` builds its image from the app's repository on the Slipway host. (The SSH
    side is tests/integration/gitpush; here the commit reaches the repository by a plain local push of a
    tag, which the proc-receive hook leaves alone.)"""
    from slipway.apps import service as app_service
    from slipway.db import transaction
    from slipway.deploys import service as deploy_service
    from slipway.gitpush import repos

    repo = make_repo(files=docker_app_files("pushed"))
    dapi.call("POST", "/apps", 201, json={"name": app_name, "runtime": "docker"})  # no git URL
    bare = repos.ensure(dapi.platform.settings, app_name, "main")
    repo.git("push", "-q", str(bare), "HEAD:refs/tags/v1")
    with transaction(dapi.platform.sessions) as session:
        deploy_id = deploy_service.request(session, app_service.get(session, app_name), kind="deploy",
                                           commit=repo.head(), source="push", actor="test").id
    run_jobs(dapi.platform)
    deploy = dapi.call("GET", f"/apps/{app_name}/deploys/{deploy_id}", 200).json()
    log = dapi.log(app_name, deploy_id)
    assert deploy["status"] == "succeeded" and deploy["source"] == "push", log
    assert "Fetching the pushed main branch" in log and "from its Dockerfile" in log
    assert serve(dapi, app_name)["version"] == "pushed"
