"""The attacker app on the local runtime, as a normal deploy, a one-off and a fork pull request's preview:
its build step, release command, web process and one-off try every escape we know (tests/attacker/probe.py)
and must reach nothing — not the secret key, the database, another app's files, env or logs, Caddy's admin
API, the container engine, other processes, the API with a token found lying around, the host's files —
and its fork bomb must stop at the pids limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway.config import Settings
from tests.attacker.scene import Scene, attack_deploy_and_one_off, attack_fork_preview, scene

pytestmark = pytest.mark.integration


@pytest.fixture
def world(settings: Settings, tmp_path: Path, make_repo: Any) -> Iterator[Scene]:
    with scene(settings, tmp_path, make_repo, "local") as world:
        yield world


def test_attacker_deploy_and_one_off_reach_nothing(world: Scene) -> None:
    problems = attack_deploy_and_one_off(world)
    assert not problems, "the attacker reached:\n" + "\n".join(problems)


def test_fork_preview_of_the_attacker_reaches_nothing(world: Scene) -> None:
    problems = attack_fork_preview(world)
    assert not problems, "the fork's code reached:\n" + "\n".join(problems)
