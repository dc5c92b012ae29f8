"""Fixtures for the docker runtime: a platform with a real engine, an Api over it, Dockerfile apps."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.runtimes.docker import DockerRuntime
from tests.integration.conftest import Api
from tests.integration.docker.engine import BASE_IMAGE, cleanup, docker_host

DOCKER_APP = '''\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("version.txt").read().strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        body = json.dumps({"version": VERSION, "greeting": os.environ.get("GREETING", ""),
                           "release": os.environ.get("SLIPWAY_RELEASE"), "port": os.environ.get("PORT")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print("listening on", os.environ["PORT"], flush=True)  # several writes: partial lines
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''

DOCKERFILE = f'''\
FROM {BASE_IMAGE}
WORKDIR /app
ARG BUILD_NOTE=none
RUN echo "build note: $BUILD_NOTE"
COPY . /app
CMD ["python3", "-u", "app.py"]
'''


def docker_app_files(version: str = "1", **extra: str) -> dict[str, str]:
    return {"app.py": DOCKER_APP, "version.txt": version + "\n", "Dockerfile": DOCKERFILE, **extra}


@pytest.fixture
def engine_host() -> str:
    return docker_host()


@pytest.fixture
def app_name() -> str:
    return f"dk{secrets.token_hex(3)}"


@pytest.fixture
def docker_settings(settings: Settings) -> Settings:
    settings.health_timeout = 40
    return settings


@pytest.fixture
def docker_platform(docker_settings: Settings, engine_host: str, app_name: str) -> Iterator[Platform]:
    plat = build_platform(docker_settings, runtimes={"docker": DockerRuntime(engine_host)})
    try:
        yield plat
    finally:
        for instance_id in plat.runtime.instances():
            plat.runtime.stop(instance_id, 0.5)
        cleanup(engine_host, [app_name, f"{app_name}-b"])
        plat.close()


@pytest.fixture
def dapi(docker_platform: Platform) -> Iterator[Api]:
    from slipway.auth import service as auth_service

    with transaction(docker_platform.sessions) as session:
        token, _ = auth_service.create_token(session, name="test")
    app = create_app(platform=docker_platform, background=False)
    with TestClient(app) as client:
        yield Api(client, docker_platform, token)
