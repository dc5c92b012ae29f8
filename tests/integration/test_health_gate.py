"""The health gate's failures say what happened: real git, real builds, real sandboxed processes."""

from __future__ import annotations

import pytest

from slipway.config import Settings
from slipway.deploys import reasons
from tests.conftest import free_port, python_app_files
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration

# answers every request with a 500 and the error a broken Django deploy shows
ERROR_APP = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>x</title><style>p {}</style></head><body>" \\
               b"<h1>Missing staticfiles manifest entry for 'app.css'</h1><p>second line</p></body></html>"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        print("request failed: ValueError: Missing staticfiles manifest entry", flush=True)

http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(params=["auto", "namespaces"])
def sandboxed(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """As root, `auto` runs each app as its own user under bubblewrap; `namespaces` as Slipway's user."""
    settings.sandbox = request.param
    return settings


def test_an_app_listening_on_another_port_is_told_at_once(sandboxed: Settings, api: Api,
                                                            make_repo) -> None:  # type: ignore[no-untyped-def]
    sandboxed.health_timeout = 120  # the reason below only comes from the sockets, never from the timeout
    pinned = free_port()
    repo = make_repo(files=python_app_files(procfile=f"web: python -m http.server {pinned} --bind 0.0.0.0\n"))
    api.call("POST", "/apps", 201, json={"name": "pinned", "git_url": repo.url})
    deploy = api.deploy("pinned")
    assert deploy["status"] == "failed"
    port = int(deploy["reason"].split("$PORT (")[1].split(")")[0])
    assert deploy["reason"] == (f"the web process listens on 0.0.0.0:{pinned}, not on $PORT ({port}): bind to $PORT, "
                                "e.g. gunicorn --bind 0.0.0.0:$PORT")
    assert port != pinned
    assert "nothing was live, nothing changed" in api.log("pinned", deploy["id"])
    assert api.call("GET", "/apps/pinned", 200).json()["instances"] == []


def test_an_app_that_answers_500_shows_the_status_and_the_body(settings: Settings, api: Api,
                                                                make_repo) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 2
    repo = make_repo(files={**python_app_files(), "app.py": ERROR_APP})
    api.call("POST", "/apps", 201, json={"name": "broken", "git_url": repo.url})
    deploy = api.deploy("broken")
    assert deploy["status"] == "failed"
    assert deploy["reason"] == "GET / answered 500: Missing staticfiles manifest entry for 'app.css' second line"
    assert "is the app listening" not in deploy["reason"]
    tail = deploy["log_tail"]
    assert "Missing staticfiles manifest entry for 'app.css'" in tail and "<h1>" not in tail
    assert "request failed: ValueError" in tail  # the app's own output, below the body


def test_an_app_that_exits_fails_with_its_exit_code(settings: Settings, api: Api,
                                                     make_repo) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 120  # an exit is seen at once: the timeout never comes into it
    repo = make_repo(files={**python_app_files(),
                            "app.py": "import sys\nprint('cannot connect to the database', flush=True)\nsys.exit(3)\n"})
    api.call("POST", "/apps", 201, json={"name": "quitter", "git_url": repo.url})
    deploy = api.deploy("quitter")
    assert deploy["status"] == "failed"
    assert deploy["reason"] == ("the web process crashed before it answered (exited with code 3): "
                                "cannot connect to the database")
    assert reasons.is_one_line(deploy["reason"])
    assert "cannot connect to the database" in deploy["log_tail"]
    log = api.log("quitter", deploy["id"])
    assert "nothing was live, nothing changed" in log and "keeps serving" not in log
