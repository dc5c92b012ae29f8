"""One-offs (`slipway run`, with and without -t) on the local runtime live under their instance's limits
too: a bounded fork storm stops at the process limit, and the one-off's cgroup goes when it ends."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from slipway.runtimes import cgroups
from slipway.runtimes.base import InstanceSpec, Limits
from slipway.runtimes.local import LocalRuntime
from tests.integration.limits.test_pids import STORM, STORM_PY, forked

pytestmark = pytest.mark.integration


def _spec(tmp_path: Path, limits: Limits | None) -> InstanceSpec:
    if not cgroups.detect_pids().ok:
        pytest.skip(f"no usable pids controller here: {cgroups.detect_pids().detail}")
    (tmp_path / "storm.py").write_text(STORM_PY)
    instance_id = f"oneoff-{tmp_path.name[-12:].lower().replace('_', '-')}"
    return InstanceSpec(instance_id, "storm", 1, "run", "", str(tmp_path), {"PATH": "/usr/bin:/bin"}, None, 2.0,
                        limits=limits)


def _cgroup_dirs(instance_id: str) -> list[Path]:
    places = [cgroups.ROOT / cgroups.PARENT] + [cgroups.ROOT / c / cgroups.PARENT for c in ("pids", "memory", "cpu")]
    return [p / instance_id for p in places if (p / instance_id).is_dir()]


@pytest.mark.parametrize("limits", [None, Limits(pids=64)], ids=["default-512", "pids-64"])
def test_a_one_off_fork_storm_stops_at_the_process_limit(tmp_path: Path, limits: Limits | None) -> None:
    spec = _spec(tmp_path, limits)
    lines: list[str] = []
    code = LocalRuntime(tmp_path / "instances").run_once(spec, [sys.executable, "storm.py"], on_line=lines.append,
                                                         timeout=120)
    assert code == 0, lines
    cap = limits.pids if limits and limits.pids else 512
    assert 0 < forked(lines) < cap <= STORM, lines
    assert _cgroup_dirs(spec.instance_id) == []  # removed once the one-off ended


def test_a_terminal_one_off_fork_storm_stops_at_the_process_limit(tmp_path: Path) -> None:
    spec = _spec(tmp_path, Limits(pids=64))
    tty = LocalRuntime(tmp_path / "instances").open_tty(spec, [sys.executable, "storm.py"])
    output = b""
    try:
        deadline = time.monotonic() + 120
        while b"storm over" not in output and time.monotonic() < deadline:
            chunk = tty.read()
            if chunk == b"":
                break  # the command is gone
            output += chunk or b""
            if chunk is None:
                time.sleep(0.05)
        assert tty.wait(30) == 0
    finally:
        tty.close()
    assert 0 < forked(output.decode(errors="replace").splitlines()) < 64, output
    assert _cgroup_dirs(spec.instance_id) == []
