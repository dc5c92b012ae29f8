"""`slipway run -t`: the WebSocket that runs a one-off command of the live release under a PTY."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from slipway.auth import service as auth_service
from slipway.db import transaction
from slipway.events import Event
from tests.conftest import python_app_files
from tests.integration.conftest import Api

URL = "/api/v1/apps/hello/run/tty?command=/bin/sh&rows=30&cols=100"


@pytest.fixture
def deployed(api: Api, make_repo) -> Api:  # type: ignore[no-untyped-def]
    repo = make_repo(files=python_app_files())
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "runtime": "local"})
    deploy = api.deploy("hello")
    assert deploy["status"] == "succeeded", api.log("hello", deploy["id"])
    return api


@contextlib.contextmanager
def real_server(app: object) -> Iterator[int]:
    """The app under a real uvicorn in a thread (one event loop, as in production); yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",  # type: ignore[arg-type]
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def read_until_exit(ws) -> tuple[str, int, list[dict]]:  # type: ignore[no-untyped-def]
    output, controls = b"", []
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            raise AssertionError(f"closed without an exit code; output so far: {output!r}")
        if message.get("bytes") is not None:
            output += message["bytes"]
            continue
        control = json.loads(message["text"])
        controls.append(control)
        if "exit" in control:
            return output.decode(errors="replace"), control["exit"], controls


def test_interactive_shell_relays_bytes_and_ends_with_the_exit_code(deployed: Api) -> None:
    with deployed.client.websocket_connect(URL, headers=deployed.headers) as ws:
        ws.send_text(json.dumps({"resize": [40, 120]}))
        ws.send_bytes(b"stty size; echo $PORT-$SLIPWAY_APP-; echo hello-$((6*7))\n")
        ws.send_bytes(b"exit 3\n")
        output, code, _ = read_until_exit(ws)
    assert "hello-42" in output
    assert "40 120" in output  # the resize reached the PTY
    assert code == 3
    with deployed.platform.sessions() as session:
        kinds = {e.kind: e for e in session.scalars(select(Event).where(Event.kind.like("terminal.%")))}
    assert kinds["terminal.started"].payload["command"] == ["/bin/sh"]
    assert kinds["terminal.ended"].payload["exit_code"] == 3
    assert kinds["terminal.ended"].payload["reason"] == "exited"
    assert kinds["terminal.started"].actor == kinds["terminal.ended"].actor


def test_the_release_environment_and_directory(deployed: Api) -> None:
    url = "/api/v1/apps/hello/run/tty?command=/bin/sh&command=-c&command=cat%20version.txt;%20tty"
    with deployed.client.websocket_connect(url, headers=deployed.headers) as ws:
        output, code, _ = read_until_exit(ws)
    assert code == 0
    assert "1" in output.splitlines()[0]
    # under a terminal: /dev/pts/N, or /dev/console inside the sandbox (bubblewrap's name for it there)
    assert "not a tty" not in output and output.splitlines()[1].strip() in ("/dev/console",) + tuple(
        line.strip() for line in output.splitlines() if line.strip().startswith("/dev/pts/"))


def test_a_disconnect_ends_the_command(deployed: Api) -> None:
    with deployed.client.websocket_connect(URL, headers=deployed.headers) as ws:
        ws.send_bytes(b"echo ready\n")
        output = b""
        while b"ready\r\n" not in output:
            output += ws.receive_bytes()
    deadline = time.monotonic() + 10
    while True:
        with deployed.platform.sessions() as session:
            ended = session.scalar(select(Event).where(Event.kind == "terminal.ended"))
        if ended is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ended is not None and ended.payload["reason"] == "disconnected"


def test_a_command_that_reads_no_input_never_stalls_the_server(deployed: Api) -> None:
    """Input the command does not read fills the PTY's buffer: that must not block the server's event loop
    (it once spun there until the command ended, and every other request waited). A real uvicorn: one loop."""
    import httpx
    from websockets.sync.client import connect

    with real_server(deployed.client.app) as port:
        command = "command=/bin/sh&command=-c&command=stty%20raw%20-echo;echo%20ready;sleep%204;echo%20woke"
        url = f"ws://127.0.0.1:{port}/api/v1/apps/hello/run/tty?{command}"
        with connect(url, additional_headers=deployed.headers, max_size=None) as ws:
            output = b""
            while b"ready" not in output:  # raw mode: the PTY now holds input instead of discarding it
                message = ws.recv(timeout=30)
                output += message if isinstance(message, bytes) else b""
            for _ in range(64):
                ws.send(b"x" * 16384)  # 1 MiB; the PTY holds a few KiB
            time.sleep(0.5)
            health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2.5)  # while input waits
            assert health.status_code == 200
            code = None
            while code is None:
                message = ws.recv(timeout=30)
                if isinstance(message, bytes):
                    output += message
                elif "exit" in json.loads(message):
                    code = json.loads(message)["exit"]
        assert code == 0 and b"woke" in output


def test_idle_timeout(deployed: Api) -> None:
    deployed.platform.settings.tty_idle_timeout = 0.5
    with deployed.client.websocket_connect(URL, headers=deployed.headers) as ws:
        _, code, controls = read_until_exit(ws)
    assert code == 124
    assert any("idle" in c.get("error", "") for c in controls)


@pytest.mark.parametrize("who", ["anonymous", "read-token", "wrong-token"])
def test_refused_without_deploy_permission(deployed: Api, who: str) -> None:
    headers = {}
    if who == "read-token":
        with transaction(deployed.platform.sessions) as session:
            token, _ = auth_service.create_token(session, name="viewer", scope="read")
        headers = {"Authorization": f"Bearer {token}"}
    elif who == "wrong-token":
        headers = {"Authorization": "Bearer slp_nope"}
    with pytest.raises(WebSocketDisconnect) as refused, deployed.client.websocket_connect(URL, headers=headers) as ws:
        ws.receive()
    assert refused.value.code == 1008
    with deployed.platform.sessions() as session:
        assert session.scalar(select(Event).where(Event.kind == "terminal.started")) is None


def test_unknown_app_and_missing_command(deployed: Api) -> None:
    no_command = "/api/v1/apps/hello/run/tty"
    headers = deployed.headers
    with pytest.raises(WebSocketDisconnect), deployed.client.websocket_connect(no_command, headers=headers) as ws:
        ws.receive()
    with deployed.client.websocket_connect("/api/v1/apps/nope/run/tty?command=sh", headers=deployed.headers) as ws:
        _, code, controls = read_until_exit(ws)
    assert code == 125 and "nope" in controls[0]["error"]


def test_cli_run_t_over_a_real_server(deployed: Api, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`slipway run hello -t -- /bin/sh` with piped stdin: output relayed, the remote exit code returned."""
    import io

    from slipway.cli.client import ApiError, Client
    from slipway.cli.tty import run_tty

    with real_server(deployed.client.app) as port:
        script = tmp_path / "stdin"
        script.write_text("echo cli-$((6*7))\nexit 5\n")
        out = io.BytesIO()
        with open(script) as stdin:
            monkeypatch.setattr("sys.stdin", stdin)
            monkeypatch.setattr("sys.stdout", io.TextIOWrapper(out))
            token = deployed.headers["Authorization"].split()[1]
            code = run_tty(Client(f"http://127.0.0.1:{port}", token), "hello", ["/bin/sh"])
        assert code == 5
        assert b"cli-42" in out.getvalue()
        with pytest.raises(ApiError, match="refused"):
            run_tty(Client(f"http://127.0.0.1:{port}", "slp_wrong"), "hello", ["/bin/sh"])
