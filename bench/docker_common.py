"""Shared pieces of the docker benches: the engine (scripts/podman-up), a Dockerfile app, cleanup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import FAST_APP

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "localhost/slipway-pybase:bookworm"


def engine() -> str:
    """DOCKER_HOST of a running engine with the base image (brought up by scripts/podman-up)."""
    done = subprocess.run([str(ROOT / "scripts" / "podman-up")], capture_output=True, text=True, timeout=900)
    hosts = [line.partition("=")[2] for line in done.stdout.splitlines() if line.startswith("DOCKER_HOST=")]
    if done.returncode != 0 or not hosts:
        sys.exit(f"no container engine: scripts/podman-up failed:\n{done.stderr}")
    return hosts[-1]


def docker_app_files(version: str) -> dict[str, str]:
    """The benches' fast asyncio app, listening on all of the container's interfaces, with a Dockerfile."""
    app = FAST_APP.replace('asyncio.start_server(serve, "127.0.0.1"', 'asyncio.start_server(serve, "0.0.0.0"')
    dockerfile = f'FROM {BASE_IMAGE}\nWORKDIR /app\nCOPY . /app\nCMD ["python3", "-u", "app.py"]\n'
    return {"app.py": app, "version.txt": version + "\n", "Dockerfile": dockerfile}


def remove_app(host: str, app: str) -> None:
    """Containers outlive the server by design: remove this app's containers and images."""
    import docker

    client = docker.DockerClient(base_url=host, version="1.41")
    for container in client.containers.list(all=True, filters={"label": f"io.slipway.app={app}"}):
        container.remove(force=True)
    for image in client.images.list(name=f"slipway/{app}"):
        for tag in image.tags:
            try:
                client.images.remove(tag, force=True)
            except docker.errors.APIError:
                pass
    client.close()
