"""Channels through the API: typed configs, secrets encrypted in the DB and masked in every answer."""

from __future__ import annotations

from sqlalchemy import text

from slipway.platform import Platform
from tests.unit.notify.conftest import Api

SLACK = "https://hooks.slack.com/services/T000/B000/verysecrettoken"


def test_secrets_are_masked_in_answers_and_encrypted_in_the_db(api: Api, platform: Platform) -> None:
    created = api.call("POST", "/channels", 201, json={
        "name": "ops", "type": "slack", "config": {"webhook_url": SLACK}}).json()
    assert created["config"]["webhook_url"] == "••••••••"
    mail = api.call("POST", "/channels", 201, json={"name": "mail", "type": "email", "config": {
        "host": "smtp.example.com", "username": "u", "password": "hunter2-password", "from_addr": "s@example.com",
        "to": ["a@example.com", "b@example.com"]}}).json()
    assert mail["config"]["password"] == "••••••••" and mail["config"]["host"] == "smtp.example.com"
    for path in ("/channels", "/channels/ops", "/channels/mail"):
        body = api.call("GET", path, 200).text
        assert "verysecrettoken" not in body and "hunter2" not in body
    with platform.engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM notify_channels")))
    assert "verysecrettoken" not in dump and "hunter2" not in dump
    assert "smtp.example.com" in dump  # non-secret settings stay readable


def test_patch_keeps_a_secret_sent_back_masked_and_replaces_a_new_one(api: Api, platform: Platform) -> None:
    from slipway.notify import service

    api.call("POST", "/channels", 201, json={"name": "ops", "type": "slack", "config": {"webhook_url": SLACK}})
    shown = api.call("GET", "/channels/ops", 200).json()
    api.call("PATCH", "/channels/ops", 200, json={"config": shown["config"], "enabled": False})
    with platform.sessions() as session:
        channel = service.get_channel(session, "ops")
        assert service.load_config(platform.box, channel).webhook_url == SLACK  # type: ignore[attr-defined]
        assert channel.enabled is False
    api.call("PATCH", "/channels/ops", 200, json={"config": {"webhook_url": SLACK + "2"}})
    with platform.sessions() as session:
        config = service.load_config(platform.box, service.get_channel(session, "ops"))
        assert config.webhook_url == SLACK + "2"  # type: ignore[attr-defined]


def test_invalid_configs_are_refused_with_the_field(api: Api) -> None:
    bad = api.call("POST", "/channels", 422, json={"name": "x", "type": "email", "config": {
        "host": "h", "from_addr": "a@b.c", "to": ["not-an-address"]}}).json()
    assert bad["detail"][0]["loc"] == ["to"]
    api.call("POST", "/channels", 422, json={"name": "x", "type": "slack", "config": {"webhook_url": "ftp://x"}})
    api.call("POST", "/channels", 422, json={"name": "x", "type": "webhook", "config": {
        "url": "http://127.0.0.1/", "secret": "short"}})
    api.call("POST", "/channels", 422, json={"name": "x", "type": "carrier-pigeon", "config": {}})
    api.call("POST", "/channels", 422, json={"name": "x", "type": "slack", "config": {"webhook_url": SLACK,
                                                                                       "extra": 1}})
    api.call("POST", "/channels", 201, json={"name": "x", "type": "browser"})
    api.call("POST", "/channels", 409, json={"name": "x", "type": "browser"})


def test_types_describe_their_forms_and_secret_fields(api: Api) -> None:
    types = {t["type"]: t for t in api.call("GET", "/notify/types", 200).json()}
    assert set(types) == {"slack", "discord", "telegram", "email", "webhook", "browser", "apprise"}
    assert types["telegram"]["secret_fields"] == ["bot_token"]
    assert types["email"]["secret_fields"] == ["password"]
    assert types["email"]["config_schema"]["properties"]["password"]["secret"] is True
    assert "deploy.failed" in api.call("GET", "/notify/events", 200).json()


def test_delete_and_not_found(api: Api) -> None:
    api.call("POST", "/channels", 201, json={"name": "inbox", "type": "browser"})
    api.call("DELETE", "/channels/inbox", 204)
    api.call("GET", "/channels/inbox", 404)
    api.call("POST", "/channels/inbox/test", 404)
    assert api.client.get("/api/v1/channels").status_code == 401
