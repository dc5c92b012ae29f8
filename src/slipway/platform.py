"""The Platform: the long-lived parts one control-plane process works with, built once from Settings.

Passed explicitly to services and job handlers; nothing is a module global.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from slipway.config import Settings
from slipway.crypto import Box
from slipway.db import make_engine, migrate, session_factory
from slipway.routing.base import MemoryRouter, Router
from slipway.runtimes.base import Runtime

if TYPE_CHECKING:
    from slipway.jobs.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: Box
    runtime: Runtime
    router: Router
    worker: Worker | None = field(default=None)

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
                   run_migrations: bool = True) -> Platform:
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    if run_migrations:
        migrate(engine)
    return Platform(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        box=Box(settings.resolved_secret_key()),
        runtime=runtime or _local_runtime(settings),
        router=router or _router(settings),
    )


def _local_runtime(settings: Settings) -> Runtime:
    from slipway.runtimes.local.runtime import LocalRuntime

    return LocalRuntime(settings.path("instances"))


def _router(settings: Settings) -> Router:
    if settings.router == "none":
        return MemoryRouter()
    from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy

    process = CaddyProcess(settings.caddy_bin or find_caddy(), settings.caddy_admin, settings.path("caddy"),
                           tune_kernel=settings.tune_kernel)
    return CaddyRouter(settings.caddy_admin, settings.http_port, settings.https_port, process=process)
