"""render(): the Caddy JSON for each kind of route, and the settings that keep config loads harmless."""

from __future__ import annotations

import json

from slipway.routing.base import Route, RouteTable, Upstream
from slipway.routing.render import NOT_FOUND_BODY, SERVER_NAME, render

ADMIN = "unix//var/lib/slipway/caddy/admin.sock|0600"


def _render(*routes: Route) -> dict:
    return render(RouteTable(list(routes)), http_port=8080, https_port=8443, admin=ADMIN)


def _server(config: dict) -> dict:
    return config["apps"]["http"]["servers"][SERVER_NAME]


def _route_for(config: dict, host: str) -> dict:
    matching = [r for r in _server(config)["routes"] if r.get("match", [{}])[0].get("host") == [host]]
    assert len(matching) == 1, matching
    return matching[0]


def test_proxy_route_matches_host_and_proxies_with_retries() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:10001"),), app="a"))
    route = _route_for(config, "a.localhost")
    assert route["terminal"] is True
    (handler,) = route["handle"]
    assert handler["handler"] == "reverse_proxy"
    assert handler["upstreams"] == [{"dial": "127.0.0.1:10001"}]
    lb = handler["load_balancing"]
    assert lb["selection_policy"] == {"policy": "first"}
    assert lb["try_duration"] and lb["try_interval"]


def test_equal_weights_round_robin() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1"), Upstream("127.0.0.1:2"))))
    handler = _route_for(config, "a.localhost")["handle"][0]
    assert handler["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert [u["dial"] for u in handler["upstreams"]] == ["127.0.0.1:1", "127.0.0.1:2"]


def test_weights_use_weighted_round_robin_in_upstream_order() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1", 9), Upstream("127.0.0.1:2", 1))))
    handler = _route_for(config, "a.localhost")["handle"][0]
    assert handler["load_balancing"]["selection_policy"] == {"policy": "weighted_round_robin", "weights": [9, 1]}
    assert [u["dial"] for u in handler["upstreams"]] == ["127.0.0.1:1", "127.0.0.1:2"]


def test_zero_weight_upstreams_get_no_traffic() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1", 0), Upstream("127.0.0.1:2", 3))))
    handler = _route_for(config, "a.localhost")["handle"][0]
    assert handler["upstreams"] == [{"dial": "127.0.0.1:2"}]


def test_static_route_serves_files_from_root() -> None:
    config = _render(Route("docs.localhost", static_root="/srv/site"))
    (site,) = _route_for(config, "docs.localhost")["handle"]
    assert site["handler"] == "subroute"
    hide, serve = site["routes"]
    assert hide["handle"][0]["status_code"] == 404 and hide["match"][0]["not"] == [{"path": ["/.well-known/*"]}]
    assert serve["handle"] == [{"handler": "file_server", "root": "/srv/site"}]


def test_route_without_upstreams_answers_503_naming_the_app() -> None:
    config = _render(Route("a.localhost", app="shop"), Route("b.localhost", (Upstream("127.0.0.1:1", 0),)))
    for host, name in (("a.localhost", "shop"), ("b.localhost", "b.localhost")):
        (handler,) = _route_for(config, host)["handle"]
        assert handler["handler"] == "static_response"
        assert handler["status_code"] == 503
        assert name in handler["body"] and "no running instances" in handler["body"]


def test_unknown_host_gets_404_catch_all_last() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1"),)))
    last = _server(config)["routes"][-1]
    assert "match" not in last
    assert last["handle"][0]["status_code"] == 404
    assert last["handle"][0]["body"] == NOT_FOUND_BODY


def test_empty_table_is_only_the_catch_all() -> None:
    assert len(_server(_render())["routes"]) == 1


def test_path_prefix_routes_come_before_the_host_route() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1"),)),
                     Route("a.localhost", (Upstream("127.0.0.1:2"),), path_prefix="/api/"))
    first, second, _ = _server(config)["routes"]
    assert first["match"] == [{"host": ["a.localhost"], "path": ["/api", "/api/*"]}]
    assert second["match"] == [{"host": ["a.localhost"]}]


def test_config_load_traps_are_set() -> None:
    config = _render(Route("a.localhost", (Upstream("127.0.0.1:1"),)))
    # grace_period belongs to the http app (not the server): a load must not wait forever for old requests
    assert config["apps"]["http"]["grace_period"]
    # stream_close_delay belongs to each reverse_proxy handler: a load must not close open WebSockets
    assert _route_for(config, "a.localhost")["handle"][0]["stream_close_delay"]


def test_http_only_listener_ports_admin_and_no_trust_store() -> None:
    config = render(RouteTable(), http_port=18080, https_port=18443, admin=ADMIN,
                    bind_host="127.0.0.1")
    http = config["apps"]["http"]
    assert (http["http_port"], http["https_port"]) == (18080, 18443)
    server = _server(config)
    assert server["listen"] == ["127.0.0.1:18080"]
    assert server["automatic_https"] == {"disable": True}
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    assert config["admin"]["listen"] == ADMIN


def test_render_is_deterministic_and_json() -> None:
    a = Route("a.localhost", (Upstream("127.0.0.1:1"),))
    b = Route("b.localhost", static_root="/srv")
    one = json.dumps(_render(a, b), sort_keys=True)
    assert one == json.dumps(_render(b, a), sort_keys=True)


def test_access_logs_per_app_go_to_rolled_files_and_skip_other_hosts() -> None:
    table = RouteTable([Route(host="slipway.test", upstreams=(Upstream("127.0.0.1:9000"),)),
                        Route(host="Hello.test", app="hello"),
                        Route(host="hello.test", path_prefix="/api", app="hello"),
                        Route(host="pr-1.shop.test", app="shop--pr-1")])
    plain = render(table, http_port=8080, https_port=8443, admin=ADMIN)
    assert "logging" not in plain and "logs" not in _server(plain)
    config = render(table, http_port=8080, https_port=8443, admin=ADMIN, access_log_dir="/var/slipway/caddy/access/",
                    access_roll_size_mb=5, access_roll_keep=3, access_roll_keep_days=7)
    assert _server(config)["logs"] == {
        "logger_names": {"hello.test": ["slipway_access_hello"], "pr-1.shop.test": ["slipway_access_shop--pr-1"]},
        "skip_unmapped_hosts": True}
    logs = config["logging"]["logs"]
    assert logs["default"] == {"exclude": ["http.log.access.slipway_access_hello",
                                           "http.log.access.slipway_access_shop--pr-1"]}
    assert logs["slipway_access_hello"] == {
        "writer": {"output": "file", "filename": "/var/slipway/caddy/access/hello.log", "roll_size_mb": 5,
                   "roll_keep": 3, "roll_keep_days": 7},
        "encoder": {"format": "json"}, "include": ["http.log.access.slipway_access_hello"]}
    json.dumps(config)
