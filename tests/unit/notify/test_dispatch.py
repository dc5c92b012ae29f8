"""Rules route outbox events to channels: per app or all, by kind or group, muted apps skipped,
each event once per channel however many rules and dispatchers there are."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from slipway import events
from slipway.apps import service as app_service
from slipway.db import transaction, utcnow
from slipway.events import Event
from slipway.notify import dispatch, service
from slipway.notify.models import Cursor, Delivery
from slipway.platform import Platform
from tests.unit.notify.conftest import Api
from tests.unit.notify.receivers import HttpReceiver, drain


def emit(platform: Platform, kind: str, app: str | None = None, **payload: Any) -> int:
    with transaction(platform.sessions) as session:
        app_id = app_service.get(session, app).id if app else None
        event = events.emit(session, kind, app_id=app_id, **payload)
        session.flush()
        return event.id


def deliveries(platform: Platform) -> list[tuple[str, str, str, str]]:
    """(event kind, app, channel, status) of every delivery, in order."""
    with platform.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        return [(d.kind, d.message.get("app") or "-", service.get_channel(session, d.channel_id).name, d.status)
                for d in rows]


@pytest.fixture
def setup(api: Api, platform: Platform, make_repo: Callable[..., Any]) -> Api:
    repo = make_repo()
    for name in ("shop", "blog"):
        api.call("POST", "/apps", 201, json={"name": name, "git_url": repo.url})
    for name in ("all-failures", "shop-only", "inbox"):
        api.call("POST", "/channels", 201, json={"name": name, "type": "browser"})
    return api


def test_matching() -> None:
    assert service.matches("*", "deploy.failed")
    assert service.matches("deploy.*", "deploy.failed") and not service.matches("deploy.*", "deployx.failed")
    assert service.matches("health.*", "health.down") and service.matches("incident.opened", "incident.opened")
    assert not service.matches("deploy.failed", "deploy.succeeded")


def test_rules_per_app_all_apps_and_wildcards(setup: Api, platform: Platform) -> None:
    api = setup
    api.call("POST", "/rules", 201, json={"event": "deploy.failed", "channels": ["all-failures"]})
    rule = api.call("POST", "/rules", 201, json={"event": "deploy.*", "app": "shop",
                                                 "channels": ["shop-only", "inbox"]})
    assert rule.json()["app"] == "shop" and rule.json()["channels"] == ["inbox", "shop-only"]
    api.call("POST", "/rules", 201, json={"event": "health.*", "channels": ["inbox"]})
    api.call("POST", "/rules", 201, json={"event": "incident.*", "channels": ["inbox"], "enabled": False})
    api.call("POST", "/rules", 422, json={"event": "deploy.fail ed", "channels": ["inbox"]})
    api.call("POST", "/rules", 422, json={"event": "deploy.*", "channels": []})
    api.call("POST", "/rules", 404, json={"event": "deploy.*", "channels": ["nope"]})
    emit(platform, "deploy.failed", "blog", reason="boom")
    emit(platform, "deploy.failed", "shop", reason="boom")
    emit(platform, "deploy.succeeded", "shop")
    emit(platform, "deploy.succeeded", "blog")
    emit(platform, "health.down", "blog", check="http /health")
    emit(platform, "incident.opened", "blog")
    emit(platform, "env.set", "shop", keys=["A"])
    assert dispatch.dispatch(platform) == 7
    assert sorted(deliveries(platform)) == [
        ("deploy.failed", "blog", "all-failures", "queued"),
        ("deploy.failed", "shop", "all-failures", "queued"),
        ("deploy.failed", "shop", "inbox", "queued"),
        ("deploy.failed", "shop", "shop-only", "queued"),
        ("deploy.succeeded", "shop", "inbox", "queued"),
        ("deploy.succeeded", "shop", "shop-only", "queued"),
        ("health.down", "blog", "inbox", "queued"),
    ]
    assert dispatch.dispatch(platform) == 0  # the cursor moved: nothing twice


def test_one_delivery_per_channel_when_several_rules_match(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/rules", 201, json={"event": "*", "channels": ["inbox"]})
    setup.call("POST", "/rules", 201, json={"event": "deploy.failed", "app": "shop", "channels": ["inbox"]})
    emit(platform, "deploy.failed", "shop")
    dispatch.dispatch(platform)
    assert [d for d in deliveries(platform) if d[0] != "rule.created"] == [("deploy.failed", "shop", "inbox", "queued")]


def test_muted_app_is_recorded_as_skipped_until_the_mute_expires(setup: Api, platform: Platform) -> None:
    api = setup
    api.call("POST", "/rules", 201, json={"event": "deploy.*", "channels": ["inbox"]})
    muted = api.call("POST", "/apps/shop/mute", 200, json={"for": "2h", "reason": "maintenance"}).json()
    assert muted["muted"] and muted["reason"] == "maintenance"
    assert [m["app"] for m in api.call("GET", "/mutes", 200).json()] == ["shop"]
    api.call("POST", "/apps/shop/mute", 422, json={"until": "2000-01-01T00:00:00Z"})
    api.call("POST", "/apps/shop/mute", 422, json={})
    emit(platform, "deploy.failed", "shop")
    emit(platform, "deploy.failed", "blog")
    dispatch.dispatch(platform)
    assert deliveries(platform) == [("deploy.failed", "shop", "inbox", "skipped"),
                                    ("deploy.failed", "blog", "inbox", "queued")]
    drain(platform)
    assert api.call("GET", "/notifications", 200).json()["unread"] == 1  # the muted one was never sent
    skipped = api.call("GET", "/deliveries?status=skipped", 200).json()
    assert skipped[0]["error"].startswith("muted until")
    api.call("DELETE", "/apps/shop/mute", 200)
    emit(platform, "deploy.failed", "shop")
    dispatch.dispatch(platform)
    assert deliveries(platform)[-1] == ("deploy.failed", "shop", "inbox", "queued")


def test_a_mute_expires_by_itself(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/rules", 201, json={"event": "*", "channels": ["inbox"]})
    with transaction(platform.sessions) as session:
        service.mute(session, app_service.get(session, "shop"), until=utcnow() + dt.timedelta(seconds=0.3))
    import time
    time.sleep(0.4)
    emit(platform, "deploy.failed", "shop")
    dispatch.dispatch(platform)
    assert deliveries(platform)[-1][-1] == "queued"


def test_disabled_channel_is_skipped(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/rules", 201, json={"event": "*", "channels": ["inbox"]})
    setup.call("PATCH", "/channels/inbox", 200, json={"enabled": False})
    emit(platform, "deploy.failed", "shop")
    dispatch.dispatch(platform)
    assert deliveries(platform)[-1][-1] == "skipped"


def test_history_before_the_feature_is_not_replayed(platform: Platform) -> None:
    with platform.sessions() as session:
        cursor = session.get(Cursor, dispatch.CURSOR)
        newest = session.scalar(select(func.max(Event.id))) or 0
        assert cursor is not None and cursor.last_event_id <= newest


def test_concurrent_dispatchers_handle_each_event_once(setup: Api, platform: Platform) -> None:
    setup.call("POST", "/rules", 201, json={"event": "deploy.*", "channels": ["inbox", "all-failures"]})
    for i in range(60):
        emit(platform, "deploy.failed", "shop" if i % 2 else "blog", reason=f"r{i}")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            dispatch.dispatch(platform, batch=7)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with platform.sessions() as session:
        pairs = session.execute(select(Delivery.event_id, Delivery.channel_id)).all()
    assert len(pairs) == 120 and len(set(pairs)) == 120


def test_a_young_gap_in_event_ids_waits_an_old_one_is_skipped(platform: Platform) -> None:
    def event(id_: int, age: float) -> Event:
        return Event(id=id_, kind="x.y", created_at=utcnow() - dt.timedelta(seconds=age))

    assert [e.id for e in dispatch._contiguous([event(5, 0), event(7, 0)], 4, 10)] == [5]
    assert [e.id for e in dispatch._contiguous([event(6, 0)], 4, 10)] == []
    assert [e.id for e in dispatch._contiguous([event(6, 30), event(7, 0)], 4, 10)] == [6, 7]


def test_message_of_a_deploy_event_carries_the_context(setup: Api, platform: Platform,
                                                       receiver: Callable[..., HttpReceiver]) -> None:
    hook = receiver()
    setup.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                               "config": {"url": hook.url, "secret": "x" * 32}})
    setup.call("POST", "/rules", 201, json={"event": "health.down", "channels": ["hook"]})
    emit(platform, "health.down", "shop", check="http /health", message="GET /health: 503 three times")
    dispatch.dispatch(platform)
    drain(platform)
    body = hook.requests[0].json()
    assert body["kind"] == "health.down" and body["severity"] == "error" and body["app"] == "shop"
    assert body["environment"] == "production" and body["url"] == "https://slipway.example.com/apps/shop"
    assert body["title"] == "shop: health.down (http /health)" and body["text"] == "GET /health: 503 three times"
