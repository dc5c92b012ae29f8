"""The doctor's HTTP fetch can't be aimed by a user: a name resolving to loopback, a metadata address or any
address that is not one of this server's public ones is never connected to (attack test)."""

from __future__ import annotations

import socket
import threading

from slipway.config import Settings
from slipway.domains import doctor
from tests.dnsserver import DnsServer


def test_names_pointing_inside_are_reported_not_fetched(settings: Settings, dns_server: DnsServer) -> None:
    # something listens on 127.0.0.1 at the router's HTTP port: it must see no connection
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", settings.http_port))
    listener.listen()
    accepted: list[object] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(listener.accept())
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    settings = settings.model_copy(update={"dns_resolvers": dns_server.address, "public_ips": "198.51.100.7"})
    dns_server.set("loop.example.com", "A", "127.0.0.1")
    dns_server.set("meta.example.com", "A", "169.254.169.254")
    dns_server.set("mixed.example.com", "A", "198.51.100.7", "127.0.0.1")
    dns_server.set("v6.example.com", "AAAA", "::1")
    try:
        for name in ("loop.example.com", "meta.example.com", "mixed.example.com", "v6.example.com"):
            findings = doctor.run(settings, name)
            assert not doctor.passed(findings)
            assert [f.check for f in findings if not f.ok] == ["dns"], (name, findings)
            assert "not this server" in findings[0].message and "http" not in {f.check for f in findings}
    finally:
        listener.close()
    assert accepted == []


def test_the_token_is_an_hmac_that_only_this_installation_can_make(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": "another-key-" + "y" * 24})
    assert doctor.proof(settings, "n" * 20) != doctor.proof(other, "n" * 20)
    assert doctor.proof(settings, "n" * 20) != doctor.proof(settings, "m" * 20)
