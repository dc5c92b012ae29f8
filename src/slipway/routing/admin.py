"""A small client of Caddy's admin API (https://caddyserver.com/docs/api): the only way we talk to Caddy.

The admin API can rewrite or wipe all routing, and it has no authentication. So it listens on a unix socket
(mode 0600, in a 0700 directory under $SLIPWAY_HOME), never on TCP: no request a user can aim (a health check,
a webhook URL) and no local process of another user can reach it; app sandboxes do not see $SLIPWAY_HOME.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from slipway import errors

# Probes must answer fast: they run in health loops and before every start.
PROBE_TIMEOUT = 2.0
SOCKET_MODE = "0600"
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


def socket_path(address: str | Path) -> Path:
    """The admin socket's path; ValueError for anything that is not one (a TCP host:port in particular)."""
    text = str(address)
    if text.startswith("unix/"):
        text = text[len("unix/"):].split("|")[0]
    path = Path(text)
    if not path.is_absolute():
        raise ValueError(f"Caddy's admin API listens on a unix socket: expected an absolute path, got {text!r} "
                         "(a TCP address would let anything that can open a connection rewrite all routing)")
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise ValueError(f"the admin socket path {text!r} is longer than a unix socket allows "
                         f"({MAX_SOCKET_PATH} bytes): choose a shorter $SLIPWAY_HOME or SLIPWAY_CADDY_ADMIN")
    return path


def listen_address(address: str | Path) -> str:
    """Caddy's network address for the socket, with the file mode Caddy gives it (owner only)."""
    return f"unix/{socket_path(address)}|{SOCKET_MODE}"


class CaddyAdmin:
    def __init__(self, address: str | Path, *, timeout: float = 10.0) -> None:
        self.address = str(socket_path(address))
        # trust_env=False: an HTTP(S)_PROXY in the environment must never carry admin calls.
        # No keep-alive: a config load may restart Caddy's admin listener, and a pooled connection it closed
        # would make the next probe fail for nothing. Admin calls are rare, a new connection is cheap.
        transport = httpx.HTTPTransport(uds=self.address, limits=httpx.Limits(max_keepalive_connections=0))
        self._client = httpx.Client(base_url="http://localhost", timeout=timeout, trust_env=False,
                                    transport=transport)

    def close(self) -> None:
        self._client.close()

    def ping(self) -> bool:
        """Whether a Caddy answers on this address (its config endpoint answers with JSON)."""
        try:
            response = self._client.get("/config/", timeout=PROBE_TIMEOUT)
            if response.status_code != 200:
                return False
            response.json()
        except (httpx.HTTPError, json.JSONDecodeError):
            return False
        return True

    def config(self) -> Any:
        """The config Caddy runs now (None when it runs none)."""
        try:
            response = self._client.get("/config/", timeout=PROBE_TIMEOUT)
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"caddy admin API at {self.address} does not answer: {exc}") from exc
        if response.status_code != 200:
            raise errors.Unavailable(f"caddy admin API: GET /config/ -> {response.status_code}",
                                     _error_text(response))
        return response.json()

    def load(self, config: dict[str, Any], *, timeout: float) -> None:
        """Replace the whole config atomically. On an error Caddy keeps running the previous config."""
        try:
            # `POST /load` returns once the new config runs and the old one has stopped; stopping waits for
            # in-flight requests up to the http app's grace_period, hence a timeout of its own.
            response = self._client.post("/load", json=config, timeout=timeout)
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"caddy admin API at {self.address} failed to load the config: {exc}") \
                from exc
        if response.status_code != 200:
            message = _error_text(response)
            raise errors.Unavailable(f"caddy rejected the config: {message}", message)

    def delete_config(self) -> None:
        """Remove the whole config (tests of the recovery; an operator's last resort)."""
        try:
            self._client.delete("/config/", timeout=PROBE_TIMEOUT)
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"caddy admin API at {self.address} does not answer: {exc}") from exc

    def stop(self) -> None:
        """Ask Caddy to stop gracefully (used when we know no pid to signal)."""
        try:
            self._client.post("/stop", timeout=PROBE_TIMEOUT)
        except httpx.HTTPError:
            pass  # it may close the connection while stopping


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except json.JSONDecodeError:
        return response.text.strip() or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return json.dumps(body)
