"""The real router: Caddy, driven only through its admin API.

Every change renders the whole RouteTable (render.py) and loads it with one `POST /load`: Caddy swaps the
config atomically and keeps the listener, so a switch drops no request. When Caddy is restarted or dies it
has lost that config; `ensure()` notices (process watch + config probe) and re-applies the last table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway.routing.admin import CaddyAdmin, listen_address, socket_path
from slipway.routing.base import RouteTable
from slipway.routing.process import CaddyProcess, find_caddy
from slipway.routing.render import GRACE_PERIOD, render

__all__ = ["CaddyProcess", "CaddyRouter", "find_caddy", "render"]

log = logging.getLogger(__name__)


class CaddyRouter:
    """Router protocol implementation. Thread-safe: loads are serialized, so the last table wins."""

    def __init__(self, admin: str | Path, http_port: int, https_port: int, process: CaddyProcess | None = None,
                 *, bind_host: str = "", grace_period: str = GRACE_PERIOD, load_timeout: float = 60.0,
                 **render_options: Any) -> None:
        self.admin = str(socket_path(admin))
        self.http_port = http_port
        self.https_port = https_port
        self.process = process
        self.bind_host = bind_host
        self.grace_period = grace_period
        # Must exceed grace_period: a load returns only after the old config drained its requests.
        self.load_timeout = load_timeout
        self._render_options = render_options
        self._api = CaddyAdmin(admin)
        self._lock = threading.RLock()
        self._table: RouteTable | None = None
        self._config: dict[str, Any] | None = None

    @property
    def table(self) -> RouteTable | None:
        """The last table Caddy accepted."""
        return self._table

    def render(self, table: RouteTable) -> dict[str, Any]:
        return render(table, http_port=self.http_port, https_port=self.https_port, admin=listen_address(self.admin),
                      bind_host=self.bind_host, grace_period=self.grace_period, **self._render_options)

    def start(self) -> None:
        """Start (or adopt) our Caddy if we manage one. apply() does this on first use too."""
        if self.process is not None and not self.process.running():
            self.process.start()

    def apply(self, table: RouteTable) -> None:
        """Serve exactly `table`. Raises errors.Unavailable if Caddy is unreachable or rejects the config;
        Caddy then keeps serving the previous config, and the previous table stays the one remembered."""
        config = self.render(table)
        with self._lock:
            self.start()
            self._api.load(config, timeout=self.load_timeout)
            self._table, self._config = table, config

    def healthy(self) -> bool:
        return self._api.ping()

    def ensure(self, table: Callable[[], RouteTable] | None = None) -> bool:
        """Repair the router if it lost our config; return whether it had to.

        A dead Caddy we manage is restarted (an adopted one too: same binary, same workdir); a live Caddy
        whose config differs from the wanted one (wiped, restarted by someone else, edited by hand) gets it
        again. `table` reads the wanted table (the database's, so that a table another process applied is
        not reverted to this process's last one); without it, the last table applied here is wanted.
        It is read under the lock every apply() takes, and read again before a repair, so a deploy that
        switches routes meanwhile is never undone. Raises errors.Unavailable when Caddy cannot be reached.
        """
        with self._lock:
            repaired = False
            if self.process is not None and not self.process.running():
                log.warning("caddy is not running: starting it again")
                self.process.start()
                repaired = True
            wanted = self.render(table()) if table is not None else self._config
            if wanted is None:
                return repaired
            if self._api.config() != wanted:
                if table is not None and self.render(table()) != wanted:
                    return repaired  # the table changed while we looked: the next round compares again
                log.warning("caddy lost the route table (wiped, restarted or edited): applying it again")
                self._api.load(wanted, timeout=self.load_timeout)
                self._config = wanted
                repaired = True
            return repaired

    def close(self) -> None:
        """Release HTTP clients. Caddy keeps running: routing outlives the control plane."""
        self._api.close()
        if self.process is not None:
            self.process.close()
