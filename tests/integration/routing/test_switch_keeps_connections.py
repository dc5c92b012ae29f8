"""Deploys through the real `slipway server` and Caddy close no client connection (issue #14).

A client that never retries and never reconnects holds, through Caddy, one keep-alive HTTP connection to a
bystander app, one to the app being deployed, and a WebSocket to the bystander. Deploying the other app, then
the bystander itself, must not close any of the keep-alive connections: they are the client's connections to
Caddy, which are on no instance, and every request on them after a deploy is answered by the new release.
The bystander's WebSocket must survive the other app's deploy. A WebSocket is tunnelled to one instance, so
when its own app is deployed it may end once that old instance is drained and stopped (that is the app's
instance going away, not the router dropping it); a WebSocket opened after the switch reaches the new one.

Before slot files (slots.py), every switch loaded a new config into Caddy, which closed every idle
keep-alive connection of every app: the first request after a deploy on each of them failed.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Repo
from tests.integration.hosts import Host, running_host

from slipway.config import Settings

pytestmark = pytest.mark.integration

ws_client = pytest.importorskip("websockets.sync.client")

# The tests' app plus a WebSocket echo at /ws, with the standard library only (RFC 6455 handshake and frames).
WS_APP_PY = '''\
import base64, hashlib, json, os, struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("version.txt").read().strip()
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        body = json.dumps({"version": VERSION}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def websocket(self):
        accept = base64.b64encode(hashlib.sha1(self.headers["Sec-WebSocket-Key"].encode() + GUID).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\\0\\0\\0\\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:
                self.wfile.write(b"\\x88\\x00")
                return
            reply = (VERSION + ":").encode() + data
            self.wfile.write(bytes([0x81, len(reply)]) + reply)  # replies stay under 126 bytes
            self.wfile.flush()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


def ws_app_files(version: str) -> dict[str, str]:
    return {"app.py": WS_APP_PY, "version.txt": version + "\n", "requirements.txt": "",
            "Procfile": "web: python app.py\n"}


class KeepAlive:
    """One HTTP/1.1 connection to Caddy, used for every request: no retry, no reconnect, ever."""

    def __init__(self, port: int, host: str) -> None:
        self.host = host
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def get(self) -> str:
        self.sock.sendall(f"GET / HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].split(" ")[1] == "200", lines[0]
        length = next(int(v) for n, _, v in (x.partition(":") for x in lines[1:]) if n.lower() == "content-length")
        assert not any(x.lower() == "connection: close" for x in lines), f"{self.host}: the router closes it"
        while len(self.buffer) < length:
            self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return str(json.loads(body)["version"])

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._recv()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError(f"{self.host}: the router closed the kept-alive connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.router = "caddy"
    with running_host(settings, tmp_path) as h:
        yield h


def _repo(tmp_path: Path, name: str) -> Repo:
    import subprocess

    path = tmp_path / "repos" / name
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    repo = Repo(path)
    repo.commit(ws_app_files("1"), "v1")
    return repo


def _ws(host: Host, app: str):  # type: ignore[no-untyped-def]
    port = host.settings.http_port
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ws_client.connect(f"ws://{app}.{host.settings.base_domain}:{port}/ws", sock=sock, open_timeout=10)


def test_deploys_close_no_keepalive_connection_and_no_bystander_websocket(host: Host, tmp_path: Path) -> None:
    host.server()
    host.login()
    repos = {name: _repo(tmp_path, name) for name in ("bystander", "hello")}
    for name, repo in repos.items():
        host.cli_json("apps", "create", name, "--git", repo.url, "--branch", "main")
        assert host.cli_json("deploy", name)["status"] == "succeeded"
    domain = host.settings.base_domain
    bystander = KeepAlive(host.settings.http_port, f"bystander.{domain}")
    hello = KeepAlive(host.settings.http_port, f"hello.{domain}")
    with contextlib.ExitStack() as stack:
        ws = stack.enter_context(_ws(host, "bystander"))
        stack.callback(bystander.close)
        stack.callback(hello.close)
        assert bystander.get() == "1" and hello.get() == "1"
        ws.send("before")
        assert ws.recv(timeout=10) == "1:before"

        repos["hello"].commit({"version.txt": "2\n"}, "v2")
        assert host.cli_json("deploy", "hello")["status"] == "succeeded"  # another app's deploy
        assert bystander.get() == "1"
        ws.send("after the other app's deploy")
        assert ws.recv(timeout=10) == "1:after the other app's deploy"
        assert hello.get() == "2"  # the deployed app's own keep-alive connection: now on the new release

        repos["bystander"].commit({"version.txt": "2\n"}, "v2")
        assert host.cli_json("deploy", "bystander")["status"] == "succeeded"  # the same app's deploy
        assert bystander.get() == "2" and hello.get() == "2"
        with _ws(host, "bystander") as fresh:
            fresh.send("new")
            assert fresh.recv(timeout=10) == "2:new"
