"""Render a RouteTable into one complete Caddy JSON config: a pure function, no I/O.

The whole config is rendered every time. With `upstream_dir` (what CaddyRouter uses), a proxied route names
no instance: its upstreams are slots whose addresses Caddy reads from files per request (slots.py), so a
traffic switch leaves this config unchanged and needs no load. Loads (`POST /load`, when a route is added,
removed or changes kind) swap the config atomically: in-flight requests finish on the old config, new
requests meet the new one. Field names and placement follow Caddy 2.11's JSON structure
(https://caddyserver.com/docs/json/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.routing import slots
from slipway.routing.base import Route, RouteTable

SERVER_NAME = "slipway"
# Caddy's own listener on a unix socket that answers "no running instances" for routes whose slots point
# at it (slots.py): an app stopped or started is then a slot change, not a config load.
UNAVAILABLE_SERVER = "slipway_unavailable"

# How long the old config's HTTP servers wait for in-flight requests when a new config is loaded.
# Caddy's default (0) waits forever, and `POST /load` only returns once the old config has stopped: one
# slow or stuck request would hang every route change.
GRACE_PERIOD = "10s"

# A WebSocket (or any hijacked stream) opened under an old config is closed only this long after that
# config is unloaded. Caddy's default closes every stream on every config load, so an unrelated route
# change would drop all WebSockets of all apps. Long, because a reload changing app B must not cut the
# sockets of app A; the cost is that an unloaded config stays in memory while its streams live.
STREAM_CLOSE_DELAY = "1h"

# A request whose upstream refuses the connection (an instance going away between the route table and
# reality) is retried on the route's other upstreams, every TRY_INTERVAL, for up to TRY_DURATION, instead
# of failing with 502. Requests whose upstream failed after the request was sent are retried only when
# they are GETs (Caddy's default), since replaying them is safe.
TRY_DURATION = "5s"
TRY_INTERVAL = "100ms"

NOT_FOUND_BODY = "No app is served at this address.\n"
NOT_FOUND_FILE = "Not found.\n"
DOT_SEGMENT = r"/\."  # a path segment that starts with a dot: /.git/config, /sub/.env, /.well-known/x
_TEXT = {"Content-Type": ["text/plain; charset=utf-8"]}


def render(
    table: RouteTable,
    *,
    http_port: int,
    https_port: int,
    admin: str,
    bind_host: str = "",
    grace_period: str = GRACE_PERIOD,
    stream_close_delay: str = STREAM_CLOSE_DELAY,
    try_duration: str = TRY_DURATION,
    try_interval: str = TRY_INTERVAL,
    access_log_dir: str | None = None,
    access_roll_size_mb: int = 10,
    access_roll_keep: int = 5,
    access_roll_keep_days: int = 7,
    upstream_dir: str | None = None,
) -> dict[str, Any]:
    """The complete Caddy config serving `table` on `bind_host:http_port` ("" = every interface).

    With `access_log_dir`, every app's requests are logged (Caddy JSON access entries) to
    `<access_log_dir>/<app>.log`, rolled by Caddy at `access_roll_size_mb`, keeping `access_roll_keep` files
    for at most `access_roll_keep_days`. With `upstream_dir`, proxied routes dial slots read from files there
    (slots.files() gives their content) instead of the instances' addresses."""
    proxy = _Proxy(stream_close_delay, try_duration, try_interval, upstream_dir)
    routes = [_route(r, proxy) for r in _ordered(table.routes)]
    # Without a catch-all Caddy answers an unknown host with an empty 200, which looks like a working app.
    routes.append({"handle": [_static_response(404, NOT_FOUND_BODY)], "terminal": True})
    server: dict[str, Any] = {
        "listen": [f"{bind_host}:{http_port}"],
        "routes": routes,
        # HTTP only for now: automatic HTTPS would try to obtain certificates for every host and redirect
        # :http_port to :https_port. TLS (ACME, internal CA for local names) is a later step: it will add a
        # second server on :https_port and enable this again.
        "automatic_https": {"disable": True},
    }
    logging = _access_logs(table, access_log_dir, access_roll_size_mb, access_roll_keep, access_roll_keep_days,
                           server)
    servers = {SERVER_NAME: server}
    socket = slots.unavailable_socket(upstream_dir) if upstream_dir is not None else None
    if socket is not None:
        servers[UNAVAILABLE_SERVER] = _unavailable_server(table, socket)
    config: dict[str, Any] = {
        "admin": {
            # The admin listener must be the same in every config we load, or Caddy restarts it mid-request.
            "listen": admin,
            # The control plane rebuilds the config from the database: no autosave.json to resume from.
            "config": {"persist": False},
        },
        "apps": {
            "http": {
                # Kept although unused while HTTP-only: the TLS work uses them for redirects and ACME
                # challenges; they also tell Caddy not to assume 80/443.
                "http_port": http_port,
                "https_port": https_port,
                "grace_period": grace_period,
                "servers": servers,
            },
            # Never try to install Caddy's local CA into the system trust store (that asks for sudo and is
            # not ours to change); the TLS work decides how clients trust it.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }
    if logging:
        config["logging"] = logging
    if table.tls is not None:
        from slipway.routing import tls

        tls.apply(config, table.tls, http_port=http_port, https_port=https_port, bind_host=bind_host,
                  server_name=SERVER_NAME)
    return config


def _unavailable_server(table: RouteTable, socket: str | Path) -> dict[str, Any]:
    """A 503 naming the app, per route (matched as the public route is: the proxy keeps the Host header)."""
    routes = []
    for route in _ordered(table.routes):
        if route.static_root is None:
            name = route.app or route.host
            routes.append({"match": _match(route), "terminal": True,
                           "handle": [_no_instances(name)]})
    routes.append({"handle": [_no_instances("")], "terminal": True})
    return {"listen": [f"unix/{socket}|0600"], "routes": routes, "automatic_https": {"disable": True}}


def _no_instances(name: str) -> dict[str, Any]:
    text = f"The app {name} has no running instances.\n" if name else "No instance of this app is running.\n"
    return _static_response(503, text, {"Retry-After": ["5"]})


def access_logger(app: str) -> str:
    return f"slipway_access_{app}"


def _access_logs(table: RouteTable, directory: str | None, roll_size_mb: int, roll_keep: int, keep_days: int,
                 server: dict[str, Any]) -> dict[str, Any] | None:
    """Per-app access logs: the server maps each app host to a logger (`logs.logger_names`), and one log per
    app writes `http.log.access.<logger>` to its own rolled file. Hosts of no app (the control plane) are
    not logged; the default log (Caddy's stderr) excludes the access loggers."""
    if directory is None:
        return None
    hosts: dict[str, str] = {}
    for route in _ordered(table.routes):
        if route.app and route.host.lower() not in hosts:
            hosts[route.host.lower()] = route.app
    if not hosts:
        return None
    server["logs"] = {"logger_names": {host: [access_logger(app)] for host, app in hosts.items()},
                      "skip_unmapped_hosts": True}
    apps = sorted(set(hosts.values()))
    logs: dict[str, Any] = {"default": {"exclude": [f"http.log.access.{access_logger(a)}" for a in apps]}}
    for app in apps:
        logs[access_logger(app)] = {
            "writer": {"output": "file", "filename": f"{directory.rstrip('/')}/{app}.log",
                       "roll_size_mb": roll_size_mb, "roll_keep": roll_keep, "roll_keep_days": keep_days},
            "encoder": {"format": "json"},
            "include": [f"http.log.access.{access_logger(app)}"],
        }
    return {"logs": logs}


def _ordered(routes: list[Route]) -> list[Route]:
    # Deterministic order, so the same table renders the same config (Caddy skips identical loads), and
    # for one host, longer path prefixes first so the host-wide route does not shadow them.
    return sorted(routes, key=lambda r: (r.host.lower(), -len(r.path_prefix or ""), r.path_prefix or ""))


@dataclass(frozen=True)
class _Proxy:
    """How every reverse_proxy handler is rendered."""

    stream_close_delay: str
    try_duration: str
    try_interval: str
    upstream_dir: str | None


def _route(route: Route, proxy: _Proxy) -> dict[str, Any]:
    return {"match": _match(route), "handle": [_handler(route, proxy)], "terminal": True}


def _match(route: Route) -> list[dict[str, Any]]:
    match: dict[str, Any] = {"host": [route.host.lower()]}
    if route.path_prefix:
        prefix = "/" + route.path_prefix.strip("/")
        # Matched, not stripped: the app sees the full path (it knows where it is mounted).
        match["path"] = [prefix, prefix + "/*"]
    return [match]


def _handler(route: Route, proxy: _Proxy) -> dict[str, Any]:
    if route.static_root is not None:
        # with slots, the root is a link to the live release's files, swapped at each deploy (slots.py)
        root = route.static_root if proxy.upstream_dir is None else str(slots.root_path(proxy.upstream_dir, route))
        return _static_site(root)
    upstreams = [u for u in route.upstreams if u.weight > 0]
    with_slots = proxy.upstream_dir is not None and (
        upstreams or slots.unavailable_socket(proxy.upstream_dir) is not None)
    if not upstreams and not with_slots:
        return _no_instances(route.app or route.host)
    if with_slots:
        assert proxy.upstream_dir is not None
        # The slots hold the instances in proportion to their weights: plain round robin over them.
        count = slots.slot_count(route.upstreams)
        dials = [slots.placeholder(proxy.upstream_dir, route, i) for i in range(count)]
        return _reverse_proxy(dials, {"policy": "round_robin"}, proxy)
    weights = [u.weight for u in upstreams]
    if len(upstreams) == 1:
        policy: dict[str, Any] = {"policy": "first"}
    elif len(set(weights)) == 1:
        policy = {"policy": "round_robin"}
    else:
        # Caddy's weighted_round_robin takes the weights in upstream order; a retry advances its index too,
        # so a refused connection moves on to another upstream.
        policy = {"policy": "weighted_round_robin", "weights": weights}
    return _reverse_proxy([u.dial for u in upstreams], policy, proxy)


def _reverse_proxy(dials: list[str], policy: dict[str, Any], proxy: _Proxy) -> dict[str, Any]:
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": dial} for dial in dials],
        "load_balancing": {
            "selection_policy": policy,
            "try_duration": proxy.try_duration,
            "try_interval": proxy.try_interval,
        },
        "stream_close_delay": proxy.stream_close_delay,
    }


def _static_site(root: str) -> dict[str, Any]:
    """A static site's files, but never a dotfile or dot-folder (`.git/`, `.env`, `.npmignore`) at any depth:
    they are repository plumbing, often secret. `/.well-known/` stays served (ACME, security.txt, app links).

    A matcher rather than file_server's `hide`: a `hide` pattern without a path matches every component of
    the file's absolute path, and the root itself may sit under a dot-folder (`~/.slipway/...`). Caddy cleans
    and unescapes the path before matching (`/%2egit`, `/.well-known/../.env` are caught: see the tests)."""
    hidden = {"path_regexp": {"pattern": DOT_SEGMENT}, "not": [{"path": ["/.well-known/*"]}]}
    return {"handler": "subroute", "routes": [
        {"match": [hidden], "handle": [_static_response(404, NOT_FOUND_FILE)], "terminal": True},
        {"handle": [{"handler": "file_server", "root": root}]},
    ]}


def _static_response(status: int, body: str, headers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"handler": "static_response", "status_code": status, "body": body,
            "headers": {**_TEXT, **(headers or {})}}
