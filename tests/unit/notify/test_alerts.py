"""Alert rules on metrics: fire once when the condition holds over the whole window, resolve once,
acknowledge, remind, escalate once; deliveries go to the rule's channels through the dispatcher."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, select

from slipway.apps import service as app_service
from slipway.db import transaction, utcnow
from slipway.notify import alerts, dispatch
from slipway.notify.models import Delivery
from slipway.observability.models import metric_raw
from slipway.platform import Platform
from tests.unit.notify.conftest import Api
from tests.unit.notify.receivers import HttpReceiver, drain

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def samples(platform: Platform, app: str | None, start: dt.datetime, values: list[float], *,
            metric: str = "cpu", step: float = 10.0, **extra: float) -> None:
    with transaction(platform.sessions) as session:
        target = str(app_service.get(session, app).id) if app else "local"
        rows = [{"scope": "app" if app else "host", "target": target, "ts": start + dt.timedelta(seconds=i * step),
                 metric: v, **extra} for i, v in enumerate(values)]
        session.execute(insert(metric_raw), rows)


def access_log(platform: Platform, app: str, minutes: dict[dt.datetime, tuple[int, int]]) -> None:
    """Append Caddy JSON access lines: per minute, (requests, of which 5xx), spread over its first seconds."""
    directory = platform.settings.home / "caddy" / "access"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{app}.log"
    lines = []
    for minute, (total, errors) in sorted(minutes.items()):
        for i in range(total):
            lines.append(json.dumps({
                "level": "info", "ts": minute.timestamp() + i, "logger": f"http.log.access.slipway_access_{app}",
                "msg": "handled request", "request": {"method": "GET", "uri": "/x", "host": f"{app}.test"},
                "duration": 0.0123, "size": 2, "status": 502 if i < errors else 200}))
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))
    newest = max(minutes).timestamp() + 59
    os.utime(path, (newest, newest))  # as if Caddy had just written it (the search skips files older than since)


def sent(platform: Platform) -> list[tuple[str, str]]:
    """(event kind, channel) of every delivery, in order."""
    dispatch.dispatch(platform)
    with platform.sessions() as session:
        from slipway.notify import service
        return [(d.kind, service.get_channel(session, d.channel_id).name)
                for d in session.scalars(select(Delivery).order_by(Delivery.id))]


@pytest.fixture
def setup(api: Api, make_repo: Callable[..., Any]) -> Api:
    repo = make_repo()
    for name in ("shop", "blog"):
        api.call("POST", "/apps", 201, json={"name": name, "git_url": repo.url})
    for name in ("ops", "pager", "inbox"):
        api.call("POST", "/channels", 201, json={"name": name, "type": "browser"})
    return api


def test_rule_validation_and_listing(setup: Api) -> None:
    api = setup
    rule = api.call("POST", "/alert-rules", 201, json={"metric": "cpu", "operator": ">", "threshold": 80,
                                                        "for": "5m", "app": "shop", "severity": "critical",
                                                        "channels": ["ops"], "escalation_channels": ["pager"],
                                                        "escalation_minutes": 15}).json()
    assert rule["condition"] == "cpu > 80% for 5m" and rule["duration"] == 300 and rule["app"] == "shop"
    assert rule["channels"] == ["ops"] and rule["escalation_channels"] == ["pager"]
    api.call("POST", "/alert-rules", 422, json={"metric": "karma", "threshold": 1, "channels": ["ops"]})
    api.call("POST", "/alert-rules", 422, json={"metric": "cpu", "operator": "==", "threshold": 1,
                                                "channels": ["ops"]})
    api.call("POST", "/alert-rules", 422, json={"metric": "cpu", "threshold": 1, "channels": []})
    api.call("POST", "/alert-rules", 422, json={"metric": "disk", "threshold": 90, "app": "shop",
                                                "channels": ["ops"]})
    api.call("POST", "/alert-rules", 422, json={"metric": "cpu", "threshold": 1, "channels": ["ops"],
                                                "escalation_channels": ["pager"]})
    api.call("POST", "/alert-rules", 404, json={"metric": "cpu", "threshold": 1, "channels": ["nope"]})
    patched = api.call("PATCH", f"/alert-rules/{rule['id']}", 200,
                       json={"threshold": 90, "for": "10m", "all_apps": True}).json()
    assert patched["condition"] == "cpu > 90% for 10m" and patched["app"] is None
    assert [r["id"] for r in api.call("GET", "/alert-rules", 200).json()] == [rule["id"]]
    api.call("DELETE", f"/alert-rules/{rule['id']}", 204)
    api.call("GET", f"/alert-rules/{rule['id']}", 404)


def test_fires_only_when_the_whole_window_breaches_then_resolves_once(setup: Api, platform: Platform) -> None:
    api = setup
    api.call("POST", "/alert-rules", 201, json={"metric": "cpu", "operator": ">", "threshold": 80, "for": "60s",
                                                "app": "shop", "channels": ["ops"]})
    # a spike that does not last: 95 then 50 within the window → nothing
    samples(platform, "shop", T0, [95, 95, 95, 95, 95, 50, 95])  # T0 .. T0+60s
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=60))["fired"] == 0
    # every sample of the last 60 s above 80 → fires, once however often it is evaluated
    samples(platform, "shop", T0 + dt.timedelta(seconds=70), [96, 97, 98, 99, 97, 96])  # +70 .. +120
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=91))["fired"] == 0  # +50 (50) still in window
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=120))["fired"] == 1
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=121))["fired"] == 0
    [alert] = api.call("GET", "/alerts?state=firing", 200).json()
    assert alert["app"] == "shop" and alert["last_value"] == 96 and alert["condition"] == "cpu > 80% for 1m"
    assert sent(platform) == [("alert.fired", "ops")]
    # other apps are not affected by a rule of shop; blog has no data at all
    samples(platform, "blog", T0 + dt.timedelta(seconds=70), [99] * 6)
    alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=125))
    assert len(api.call("GET", "/alerts", 200).json()) == 1
    # back under the threshold → resolved once
    samples(platform, "shop", T0 + dt.timedelta(seconds=130), [40])
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=131))["resolved"] == 1
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=132))["resolved"] == 0
    assert sent(platform) == [("alert.fired", "ops"), ("alert.resolved", "ops")]
    detail = api.call("GET", f"/alerts/{alert['id']}", 200).json()
    assert detail["state"] == "resolved" and detail["resolved_at"] is not None
    assert [e["kind"] for e in detail["timeline"]] == ["fired", "resolved"]
    assert detail["timeline"][0]["deliveries"][0]["channel"] == "ops"
    assert api.call("GET", "/alerts?state=firing", 200).json() == []
    api.call("GET", "/alerts?state=bogus", 422)


def test_stale_data_never_fires_and_never_resolves(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/alert-rules", 201, json={"metric": "memory", "operator": ">=", "threshold": 100,
                                                  "channels": ["ops"]})
    mib = 1024 * 1024
    samples(platform, "shop", T0, [200 * mib], metric="mem")
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(hours=1))["fired"] == 0  # old sample
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(seconds=5))["fired"] == 1  # "for 0": newest sample
    # the collector stops: the alert stays firing
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(hours=1))["resolved"] == 0


def test_acknowledge_escalation_and_reminders(setup: Api, platform: Platform) -> None:
    api = setup
    api.call("POST", "/alert-rules", 201, json={"metric": "cpu", "threshold": 80, "channels": ["ops"],
                                                "escalation_channels": ["pager"], "escalation_minutes": 10,
                                                "reminder_minutes": 4})
    for app in ("shop", "blog"):
        samples(platform, app, T0, [90] * 61)  # 10 minutes of 90%
    alerts.evaluate(platform, now=T0)
    shop, blog = sorted(api.call("GET", "/alerts", 200).json(), key=lambda a: a["app"], reverse=True)
    assert shop["app"] == "shop" and blog["app"] == "blog"
    acked = api.call("POST", f"/alerts/{blog['id']}/ack", 200).json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] and acked["acknowledged_at"]
    api.call("POST", f"/alerts/{blog['id']}/ack", 200)  # idempotent
    counts = alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=5))
    assert counts == {"fired": 0, "resolved": 0, "reminded": 1, "escalated": 0}  # shop only: blog is acked
    counts = alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=10))
    assert counts == {"fired": 0, "resolved": 0, "reminded": 1, "escalated": 1}
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=10, seconds=5))["escalated"] == 0
    kinds = sent(platform)
    assert kinds.count(("alert.escalated", "pager")) == 1 and ("alert.escalated", "ops") not in kinds
    assert kinds.count(("alert.fired", "ops")) == 2 and kinds.count(("alert.reminder", "ops")) == 2
    assert not any(k == "alert.acknowledged" for k, _ in kinds)  # the ack notifies nobody by itself
    # resolving an escalated alert tells the escalation channels too
    samples(platform, "shop", T0 + dt.timedelta(minutes=10, seconds=10), [10])
    alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=10, seconds=11))
    assert {c for k, c in sent(platform) if k == "alert.resolved"} == {"ops", "pager"}
    timeline = [e["kind"] for e in api.call("GET", f"/alerts/{shop['id']}", 200).json()["timeline"]]
    assert timeline == ["fired", "reminder", "escalated", "reminder", "resolved"]
    api.call("POST", f"/alerts/{shop['id']}/ack", 409)
    assert [e["kind"] for e in api.call("GET", f"/alerts/{blog['id']}", 200).json()["timeline"]] == \
        ["fired", "acknowledged"]


def test_restarts_disk_and_disabled_rules(setup: Api, platform: Platform) -> None:
    api = setup
    api.call("POST", "/alert-rules", 201, json={"metric": "restarts", "operator": ">=", "threshold": 3,
                                                "for": "5m", "app": "shop", "channels": ["ops"]})
    disk = api.call("POST", "/alert-rules", 201, json={"metric": "disk", "threshold": 90, "for": "30s",
                                                       "channels": ["inbox"]}).json()
    samples(platform, "shop", T0, [1, 1, 2, 2, 4, 5], metric="restarts", step=60)  # +4 in 5 minutes
    gib = 1024 ** 3
    for i in range(4):
        samples(platform, None, T0 + dt.timedelta(minutes=5, seconds=-30 + 10 * i), [95 * gib], metric="disk_used",
                disk_total=100 * gib)
    counts = alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=5))
    assert counts["fired"] == 2
    by_rule = {a["condition"]: a for a in api.call("GET", "/alerts", 200).json()}
    assert by_rule["restarts >= 3 restarts for 5m"]["last_value"] == 4
    assert by_rule["disk > 90% for 30s"]["app"] is None and by_rule["disk > 90% for 30s"]["target"] == "host"
    # disabling a rule resolves its open alert
    api.call("PATCH", f"/alert-rules/{disk['id']}", 200, json={"enabled": False})
    assert alerts.evaluate(platform, now=T0 + dt.timedelta(minutes=5, seconds=1))["resolved"] == 1


def test_error_rate_reads_per_minute_buckets_of_the_access_log(setup: Api, platform: Platform) -> None:
    api = setup
    rule = api.call("POST", "/alert-rules", 201, json={"metric": "error_rate", "operator": ">", "threshold": 10,
                                                       "for": "3m", "app": "shop", "channels": ["ops"]}).json()
    assert rule["condition"] == "error_rate > 10% for 3m"
    api.call("POST", "/alert-rules", 422, json={"metric": "error_rate", "threshold": 10, "app": "shop",
                                                "operator": "!=", "channels": ["ops"]})
    minute = [T0 + dt.timedelta(minutes=i) for i in range(8)]
    # 12:00 fine (5 %), 12:01–12:03 above 10 %, then 12:04 back at 0 %
    access_log(platform, "shop", {minute[0]: (20, 1), minute[1]: (10, 2), minute[2]: (4, 1), minute[3]: (10, 5)})
    # the window 12:00:30–12:03:30 still overlaps the good minute 12:00 → nothing
    assert alerts.evaluate(platform, now=minute[3] + dt.timedelta(seconds=30))["fired"] == 0
    # 12:01:10–12:04:10: every minute with traffic in the window above 10 % → fires once
    assert alerts.evaluate(platform, now=minute[4] + dt.timedelta(seconds=10))["fired"] == 1
    assert alerts.evaluate(platform, now=minute[4] + dt.timedelta(seconds=20))["fired"] == 0
    [alert] = api.call("GET", "/alerts?state=firing", 200).json()
    assert alert["app"] == "shop" and alert["last_value"] == 50
    # an idle app: no request for minutes → no sample, the alert neither resolves nor re-fires
    assert alerts.evaluate(platform, now=minute[7])["resolved"] == 0
    # the newest minute below the threshold → resolved once
    access_log(platform, "shop", {minute[7]: (10, 0)})
    assert alerts.evaluate(platform, now=minute[7] + dt.timedelta(seconds=30))["resolved"] == 1
    assert alerts.evaluate(platform, now=minute[7] + dt.timedelta(seconds=40))["resolved"] == 0
    assert sent(platform) == [("alert.fired", "ops"), ("alert.resolved", "ops")]


def test_error_rate_on_an_idle_app_never_fires(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/alert-rules", 201, json={"metric": "error_rate", "operator": ">=", "threshold": 10,
                                                  "for": "3m", "channels": ["ops"]})  # every app
    minute = [T0 + dt.timedelta(minutes=i) for i in range(10)]
    access_log(platform, "shop", {minute[0]: (4, 4), minute[1]: (4, 4), minute[2]: (4, 4), minute[3]: (4, 4)})
    # long after the last request: no fresh sample → nothing, for shop or for blog (no log)
    assert alerts.evaluate(platform, now=minute[9])["fired"] == 0
    # only the last minute of a 3m window has traffic: the data does not cover the window → nothing
    access_log(platform, "blog", {minute[9]: (5, 5)})
    assert alerts.evaluate(platform, now=minute[9] + dt.timedelta(seconds=30))["fired"] == 0


def test_alert_reaches_a_webhook_with_its_context(setup: Api, platform: Platform,
                                                 receiver: Callable[..., HttpReceiver]) -> None:
    hook = receiver()
    setup.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                               "config": {"url": hook.url, "secret": "x" * 32}})
    setup.call("POST", "/alert-rules", 201, json={"metric": "cpu", "threshold": 80, "app": "shop",
                                                  "severity": "critical", "channels": ["hook"]})
    # an ordinary rule on alert.* to the same channel does not send it twice
    setup.call("POST", "/rules", 201, json={"event": "alert.*", "channels": ["hook", "inbox"]})
    now = utcnow()
    samples(platform, "shop", now - dt.timedelta(seconds=1), [93.5])
    alerts.evaluate(platform, now=now)
    dispatch.dispatch(platform)
    drain(platform)
    [request] = hook.requests
    body = request.json()
    assert body["kind"] == "alert.fired" and body["severity"] == "error" and body["app"] == "shop"
    assert body["title"] == "shop: [critical] cpu > 80% — firing"
    assert "93.5%" in body["text"]
    assert sorted(sent(platform)) == [("alert.fired", "hook"), ("alert.fired", "inbox")]
