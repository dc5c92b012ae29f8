"""Notification pages: the center and its bell, channel forms rendered from the types' JSON schemas
(secrets as password inputs, masked values kept on save), Send test, rules and mutes; CSRF on every POST."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.unit.notify.receivers import HttpReceiver

from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.notify import service
from slipway.notify.models import Channel, Notification, Rule
from slipway.platform import Platform
from slipway.web.notify_pages import form_fields

from .conftest import page_csrf

SECRET = "a-long-enough-shared-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver listens on loopback, which the egress rules refuse unless an Admin allows it."""
    return settings.model_copy(update={"egress_allow": "127.0.0.0/8"})


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_app(plat: Platform, make_repo: Callable[..., object]) -> Callable[[str], None]:
    def make(name: str = "hello") -> None:
        repo = make_repo(name)
        with transaction(plat.sessions) as session:
            app_service.create(session, name=name, git_url=repo.url, branch="main")  # type: ignore[attr-defined]

    return make


def test_forms_come_from_the_json_schemas() -> None:
    webhook = {f["name"]: f for f in form_fields("webhook")}
    assert webhook["secret"]["kind"] == "password" and webhook["secret"]["required"]
    assert webhook["url"]["kind"] == "text" and webhook["url"]["label"] == "URL"
    email = {f["name"]: f for f in form_fields("email")}
    assert email["port"]["kind"] == "number" and email["port"]["default"] == 587
    assert email["security"]["kind"] == "select" and email["security"]["options"] == ["starttls", "tls", "none"]
    assert email["to"]["kind"] == "lines" and email["verify_tls"]["kind"] == "checkbox"
    assert email["password"]["kind"] == "password" and not email["password"]["required"]
    assert form_fields("browser") == []


def test_pages_need_a_session_and_posts_the_csrf_token(client: TestClient, plat: Platform) -> None:
    for path in ("/notifications", "/notifications/channels", "/notifications/channels/1", "/partials/bell"):
        assert client.get(path).status_code == 303, path
    from .conftest import log_in

    assert log_in(client).status_code == 303
    with transaction(plat.sessions) as session:
        service.create_channel(session, plat.box, name="c", type="browser", config={}, policy=plat.egress)
    for path in ("/notifications/channels", "/notifications/channels/1", "/notifications/channels/1/test",
                 "/notifications/channels/1/delete", "/notifications/rules", "/notifications/read",
                 "/notifications/mutes"):
        assert client.post(path, data={"name": "x", "type": "browser", "all": "true"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "wrong"}).status_code == 403, path
    with plat.sessions() as session:
        assert [c.name for c in session.scalars(select(Channel))] == ["c"]


def test_create_a_webhook_channel_keep_its_secret_and_send_a_test(logged_in: TestClient, plat: Platform,
                                                                 http_receiver: HttpReceiver) -> None:
    page = logged_in.get("/notifications/channels", params={"type": "webhook"})
    assert page.status_code == 200
    assert re.search(r'<input type="password" name="cfg\.secret"', page.text)
    token = page_csrf(logged_in, "/notifications/channels")
    form = {"csrf_token": token, "type": "webhook", "name": "ops", "cfg.url": http_receiver.url, "cfg.secret": "x"}
    short = logged_in.post("/notifications/channels", data=form)
    assert short.status_code == 422
    assert "secret" in short.text and http_receiver.url in short.text  # the form keeps the URL, not the secret
    created = logged_in.post("/notifications/channels", data={**form, "cfg.secret": SECRET})
    assert created.status_code == 303
    with plat.sessions() as session:
        channel = service.get_channel(session, "ops")
        channel_id = channel.id
        assert service.load_config(plat.box, channel).model_dump() == {"url": http_receiver.url, "secret": SECRET}

    edit = logged_in.get(f"/notifications/channels/{channel_id}")
    assert SECRET not in edit.text
    masked = re.search(r'name="cfg\.secret" value="([^"]*)"', edit.text)
    assert masked and masked.group(1) and masked.group(1) != SECRET
    saved = logged_in.post(f"/notifications/channels/{channel_id}",
                           data={"csrf_token": token, "name": "ops", "cfg.url": http_receiver.url + "/v2",
                                 "cfg.secret": masked.group(1), "enabled": "true"})
    assert saved.status_code == 303
    with plat.sessions() as session:
        config = service.load_config(plat.box, service.get_channel(session, channel_id)).model_dump()
    assert config == {"url": http_receiver.url + "/v2", "secret": SECRET}  # the masked value kept the secret

    result = logged_in.post(f"/notifications/channels/{channel_id}/test", data={"csrf_token": token},
                            headers={"HX-Request": "true"})
    assert result.status_code == 200 and "Sent" in result.text
    assert len(http_receiver.requests) == 1 and http_receiver.requests[0].json()["kind"] == "notify.test"

    http_receiver.status = 404
    failed = logged_in.post(f"/notifications/channels/{channel_id}/test", data={"csrf_token": token})
    assert failed.status_code == 303  # without htmx: a flash on the page
    listing = logged_in.get(failed.headers["location"])
    assert "The test to ops failed: HTTP 404" in listing.text
    assert "1 failure in a row" in listing.text


def test_center_bell_and_mark_read(logged_in: TestClient, plat: Platform) -> None:
    with transaction(plat.sessions) as session:
        service.create_channel(session, plat.box, name="center", type="browser", config={}, policy=plat.egress)
    token = page_csrf(logged_in, "/notifications/channels")
    assert 'data-unread="0"' in logged_in.get("/partials/bell").text
    assert logged_in.post("/notifications/channels/1/test", data={"csrf_token": token}).status_code == 303
    assert logged_in.post("/notifications/channels/1/test", data={"csrf_token": token}).status_code == 303
    bell = logged_in.get("/partials/bell").text
    assert 'data-unread="2"' in bell and ">2<" in bell
    center = logged_in.get("/notifications")
    assert center.text.count('class="notice sev-info unread"') == 2
    assert "Test notification from Slipway (center)" in center.text
    with plat.sessions() as session:
        first = min(n.id for n in session.scalars(select(Notification)))
    assert logged_in.post("/notifications/read", data={"csrf_token": token, "ids": str(first)}).status_code == 303
    assert logged_in.get("/notifications", params={"unread": "true"}).text.count("notice sev-info unread") == 1
    logged_in.post("/notifications/read", data={"csrf_token": token, "all": "true"})
    assert 'data-unread="0"' in logged_in.get("/partials/bell").text


def test_rules_and_mutes(logged_in: TestClient, plat: Platform, make_app: Callable[[str], None]) -> None:
    make_app("hello")
    with transaction(plat.sessions) as session:
        service.create_channel(session, plat.box, name="center", type="browser", config={}, policy=plat.egress)
    page = logged_in.get("/notifications/channels")
    assert '<option value="deploy.*">' in page.text and '<option value="deploy.failed">' in page.text
    token = page_csrf(logged_in, "/notifications/channels")
    none = logged_in.post("/notifications/rules", data={"csrf_token": token, "event": "deploy.*"})
    assert none.status_code == 422 and "at least one channel" in none.text
    bad = logged_in.post("/notifications/rules", data={"csrf_token": token, "event": "Deploy!", "channels": "1"})
    assert bad.status_code == 422 and "invalid event pattern" in bad.text
    ok = logged_in.post("/notifications/rules", data={"csrf_token": token, "event": "deploy.failed", "app": "hello",
                                                      "channels": "1"})
    assert ok.status_code == 303
    with plat.sessions() as session:
        rule = session.scalars(select(Rule)).one()
        assert (rule.event, rule.enabled) == ("deploy.failed", True)
        rule_id = rule.id
    assert "hello" in logged_in.get("/notifications/channels").text
    logged_in.post(f"/notifications/rules/{rule_id}/toggle", data={"csrf_token": token})
    with plat.sessions() as session:
        assert session.get(Rule, rule_id).enabled is False  # type: ignore[union-attr]
    logged_in.post(f"/notifications/rules/{rule_id}/delete", data={"csrf_token": token})
    with plat.sessions() as session:
        assert session.scalars(select(Rule)).all() == []

    muted = logged_in.post("/notifications/mutes", data={"csrf_token": token, "app": "hello", "for": "2h",
                                                         "reason": "maintenance"})
    assert muted.status_code == 303
    with plat.sessions() as session:
        mutes = service.active_mutes(session)
        assert len(mutes) == 1 and next(iter(mutes.values())).reason == "maintenance"
    assert 'data-mute="hello"' in logged_in.get("/notifications/channels").text
    wrong = logged_in.post("/notifications/mutes", data={"csrf_token": token, "app": "hello", "for": "soon"})
    assert wrong.status_code == 303
    assert "expected a duration" in logged_in.get(wrong.headers["location"]).text
    logged_in.post("/notifications/mutes/hello/delete", data={"csrf_token": token})
    with plat.sessions() as session:
        assert service.active_mutes(session) == {}
