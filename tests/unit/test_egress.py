"""Egress rules: what a user-aimed request (check, monitor, forge API, channel) may reach.

The "internal service" here is a real HTTP server on loopback that records every request, standing in for
Caddy's admin API, cloud metadata or the control plane: a test passes only if it received nothing. Names
are resolved by a resolver the test controls, so DNS rebinding (public at config time, loopback later) is
reproduced exactly; each refusal has a positive control (the same request, allowed, does arrive).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pydantic
import pytest
from fastapi.testclient import TestClient

from slipway.app import create_app
from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.egress import EgressRefused, Policy, url_target
from slipway.observability.models import Check
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter

PUBLIC = "93.184.216.34"


@dataclass
class Seen:
    method: str
    path: str
    host: str


@dataclass
class Internal:
    """A loopback HTTP server answering every method with 200 (or `redirect_to`) and recording it."""

    redirect_to: str = ""
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                owner.seen.append(Seen(self.command, self.path, self.headers.get("Host", "")))
                if owner.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"ok")

            do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _any  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Callable[..., Internal]]:
    made: list[Internal] = []

    def make(**kwargs: str) -> Internal:
        made.append(Internal(**kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def fixed(*answers: list[str]) -> Callable[[str, int], list[str]]:
    """A resolver answering `answers` in turn (the last one forever): a rebinding DNS server."""
    queue = list(answers)

    def resolve(host: str, port: int) -> list[str]:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return resolve


def policy(allow: str = "", *answers: list[str]) -> Policy:
    settings = Settings(egress_allow=allow, listen="127.0.0.1:8300", http_port=8080, https_port=8443,
                        port_range="10000-10999")
    return Policy.from_settings(settings, resolver=fixed(*answers) if answers else None)


# ---- the rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "::", "169.254.169.254", "fe80::1", "10.1.2.3", "172.16.0.1",
    "192.168.1.1", "100.64.0.1", "fc00::1", "fd12:3456::1", "224.0.0.1", "ff02::1", "240.0.0.1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "192.0.2.10",
])
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(EgressRefused, match="egress rules"):
        policy("", [address]).check_url("http://somewhere.example/")
    with pytest.raises(EgressRefused):
        policy().check_url(f"http://[{address}]/" if ":" in address else f"http://{address}/")


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert policy("", [address]).check_url("https://status.example.org/health") == [address]


def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    with pytest.raises(EgressRefused, match="10.0.0.5"):
        policy("", [PUBLIC, "10.0.0.5"]).check_url("https://mixed.example/")


def test_the_allow_list_opens_exactly_what_it_lists() -> None:
    assert policy("10.0.0.0/8", ["10.2.3.4"]).check_url("http://metrics.lan:9100/") == ["10.2.3.4"]
    with pytest.raises(EgressRefused):
        policy("10.0.0.0/8", ["192.168.0.4"]).check_url("http://metrics.lan:9100/")
    assert policy("metrics.lan:9100", ["127.0.0.1"]).check_url("http://metrics.lan:9100/")
    with pytest.raises(EgressRefused):  # another port of the same host stays closed
        policy("metrics.lan:9100", ["127.0.0.1"]).check_url("http://metrics.lan:9101/")
    assert policy("[::1]:9100").check_url("http://[::1]:9100/")


def test_slipways_own_ports_stay_closed_inside_an_allowed_range() -> None:
    for port in (8300, 8080, 8443):  # API, router HTTP, router HTTPS
        with pytest.raises(EgressRefused, match="Slipway's own"):
            policy("127.0.0.0/8").check_url(f"http://127.0.0.1:{port}/")
    assert policy("127.0.0.0/8").check_url("http://127.0.0.1:9000/")
    # app instances' ports on this host's own public address: another team's instance, not a public site
    public_self = Policy.from_settings(Settings(port_range="10000-10999"), resolver=fixed([PUBLIC]))
    public_self = dataclasses.replace(public_self, local_addresses=lambda: {ipaddress.ip_address(PUBLIC)})
    with pytest.raises(EgressRefused, match="app instance"):
        public_self.check_url("http://this-server.example:10005/")
    assert public_self.check_url("http://this-server.example:443/")
    # the same port on a public host is somebody else's
    assert policy("", [PUBLIC]).check_url("http://example.org:8080/")
    # an Admin may still list one of them exactly
    assert policy("127.0.0.1:8080").check_url("http://127.0.0.1:8080/")


@pytest.mark.parametrize("url", ["http://a..b/", f"http://{'x' * 300}/", "http://\udcff.example/"])
def test_names_that_cannot_resolve_are_no_server_error(url: str) -> None:
    assert policy().check_url(url) == []  # saved: nothing can reach it, each request checks again
    with pytest.raises(EgressRefused, match="cannot resolve"):
        host, port = url_target(url)
        policy().addresses(host, port)


def test_a_malformed_allow_setting_is_refused_at_start() -> None:
    with pytest.raises(pydantic.ValidationError, match="neither a CIDR nor host:port"):
        Settings(egress_allow="10.0.0.0/8, not a target")


# ---- request time: pinned connections ------------------------------------------------------------------


def test_the_client_connects_to_the_checked_address_and_keeps_the_name(internal: Callable[..., Internal]) -> None:
    server = internal()
    # "app.invalid" exists in no DNS: the request arrives only because the connection used our answer
    rules = policy(f"app.invalid:{server.port}", ["127.0.0.1"])
    with rules.client() as client:
        assert client.get(f"http://app.invalid:{server.port}/x").status_code == 200
    assert server.seen == [Seen("GET", "/x", f"app.invalid:{server.port}")]


def test_dns_rebinding_is_refused_at_request_time(internal: Callable[..., Internal]) -> None:
    admin = internal()  # stands in for Caddy's admin API
    url = f"http://admin.rebind.example:{admin.port}/config/"
    rules = policy("", [PUBLIC], ["127.0.0.1"])
    assert rules.check_url(url) == [PUBLIC]  # config time: a public answer
    with rules.client() as client, pytest.raises(httpx.ConnectError, match="loopback"):
        client.delete(url)  # request time: the name now answers loopback
    assert admin.seen == []


def test_tls_is_verified_against_the_name_not_the_checked_address(tmp_path: Path) -> None:
    from tests.unit.notify.receivers import make_certs

    certs = make_certs(tmp_path)  # a certificate for "localhost" and 127.0.0.1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.socket = certs.server_context().wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    trust = ssl.create_default_context(cafile=str(certs.ca))
    try:
        rules = policy(f"127.0.0.1:{port}", ["127.0.0.1"])
        with rules.client(verify=trust) as client:
            assert client.get(f"https://localhost:{port}/").text == "ok"  # SNI and check: "localhost"
            # the connection goes to 127.0.0.1, which the certificate also names: were it checked against
            # the address, another name would pass too
            with pytest.raises(httpx.ConnectError, match="certificate|hostname"):
                client.get(f"https://other.invalid:{port}/")
    finally:
        server.shutdown()
        server.server_close()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_redirects_are_checked_again(internal: Callable[..., Internal]) -> None:
    secret = internal()
    front = internal(redirect_to=f"http://127.0.0.1:{secret.port}/secret")
    rules = policy(f"front.invalid:{front.port}", ["127.0.0.1"])
    with rules.client(follow_redirects=True) as client, pytest.raises(httpx.ConnectError, match="egress"):
        client.get(f"http://front.invalid:{front.port}/")
    assert [s.path for s in front.seen] == ["/"] and secret.seen == []
    with rules.client() as client:  # the default: not followed at all
        assert client.get(f"http://front.invalid:{front.port}/").status_code == 302


def test_tcp_connections_obey_the_rules(internal: Callable[..., Internal]) -> None:
    server = internal()
    with pytest.raises(EgressRefused):
        policy("", ["127.0.0.1"]).connect("db.rebind.example", server.port, 2)
    policy(f"127.0.0.1:{server.port}").connect("127.0.0.1", server.port, 2).close()


# ---- through the API: checks, monitors, the forge --------------------------------------------------------


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    platform = build_platform(settings, router=MemoryRouter())
    try:
        yield platform
    finally:
        platform.close()


@pytest.fixture
def client(plat: Platform) -> Iterator[TestClient]:
    from slipway.auth import service as auth_service

    with transaction(plat.sessions) as session:
        token, _ = auth_service.create_token(session, name="t")
        app_service.create(session, name="hello", git_url="", check_remote=False)
    with TestClient(create_app(platform=plat, background=False),
                    headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def set_policy(plat: Platform, allow: str = "", *answers: list[str]) -> None:
    plat.egress = Policy.from_settings(plat.settings.model_copy(update={"egress_allow": allow}),
                                       resolver=fixed(*answers) if answers else None)


def test_the_caddy_admin_delete_check_is_refused_at_config_time(client: TestClient, plat: Platform) -> None:
    base = {"name": "wipe", "interval": 30}
    for path in ("/api/v1/apps/hello/checks", "/api/v1/monitors"):
        response = client.post(path, json={**base, "target": "http://127.0.0.1:2019/config/", "method": "DELETE"})
        assert response.status_code == 422, response.text  # the method alone is refused
        for target in ("http://127.0.0.1:2019/config/", "http://[::ffff:127.0.0.1]:2019/config/",
                       "http://169.254.169.254/latest/meta-data/", f"http://127.0.0.1:{plat.settings.listen_port}/"):
            response = client.post(path, json={**base, "target": target})
            assert response.status_code == 422 and response.json()["code"] == "egress_refused", response.text
        for bad in ("http://[::1", "http://example.org:99999/", "ftp://example.org/"):
            response = client.post(path, json={**base, "target": bad})
            assert response.status_code == 422 and "invalid URL" in response.json()["error"], response.text
        response = client.post(path, json={**base, "kind": "tcp", "target": "127.0.0.1:5432"})
        assert response.status_code == 422 and response.json()["code"] == "egress_refused", response.text
    set_policy(plat, "", ["127.0.0.1"])  # a name that resolves to loopback
    assert client.post("/api/v1/monitors", json={**base, "target": "http://caddy.example:2019/config/"}
                       ).status_code == 422
    # the app's own path targets its own instances: no egress rule applies
    assert client.post("/api/v1/apps/hello/checks", json={**base, "target": "/health"}).status_code == 201
    # and a check can be changed to an internal target no more than created with one
    monitor = client.post("/api/v1/monitors", json={**base, "name": "pub", "target": "https://status.example.org/"})
    # (status.example.org resolves to loopback through set_policy above: refused)
    assert monitor.status_code == 422
    set_policy(plat, "", [PUBLIC])
    monitor = client.post("/api/v1/monitors", json={**base, "name": "pub", "target": "https://status.example.org/"})
    assert monitor.status_code == 201, monitor.text
    patched = client.patch(f"/api/v1/monitors/{monitor.json()['id']}", json={"target": "http://127.0.0.1:2019/"})
    assert patched.status_code == 422


def test_the_caddy_admin_check_is_refused_at_run_time_after_rebinding(
        client: TestClient, plat: Platform, internal: Callable[..., Internal]) -> None:
    admin = internal()  # stands in for Caddy's admin API
    set_policy(plat, "", [PUBLIC], ["127.0.0.1"])
    target = f"http://caddy.rebind.example:{admin.port}/config/"
    check = client.post("/api/v1/monitors", json={"name": "sneaky", "target": target, "interval": 30})
    assert check.status_code == 201, check.text
    ran = client.post(f"/api/v1/monitors/{check.json()['id']}/run").json()
    assert ran["state"] in ("degraded", "down") and "egress rules" in ran["last_output"], ran
    assert admin.seen == []
    # positive control: the same check, allowed by an Admin, does reach it (with GET only)
    set_policy(plat, f"caddy.rebind.example:{admin.port}", ["127.0.0.1"])
    ran = client.post(f"/api/v1/monitors/{check.json()['id']}/run").json()
    assert ran["state"] == "healthy", ran
    assert [(s.method, s.path) for s in admin.seen] == [("GET", "/config/")]


def test_a_stored_check_with_an_unsafe_method_never_sends_it(
        client: TestClient, plat: Platform, internal: Callable[..., Internal]) -> None:
    admin = internal()
    set_policy(plat, f"127.0.0.1:{admin.port}")
    with transaction(plat.sessions) as session:  # a row from before the rule
        row = Check(app_id=None, name="old", kind="http", target=f"http://127.0.0.1:{admin.port}/config/",
                    method="DELETE", interval=30, timeout=5, retries=1)
        session.add(row)
        session.flush()
        check_id = row.id
    ran = client.post(f"/api/v1/monitors/{check_id}/run").json()
    assert ran["state"] == "down" and "GET or HEAD" in ran["last_output"]
    assert admin.seen == []


def test_the_forge_api_url_may_not_aim_inside(client: TestClient, plat: Platform,
                                              internal: Callable[..., Internal]) -> None:
    body = {"provider": "gitea", "token": "forge-token-secret"}
    for url in ("http://127.0.0.1:3000/api/v1", "http://169.254.169.254/", "http://10.0.0.8/api/v1",
                f"http://127.0.0.1:{plat.settings.listen_port}/api/v1", "http://[::1]:3000/api/v1"):
        response = client.put("/api/v1/apps/hello/forge", json={**body, "api_url": url})
        assert response.status_code == 422 and response.json()["code"] == "egress_refused", response.text
    for url in ("http://[::1", "http://git.example.org:99999/"):
        response = client.put("/api/v1/apps/hello/forge", json={**body, "api_url": url})
        assert response.status_code == 422 and "forge API URL" in response.json()["error"], response.text
    assert client.get("/api/v1/apps/hello/forge").status_code == 404  # nothing half-applied
    set_policy(plat, "", [PUBLIC])
    assert client.put("/api/v1/apps/hello/forge", json={**body, "api_url": "https://git.example.org/api/v1"}
                      ).status_code == 200


def test_the_forge_token_is_not_sent_inside_at_request_time(plat: Platform,
                                                            internal: Callable[..., Internal]) -> None:
    from slipway.forge import clients

    server = internal()
    url = f"http://forge.rebind.example:{server.port}/api/v1"
    set_policy(plat, "", ["127.0.0.1"])
    forge = clients.client("gitea", url, "forge-token-secret", policy=plat.egress)
    with pytest.raises(clients.ForgeError, match="egress rules"):
        forge.status(repo="o/r", sha="a" * 40, state="success", context="slipway", description="ok", target_url=None)
    forge.close()
    assert server.seen == []
    # positive control: allowed, the same call arrives
    set_policy(plat, f"forge.rebind.example:{server.port}", ["127.0.0.1"])
    forge = clients.client("gitea", url, "forge-token-secret", policy=plat.egress)
    forge.status(repo="o/r", sha="a" * 40, state="success", context="slipway", description="ok", target_url=None)
    forge.close()
    assert [s.method for s in server.seen] == ["POST"]


def test_a_tcp_monitor_is_refused_at_run_time_after_rebinding(client: TestClient, plat: Platform) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        set_policy(plat, "", [PUBLIC], ["127.0.0.1"])
        check = client.post("/api/v1/monitors", json={"name": "db", "kind": "tcp", "interval": 30,
                                                      "target": f"db.rebind.example:{port}"})
        assert check.status_code == 201, check.text
        ran = client.post(f"/api/v1/monitors/{check.json()['id']}/run").json()
        assert ran["state"] in ("degraded", "down") and "egress rules" in ran["last_output"], ran
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected
        set_policy(plat, f"db.rebind.example:{port}", ["127.0.0.1"])  # positive control
        assert client.post(f"/api/v1/monitors/{check.json()['id']}/run").json()["state"] == "healthy"
        listener.accept()[0].close()
