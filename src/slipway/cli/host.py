"""`slipway server` and `slipway worker`: the processes that run on the host."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from slipway.config import Settings


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _freeze_startup_objects() -> None:
    """What start-up built (modules, routes, models: ~200,000 objects) lives as long as the process: take it
    out of the cyclic GC's reach. A full collection otherwise walks all of it, ~120 ms on this kind of
    machine with every thread waiting, and under load it comes back whenever long-lived objects grew by a
    quarter: each time, a tail of 120 ms for every request in flight. Frozen, it walks only what came later."""
    gc.collect()
    gc.freeze()


def register(app: typer.Typer) -> None:
    @app.command("server")
    def server() -> None:
        """Run the control plane: API, dashboard, workers, scheduler and the router (Caddy)."""
        import uvicorn

        from slipway.app import create_app
        from slipway.config import Settings
        from slipway.db import migrate_in_subprocess

        settings = Settings()
        _logging(settings)
        os.umask(0o077)  # whatever the control plane writes (db, logs, state) is its own alone
        settings.home.mkdir(parents=True, exist_ok=True)
        migrate_in_subprocess(settings.db_url)
        typer.echo(f"Slipway on http://{settings.listen} · apps at http://<app>.{settings.base_domain}:"
                   f"{settings.http_port} · state in {settings.home}")
        asgi = create_app(settings, run_migrations=False)
        _freeze_startup_objects()
        uvicorn.run(asgi, host=settings.listen_host, port=settings.listen_port,
                    log_level=settings.log_level.lower(), access_log=False,
                    # the router (Caddy, on loopback) forwards the client address; trust it from there only
                    proxy_headers=True, forwarded_allow_ips="127.0.0.1")

    @app.command("worker")
    def worker() -> None:
        """Run job workers only (scale mode: several of these beside `slipway server`, on PostgreSQL)."""
        from slipway.config import Settings
        from slipway.db import migrate_in_subprocess
        from slipway.platform import build_platform
        from slipway.server import Background

        settings = Settings()
        _logging(settings)
        os.umask(0o077)  # whatever the control plane writes (db, logs, state) is its own alone
        settings.home.mkdir(parents=True, exist_ok=True)
        migrate_in_subprocess(settings.db_url)
        platform = build_platform(settings, run_migrations=False)
        background = Background(platform, workers=max(1, settings.workers), router=False)
        _freeze_startup_objects()
        background.start()
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        typer.echo(f"slipway worker: {max(1, settings.workers)} threads on {settings.db_url.split('@')[-1]}")
        done.wait()
        background.stop()
        platform.close()
