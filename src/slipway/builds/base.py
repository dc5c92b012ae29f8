"""What a build produces, and the detector interface: one detector per kind of app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slipway.sandbox import Sandbox

Log = Callable[[str], None]


@dataclass
class BuildResult:
    build_kind: str  # python | node | static | procfile
    artifact_dir: Path  # self-contained directory the instances run from (or Caddy serves)
    processes: dict[str, str] = field(default_factory=dict)  # process type -> command
    release_command: str | None = None
    health_path: str = "/"
    health_timeout: float | None = None  # None: the SLIPWAY_HEALTH_TIMEOUT setting
    static_root: Path | None = None  # set for static sites: served by the router, no process
    env: dict[str, str] = field(default_factory=dict)  # runtime env the build adds (PATH, VIRTUAL_ENV…)
    limits: dict[str, dict[str, object]] = field(default_factory=dict)  # slipway.toml [limits.<type>]
    # the build step the app's own package declares (package.json's `build` script), run after the
    # dependencies unless slipway.toml's [build] command replaces it; not part of the release config
    build_argv: list[str] | None = None
    cron: dict[str, dict[str, object]] = field(default_factory=dict)  # slipway.toml [cron.<job>]

    def to_config(self) -> dict[str, object]:
        return {
            "processes": self.processes,
            "release_command": self.release_command,
            "health_path": self.health_path,
            "health_timeout": self.health_timeout,
            "static_root": str(self.static_root) if self.static_root else None,
            "env": self.env,
            "limits": self.limits,
            "cron": self.cron,
        }


@dataclass
class BuildContext:
    source_dir: Path  # fetched sources (read-only for detectors: copy into artifact_dir)
    artifact_dir: Path  # empty directory to fill
    cache_dir: Path  # shared across builds: dependency caches live here
    log: Log
    timeout: float = 900.0
    deadline: float | None = None  # time.monotonic() value; set when the build starts (from timeout)
    # every step runs in the app's sandbox (see slipway.sandbox): as the app's user, seeing only the
    # build dir and the app's own cache (writable); None: unsandboxed (tests of the detectors alone)
    sandbox: Sandbox | None = None
    app: str = ""
    pythons: tuple[str, ...] = ()  # SLIPWAY_PYTHONS folders (besides the python3.X on PATH)
    nodes: tuple[str, ...] = ()  # SLIPWAY_NODES folders (besides the node on PATH)
    # the app's env vars: its own build code (collectstatic, the package.json build script, slipway.toml's
    # build command) sees them, as on Heroku; the caller redacts their values from the log
    app_env: dict[str, str] = field(default_factory=dict)

    def give(self, *paths: Path, recursive: bool = False) -> None:
        """What the control plane made for the build becomes the app's (its user writes it in users mode)."""
        if self.sandbox is not None and self.app:
            self.sandbox.give(self.app, *paths, recursive=recursive)


class Detector(Protocol):
    name: str
    describes: str  # what it looks for, for the "nothing matched" message

    def detect(self, source_dir: Path) -> bool: ...

    def build(self, ctx: BuildContext, result: BuildResult) -> None: ...
