"""A forge API on loopback that records every call (a real HTTP server in a thread, reached by the real
client code through SLIPWAY's per-app API base URL setting)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Recorder:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before behaving
    next_id: int = 1000

    def paths(self, method: str | None = None) -> list[str]:
        return [c.path for c in self.calls if method is None or c.method == method]

    def statuses(self) -> list[tuple[str, str]]:
        """(sha, state) of every commit status call, in order (GitHub and GitLab paths)."""
        return [(c.path.rsplit("/", 1)[1], c.body["state"]) for c in self.calls if "/statuses/" in c.path]


@pytest.fixture
def forge() -> Iterator[Recorder]:
    recorder = Recorder()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with lock:
                recorder.calls.append(Call(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           json.loads(raw) if raw else None))
                status = recorder.fail_next.pop(0) if recorder.fail_next else 201
                recorder.next_id += 1
                answer = {"id": recorder.next_id} if status < 400 else {"message": "boom"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = do_PUT = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
