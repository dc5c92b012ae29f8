"""The on-disk contract between LocalRuntime and a supervisor: one directory per instance.

    <root>/<instance_id>/spec.json       what to run (written by start(), read by the supervisor)
    <root>/<instance_id>/state.json      what is running (written atomically by the supervisor only)
    <root>/<instance_id>/supervisor.pid  the supervisor's pid
    <root>/<instance_id>/stop.json       optional stop request (grace), written before SIGTERM
    <root>/<instance_id>/out.log[.N]     the app's output, timestamped, rotated
    <root>/<instance_id>/supervisor.log  the supervisor's own stderr (tracebacks, if it ever fails)

Files rather than a socket because they outlive both sides: a restarted control plane re-reads them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from slipway.runtimes.base import InstanceSpec, InstanceState, Limits
from slipway.runtimes.local.policy import RestartPolicy

INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}\Z")
ALIVE = ("starting", "running", "backoff", "crashloop")  # statuses of a supervisor that is still at work


@dataclass(frozen=True)
class InstanceFiles:
    dir: Path

    @property
    def spec(self) -> Path:
        return self.dir / "spec.json"

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def pid(self) -> Path:
        return self.dir / "supervisor.pid"

    @property
    def stop_request(self) -> Path:
        return self.dir / "stop.json"

    @property
    def log(self) -> Path:
        return self.dir / "out.log"

    @property
    def supervisor_log(self) -> Path:
        return self.dir / "supervisor.log"


@dataclass(frozen=True)
class SupervisorSpec:
    """Everything a supervisor needs, as stored in spec.json."""

    instance: InstanceSpec
    policy: RestartPolicy = RestartPolicy()
    log_max_bytes: int = 10_000_000
    log_backups: int = 3
    # the command line the supervisor runs: the sandbox around `/bin/sh -c "exec <command>"`, built by
    # the runtime (None: that shell line alone, unsandboxed)
    argv: list[str] | None = None
    sandboxed: bool = False  # argv runs under bubblewrap: an exit status 128+N means "killed by signal N"

    def to_json(self) -> str:
        """The spec file: everything but the environment, which holds the app's secrets. The supervisor
        gets that over a pipe at launch and keeps it in memory (see LocalRuntime._launch)."""
        instance = dataclasses.asdict(self.instance)
        instance["env"] = {}
        return json.dumps({
            "instance": instance,
            "policy": self.policy.to_dict(),
            "log_max_bytes": self.log_max_bytes,
            "log_backups": self.log_backups,
            "argv": self.argv,
            "sandboxed": self.sandboxed,
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SupervisorSpec:
        data = json.loads(text)
        instance = dict(data["instance"])
        if instance.get("limits") is not None:
            instance["limits"] = Limits.from_dict(instance["limits"])
        return cls(
            instance=InstanceSpec(**instance),
            policy=RestartPolicy.from_dict(data.get("policy", {})),
            log_max_bytes=int(data.get("log_max_bytes", 10_000_000)),
            log_backups=int(data.get("log_backups", 3)),
            argv=[str(a) for a in data["argv"]] if data.get("argv") else None,
            sandboxed=bool(data.get("sandboxed", False)),
        )


@dataclass
class StateRecord:
    """state.json: the public InstanceState plus what is needed to find and verify the processes."""

    instance_id: str
    status: str
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None  # the app's return code; negative = killed by that signal
    last_exit_reason: str | None = None
    started_at: float | None = None
    app_create_time: float | None = None  # psutil create_time of `pid`, against pid reuse
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    updated_at: float | None = None
    oom_kills: int = 0
    limits: str | None = None  # how the instance's limits are enforced, or why they are not

    def public(self) -> InstanceState:
        return InstanceState(self.instance_id, self.status, self.pid, self.restarts, self.last_exit_code,
                             self.last_exit_reason, self.started_at, self.oom_kills)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StateRecord:
        data = json.loads(text)
        if not isinstance(data, dict) or "instance_id" not in data or "status" not in data:
            raise ValueError("state.json lacks instance_id or status")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and os.replace so a reader never sees half a file."""
    # pid and thread in the name: concurrent writers must not share a temporary file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the control plane's alone
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_state(files: InstanceFiles) -> StateRecord | None:
    """The last state the supervisor wrote, or None when there is none (yet) or it cannot be parsed."""
    try:
        return StateRecord.from_json(files.state.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def process_matches(pid: int | None, create_time: float | None, *, cmdline_part: str | None = None) -> bool:
    """True when `pid` is a live (non-zombie) process with that create_time (and cmdline part, if given).

    Both checks guard against pid reuse: a recorded pid may belong to someone else by now.
    """
    if not pid or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False  # exited, only waiting for its parent (init) to reap it
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return False
        return cmdline_part is None or cmdline_part in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def create_time_of(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
