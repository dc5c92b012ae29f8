"""The attacker app on the docker runtime (real podman), as a normal deploy, a one-off and a fork pull request's
preview: its image build (RUN), release command, web container and one-off container try every escape we
know (tests/attacker/probe.py) and must reach nothing of the host, the platform or the victim app; the
containers run with no-new-privileges, no dangerous capability and a pids limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway.config import Settings
from tests.attacker.scene import Scene, attack_deploy_and_one_off, attack_fork_preview, scene
from tests.integration.docker.engine import BASE_IMAGE, cleanup

pytestmark = pytest.mark.integration


@pytest.fixture
def world(settings: Settings, tmp_path: Path, make_repo: Any, engine_host: str) -> Iterator[Scene]:
    names: list[str] = []
    try:
        with scene(settings, tmp_path, make_repo, "docker", docker_host=engine_host, base_image=BASE_IMAGE) as world:
            names += [world.attacker, world.victim, f"{world.attacker}--pr-7"]
            yield world
    finally:  # after the server has stopped: nothing restarts a container any more
        cleanup(engine_host, names)


def test_docker_attacker_deploy_and_one_off_reach_nothing(world: Scene) -> None:
    problems = attack_deploy_and_one_off(world)
    assert not problems, "the attacker reached:\n" + "\n".join(problems)


def test_docker_fork_preview_of_the_attacker_reaches_nothing(world: Scene) -> None:
    problems = attack_fork_preview(world)
    assert not problems, "the fork's code reached:\n" + "\n".join(problems)
