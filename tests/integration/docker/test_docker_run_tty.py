"""`slipway run -t` on a docker app: a one-off container with a TTY behind the real WebSocket, real podman.

Every container a test makes carries the app's label, and the docker_platform fixture removes all of
them (the app's web container and any one-off left behind) when the test ends, failed or not.
"""

from __future__ import annotations

import json
import time
from typing import Any

import docker
import pytest
from sqlalchemy import select

from slipway.events import Event
from tests.integration.conftest import Api
from tests.integration.docker.conftest import docker_app_files
from tests.integration.test_run_tty import read_until_exit

pytestmark = pytest.mark.integration


@pytest.fixture
def deployed(dapi: Api, make_repo, app_name: str) -> Api:  # type: ignore[no-untyped-def]
    repo = make_repo(files=docker_app_files("1"))
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    dapi.call("PATCH", f"/apps/{app_name}/env", 200, json={"set": {"GREETING": "hello from env"}, "deploy": False})
    deploy = dapi.deploy(app_name)
    assert deploy["status"] == "succeeded", dapi.log(app_name, deploy["id"])
    # a session the test loses track of ends on the server's side (exit 124) instead of hanging the test
    dapi.platform.settings.tty_idle_timeout = 60
    return dapi


def one_offs(host: str, app: str) -> list[Any]:
    client = docker.DockerClient(base_url=host, version="1.41")
    try:
        return client.containers.list(all=True, filters={"label": ["io.slipway.one-off=1", f"io.slipway.app={app}"]})
    finally:
        client.close()


def read_until(ws, marker: bytes) -> bytes:  # type: ignore[no-untyped-def]
    output = b""
    while marker not in output:
        message = ws.receive()
        if message.get("bytes") is None:
            raise AssertionError(f"{message!r} before {marker!r}; output so far: {output!r}")
        output += message["bytes"]
    return output


def terminal_events(api: Api) -> list[Event]:
    with api.platform.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind.like("terminal.%")).order_by(Event.id)))


def test_interactive_shell_in_a_one_off_container(deployed: Api, app_name: str, engine_host: str) -> None:
    url = f"/api/v1/apps/{app_name}/run/tty?command=/bin/sh&rows=30&cols=100"
    with deployed.client.websocket_connect(url, headers=deployed.headers) as ws:
        # the echo of the typed line has the unexpanded text; only the command's output has these values
        ws.send_bytes(b'test -t 0 && echo is-a-$((0))-tty; stty size; echo "env=[$GREETING]"; echo hello-$((6*7))\n')
        first = read_until(ws, b"hello-42").decode(errors="replace")
        (container,) = one_offs(engine_host, app_name)  # a new container beside the app's web one
        assert container.attrs["Config"]["Tty"] is True
        assert container.labels["io.slipway.release"] == "1" and container.labels["io.slipway.process-type"] == "run"
        ws.send_text(json.dumps({"resize": [40, 120]}))
        ws.send_bytes(b"stty size; exit 3\n")
        rest, code, _ = read_until_exit(ws)
    assert "is-a-0-tty" in first  # stdin is a terminal
    assert "30 100" in first  # the size asked for when the session opened
    assert "env=[hello from env]" in first  # the app's env vars
    assert "40 120" in rest  # the resize reached the container's terminal
    assert code == 3
    assert one_offs(engine_host, app_name) == []  # removed when it ended
    instances = deployed.call("GET", f"/apps/{app_name}/instances", 200).json()
    assert [i["state"] for i in instances] == ["running"]  # the app itself is untouched
    started, ended = terminal_events(deployed)
    assert started.kind == "terminal.started" and started.payload["command"] == ["/bin/sh"]
    assert started.payload["container"] == container.name and started.payload["release"] == 1
    assert ended.payload["exit_code"] == 3 and ended.payload["reason"] == "exited"


def test_python_repl_disconnect_failing_command_and_idle_timeout(deployed: Api, app_name: str,
                                                                 engine_host: str) -> None:
    url = f"/api/v1/apps/{app_name}/run/tty?command=python3&command=-q"
    with deployed.client.websocket_connect(url, headers=deployed.headers) as ws:
        ws.send_bytes(b"import os, sys; print(os.isatty(sys.stdin.fileno()), os.environ['GREETING'], 6 * 7)\n")
        read_until(ws, b"True hello from env 42")
    # the socket closed under the REPL: it is ended (SIGHUP), and its container removed
    deadline = time.monotonic() + 30
    while len(terminal_events(deployed)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    started, ended = terminal_events(deployed)
    assert ended.kind == "terminal.ended" and ended.payload["reason"] == "disconnected"
    assert one_offs(engine_host, app_name) == []

    missing = f"/api/v1/apps/{app_name}/run/tty?command=/no/such/program"
    with deployed.client.websocket_connect(missing, headers=deployed.headers) as ws:
        output, code, _ = read_until_exit(ws)
    assert code != 0 and "no such file" in output.lower()
    assert one_offs(engine_host, app_name) == []

    deployed.platform.settings.tty_idle_timeout = 0.5
    idle = f"/api/v1/apps/{app_name}/run/tty?command=/bin/sh"
    with deployed.client.websocket_connect(idle, headers=deployed.headers) as ws:
        _, code, controls = read_until_exit(ws)
    assert code == 124 and any("idle" in c.get("error", "") for c in controls)
    assert one_offs(engine_host, app_name) == []
    assert [e.payload["reason"] for e in terminal_events(deployed) if e.kind == "terminal.ended"] == [
        "disconnected", "exited", "idle"]
