from __future__ import annotations

from collections.abc import Iterator

import pytest

from slipway.config import Settings
from tests.dnsserver import DnsServer
from tests.security_world import World, build_world


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    yield server
    server.close()


@pytest.fixture
def dworld(settings: Settings, dns_server: DnsServer) -> Iterator[World]:
    """The security world (alpha in the default team, beta in team `other`) with a DNS server of our own and
    127.0.0.2 as this server's public address (nothing answers HTTP there: the doctor's fetch fails)."""
    settings = settings.model_copy(update={"dns_resolvers": dns_server.address, "public_ips": "127.0.0.2",
                                           "base_domain": "apps.test", "doctor_http_timeout": 1.0})
    yield from build_world(settings)
