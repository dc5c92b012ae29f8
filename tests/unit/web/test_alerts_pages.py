"""Alert pages: open alerts and history, Acknowledge (recorded with who, shown in the timeline), the
timeline with deliveries, alert rules built with the API's schema (errors inline), CSRF on every POST."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.notify import alerts, dispatch, service
from slipway.notify.models import Alert, AlertRule
from slipway.observability.models import metric_raw
from slipway.platform import Platform

from .conftest import log_in, page_csrf

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def firing(plat: Platform, make_repo: Callable[..., object]) -> int:
    """An app "shop" whose CPU rule (channel "ops") fired; the alert's id."""
    repo = make_repo("shop")
    with transaction(plat.sessions) as session:
        app = app_service.create(session, name="shop", git_url=repo.url, branch="main")  # type: ignore[attr-defined]
        app_id = app.id
        service.create_channel(session, plat.box, name="ops", type="browser", config={}, policy=plat.egress)
        alerts.create_rule(session, metric="cpu", operator=">", threshold=80, duration=60, app="shop",
                           severity="critical", channels=["ops"])
        session.execute(insert(metric_raw), [{"scope": "app", "target": str(app_id), "cpu": 95.0,
                                              "ts": T0 + dt.timedelta(seconds=10 * i)} for i in range(7)])
    assert alerts.evaluate(plat, now=T0 + dt.timedelta(seconds=60))["fired"] == 1
    dispatch.dispatch(plat)
    with plat.sessions() as session:
        return session.scalars(select(Alert.id)).one()


def resolve(plat: Platform) -> None:
    with plat.sessions() as session:
        app_id = app_service.get(session, "shop").id
    with transaction(plat.sessions) as session:
        session.execute(insert(metric_raw), [{"scope": "app", "target": str(app_id), "cpu": 10.0,
                                              "ts": T0 + dt.timedelta(seconds=70)}])
    assert alerts.evaluate(plat, now=T0 + dt.timedelta(seconds=71))["resolved"] == 1
    dispatch.dispatch(plat)


def open_rows(html: str) -> str:
    return html.split('id="open"')[1].split('id="history"')[0]


def history_rows(html: str) -> str:
    return html.split('id="history"')[1].split('id="rules"')[0]


def test_pages_need_a_session_and_posts_the_csrf_token(client: TestClient, plat: Platform, firing: int) -> None:
    for path in ("/alerts", f"/alerts/{firing}"):
        assert client.get(path).status_code == 303, path
    assert log_in(client).status_code == 303
    with plat.sessions() as session:
        rule_id = session.scalars(select(AlertRule.id)).one()
    for path in (f"/alerts/{firing}/ack", "/alerts/rules", f"/alerts/rules/{rule_id}/toggle",
                 f"/alerts/rules/{rule_id}/delete"):
        assert client.post(path, data={"metric": "cpu", "threshold": "1", "channels": "1"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "wrong"}).status_code == 403, path
    with plat.sessions() as session:
        assert session.get(Alert, firing).state == "firing"  # type: ignore[union-attr]
        rules = session.scalars(select(AlertRule)).all()
        assert len(rules) == 1 and rules[0].enabled


def test_firing_alert_ack_records_who_and_the_timeline(logged_in: TestClient, plat: Platform, firing: int) -> None:
    page = logged_in.get("/alerts")
    assert page.status_code == 200
    opened = open_rows(page.text)
    assert f'data-alert="{firing}"' in opened and "s-firing" in opened and "s-critical" in opened
    assert "cpu &gt; 80% for 1m" in opened and "95" in opened and "Acknowledge" in opened
    assert f'data-alert="{firing}"' not in history_rows(page.text)
    assert "<script>" not in page.text and "style=" not in page.text  # strict CSP: nothing inline

    token = page_csrf(logged_in, "/alerts")
    acked = logged_in.post(f"/alerts/{firing}/ack", data={"csrf_token": token, "back": "alert"})
    assert acked.status_code == 303 and acked.headers["location"] == f"/alerts/{firing}"
    with plat.sessions() as session:
        alert = session.get(Alert, firing)
        assert alert is not None and (alert.state, alert.acknowledged_by) == ("acknowledged", "user:ada")
    detail = logged_in.get(acked.headers["location"])
    assert detail.status_code == 200 and "Acknowledged alert" in detail.text  # the flash
    assert "by user:ada" in detail.text and "s-acknowledged" in detail.text
    kinds = re.findall(r'data-event="([a-z]+)"', detail.text)
    assert kinds == ["fired", "acknowledged"]
    fired_row = detail.text.split('data-event="fired"')[1].split("</tr>")[0]
    assert re.search(r"ops <span class=\"badge s-(queued|sent)\"", fired_row) and "95" in fired_row  # per channel
    ack_row = detail.text.split('data-event="acknowledged"')[1].split("</tr>")[0]
    assert "user:ada" in ack_row
    listing = logged_in.get("/alerts").text
    assert "s-acknowledged" in open_rows(listing) and "by user:ada" in open_rows(listing)
    assert f'action="/alerts/{firing}/ack"' not in listing  # no second Acknowledge

    resolve(plat)
    listing = logged_in.get("/alerts").text
    assert "No alert is firing." in open_rows(listing)
    assert f'data-alert="{firing}"' in history_rows(listing) and "user:ada" in history_rows(listing)
    kinds = re.findall(r'data-event="([a-z]+)"', logged_in.get(f"/alerts/{firing}").text)
    assert kinds == ["fired", "acknowledged", "resolved"]
    late = logged_in.post(f"/alerts/{firing}/ack", data={"csrf_token": token})
    assert late.status_code == 303 and "is resolved" in logged_in.get(late.headers["location"]).text
    assert logged_in.get("/alerts/999").status_code == 404


def test_rule_form_validation_toggle_and_delete(logged_in: TestClient, plat: Platform, firing: int) -> None:
    with plat.sessions() as session:
        ops = service.get_channel(session, "ops").id
    page = logged_in.get("/alerts")
    assert 'action="/alerts/rules"' in page.text and '<option value="response_time"' in page.text
    token = page_csrf(logged_in, "/alerts")
    form = {"csrf_token": token, "metric": "memory", "operator": ">=", "threshold": "512", "for": "5m",
            "app": "", "severity": "warning", "reminder_minutes": "30"}
    none = logged_in.post("/alerts/rules", data=form)  # no channel: the schema says at least one
    assert none.status_code == 422 and "channels" in none.text
    assert 'value="512"' in none.text  # the form keeps what was typed
    for bad, text in (({"threshold": "lots"}, "threshold"), ({"metric": "karma"}, "unknown metric"),
                      ({"operator": "=="}, "unknown operator"), ({"for": "soon"}, "expected a duration"),
                      ({"metric": "disk", "app": "shop"}, "disk is the host"),
                      ({"escalation_channels": str(ops)}, "escalation channels need escalation_minutes"),
                      ({"reminder_minutes": "-1"}, "reminder_minutes")):
        response = logged_in.post("/alerts/rules", data={**form, "channels": str(ops), **bad})
        assert response.status_code == 422, bad
        assert text in response.text.replace("&#39;", "'"), (bad, response.text.split('class="error"')[1][:200])
    with plat.sessions() as session:
        assert len(session.scalars(select(AlertRule)).all()) == 1

    ok = logged_in.post("/alerts/rules", data={**form, "channels": str(ops), "escalation_channels": str(ops),
                                               "escalation_minutes": "15", "name": "big memory"})
    assert ok.status_code == 303
    with plat.sessions() as session:
        rule = session.scalars(select(AlertRule).where(AlertRule.name == "big memory")).one()
        assert (rule.metric, rule.operator, rule.threshold, rule.duration, rule.app_id) == ("memory", ">=", 512,
                                                                                           300, None)
        assert (rule.reminder_minutes, rule.escalation_minutes) == (30, 15)
        rule_id = rule.id
    listing = logged_in.get(ok.headers["location"].split("#")[0]).text
    row = listing.split(f'data-alert-rule="{rule_id}"')[1].split("</tr>")[0]
    assert "big memory" in row and "memory &gt;= 512 MiB for 5m" in row and "all apps" in row
    assert "after 15 min" in row and "every 30 min" in row and "Disable" in row

    logged_in.post(f"/alerts/rules/{rule_id}/toggle", data={"csrf_token": token})
    with plat.sessions() as session:
        assert session.get(AlertRule, rule_id).enabled is False  # type: ignore[union-attr]
    assert "Enable" in logged_in.get("/alerts").text.split(f'data-alert-rule="{rule_id}"')[1].split("</tr>")[0]
    logged_in.post(f"/alerts/rules/{rule_id}/delete", data={"csrf_token": token})
    with plat.sessions() as session:
        assert session.get(AlertRule, rule_id) is None


def test_the_nav_and_the_channels_page_link_to_alerts(logged_in: TestClient) -> None:
    assert '<a href="/alerts">Alerts</a>' in logged_in.get("/").text
    assert 'href="/alerts"' in logged_in.get("/notifications/channels").text
    empty = logged_in.get("/alerts").text
    assert "No alert is firing." in empty and "notification channel</a> first" in empty
