"""The Domains tab in a real browser: add a domain, see the doctor's findings with their fixes and the
records to create; a bad name is refused with its reason; check and remove with a click."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.dnsserver import DnsServer

from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.domains import service as domain_service

from .conftest import Dashboard
from .test_observe_dashboard import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    yield server
    server.close()


@pytest.fixture
def settings(settings: Settings, dns_server: DnsServer) -> Settings:
    # 127.0.0.2 is "this server": nothing answers HTTP there, so the doctor's reachability check fails
    return settings.model_copy(update={"dns_resolvers": dns_server.address, "public_ips": "127.0.0.2",
                                       "base_domain": "apps.test", "doctor_http_timeout": 1.0})


def test_domains_tab(dashboard: Dashboard, page: Any, dns_server: DnsServer) -> None:
    from playwright.sync_api import expect

    with transaction(dashboard.platform.sessions) as session:
        app_service.create(session, name="shop", git_url="https://example.com/shop.git", check_remote=False)
    dns_server.set("shop.example.com", "A", "127.0.0.2")

    log_in(page, dashboard.url, "/apps/shop/domains")
    expect(page.locator("nav.tabs a.on")).to_have_text("Domains")
    form = page.locator("#add-domain")
    form.locator("input[name=domain]").fill("*.example.com")
    form.locator("button:has-text('Add')").click()
    expect(page.locator(".flash")).to_contain_text("DNS-01")

    form.locator("input[name=domain]").fill("Shop.Example.com")
    form.locator("input[name=redirect_from]").fill("www.shop.example.com")
    form.locator("button:has-text('Add')").click()
    expect(page.locator(".flash")).to_contain_text("Added shop.example.com")
    findings = page.locator("tr[data-findings='shop.example.com']")
    expect(findings).to_contain_text("resolves to this server (127.0.0.2)")
    expect(findings).to_contain_text("is not reachable at 127.0.0.2")
    expect(findings).to_contain_text("open port")  # the fix, on the same line
    www = page.locator("tr[data-findings='www.shop.example.com']")
    expect(www).to_contain_text("has no A or AAAA record")
    expect(www.locator("table.records")).to_contain_text("127.0.0.2")  # the record to create
    expect(page.locator("tr[data-domain='shop.example.com']")).to_contain_text("failed")

    dns_server.set("www.shop.example.com", "A", "127.0.0.2")
    page.locator("tr[data-domain='www.shop.example.com'] button:has-text('Check')").click()
    expect(page.locator(".flash")).to_contain_text("Checked www.shop.example.com")
    expect(page.locator("tr[data-findings='www.shop.example.com']")).to_contain_text("resolves to this server")

    page.screenshot(path="/tmp/slipway-domains-tab-findings.png", full_page=True)
    page.locator("tr[data-domain='shop.example.com'] button:has-text('Remove')").click()
    expect(page.locator(".flash")).to_contain_text("Removed shop.example.com, www.shop.example.com")
    expect(page.locator("#domains")).to_contain_text("No custom domain")
    with dashboard.platform.sessions() as session:
        assert domain_service.list_for(session, app_service.get(session, "shop")) == []
    page.screenshot(path="/tmp/slipway-domains-tab.png", full_page=True)
    assert page.js_errors == []
