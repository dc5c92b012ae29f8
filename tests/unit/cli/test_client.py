"""The CLI's HTTP client (stdlib urllib): the API's answers and errors as before, and a redirect is an
answer, never a hop that would carry the bearer token to wherever it points."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from slipway.cli.client import ApiError, Client


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None, bytes]] = []  # (server, path, Authorization, body)
    redirect_to = ""

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append((self.server.name, self.path, self.headers.get("Authorization"), body))  # type: ignore[attr-defined]
        if self.path.startswith("/api/v1/moved"):
            self.send_response(302)
            self.send_header("Location", Recorder.redirect_to + "/api/v1/apps")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, payload = (404, {"error": "no app named 'x'", "detail": "create it first"}) \
            if self.path.startswith("/api/v1/apps/x") else (200, {"ok": True})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    started = []
    for name in ("api", "elsewhere"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    Recorder.seen = []
    urls = tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in started)
    Recorder.redirect_to = urls[1]
    try:
        yield urls  # type: ignore[misc]
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def test_requests_answers_and_errors(servers: tuple[str, str]) -> None:
    client = Client(servers[0], "slp_secret")
    answer = client.request("PUT", "/apps/y/scale", json={"processes": {"web": 2}},
                            params={"restart": True, "n": None})
    assert answer == {"ok": True}
    _, path, auth, body = Recorder.seen[-1]
    assert path == "/api/v1/apps/y/scale?restart=true&n=" and auth == "Bearer slp_secret"
    assert json.loads(body) == {"processes": {"web": 2}}
    with pytest.raises(ApiError) as err:
        client.get("/apps/x")
    assert (err.value.status, err.value.message, err.value.detail) == (404, "no app named 'x'", "create it first")


def test_a_redirect_is_not_followed_with_the_token(servers: tuple[str, str]) -> None:
    with pytest.raises(ApiError) as err:
        Client(servers[0], "slp_secret").get("/moved")
    assert err.value.status == 302
    assert [seen[0] for seen in Recorder.seen] == ["api"]  # nothing reached the other server


def test_a_refused_connection_names_the_url() -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiError) as err:
        Client(url, "").get("/apps")
    assert err.value.status == 0 and f"cannot reach Slipway at {url}" in err.value.message
