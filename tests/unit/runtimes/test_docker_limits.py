"""Limits as users write them, and as cgroups get them (a directory tree standing in for /sys/fs/cgroup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.builds.config import parse_slipway_toml
from slipway.errors import BuildError, Invalid
from slipway.runtimes import cgroups
from slipway.runtimes.base import Limits
from slipway.runtimes.limits import describe, effective, normalize, over_capacity, parse_memory


def test_sizes_and_cores() -> None:
    assert parse_memory("256M") == parse_memory("256MiB") == parse_memory("256mb") == 256 * 1024**2
    assert parse_memory("1.5G") == int(1.5 * 1024**3) and parse_memory(64 * 1024**2) == 64 * 1024**2
    for bad in ("lots", "1K", True, "-5M"):
        with pytest.raises(Invalid):
            parse_memory(bad)
    assert normalize({"memory": "256M", "cpus": "0.5", "cpu_reservation": None}) == \
        {"memory": 256 * 1024**2, "cpus": 0.5}
    with pytest.raises(Invalid):
        normalize({"memory": "128M", "memory_reservation": "256M"})
    with pytest.raises(Invalid):
        normalize({"cpus": 0})
    with pytest.raises(Invalid):
        normalize({"swap": "1G"})


def test_api_limits_override_slipway_toml_key_by_key() -> None:
    config = {"limits": {"web": {"memory": 512 * 1024**2, "cpus": 1.0}}}
    limits = effective(config, {"web": {"cpus": 0.5}}, "web")
    assert limits == Limits(memory=512 * 1024**2, cpus=0.5)
    assert not effective(config, {}, "worker")
    assert describe(limits) == "memory 512 MB, 0.5 CPU"
    assert over_capacity(Limits(memory=64 * 1024**3, cpus=8), 2, 16 * 1024**3) == [
        "memory 64 GB is more than the host's 16 GB", "cpus 8 is more than the host's 2 cores"]


def test_slipway_toml_limits_and_docker_tables() -> None:
    config = parse_slipway_toml('[limits.web]\nmemory = "256M"\ncpus = 0.5\n[docker]\ntarget = "prod"\n')
    assert config.limits == {"web": {"memory": 256 * 1024**2, "cpus": 0.5}}
    assert config.docker == {"target": "prod"}
    with pytest.raises(BuildError, match=r"\[limits.web\]"):
        parse_slipway_toml('[limits.web]\nmemory = "huge"\n')


def fake_v1(root: Path) -> None:
    for controller, files in (("memory", ("memory.limit_in_bytes", "memory.oom_control")),
                              ("cpu", ("cpu.cfs_quota_us",))):
        (root / controller).mkdir(parents=True)
        for name in files:
            (root / controller / name).write_text("")


def test_cgroup_v1_limits(tmp_path: Path) -> None:
    fake_v1(tmp_path)
    assert cgroups.detect(tmp_path).version == 1
    group = cgroups.create("web-1", Limits(memory=64 * 1024**2, cpus=0.5, cpu_reservation=0.25), root=tmp_path)
    memory, cpu = group.dirs
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 * 1024**2)
    assert (cpu / "cpu.cfs_quota_us").read_text() == "50000" and (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.shares").read_text() == "256"
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_kills() == 2


def test_cgroup_v2_limits(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "slipway").mkdir()
    (tmp_path / "slipway" / "cgroup.subtree_control").write_text("")
    assert cgroups.detect(tmp_path).version == 2
    group = cgroups.create("web-1", Limits(memory=128 * 1024**2, cpus=1.5), root=tmp_path)
    (d,) = group.dirs
    assert (d / "memory.max").read_text() == str(128 * 1024**2) and (d / "cpu.max").read_text() == "150000 100000"
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1


def test_no_cgroups_is_said_not_hidden(tmp_path: Path) -> None:
    support = cgroups.detect(tmp_path)
    assert not support.ok and "no cgroup" in support.detail
    with pytest.raises(cgroups.CgroupUnavailable):
        cgroups.create("web-1", Limits(memory=64 * 1024**2), root=tmp_path)


class NoCgroupsRuntime:
    """A runtime on a host without usable cgroups."""

    name = "local"

    def limits_support(self) -> tuple[bool, str]:
        return False, "no cgroup v2 nor v1 memory/cpu controllers under /sys/fs/cgroup"

    def capacity(self) -> tuple[float, int]:
        return 2.0, 4 * 1024**3


def test_deploy_log_says_when_limits_are_not_enforced(settings) -> None:  # type: ignore[no-untyped-def]
    from slipway.apps.models import App
    from slipway.deploys.models import Release
    from slipway.instances import service as instance_service
    from slipway.platform import build_platform
    from slipway.routing.base import MemoryRouter

    plat = build_platform(settings, runtime=NoCgroupsRuntime(), router=MemoryRouter(), runtimes={})  # type: ignore[arg-type]
    try:
        app = App(name="hello", git_url="", limits={"web": {"memory": 8 * 1024**3}})
        release = Release(version=1, config={"processes": {"web": "python app.py", "worker": "python w.py"}})
        lines = instance_service.limits_report(plat, app=app, release=release)
    finally:
        plat.close()
    assert lines == [
        "!! limits of web (memory 8 GB) are NOT enforced: degraded mode, no cgroup v2 nor v1 memory/cpu "
        "controllers under /sys/fs/cgroup",
        "!! warning: web: memory 8 GB is more than the host's 4 GB",
    ]
