"""The Platform: the long-lived parts one control-plane process works with, built once from Settings.

Passed explicitly to services and job handlers; nothing is a module global.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from slipway.builds.versions import sandbox_roots, split_folders
from slipway.config import Settings
from slipway.crypto import Box
from slipway.db import make_engine, migrate, session_factory
from slipway.egress import Policy
from slipway.errors import Invalid
from slipway.homefiles import secure_home
from slipway.routing.base import MemoryRouter, Router
from slipway.runtimes.base import Runtime
from slipway.sandbox import Isolation, Sandbox
from slipway.sandbox import from_settings as sandbox_from_settings

if TYPE_CHECKING:
    from slipway.jobs.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: Box
    runtime: Runtime  # the local runtime: always there (see `runtimes` for every runtime by name)
    router: Router
    worker: Worker | None = field(default=None)
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    # Where user-aimed requests may go (see slipway/egress.py); tests replace it to inject a resolver.
    egress: Policy = field(default=None)  # type: ignore[assignment]
    sandbox: Sandbox | None = field(default=None)  # None: unisolated (a platform built by hand in tests)

    def __post_init__(self) -> None:
        self.runtimes.setdefault("local", self.runtime)
        if self.egress is None:
            self.egress = Policy.from_settings(self.settings)

    @property
    def isolation(self) -> Isolation:
        """How app code is isolated on this host (see slipway.sandbox); decided once at start-up."""
        if self.sandbox is None:
            return Isolation("unisolated", "no sandbox configured")
        return self.sandbox.isolation

    def runtime_for(self, name: str) -> Runtime:
        """The runtime an app or instance names; a clear error when this control plane has none such."""
        runtime = self.runtimes.get(name)
        if runtime is None:
            hint = " (set SLIPWAY_DOCKER_HOST or DOCKER_HOST to a Docker Engine API)" if name == "docker" else ""
            raise Invalid(f"runtime {name!r} is not configured{hint}",
                          f"configured runtimes: {', '.join(sorted(self.runtimes))}")
        return runtime

    def wake_workers(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def close(self) -> None:
        """Release connections. Instances and the router keep running: they outlive the control plane."""
        close = getattr(self.router, "close", None)
        if close is not None:
            close()
        self.engine.dispose()


def build_platform(settings: Settings, *, runtime: Runtime | None = None, router: Router | None = None,
                   run_migrations: bool = True, runtimes: dict[str, Runtime] | None = None) -> Platform:
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    if run_migrations:
        migrate(engine)
    secure_home(settings.home)
    sandbox = sandbox_from_settings(settings.sandbox, settings.home, tool_roots=sandbox_roots(
        split_folders(settings.pythons) + split_folders(settings.nodes)))
    local = runtime or _local_runtime(settings, sandbox)
    extra = dict(runtimes) if runtimes is not None else _other_runtimes(settings)
    return Platform(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        box=Box(settings.resolved_secret_key(), *settings.resolved_old_keys()),
        runtime=local,
        router=router or _router(settings),
        runtimes={"local": local, **extra},
        sandbox=sandbox,
    )


def _other_runtimes(settings: Settings) -> dict[str, Runtime]:
    """docker when an engine is configured (it is reached at first use: an engine that is down then
    gives a clear error on the apps that use it, and the others are not affected)."""
    host = settings.resolved_docker_host()
    if not host:
        return {}
    from slipway.runtimes.docker import DockerRuntime

    return {"docker": DockerRuntime(host)}


def _local_runtime(settings: Settings, sandbox: Sandbox) -> Runtime:
    from slipway.runtimes.local.runtime import LocalRuntime

    return LocalRuntime(settings.path("instances"), sandbox=sandbox)


def _router(settings: Settings) -> Router:
    if settings.router == "none":
        return MemoryRouter()
    from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy

    process = CaddyProcess(settings.caddy_bin or find_caddy(), settings.caddy_admin_socket, settings.path("caddy"),
                           tune_kernel=settings.tune_kernel)
    return CaddyRouter(settings.caddy_admin_socket, settings.http_port, settings.https_port, process=process,
                       access_log_dir=str(settings.path("caddy", "access")),
                       access_roll_size_mb=settings.access_log_roll_mb,
                       access_roll_keep_days=max(1, math.ceil(settings.log_retention_days)))
