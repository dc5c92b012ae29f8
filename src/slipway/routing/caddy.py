"""The real router: Caddy, driven only through its admin API.

Every change renders the whole RouteTable (render.py) and the addresses of each route's upstream slots
(slots.py). The slot files are written first: a traffic switch (deploy, rollback, scale) changes only them,
Caddy reads them per request, and the config it runs stays the same, so it is not loaded again and no
connection of any app is closed. Only when the config itself changes (a route added, removed or of another
kind) is it loaded with one `POST /load`, which Caddy swaps atomically. When Caddy is restarted or dies it has
lost the config; `ensure()` notices (process watch + config probe + slot files) and re-applies the table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway import errors
from slipway.routing import slots
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
                 upstream_dir: str | Path | None = None, **render_options: Any) -> None:
        self.admin = str(socket_path(admin))
        # Beside the admin socket by default: a 0700 directory of ours that the Caddy we run can read.
        self.upstream_dir = Path(upstream_dir) if upstream_dir else Path(self.admin).parent / "upstreams"
        if not self.upstream_dir.is_absolute() or {"{", "}"} & set(str(self.upstream_dir)):
            raise ValueError(f"the upstream slot directory must be an absolute path without braces (they end "
                             f"Caddy's placeholder): {str(self.upstream_dir)!r}")
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
                      bind_host=self.bind_host, grace_period=self.grace_period,
                      upstream_dir=str(self.upstream_dir), **self._render_options)

    def start(self) -> None:
        """Start (or adopt) our Caddy if we manage one. apply() does this on first use too."""
        if self.process is not None and not self.process.running():
            self.process.start()

    def apply(self, table: RouteTable) -> None:
        """Serve exactly `table`. Raises errors.Unavailable if Caddy is unreachable or rejects the config;
        Caddy then keeps serving the previous config and slots, and the previous table stays the one
        remembered.

        The slot files are written before any load (a new config reads them from its first request) and
        unused ones removed after it. When the config Caddy runs is already the rendered one (a traffic
        switch), writing the files is the whole change: Caddy is not reloaded."""
        config = self.render(table)
        wanted = slots.files(table, self.upstream_dir)
        with self._lock:
            self.start()
            previous = slots.write(self.upstream_dir, wanted)
            try:
                if self._running_config() != config:
                    self._api.load(config, timeout=self.load_timeout)
            except errors.Unavailable:
                slots.restore(previous)  # the config Caddy keeps must go on reading the addresses it had
                raise
            slots.prune(self.upstream_dir, keep=wanted)
            self._table, self._config = table, config

    def _running_config(self) -> Any:
        """What Caddy runs now, asked every time: another control plane process may have loaded since."""
        try:
            return self._api.config()
        except errors.Unavailable:
            return None  # then load, which reports the error properly

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
            wanted_table = table() if table is not None else self._table
            if wanted_table is None:
                return repaired
            wanted = self.render(wanted_table)
            wanted_slots = slots.files(wanted_table, self.upstream_dir)
            lost = slots.differ(wanted_slots)
            if lost and (table is None or slots.files(table(), self.upstream_dir) == wanted_slots):
                log.warning("%d upstream slot file(s) of the router were missing or changed: writing them again",
                            len(lost))
                slots.write(self.upstream_dir, {path: wanted_slots[path] for path in lost})
                repaired = True
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
