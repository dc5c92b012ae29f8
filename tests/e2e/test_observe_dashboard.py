"""The observability, notification and webhook pages in a real browser: charts drawn from collected
metrics, range switching, the logs view with a level filter and a live tail, adding a health check,
the notification center, a webhook channel whose "Send test" reaches a loopback receiver, and the
app's webhook settings. Screenshots land in /tmp (slipway-*.png)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from tests.conftest import APP_PY, python_app_files

from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.observability.collector import Collector
from slipway.observability.models import metric_raw
from slipway.routing.base import MemoryRouter

from .conftest import PASSWORD, USER, Dashboard

pytestmark = pytest.mark.e2e

# the test app writes lines of every level at start, and one INFO line per request
NOISY_APP = APP_PY.replace(
    "print(\"listening on\"",
    "print('DEBUG loading settings', flush=True)\n"
    "print('INFO starting up', flush=True)\n"
    "print('WARN cache is cold', flush=True)\n"
    "print('ERROR could not reach the mail server (expected in this test)', flush=True)\n"
    "print(\"listening on\"",
).replace(
    "    def do_GET(self):\n",
    "    def do_GET(self):\n        print('INFO served ' + self.path, flush=True)\n",
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The webhook receiver listens on loopback: an Admin must allow it (SLIPWAY_EGRESS_ALLOW)."""
    return settings.model_copy(update={"egress_allow": "127.0.0.0/8"})


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    """A loopback HTTP server that records what is POSTed to it (the webhook channel's target)."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/slipway", "got": got}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def log_in(page: Any, base: str, path: str) -> None:
    page.goto(base + path)
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + path)


def deploy_and_wait(dashboard: Dashboard, name: str, timeout: float = 150) -> None:
    with transaction(dashboard.platform.sessions) as session:
        deploy_id = deploy_service.request(session, app_service.get(session, name), kind="deploy", actor="test").id
    dashboard.platform.wake_workers()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with dashboard.platform.sessions() as session:
            deploy = session.get(Deploy, deploy_id)
            assert deploy is not None
            if deploy.status in deploy_service.FINISHED:
                assert deploy.status == "succeeded", deploy.reason
                return
        time.sleep(0.3)
    raise AssertionError("the deploy did not finish")


def collect(dashboard: Dashboard, rounds: int = 3) -> None:
    """Run the collector's sampling round a few times and store the rows (as its periodic task does)."""
    collector = Collector(dashboard.platform)
    try:
        for i in range(rounds):
            if i:
                time.sleep(1.1)
            rows = collector.sample()
            with transaction(dashboard.platform.sessions) as session:
                session.execute(insert(metric_raw), rows)
    finally:
        collector.close()


def app_upstream(dashboard: Dashboard, app: str) -> str:
    router = dashboard.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == app)
    return f"http://{route.upstreams[0].dial}"


def points(locator: Any) -> int:
    return int(locator.get_attribute("data-points") or 0)


def test_observe_notify_and_webhook_pages(dashboard: Dashboard, page: Any, make_repo: Callable[..., Any],
                                          receiver: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base = dashboard.url
    files = python_app_files()
    files["app.py"] = NOISY_APP
    repo = make_repo("hello", files)
    with transaction(dashboard.platform.sessions) as session:
        app_service.create(session, name="hello", git_url=repo.url, branch="main", actor="test")
    deploy_and_wait(dashboard, "hello")
    upstream = app_upstream(dashboard, "hello")
    assert httpx.get(upstream + "/warmup", timeout=5).status_code == 200
    collect(dashboard)

    # ---- the app page: CPU and memory charts from the collected series, range switching
    log_in(page, base, "/apps/hello")
    panel = page.locator("#resources")
    expect(panel).to_have_attribute("data-loaded", "1h")
    charts = panel.locator("figure.chart")
    expect(charts).to_have_count(2)
    expect(panel.locator("figure.chart canvas")).to_have_count(2)
    assert points(charts.nth(0)) > 0 and points(charts.nth(1)) > 0
    expect(panel.locator("[data-note]")).to_contain_text("refreshes every 10 s")
    page.screenshot(path="/tmp/slipway-app-charts.png", full_page=True)
    panel.locator("button[data-range='6h']").click()
    expect(panel).to_have_attribute("data-loaded", "6h")
    assert points(charts.nth(1)) > 0
    expect(panel.locator("button[data-range='6h']")).to_have_attribute("aria-pressed", "true")
    panel.locator("button[data-range='7d']").click()  # per-minute rollups: none yet, an empty chart
    expect(panel).to_have_attribute("data-loaded", "7d")
    expect(panel.locator("[data-note]")).not_to_contain_text("refreshes")

    # ---- logs: a level filter, highlighted levels, a live tail, the export link
    page.click("nav.tabs a:has-text('Logs')")
    expect(page).to_have_url(base + "/apps/hello/logs")
    view = page.locator("#logview")
    expect(view).to_contain_text("INFO starting up")
    expect(view.locator(".line.lvl-error")).to_have_count(1)
    page.select_option("select[name=level]", "warn")
    page.click("#log-filters button:has-text('Search')")
    expect(page).to_have_url(re.compile(r"/apps/hello/logs\?.*level=warn"))
    expect(view.locator(".line")).to_have_count(2)
    expect(view.locator(".line.lvl-warn")).to_contain_text("cache is cold")
    expect(view).not_to_contain_text("starting up")
    export = page.locator("#export").get_attribute("href")
    assert export is not None and "format=text" in export and "level=warn" in export
    exported = page.request.get(base + export)
    assert exported.ok and "ERROR could not reach" in exported.text() and "INFO" not in exported.text()
    page.screenshot(path="/tmp/slipway-logs.png", full_page=True)
    page.goto(base + "/apps/hello/logs?level=info")
    page.check("#live-toggle")
    expect(page.locator("#live-state")).to_have_text("following…")
    time.sleep(0.5)
    httpx.get(upstream + "/live-line", timeout=5)
    expect(view.locator(".line.live")).to_contain_text("served /live-line")
    page.uncheck("#live-toggle")

    # ---- health: add a check (the form validates), run it, see its state and response-time chart
    page.click("nav.tabs a:has-text('Health')")
    page.fill("#new-check input[name=name]", "home")
    page.fill("#new-check input[name=target]", "/")
    page.fill("#new-check input[name=interval]", "3")  # below the minimum of 5 s
    page.click("#new-check button:has-text('Add check')")
    expect(page.locator("#new-check .errors")).to_contain_text("interval")
    expect(page.locator("#new-check input[name=name]")).to_have_value("home")
    page.fill("#new-check input[name=interval]", "30")
    page.fill("#new-check input[name=expected_status]", "200")
    page.fill("#new-check input[name=body_contains]", "version")
    page.check("#new-check input[name=status_page]")
    page.click("#new-check button:has-text('Add check')")
    expect(page.locator(".flash-ok")).to_contain_text("Added the check home")
    row = page.locator("#checks tr[data-check=home]")
    expect(row).to_contain_text("status page")
    row.locator("button:has-text('Run now')").click()
    expect(page.locator("#checks tr[data-check=home] .badge.health")).to_have_text(re.compile("healthy|up"))
    chart = page.locator(".response-times[data-check=home]")
    expect(chart).to_have_attribute("data-loaded", "24h")
    expect(chart.locator("canvas")).to_have_count(1)
    assert points(chart.locator("figure.chart")) > 0
    expect(page.locator("#uptime dl.uptimes")).to_contain_text("24h")
    page.screenshot(path="/tmp/slipway-health.png", full_page=True)

    # ---- notifications: a center channel and a webhook channel to a loopback receiver; Send test
    page.click("header.top a:has-text('Alerts')")  # the alerts page links to the channels
    expect(page.locator("h1")).to_contain_text("Alerts")
    page.click("p.crumbs a:has-text('channels')")
    page.click("nav.type-tabs a[href*='type=browser']")
    page.fill("#new-channel input[name=name]", "center")
    page.click("#new-channel button:has-text('Add channel')")
    expect(page.locator(".flash-ok")).to_contain_text("Created the channel center")
    page.locator("tr[data-channel=center] button:has-text('Send test')").click()
    expect(page.locator("tr[data-channel=center] .test-out")).to_contain_text("Sent")

    page.click("nav.type-tabs a[href*='type=webhook']")
    expect(page.locator("#new-channel input[name='cfg.secret']")).to_have_attribute("type", "password")
    page.fill("#new-channel input[name=name]", "ops-hook")
    page.fill("#new-channel input[name='cfg.url']", receiver["url"])
    page.fill("#new-channel input[name='cfg.secret']", "short")  # the schema wants 16 characters
    page.click("#new-channel button:has-text('Add channel')")
    expect(page.locator("#new-channel .error")).to_contain_text("secret")
    expect(page.locator("#new-channel input[name='cfg.url']")).to_have_value(receiver["url"])
    page.fill("#new-channel input[name='cfg.secret']", "a-long-enough-shared-secret")
    page.click("#new-channel button:has-text('Add channel')")
    expect(page.locator(".flash-ok")).to_contain_text("Created the channel ops-hook")
    page.locator("tr[data-channel=ops-hook] button:has-text('Send test')").click()
    expect(page.locator("tr[data-channel=ops-hook] .test-out")).to_contain_text("Sent")
    assert len(receiver["got"]) == 1
    hit = receiver["got"][0]
    assert hit["path"] == "/slipway"
    assert {k.lower() for k in hit["headers"]} >= {"x-slipway-signature", "x-slipway-event"}
    assert json.loads(hit["body"])["kind"] == "notify.test"

    # the channel's page keeps the masked secret on save
    page.click("tr[data-channel=ops-hook] a:has-text('ops-hook')")
    secret_input = page.locator("input[name='cfg.secret']")
    assert "a-long-enough-shared-secret" not in (secret_input.input_value() or "")
    page.click("button:has-text('Save')")
    expect(page.locator(".flash-ok")).to_contain_text("Saved ops-hook")
    page.click("button:has-text('Send test')")
    expect(page.locator("#test-out")).to_contain_text("Sent")
    assert len(receiver["got"]) == 2

    # a rule and a mute
    page.goto(base + "/notifications/channels")
    page.select_option("#rules select[name=event]", "deploy.*")
    page.check("#rules input[name=channels] >> nth=0")
    page.click("#rules button:has-text('Add rule')")
    expect(page.locator("#rules tr[data-rule]")).to_contain_text("deploy.*")
    page.select_option("#mutes select[name=for]", "2h")
    page.click("#mutes button:has-text('Mute')")
    expect(page.locator("#mutes tr[data-mute=hello]")).to_be_visible()
    page.screenshot(path="/tmp/slipway-notify-channels.png", full_page=True)

    # the bell counts the center's unread notification; the center lists it and marks it read
    expect(page.locator("#bell-count")).to_have_text("1")
    page.click("header.top a.bell")
    expect(page).to_have_url(base + "/notifications")
    expect(page.locator("li.notice.unread")).to_contain_text("Test notification from Slipway")
    expect(page.locator("#bell-count")).to_have_text("1")
    page.screenshot(path="/tmp/slipway-notifications.png", full_page=True)
    page.click("button:has-text('Mark all read')")
    expect(page.locator(".flash-ok")).to_contain_text("Marked 1 notification read")
    expect(page.locator("li.notice.unread")).to_have_count(0)
    expect(page.locator("#bell-count")).to_have_text("")

    # ---- webhooks of the app: the URLs, the secret only on an explicit reveal, settings
    page.goto(base + "/apps/hello/webhooks")
    expect(page.locator("tr[data-provider=github] code")).to_contain_text("/hooks/github/")
    masked = page.locator("#hook-secret").inner_text()
    page.click("#hook button:has-text('Reveal')")
    revealed = page.locator("#hook-secret").inner_text()
    assert revealed != masked and len(revealed) >= 32
    page.fill("#hook-settings input[name=deploy_window]", "someday")
    page.click("#hook-settings button:has-text('Save')")
    expect(page.locator("#hook-settings .error")).to_be_visible()
    page.fill("#hook-settings input[name=deploy_window]", "Mon-Fri 09:00-17:00 UTC")
    page.fill("#hook-settings input[name=branch_filter]", "main, release/*")
    page.click("#hook-settings button:has-text('Save')")
    expect(page.locator(".flash-ok")).to_contain_text("Saved the webhook settings")
    expect(page.locator("#hook-settings input[name=branch_filter]")).to_have_value("main,release/*")
    page.screenshot(path="/tmp/slipway-webhooks.png", full_page=True)

    # ---- the overview (sparklines) and the host page
    collect(dashboard, rounds=1)
    page.click("header.top a:has-text('Overview')")
    row = page.locator("#overview-apps tr[data-app=hello]")
    spark = row.locator("[data-spark=mem]")
    expect(spark).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    expect(row.locator("canvas")).to_have_count(2)
    expect(page.locator("#overview-deploys")).to_contain_text("hello")
    page.screenshot(path="/tmp/slipway-overview.png", full_page=True)
    page.click("header.top a:has-text('Host')")
    host = page.locator("#host")
    expect(host).to_have_attribute("data-loaded", "1h")
    expect(host.locator("canvas")).to_have_count(4)
    for i in range(4):
        assert points(host.locator("figure.chart").nth(i)) > 0
    page.screenshot(path="/tmp/slipway-host.png", full_page=True)

    assert page.js_errors == []  # a CSP violation would show up here too
