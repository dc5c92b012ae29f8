"""The dashboard's rough edges a new user hit, in a real browser: an app whose only deploy failed reads
`failed`, an app that never ran has no uptime figure, alert values carry their unit (the same text as the
notification), the Activity table stays inside its column, chart legends show values (never uPlot's raw
placeholder), a favicon, and the space before "· last deploy"."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import httpx
import pytest

from slipway.apps import service as app_service
from slipway.audit.models import AuditRecord
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.events import Event
from slipway.notify import alerts, message
from slipway.notify.models import Alert, AlertRule
from slipway.observability.models import Check, Incident

from .conftest import Dashboard
from .test_observe_dashboard import collect, deploy_and_wait, log_in

pytestmark = pytest.mark.e2e


def create_app(dashboard: Dashboard, name: str, git_url: str) -> None:
    with transaction(dashboard.platform.sessions) as session:
        app_service.create(session, name=name, git_url=git_url, branch="main", actor="test")


def deploy_until_finished(dashboard: Dashboard, name: str, timeout: float = 120) -> Deploy:
    with transaction(dashboard.platform.sessions) as session:
        deploy_id = deploy_service.request(session, app_service.get(session, name), kind="deploy", actor="test").id
    dashboard.platform.wake_workers()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with dashboard.platform.sessions() as session:
            deploy = session.get(Deploy, deploy_id)
            assert deploy is not None
            if deploy.status in deploy_service.FINISHED:
                return deploy
        time.sleep(0.3)
    raise AssertionError("the deploy did not finish")


def test_failed_first_deploy_reads_failed_and_has_no_uptime(dashboard: Dashboard, page: Any,
                                                           make_repo: Any) -> None:
    repo = make_repo(files={"README.md": "nothing to run here\n"})
    create_app(dashboard, "broken", repo.url)
    assert deploy_until_finished(dashboard, "broken").status == "failed"
    # monitored for an hour, down all along because it never ran: that is no uptime figure at all
    with transaction(dashboard.platform.sessions) as session:
        app = app_service.get(session, "broken")
        hour_ago = utcnow() - dt.timedelta(hours=1)
        check = Check(app_id=app.id, name="home", kind="http", target="/", created_at=hour_ago, state="down")
        session.add(check)
        session.flush()
        session.add(Incident(check_id=check.id, app_id=app.id, started_at=hour_ago + dt.timedelta(seconds=30),
                             cause="connection refused"))

    log_in(page, dashboard.url, "/overview")
    row = page.locator("#overview-apps tr[data-app=broken]")
    assert row.locator(".badge").first.inner_text() == "failed"
    assert row.locator("td").nth(3).inner_text() == "—"  # Uptime 24 h
    page.goto(dashboard.url + "/apps/broken/health")
    assert set(page.locator("#uptime dd").all_inner_texts()) == {"—"}
    page.goto(dashboard.url + "/")
    assert "failed" in page.locator("tr", has_text="broken").inner_text()
    page.goto(dashboard.url + "/apps/broken")
    status = page.locator("#live h2 .badge")
    assert status.inner_text() == "failed"
    assert page.js_errors == []


def test_app_page_spacing_charts_legend_and_favicon(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    repo = make_repo()
    create_app(dashboard, "hello", repo.url)
    deploy_and_wait(dashboard, "hello")
    collect(dashboard)
    log_in(page, dashboard.url, "/apps/hello")
    text = page.locator("#live p").first.inner_text()
    assert re.search(r"\) · last deploy #\d+", text), text  # "…6a4b4) · last deploy", not "…6a4b4)· last"

    # the legend with the cursor off the chart: the latest values with their units, no "--"
    page.locator(".u-legend .u-value").nth(1).wait_for()  # (no wait_for_function: the CSP forbids eval)
    legend = page.locator(".u-legend").first
    values = legend.locator(".u-value").all_inner_texts()
    assert values and all(v and v != "--" for v in values), values
    assert re.fullmatch(r"\d+(\.\d)? %", values[1]), values
    page.mouse.move(5, 5)
    assert "--" not in " ".join(page.locator(".u-legend .u-value").all_inner_texts())

    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon == "/static/favicon.svg"
    answer = httpx.get(dashboard.url + icon)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.text.startswith("<svg") and "<script" not in answer.text
    assert page.js_errors == []


def test_legend_without_samples_says_no_data(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    repo = make_repo()
    create_app(dashboard, "quiet", repo.url)
    log_in(page, dashboard.url, "/apps/quiet")
    page.locator(".u-legend .u-value").nth(1).wait_for()  # (no wait_for_function: the CSP forbids eval)
    values = page.locator(".u-legend").first.locator(".u-value").all_inner_texts()
    assert values[1:] == ["no data"] * (len(values) - 1), values


def test_alert_values_read_like_the_notification(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    repo = make_repo()
    create_app(dashboard, "hungry", repo.url)
    with transaction(dashboard.platform.sessions) as session:
        app = app_service.get(session, "hungry")
        rule = AlertRule(name="memory high", metric="memory", operator=">", threshold=200.0, app_id=app.id)
        session.add(rule)
        session.flush()
        alert = Alert(rule_id=rule.id, app_id=app.id, target=f"app:{app.id}", last_value=214.926)
        session.add(alert)
        session.flush()
        alerts._emit(session, alert, rule, "alert.fired", "channels", value=214.926)
        alert_id = alert.id
    with dashboard.platform.sessions() as session:
        event = session.query(Event).filter(Event.kind == "alert.fired").one()
        notified = message.render(session, dashboard.platform.settings, event)
    assert "memory is now 215 MiB" in notified.text, notified.text

    log_in(page, dashboard.url, "/alerts")
    row = page.locator(f"#open tr[data-alert='{alert_id}']")
    assert "215 MiB" in row.inner_text() and "214.926" not in row.inner_text()
    assert "memory > 200 MiB" in row.inner_text()
    page.goto(dashboard.url + f"/alerts/{alert_id}")
    facts = page.locator("dl.facts").inner_text()
    assert "215 MiB" in facts and "214.926" not in facts
    assert page.locator("#timeline tr[data-event=fired] td").nth(2).inner_text() == "215 MiB"


def test_activity_table_fits_its_column(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    repo = make_repo()
    # long unbroken values (a long repository URL, a long reason) must wrap inside the table
    long_url = repo.url + "?" + "x" * 300
    create_app(dashboard, "wide", repo.url)
    with transaction(dashboard.platform.sessions) as session:
        app = app_service.get(session, "wide")
        session.add(AuditRecord(actor="user:ada", source="dashboard", action="app.update", resource_type="app",
                                resource_name=app.name, app_id=app.id, changes={"apps.git_url": [repo.url, long_url]},
                                detail={"reason": "y" * 400}))
    page.set_viewport_size({"width": 1024, "height": 800})
    log_in(page, dashboard.url, "/apps/wide/activity")
    table = page.locator("table.activity")
    assert "x" * 50 in table.inner_text()
    fits = page.evaluate("""() => {
        const t = document.querySelector('table.activity');
        const box = t.parentElement.getBoundingClientRect();
        const r = t.getBoundingClientRect();
        return {table: r.right, column: box.right, page: document.documentElement.scrollWidth,
                view: document.documentElement.clientWidth};
    }""")
    assert fits["table"] <= fits["column"] + 1, fits
    assert fits["page"] <= fits["view"], fits  # no horizontal scrolling of the page
