"""Limits as users write them, and as cgroups get them (a directory tree standing in for /sys/fs/cgroup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.builds.config import parse_slipway_toml
from slipway.errors import BuildError, Invalid
from slipway.runtimes import cgroups
from slipway.runtimes.base import DEFAULT_PIDS, InstanceSpec, Limits
from slipway.runtimes.limits import MAX_PIDS, describe, effective, normalize, over_capacity, parse_memory


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

    def pids_support(self) -> tuple[bool, str]:
        return False, "no cgroup v2 nor v1 pids controller under /sys/fs/cgroup"

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
        "!! the process limit of web (at most 512 processes (the default)) is NOT enforced: degraded mode, "
        "no cgroup v2 nor v1 pids controller under /sys/fs/cgroup",
        "!! warning: web: memory 8 GB is more than the host's 4 GB",
        "!! the process limit of worker (at most 512 processes (the default)) is NOT enforced: degraded mode, "
        "no cgroup v2 nor v1 pids controller under /sys/fs/cgroup",
    ]


# ---- the process limit ---------------------------------------------------------------------------

def test_pids_as_users_write_them() -> None:
    assert normalize({"pids": 100}) == {"pids": 100} and normalize({"pids": " 64 "}) == {"pids": 64}
    assert normalize({"pids": None, "memory": "64M"}) == {"memory": 64 * 1024**2}
    for bad in (0, -1, True, 1.5, "many", 10**30, MAX_PIDS + 1):
        with pytest.raises(Invalid, match="pids"):
            normalize({"pids": bad})
    assert parse_slipway_toml("[limits.worker]\npids = 32\n").limits == {"worker": {"pids": 32}}
    with pytest.raises(BuildError, match=r"\[limits.web\] pids"):
        parse_slipway_toml("[limits.web]\npids = 0\n")


def test_pids_default_and_description() -> None:
    assert Limits().pids_max == DEFAULT_PIDS == 512 and Limits(pids=64).pids_max == 64
    assert not Limits() and Limits(pids=64) and not Limits(pids=64).has_resources
    assert effective({"limits": {"web": {"pids": 64}}}, {"web": {"memory": 64 * 1024**2}}, "web") == \
        Limits(memory=64 * 1024**2, pids=64)
    assert describe(Limits(cpus=1.0, pids=64)) == "1 CPU, at most 64 processes"


def fake_pids_v1(root: Path) -> None:
    (root / "pids").mkdir(parents=True)
    (root / "pids" / "cgroup.procs").write_text("")


def test_cgroup_v1_pids_alone_without_memory_or_cpu_limits(tmp_path: Path) -> None:
    fake_v1(tmp_path)
    fake_pids_v1(tmp_path)
    group = cgroups.create("web-1", Limits(), root=tmp_path)
    # no memory/CPU limit: only the pids cgroup, with the default
    assert group.dirs == (tmp_path / "pids" / "slipway" / "web-1",) and group.memory is None
    assert group.pids_max() == DEFAULT_PIDS and not group.unenforced
    group = cgroups.create("web-2", Limits(memory=64 * 1024**2, pids=100), root=tmp_path)
    assert len(group.dirs) == 3 and group.pids_max() == 100
    assert (group.dirs[0] / "memory.limit_in_bytes").read_text() == str(64 * 1024**2)


def test_pids_hold_where_memory_and_cpu_cannot(tmp_path: Path) -> None:
    fake_pids_v1(tmp_path)  # a host with only the pids controller usable
    group = cgroups.create("web-1", Limits(memory=64 * 1024**2), root=tmp_path)
    assert group.pids_max() == DEFAULT_PIDS and group.oom_kills() == 0
    assert "memory/CPU limits not enforced (degraded mode)" in group.unenforced
    assert "degraded mode" in group.describe()


def test_no_pids_controller_is_said_not_hidden(tmp_path: Path) -> None:
    fake_v1(tmp_path)  # memory and cpu, no pids
    group = cgroups.create("web-1", Limits(memory=64 * 1024**2), root=tmp_path)
    assert group.pids is None and "process limit not enforced (degraded mode)" in group.unenforced
    with pytest.raises(cgroups.CgroupUnavailable, match="pids"):
        cgroups.create("web-2", Limits(), root=tmp_path)


def test_cgroup_v2_pids(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "slipway").mkdir()
    (tmp_path / "slipway" / "cgroup.subtree_control").write_text("")
    group = cgroups.create("web-1", Limits(pids=200), root=tmp_path)
    assert (group.dirs[0] / "pids.max").read_text() == "200"
    assert "+pids" in (tmp_path / "slipway" / "cgroup.subtree_control").read_text()


def test_every_container_is_hardened() -> None:
    from slipway.runtimes.docker import DockerRuntime

    runtime = DockerRuntime("unix:///nonexistent.sock")
    for limits in (None, Limits(), Limits(pids=64, memory=64 * 1024**2)):
        spec = InstanceSpec("a-web-1", "a", 1, "web", "python app.py", "/", {}, 8000, limits=limits, image="x")
        options = runtime._options(spec, labels={})
        assert options["pids_limit"] == (limits.pids_max if limits else DEFAULT_PIDS)
        assert options["cap_drop"] == ["ALL"] and "NET_RAW" not in options["cap_add"]
        assert options["security_opt"] == ["no-new-privileges"]
