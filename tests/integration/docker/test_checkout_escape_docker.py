"""Hostile repositories on the docker runtime: a Dockerfile or build-context file that links to a host file
never reaches the engine, the deploy log or the deploy's reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Api
from tests.integration.docker.conftest import docker_app_files
from tests.integration.docker.engine import BASE_IMAGE

pytestmark = pytest.mark.integration

SECRET = "planted-secret-d0c4e7"


def _plant(home: Path) -> Path:
    path = home / "planted.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"FROM {SECRET}\nRUN echo {SECRET}\n")  # would parse as a Dockerfile and echo
    return path


def _link(repo, name: str, target: Path) -> None:  # type: ignore[no-untyped-def]
    link = repo.path / name
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    repo.commit({}, f"link {name}")


def _check(dapi: Api, app: str, deploy: dict) -> str:  # type: ignore[type-arg]
    log = dapi.log(app, deploy["id"])
    assert SECRET not in log and SECRET not in (deploy["reason"] or "")
    return log


def test_dockerfile_linked_to_a_host_file(dapi: Api, make_repo, app_name: str, docker_settings) -> None:  # type: ignore[no-untyped-def]
    secret = _plant(docker_settings.home)
    repo = make_repo(files=docker_app_files("1"))
    _link(repo, "Dockerfile", secret)
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    deploy = dapi.deploy(app_name)
    log = _check(dapi, app_name, deploy)
    assert deploy["status"] == "failed"
    assert "removed the symlink Dockerfile: it points outside the repository" in log
    # named through the build config instead (no link dropped first): refused by name
    (repo.path / "Dockerfile").unlink()
    repo.commit({"Dockerfile": "FROM scratch\n"}, "plain")
    _link(repo, "docker.file", secret)
    dapi.call("PATCH", f"/apps/{app_name}/build-config", 200, json={"dockerfile": "docker.file"})
    deploy = dapi.deploy(app_name)
    _check(dapi, app_name, deploy)
    assert deploy["status"] == "failed"


def test_build_context_link_is_not_sent(dapi: Api, make_repo, app_name: str, docker_settings) -> None:  # type: ignore[no-untyped-def]
    secret = _plant(docker_settings.home)
    dockerfile = (f"FROM {BASE_IMAGE}\nWORKDIR /app\nCOPY . /app\n"
                  "RUN ls -la /app; cat /app/leak /app/leak-dir/planted.key 2>&1 || true\n"
                  'CMD ["python3", "-u", "app.py"]\n')
    repo = make_repo(files=docker_app_files("1", Dockerfile=dockerfile))
    _link(repo, "leak", secret)
    _link(repo, "leak-dir", secret.parent)
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    deploy = dapi.deploy(app_name)
    log = _check(dapi, app_name, deploy)
    assert deploy["status"] == "succeeded", log
    assert "removed the symlink leak:" in log and "removed the symlink leak-dir:" in log
    assert "version.txt" in log  # the listing ran
    build_output = log.split("==> docker build:")[1]
    assert "cat: /app/leak: No such file or directory" in build_output  # the link never reached the engine
    assert " -> " not in build_output  # `ls -la` shows no link in /app
