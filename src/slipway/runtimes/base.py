"""The Runtime protocol: where instances run. A runtime knows nothing of HTTP or the database.

Nothing here assumes the host is local: a runtime may drive a remote server over SSH later.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


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
