"""The Runtime protocol: where instances run. A runtime knows nothing of HTTP or the database.

Nothing here assumes the host is local: a runtime may drive a remote server over SSH later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

OOM_REASON = "killed: out of memory (OOM)"


DEFAULT_PIDS = 512  # processes and threads per instance when [limits.<type>] pids is not set


@dataclass(frozen=True)
class Limits:
    """Resource limits of one instance; None means "no limit" (pids: the default). Bytes and cores."""

    memory: int | None = None  # hard limit: the kernel kills the app (OOM) above it
    memory_reservation: int | None = None  # soft limit: reclaimed first under host memory pressure
    cpus: float | None = None  # hard limit: at most this many cores' worth of CPU time
    cpu_reservation: float | None = None  # relative weight under contention (1.0 = one core's share)
    # most processes (threads included) the instance may have at once; None: DEFAULT_PIDS. There is no
    # "unlimited": a fork bomb in one app must never exhaust the host's PIDs for every other app.
    pids: int | None = None

    def __bool__(self) -> bool:  # whether any limit was set (the pids default applies anyway)
        return any(v is not None for v in (self.memory, self.memory_reservation, self.cpus, self.cpu_reservation,
                                           self.pids))

    @property
    def has_resources(self) -> bool:
        """Whether a memory or CPU limit is set (the process limit always applies)."""
        return any(v is not None for v in (self.memory, self.memory_reservation, self.cpus, self.cpu_reservation))

    @property
    def pids_max(self) -> int:
        """The process limit in force: the one set, or the default."""
        return self.pids if self.pids is not None else DEFAULT_PIDS

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Limits:
        data = data or {}
        return cls(**{k: data[k] for k in ("memory", "memory_reservation", "cpus", "cpu_reservation", "pids")
                      if data.get(k) is not None})


@dataclass(frozen=True)
class InstanceSpec:
    instance_id: str  # unique, safe as a file name: [a-z0-9-]
    app: str
    release: int
    process_type: str
    command: str  # the Procfile line; the app's own code, run by /bin/sh in the app's environment
    cwd: str
    env: dict[str, str] = field(default_factory=dict)  # complete environment, PORT included
    port: int | None = None
    stop_grace: float = 10.0
    # optional, added with the docker runtime and resource limits (older callers leave them out)
    limits: Limits | None = None
    image: str | None = None  # docker: the image to run (cwd is then ignored: the image's WORKDIR)
    container_port: int | None = None  # docker: the port the app listens on inside (its $PORT)


@dataclass
class InstanceState:
    instance_id: str
    # starting | running | backoff | crashloop | stopped | missing
    status: str
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_reason: str | None = None
    started_at: float | None = None  # unix time the current process started
    oom_kills: int = 0  # times the kernel killed it for going over its memory limit

    @property
    def alive(self) -> bool:
        return self.status in ("starting", "running", "backoff")


class Runtime(Protocol):
    name: str

    def start(self, spec: InstanceSpec) -> None:
        """Start an instance that keeps running (and restarts on crash) until stop()."""

    def stop(self, instance_id: str, grace: float | None = None) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns when the instance is gone."""

    def state(self, instance_id: str) -> InstanceState:
        """The instance's current state; status 'missing' when the runtime does not know it."""

    def instances(self) -> list[str]:
        """Ids of every instance the runtime currently knows (running or not)."""

    def logs(self, instance_id: str, lines: int = 100) -> list[str]:
        """The last `lines` lines the instance wrote (timestamped)."""

    def follow(self, instance_id: str, stop_after: float | None = None) -> Iterator[str]:
        """New lines as they are written."""

    def remove(self, instance_id: str) -> None:
        """Forget a stopped instance and delete its files."""

    # Optional methods (check with getattr / hasattr): not every runtime has them yet.
    #
    # def stats(self, instance_id: str) -> dict[str, float | None]:
    #     """cpu_percent (of one core), memory_bytes, memory_limit_bytes, net_rx_bytes, net_tx_bytes, pids."""
    #
    # def run_once(self, spec: InstanceSpec, argv: list[str], *, on_line: Callable[[str], None],
    #              timeout: float) -> int:
    #     """A one-off command in a fresh instance of the release (a new container or process); its
    #     output goes to on_line as it comes; returns its exit code."""
    #
    # def listening(self, instance_id: str) -> list[tuple[str, int]]:
    #     """The TCP (address, port) pairs the instance's processes listen on: the health gate names the
    #     port of an app that ignores $PORT instead of waiting for its timeout."""
    #
    # def limits_support(self) -> tuple[bool, str]:
    #     """(enforced?, how): e.g. (True, "cgroup v1 (memory, cpu)") or (False, why not)."""
    #
    # def pids_support(self) -> tuple[bool, str]:
    #     """The same for the process limit (Limits.pids_max), which applies to every instance."""
    #
    # def capacity(self) -> tuple[float, int]:
    #     """(cores, memory bytes) of the host the instances run on, to warn about limits above it."""
    #
    # def open_tty(self, spec: InstanceSpec, argv: list[str], *, rows: int, cols: int) -> Terminal:
    #     """run_once's one-off command, interactive: under a new terminal of rows × cols, with stdin
    #     open (`slipway run -t`). The caller relays bytes, then wait()s and close()s it."""


class Terminal(Protocol):
    """An interactive one-off command under a terminal, as open_tty returns it: a process under a
    PTY (runtimes.pty.PtyProcess) or a container attached with a TTY (runtimes.docker_tty).

    The caller waits for `fd` to be readable (an event loop's add_reader), then read()s; write, resize
    and terminate may be called from the event loop: they do not wait on the command."""

    @property
    def fd(self) -> int:
        """A file descriptor that is readable when read() has output (or the end) to give."""

    @property
    def audit_fields(self) -> dict[str, Any]:
        """What the audit trail records about where it runs: {"pid": 4242}, {"container": "…"}."""

    def read(self, size: int = 65536) -> bytes | None:
        """Output bytes without blocking; None when there are none yet, b"" once the command's side is closed."""

    def write(self, data: bytes) -> None:
        """Typed input, to the command's terminal."""

    def resize(self, rows: int, cols: int) -> None:
        """A new window size (the command gets SIGWINCH)."""

    def terminate(self) -> None:
        """End the command and what it started: SIGHUP, then SIGKILL after a grace period."""

    def wait(self) -> int:
        """Block until the command has ended; its exit code (128+N when killed by signal N)."""

    def close(self) -> None:
        """Release what is left (the fd, the container), ending the command first if it still runs."""


LineSink = Callable[[str], None]
