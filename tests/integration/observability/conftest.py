"""Observability fixtures: a deployed app, and a tiny HTTP server whose answer a test can flip."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.conftest import free_port, python_app_files
from tests.integration.conftest import Api

from slipway.config import Settings

NOISY_APP = '''\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/log":
            print("ERROR payment failed for order 17", flush=True)
            print("INFO request served", flush=True)
            print(json.dumps({"level": "warning", "msg": "slow payment gateway"}), flush=True)
            print("something without a level", file=sys.stderr, flush=True)
        body = b'{"status": "ok", "checks": {"db": "ok"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("DEBUG booting", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


def deploy_app(api: Api, make_repo: Callable[..., Any], name: str = "hello", *, noisy: bool = False) -> dict[str, Any]:
    files = python_app_files()
    if noisy:
        files["app.py"] = NOISY_APP
    repo = make_repo(name, files)
    api.call("POST", "/apps", 201, json={"name": name, "git_url": repo.url, "branch": "main"})
    deploy = api.deploy(name)
    assert deploy["status"] == "succeeded", api.log(name, deploy["id"])
    return api.call("GET", f"/apps/{name}", 200).json()  # type: ignore[no-any-return]


class FlipServer:
    """An HTTP server on 127.0.0.1 answering `status` with `body`; stop() makes it unreachable."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"all good"
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def answer(self, status: int, body: Any = b"all good") -> None:
        self.status = status
        self.body = json.dumps(body).encode() if not isinstance(body, bytes) else body

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Monitors here aim at receivers on loopback, which the egress rules refuse unless an Admin allows it."""
    return settings.model_copy(update={"egress_allow": "127.0.0.0/8"})


@pytest.fixture
def flip() -> Iterator[FlipServer]:
    server = FlipServer()
    try:
        yield server
    finally:
        server.stop()
