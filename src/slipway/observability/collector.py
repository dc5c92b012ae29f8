"""The metrics collector: samples every running instance and the host, writes one batch per round.

Which process samples: every `slipway server` / `slipway worker` process runs the periodic task, but a
round only happens in the process that holds an exclusive, non-blocking `flock` on
$SLIPWAY_HOME/metrics.lock. That is one sampler per host and SLIPWAY_HOME — the processes that see the
local runtime's instances — whatever the number of processes; when the holder dies the kernel releases
the lock and the next process to tick takes over. Rows from two samplers could not collide anyway
(a round's timestamp is part of the primary key), they would only double the work.

What is measured, per instance (its process tree: the app's pid and every descendant):
cpu (% of one core), mem (RSS), disk_read/disk_write (bytes/s from /proc/<pid>/io, which counts what
reached the storage layer), pids, fds, threads, restarts (from the runtime's InstanceState).
Not measured for local processes: network rx/tx. Linux keeps per-process network counters only per
network namespace or through cgroup/eBPF accounting; local instances share the host's namespace, so
net_rx/net_tx stay NULL for them (a container runtime can fill them from the engine's stats).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO, Any

import psutil
from sqlalchemy import insert, select

from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.instances.models import Instance
from slipway.observability.models import METRICS, metric_raw
from slipway.platform import Platform

log = logging.getLogger(__name__)
SUMMED = ("cpu", "mem", "disk_read", "disk_write", "pids", "fds", "threads", "restarts")


@dataclass
class _Counters:
    """Cumulative counters of the previous round, to turn them into rates."""

    at: float
    values: dict[str, float] = field(default_factory=dict)


class Collector:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._procs: dict[int, psutil.Process] = {}  # kept between rounds: cpu_percent() needs that
        self._previous: dict[str, _Counters] = {}  # per target
        self._lock: IO[bytes] | None = None
        psutil.cpu_percent(None)  # prime the host's counter

    # ---- the periodic task ---------------------------------------------------------------------

    def tick(self) -> int:
        """Sample and store one round if this process is the sampler; returns the rows written."""
        if not self.platform.settings.metrics_enabled or not self._own_lock():
            return 0
        rows = self.sample()
        if rows:
            with transaction(self.platform.sessions) as session:
                session.execute(insert(metric_raw), rows)  # one executemany
        return len(rows)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _own_lock(self) -> bool:
        if self._lock is not None:
            return True
        fh = open(self.platform.settings.home / "metrics.lock", "ab")  # noqa: SIM115 - held while we sample
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock = fh
        log.info("this process samples metrics (pid %s)", os.getpid())
        return True

    # ---- one round -----------------------------------------------------------------------------

    def sample(self) -> list[dict[str, Any]]:
        now = utcnow()
        with self.platform.sessions() as session:
            instances = list(session.execute(
                select(Instance.id, Instance.app_id).join(App, App.id == Instance.app_id)
                .where(Instance.status.in_(("starting", "running", "stopping")),
                       Instance.runtime == self.platform.runtime.name)))
        children = _children_map() if instances else {}
        rows: list[dict[str, Any]] = []
        per_app: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMMED, 0.0))
        seen: set[int] = set()
        for instance_id, app_id in instances:
            state = self.platform.runtime.state(instance_id)
            values = self._instance(instance_id, state.pid, children, seen) if state.pid else {}
            values["restarts"] = float(state.restarts)
            rows.append(_row("instance", instance_id, now, values))
            totals = per_app[app_id]
            for key in SUMMED:
                totals[key] += values.get(key) or 0.0
        rows.extend(_row("app", str(app_id), now, totals) for app_id, totals in per_app.items())
        rows.append(_row("host", "local", now, self._host()))
        # forget processes that are gone, so the cache does not grow with every restart
        for pid in set(self._procs) - seen:
            del self._procs[pid]
        live_targets = {r["target"] for r in rows if r["scope"] == "instance"} | {"host:local"}
        for target in set(self._previous) - live_targets:
            del self._previous[target]
        return rows

    def _instance(self, instance_id: str, pid: int, children: dict[int, list[int]],
                  seen: set[int]) -> dict[str, float]:
        tree = _tree(pid, children)
        cpu = mem = fds = threads = read = write = 0.0
        alive = 0
        for member in tree:
            proc = self._process(member)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    mem += proc.memory_info().rss
                    threads += proc.num_threads()
                    with contextlib.suppress(psutil.AccessDenied):
                        fds += proc.num_fds()
                    with contextlib.suppress(psutil.AccessDenied, AttributeError):
                        io = proc.io_counters()
                        read += io.read_bytes
                        write += io.write_bytes
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                self._procs.pop(member, None)
                continue
            seen.add(member)
            alive += 1
        values = {"cpu": round(cpu, 2), "mem": mem, "pids": float(alive), "fds": fds, "threads": threads}
        values.update(self._rates(instance_id, {"disk_read": read, "disk_write": write}))
        return values

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():  # is_running() also catches a recycled pid
            return proc
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # first call only primes the counter (0.0); the next round is real
        except psutil.Error:
            return None
        self._procs[pid] = proc
        return proc

    def _host(self) -> dict[str, float]:
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.platform.settings.home))
        load1, load5, load15 = os.getloadavg()
        values: dict[str, float] = {
            "cpu": psutil.cpu_percent(None), "mem": float(mem.total - mem.available), "mem_total": float(mem.total),
            "disk_used": float(disk.used), "disk_total": float(disk.total), "pids": float(len(psutil.pids())),
            "load1": load1, "load5": load5, "load15": load15,
        }
        counters: dict[str, float] = {}
        net = psutil.net_io_counters()
        if net is not None:
            counters.update(net_rx=float(net.bytes_recv), net_tx=float(net.bytes_sent))
        io = psutil.disk_io_counters()
        if io is not None:
            counters.update(disk_read=float(io.read_bytes), disk_write=float(io.write_bytes))
        values.update(self._rates("host:local", counters))
        return values

    def _rates(self, key: str, counters: dict[str, float]) -> dict[str, float]:
        """Bytes/s since the previous round; nothing on the first round (no interval to divide by)."""
        now = time.monotonic()
        before = self._previous.get(key)
        self._previous[key] = _Counters(now, counters)
        if before is None or now <= before.at:
            return {}
        elapsed = now - before.at
        # a counter going down means processes of the tree exited: count from zero again
        return {name: max(0.0, value - before.values.get(name, 0.0)) / elapsed
                for name, value in counters.items() if name in before.values}


def _children_map() -> dict[int, list[int]]:
    """ppid → pids, read once per round: psutil's children() would scan /proc once per instance."""
    children: dict[int, list[int]] = defaultdict(list)
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid:
            children[ppid].append(proc.pid)
    return children


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    tree, stack = [], [pid]
    while stack and len(tree) < 10_000:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, ()))
    return tree


def _row(scope: str, target: str, ts: Any, values: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(METRICS)
    row.update({k: v for k, v in values.items() if k in row})
    row.update(scope=scope, target=target, ts=ts)
    return row
