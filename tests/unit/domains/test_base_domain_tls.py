"""Certificates for the apps' own hosts: on by default for a public base domain, and never asked of the CA
before the domain doctor passed once for a name under the base domain (a wrong wildcard record must not
spend the CA's rate limit). Real DNS server, real HTTP fetch of the doctor's token, real API."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from slipway.config import Settings
from slipway.domains import basetls, checks, doctor
from slipway.routing.base import MemoryRouter
from slipway.routing.service import apply
from tests.dnsserver import DnsServer
from tests.security_world import World, build_world


@pytest.mark.parametrize(("base", "public"), [
    ("example.com", True), ("apps.example.co.uk", True), ("paas.acme.io", True),
    ("localhost", False), ("apps.localhost", False), ("127.0.0.1", False), ("::1", False), ("[::1]", False),
    ("apps.test", False), ("box.local", False), ("corp.internal", False), ("nas.lan", False),
    ("h.home.arpa", False), ("shop.example", False), ("x.invalid", False), ("intranet", False),
])
def test_the_default_follows_the_base_domain(settings: Settings, base: str, public: bool) -> None:
    assert basetls.is_public_name(base) is public
    assert basetls.wanted(settings.model_copy(update={"base_domain": base})) is public


def test_an_explicit_setting_wins_and_a_wrong_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_BASE_DOMAIN", "example.com")
    for raw, expected in (("true", "true"), ("FALSE", "false"), ("auto", "auto"), ("1", "true"), ("no", "false")):
        monkeypatch.setenv("SLIPWAY_TLS_BASE_DOMAIN", raw)
        assert Settings().tls_base_domain == expected
    assert Settings(tls_base_domain=False).tls_base_domain == "false"
    assert not basetls.wanted(Settings(tls_base_domain="false"))  # public, but switched off
    assert basetls.wanted(Settings(base_domain="apps.test", tls_base_domain="true"))  # private, switched on
    monkeypatch.setenv("SLIPWAY_TLS_BASE_DOMAIN", "sometimes")
    with pytest.raises(ValidationError, match="must be auto, true or false, not 'sometimes'"):
        Settings()


class _Token(BaseHTTPRequestHandler):
    """This server's answer to the doctor's fetch (what Caddy proxies to the control plane in production)."""
    settings: Settings

    def do_GET(self) -> None:
        body = doctor.proof(self.settings, self.path.rsplit("/", 1)[-1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def public_world(settings: Settings, dns_server: DnsServer) -> Iterator[World]:
    settings = settings.model_copy(update={"dns_resolvers": dns_server.address, "public_ips": "127.0.0.2",
                                           "base_domain": "apps.example.com", "doctor_http_timeout": 1.0})
    yield from build_world(settings)


def test_app_hosts_get_certificates_only_after_the_doctor_passed_for_the_base_domain(
        public_world: World, dns_server: DnsServer) -> None:
    platform = public_world.platform
    settings = platform.settings
    router = platform.router
    assert isinstance(router, MemoryRouter)
    assert basetls.wanted(settings) and not basetls.ready(settings)
    apply(platform)
    assert router.table.tls is not None and "alpha.apps.example.com" not in _sites(router)
    listed = _app_host(public_world)
    assert listed["expected"] == "pending" and not listed["ok"] and "not run yet" in listed["error"]

    # a wildcard record pointing at another server: the probe fails, the CA is not asked
    dns_server.set(basetls.probe_name(settings), "A", "10.1.2.3")
    now = dt.datetime.now(dt.UTC)
    assert not checks.recheck_base_domain(platform, now=now)
    assert "alpha.apps.example.com" not in _sites(router)
    listed = _app_host(public_world)
    assert not listed["ok"] and "10.1.2.3" in listed["error"] and "127.0.0.2" in listed["error"]
    assert "wildcard record *.apps.example.com" in listed["error"]
    # not due again yet: nothing is asked (the recorded finding stays)
    dns_server.set(basetls.probe_name(settings), "A", "127.0.0.2")
    assert not checks.recheck_base_domain(platform, now=now + dt.timedelta(seconds=10))
    assert basetls.load(settings).checked_at == now

    # fixed DNS, and this server answers the token at its public address: the next round passes
    _Token.settings = settings
    server = ThreadingHTTPServer(("127.0.0.2", settings.http_port), _Token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert checks.recheck_base_domain(platform, now=now + basetls.RETRY)
    finally:
        server.shutdown()
        server.server_close()
    assert basetls.ready(settings)
    assert "alpha.apps.example.com" in _sites(router)  # re-applied: Caddy now asks for it
    assert _app_host(public_world)["expected"] == "acme"
    # passed once is enough: the check is not run again, even if DNS changes later
    dns_server.set(basetls.probe_name(settings), "A", "10.1.2.3")
    assert not checks.recheck_base_domain(platform, now=now + dt.timedelta(hours=5))
    assert basetls.ready(settings)
    # … but a new base domain starts over
    assert not basetls.ready(settings.model_copy(update={"base_domain": "paas.example.org"}))


def test_nothing_is_checked_when_the_app_hosts_stay_on_http(public_world: World, dns_server: DnsServer) -> None:
    settings = public_world.platform.settings.model_copy(update={"tls_base_domain": "false"})
    assert not basetls.check(settings)
    assert basetls.load(settings).checked_at is None


def _sites(router: MemoryRouter) -> set[str]:
    assert router.table.tls is not None
    return {site.host for site in router.table.tls.sites}


def _app_host(world: World) -> dict[str, object]:
    response = world.call("viewer", "GET", "/api/v1/certs")
    assert response.status_code == 200, response.text
    [app_host] = [c for c in response.json() if c["hostname"] == "alpha.apps.example.com"]
    return app_host
