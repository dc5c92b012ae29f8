"""A failed deploy in the CLI: one line of reason in `slipway deploys`, the log tail in `slipway deploys APP ID`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from tests.conftest import python_app_files
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration

EXITS = "import sys\nprint('DATABASE_URL is not set', flush=True)\nprint('giving up', flush=True)\nsys.exit(3)\n"


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    with running_host(settings, tmp_path) as h:
        yield h


def test_the_reason_is_one_line_and_the_tail_is_apart(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    repo = make_repo("quits", files={**python_app_files(), "app.py": EXITS})
    host.cli("apps", "create", "quits", "--git", repo.url)
    deployed = host.cli("deploy", "quits", check=False)
    assert deployed.returncode == 1
    reason = "the web process crashed before it answered (exited with code 3): giving up"
    assert reason in deployed.stderr and "nothing was live, nothing changed" in deployed.stdout

    rows = host.cli("deploys", "quits").stdout.splitlines()
    assert len(rows) == 2 and rows[1].split()[:3] == ["1", "deploy", "failed"], rows  # header + one line
    assert rows[1].endswith(reason)

    shown = host.cli("deploys", "quits", "1").stdout
    assert f"reason    {reason}" in shown
    tail = shown.split("log tail", 1)[1]
    assert "DATABASE_URL is not set" in tail and "giving up" in tail
    assert "['" not in shown and "{'" not in shown  # never a Python repr
    as_json = host.cli_json("deploys", "quits", "1")
    assert as_json["reason"] == reason and "DATABASE_URL is not set" in as_json["log_tail"]
