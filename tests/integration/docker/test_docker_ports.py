"""Docker apps that listen on a fixed port inside their container: the image's EXPOSE or [docker] port."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Api
from tests.integration.docker.engine import BASE_IMAGE
from tests.integration.test_deploy_pipeline import serve

pytestmark = pytest.mark.integration

FIXED_PORT_APP = '''\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = {port}  # hard-coded, as many images do: $PORT is not read


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"listening": PORT, "env_port": os.environ.get("PORT")}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
'''


def dockerfile(expose: str = "") -> str:
    return f'FROM {BASE_IMAGE}\nWORKDIR /app\nCOPY . /app\n{expose}CMD ["python3", "-u", "app.py"]\n'


def test_the_single_exposed_port_is_mapped(dapi: Api, make_repo, app_name: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={"app.py": FIXED_PORT_APP.format(port=8080), "Dockerfile": dockerfile("EXPOSE 8080\n")})
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    deploy = dapi.deploy(app_name)
    log = dapi.log(app_name, deploy["id"])
    assert deploy["status"] == "succeeded", log
    assert "the image EXPOSEs 8080" in log
    assert serve(dapi, app_name) == {"listening": 8080, "env_port": "8080"}


def test_docker_port_in_slipway_toml_wins(dapi: Api, make_repo, app_name: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={"app.py": FIXED_PORT_APP.format(port=5001), "Dockerfile": dockerfile("EXPOSE 9999\n"),
                            "slipway.toml": "[docker]\nport = 5001\n"})
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    deploy = dapi.deploy(app_name)
    assert deploy["status"] == "succeeded", dapi.log(app_name, deploy["id"])
    assert serve(dapi, app_name) == {"listening": 5001, "env_port": "5001"}


def test_an_unmapped_fixed_port_says_how_to_map_it(dapi: Api, make_repo, app_name: str,  # type: ignore[no-untyped-def]
                                                   docker_settings) -> None:
    docker_settings.health_timeout = 5
    repo = make_repo(files={"app.py": FIXED_PORT_APP.format(port=5002), "Dockerfile": dockerfile()})
    dapi.call("POST", "/apps", 201, json={"name": app_name, "git_url": repo.url, "runtime": "docker"})
    deploy = dapi.deploy(app_name)
    assert deploy["status"] == "failed"
    assert deploy["reason"] == ("nothing answered on the container's port 8000 within 5 s: listen on $PORT, or set "
                                "[docker] port to the port the app listens on")
