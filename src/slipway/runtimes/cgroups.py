"""Linux cgroups for the local runtime's limits: v2 where the host has it, v1 where only that is writable.

One cgroup per instance, under a `slipway` parent: v2 `/sys/fs/cgroup/slipway/<id>`, v1
`/sys/fs/cgroup/memory/slipway/<id>` and `/sys/fs/cgroup/cpu/slipway/<id>` (only when a memory or CPU
limit is set) and `/sys/fs/cgroup/pids/slipway/<id>` (always: every instance has a process-count limit,
512 unless set, so a fork bomb stops there). The pids controller is detected on its own: where only it is
writable the process limit still holds, and the memory/CPU limits are reported as not enforced. The
supervisor creates it,
moves the app into it before exec (so everything the app forks is inside too), reads its OOM counter
after a SIGKILL and removes it on stop. It outlives app restarts, so the counter does too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from slipway.runtimes.base import Limits

ROOT = Path("/sys/fs/cgroup")
PARENT = "slipway"
CPU_PERIOD = 100_000  # µs; the quota is cpus × period


class CgroupUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Support:
    version: int | None  # 2, 1, or None when neither can be used
    detail: str

    @property
    def ok(self) -> bool:
        return self.version is not None


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def detect(root: Path = ROOT) -> Support:
    controllers = root / "cgroup.controllers"
    if controllers.is_file():  # the unified hierarchy is mounted at the root: cgroup v2
        available = set(controllers.read_text().split())
        missing = {"memory", "cpu"} - available
        if missing:
            return Support(None, f"cgroup v2 lacks the {', '.join(sorted(missing))} controller(s)")
        if not _writable(root):
            return Support(None, f"cgroup v2 at {root} is not writable by this user")
        return Support(2, "cgroup v2 (memory, cpu)")
    memory, cpu = root / "memory", root / "cpu"
    if (memory / "memory.limit_in_bytes").exists() and (cpu / "cpu.cfs_quota_us").exists():
        if _writable(memory) and _writable(cpu):
            return Support(1, "cgroup v1 (memory, cpu)")
        return Support(None, f"cgroup v1 {memory} and {cpu} are not writable by this user")
    return Support(None, f"no cgroup v2 nor v1 memory/cpu controllers under {root}")


def detect_pids(root: Path = ROOT) -> Support:
    """Whether the pids controller can be used, independently of memory/cpu (v1 mounts it on its own)."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        if "pids" not in controllers.read_text().split():
            return Support(None, "cgroup v2 lacks the pids controller")
        if not _writable(root):
            return Support(None, f"cgroup v2 at {root} is not writable by this user")
        return Support(2, "cgroup v2 (pids)")
    pids = root / "pids"
    if (pids / "cgroup.procs").exists():
        if _writable(pids):
            return Support(1, "cgroup v1 (pids)")
        return Support(None, f"cgroup v1 {pids} is not writable by this user")
    return Support(None, f"no cgroup v2 nor v1 pids controller under {root}")


@dataclass(frozen=True)
class Cgroup:
    version: int
    dirs: tuple[Path, ...]  # every directory the app joins; v2: one; v1: memory, cpu (if used), pids (if usable)
    memory: Path | None = None  # where the OOM counter is (None: no memory cgroup)
    pids: Path | None = None  # where pids.max is (None: the host cannot limit the process count)
    unenforced: str = ""  # the limits that could not be set and why ("" when all hold): degraded mode

    def describe(self) -> str:
        """How the limits are enforced, for the instance's state and the deploy log."""
        held = f"enforced with cgroup v{self.version}"
        return held + (f"; {self.unenforced}" if self.unenforced else "")

    def pids_max(self) -> int | None:
        if self.pids is None:
            return None
        try:
            value = (self.pids / "pids.max").read_text().strip()
        except OSError:
            return None
        return int(value) if value.isdigit() else None

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def join(self) -> None:
        """Move the calling process in (the single-threaded supervisor, between fork and exec)."""
        for procs in self.procs_files:
            procs.write_text("0")

    def enter(self, argv: list[str]) -> list[str]:
        """`argv`, run so that it starts inside this cgroup: a tiny shell writes its own pid into each
        cgroup.procs, then execs argv (no user string is parsed: the files and argv are positional).
        Not a preexec_fn: code between fork and exec in a threaded server can deadlock."""
        files = [str(p) for p in self.procs_files]
        script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
        return ["/bin/sh", "-c", script, "slipway-cgroup", str(len(files)), *files, *argv]

    def oom_kills(self) -> int:
        if self.memory is None:
            return 0
        try:
            if self.version == 2:
                text = (self.memory / "memory.events").read_text()
            else:
                text = (self.memory / "memory.oom_control").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def kill_all(self, rounds: int = 20) -> None:
        """SIGKILL whatever is still inside (what a one-off left behind outside its process group); a few
        rounds, as a process may fork while we read the list."""
        for _ in range(rounds):
            pids = set()
            for procs in self.procs_files:
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in procs.read_text().split())
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def remove(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()  # only works once empty: the app and everything it forked are gone


def create(name: str, limits: Limits, *, root: Path = ROOT) -> Cgroup:
    """Create (or reuse) the instance's cgroup(s) and write its limits, pids.max always.

    Raises CgroupUnavailable when nothing can be enforced; a Cgroup whose `unenforced` says what is
    missing when only part can (e.g. the pids limit holds but memory/CPU cannot be limited)."""
    support, pids = detect(root), detect_pids(root)
    resources = limits.has_resources
    try:
        if support.version == 2 or pids.version == 2:
            group = _create_v2(name, limits, root, memory_cpu=support.ok, pids=pids.ok)
        else:
            dirs: list[Path] = []
            memory_dir = pids_dir = None
            if resources and support.version == 1:
                memory_dir, cpu_dir = root / "memory" / PARENT / name, root / "cpu" / PARENT / name
                dirs += [memory_dir, cpu_dir]
            if pids.version == 1:
                pids_dir = root / "pids" / PARENT / name
                dirs.append(pids_dir)
            if not dirs:
                raise CgroupUnavailable(support.detail if resources else pids.detail)
            group = Cgroup(1, tuple(dirs), memory=memory_dir, pids=pids_dir)
        for d in group.dirs:
            d.mkdir(parents=True, exist_ok=True)
        _write_limits(group, limits)
    except OSError as exc:
        raise CgroupUnavailable(f"{support.detail}, {pids.detail}: {exc}") from exc
    missing = []
    if resources and group.memory is None:
        missing.append(f"memory/CPU limits not enforced (degraded mode): {support.detail}")
    if group.pids is None:
        missing.append(f"process limit not enforced (degraded mode): {pids.detail}")
    return Cgroup(group.version, group.dirs, group.memory, group.pids, "; ".join(missing))


def _create_v2(name: str, limits: Limits, root: Path, *, memory_cpu: bool, pids: bool) -> Cgroup:
    parent = root / PARENT
    parent.mkdir(exist_ok=True)
    controllers = (["memory", "cpu"] if memory_cpu else []) + (["pids"] if pids else [])
    _enable_controllers(root, controllers)
    _enable_controllers(parent, controllers)
    d = parent / name
    return Cgroup(2, (d,), memory=d if memory_cpu else None, pids=d if pids else None)


def _enable_controllers(directory: Path, controllers: list[str]) -> None:
    control = directory / "cgroup.subtree_control"
    enabled = set(control.read_text().split())
    wanted = [f"+{c}" for c in controllers if c not in enabled]
    if wanted:
        control.write_text(" ".join(wanted))


def _write_limits(group: Cgroup, limits: Limits) -> None:
    if group.pids is not None:
        _write(group.pids / "pids.max", str(limits.pids_max))
    if group.memory is None:
        return
    if group.version == 2:
        d = group.memory
        _write(d / "memory.max", str(limits.memory) if limits.memory else "max")
        _write(d / "memory.low", str(limits.memory_reservation or 0))
        if limits.memory:
            _write(d / "memory.swap.max", "0", optional=True)  # over the limit means OOM, not swapping
        quota = int(limits.cpus * CPU_PERIOD) if limits.cpus else "max"
        _write(d / "cpu.max", f"{quota} {CPU_PERIOD}")
        _write(d / "cpu.weight", str(_weight(limits.cpu_reservation)))
        return
    memory, cpu = group.dirs[:2]
    # memsw (memory + swap) must stay >= memory: lower it first when shrinking, raise it last when growing
    unlimited = "-1"
    _write(memory / "memory.memsw.limit_in_bytes", unlimited, optional=True)
    _write(memory / "memory.limit_in_bytes", str(limits.memory) if limits.memory else unlimited)
    if limits.memory:
        _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory), optional=True)
    _write(memory / "memory.soft_limit_in_bytes", str(limits.memory_reservation or -1))
    _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD))
    _write(cpu / "cpu.cfs_quota_us", str(int(limits.cpus * CPU_PERIOD)) if limits.cpus else "-1")
    _write(cpu / "cpu.shares", str(_shares(limits.cpu_reservation)))


def _shares(cores: float | None) -> int:
    return max(2, int((cores or 1.0) * 1024))


def _weight(cores: float | None) -> int:
    # the kernel's own mapping of v1 shares onto v2 weights (1..10000, default 100)
    return max(1, min(10000, 1 + ((_shares(cores) - 2) * 9999) // 262142))


def _write(path: Path, value: str, *, optional: bool = False) -> None:
    if optional and not path.exists():
        return  # e.g. memsw files exist only with swap accounting
    path.write_text(value)
