"""A real container engine for tests: podman's Docker-compatible API, brought up by scripts/podman-up.

Tests that need it skip, with the reason, when podman is not installed and cannot be (not root).
Everything a test creates (containers, images) carries the app's name and is removed in teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

BASE_IMAGE = "localhost/slipway-pybase:bookworm"
ROOT = Path(__file__).resolve().parents[3]

# read at import (collection), before the autouse fixture that hides SLIPWAY_* variables from tests
EXPLICIT_HOST = os.environ.get("SLIPWAY_TEST_DOCKER_HOST")
_host: str | None = None
_why: str | None = None


def docker_host() -> str:
    """DOCKER_HOST of a running engine with the base image, or pytest.skip with the reason."""
    global _host, _why
    if _host is None and _why is None:
        _host, _why = _bring_up()
    if _host is None:
        pytest.skip(_why or "no container engine")
    return _host


def _bring_up() -> tuple[str | None, str | None]:
    if EXPLICIT_HOST:  # an engine that already has the base image (CI runs scripts/podman-up first)
        return EXPLICIT_HOST, None
    if shutil.which("podman") is None and os.geteuid() != 0:
        return None, "podman is not installed (scripts/podman-up installs it as root)"
    try:
        done = subprocess.run([str(ROOT / "scripts" / "podman-up")], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"scripts/podman-up failed: {exc}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("DOCKER_HOST=")]
    if done.returncode != 0 or not lines:
        return None, f"scripts/podman-up failed: {done.stderr.strip()[-500:]}"
    return lines[-1].partition("=")[2], None


def cleanup(host: str, apps: list[str]) -> None:
    """Remove every container and image of these apps."""
    import docker

    client = docker.DockerClient(base_url=host, version="1.41")

    def containers_of(app: str) -> list:  # type: ignore[type-arg]
        # podman 4.3 answers 500 ("read /proc/N/cgroup: no such process") when a container's process
        # exits while it lists: look again
        for attempt in range(5):
            try:
                return client.containers.list(all=True, filters={"label": f"io.slipway.app={app}"})
            except docker.errors.APIError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        return []

    try:
        for app in apps:
            for container in containers_of(app):
                try:
                    container.remove(force=True)
                except docker.errors.APIError:
                    pass
            for image in client.images.list(name=f"slipway/{app}"):
                for tag in image.tags:
                    try:
                        client.images.remove(tag, force=True)
                    except docker.errors.APIError:
                        pass
    finally:
        client.close()
