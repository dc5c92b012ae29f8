"""What `GET /api/v1/health` checks: the parts without which Slipway cannot serve (database, router).

Each part answers "ok" or why not; the endpoint answers 503 naming the failing parts, so a load balancer
or an operator's monitor sees the truth instead of a process that merely answers HTTP.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from slipway.config import Settings
from slipway.errors import from_exception
from slipway.platform import Platform


def data_disks(settings: Settings) -> list[Path]:
    """Where Slipway writes: $SLIPWAY_HOME, and the SQLite database's directory when it is elsewhere."""
    disks = [settings.home]
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        disks.append(Path(url.database).parent)
    return disks


def database(platform: Platform) -> str:
    """'ok' when a fresh query round-trips (a new connection if the pool has none), else why not."""
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - every failure is an answer here, not a crash
        error = from_exception(exc, disks=data_disks(platform.settings))
        return error.message if error is not None else f"database unavailable: {exc.__class__.__name__}"
    return "ok"


def router(platform: Platform) -> str:
    try:
        healthy = platform.router.healthy()
    except Exception as exc:  # noqa: BLE001
        return f"router unavailable: {exc}"
    return "ok" if healthy else "router unavailable: its admin API does not answer (is Caddy running?)"


def check(platform: Platform) -> dict[str, str]:
    """{"database": "ok", "router": "router unavailable: …"}."""
    return {"database": database(platform), "router": router(platform)}
