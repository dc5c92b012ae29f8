"""Every channel type delivers for real to a receiver on loopback; the request is what the service expects."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_string

from slipway.notify import signing
from tests.unit.notify.conftest import Api
from tests.unit.notify.receivers import Certs, HttpReceiver, Request, SmtpReceiver


def add(api: Api, name: str, type_: str, config: dict[str, object]) -> None:
    api.call("POST", "/channels", 201, json={"name": name, "type": type_, "config": config})


def test_slack_incoming_webhook(api: Api, receiver: Callable[..., HttpReceiver]) -> None:
    slack = receiver(reply=b"ok")
    add(api, "ops", "slack", {"webhook_url": f"{slack.url}/services/T1/B2/XYZ"})
    result = api.call("POST", "/channels/ops/test", 200).json()
    assert result["status"] == "sent" and result["attempt_log"][0]["ok"] is True
    [request] = slack.requests
    assert request.path == "/services/T1/B2/XYZ" and request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["text"].endswith("Test notification from Slipway (ops)")
    assert body["blocks"][0]["type"] == "section" and body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert body["blocks"][-1]["elements"][0]["text"] == "<https://slipway.example.com/|Open in Slipway>"


def test_discord_webhook(api: Api, receiver: Callable[..., HttpReceiver]) -> None:
    discord = receiver(status=204, reply=b"")
    add(api, "chat", "discord", {"webhook_url": f"{discord.url}/api/webhooks/123/tok"})
    assert api.call("POST", "/channels/chat/test", 200).json()["status"] == "sent"
    body = discord.requests[0].json()
    assert discord.requests[0].path == "/api/webhooks/123/tok"
    assert body["username"] == "Slipway" and body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "Test notification from Slipway (chat)" and embed["color"] == 0x3B82F6
    assert embed["url"] == "https://slipway.example.com/"


def test_telegram_bot(api: Api, receiver: Callable[..., HttpReceiver]) -> None:
    telegram = receiver(reply=b'{"ok":true,"result":{}}')
    add(api, "tg", "telegram", {"bot_token": "123456:ABC-secret", "chat_id": "-100200", "api_url": telegram.url})
    assert api.call("POST", "/channels/tg/test", 200).json()["status"] == "sent"
    request = telegram.requests[0]
    assert request.path == "/bot123456:ABC-secret/sendMessage"
    body = request.json()
    assert body["chat_id"] == "-100200" and body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>ℹ️ Test notification from Slipway (tg)</b>")
    assert '<a href="https://slipway.example.com/">Open in Slipway</a>' in body["text"]
    assert "ABC-secret" not in api.call("GET", "/channels/tg", 200).text


def test_signed_webhook_verifies_at_the_receiver(api: Api, receiver: Callable[..., HttpReceiver]) -> None:
    secret = "a-shared-secret-of-32-characters"

    def verify(request: Request) -> bool:
        return signing.verify(secret, body=request.body, timestamp=request.headers[signing.TIMESTAMP_HEADER.lower()],
                              signature=request.headers[signing.SIGNATURE_HEADER.lower()])

    hook = receiver(verify=verify)
    add(api, "hook", "webhook", {"url": f"{hook.url}/in", "secret": secret})
    result = api.call("POST", "/channels/hook/test", 200).json()
    assert result["status"] == "sent", result
    request = hook.requests[0]
    assert request.headers["x-slipway-event"] == "notify.test"
    assert request.headers["x-slipway-delivery"] == str(result["id"])
    assert request.json()["delivery_id"] == result["id"] and request.json()["kind"] == "notify.test"
    # a wrong secret is refused by the same receiver: the 401 is a failure that retrying cannot fix
    api.call("PATCH", "/channels/hook", 200, json={"config": {"secret": "another-secret-of-32-characters!"}})
    failed = api.call("POST", "/channels/hook/test", 200).json()
    assert failed["status"] == "failed" and failed["error"].startswith("HTTP 401")


def test_signature_rejects_tampering_and_replays() -> None:
    body = b'{"kind":"deploy.failed"}'
    header = signing.sign("s" * 16, 1_700_000_000, body)
    assert signing.verify("s" * 16, body=body, timestamp="1700000000", signature=header, now=1_700_000_100)
    assert not signing.verify("s" * 16, body=body + b" ", timestamp="1700000000", signature=header,
                              now=1_700_000_100)
    assert not signing.verify("s" * 16, body=body, timestamp="1700000001", signature=header, now=1_700_000_100)
    assert not signing.verify("s" * 16, body=body, timestamp="1700000000", signature=header, now=1_700_001_000)


def test_email_starttls_with_login_to_several_recipients(api: Api, smtp: Callable[..., SmtpReceiver],
                                                         certs: Certs) -> None:
    server = smtp(mode="starttls")
    add(api, "mail", "email", {"host": "localhost", "port": server.port, "security": "starttls",
                               "username": server.USER, "password": server.PASSWORD,
                               "from_addr": "Slipway <slipway@example.com>", "to": ["a@example.com", "b@example.com"],
                               "ca_file": str(certs.ca)})
    result = api.call("POST", "/channels/mail/test", 200).json()
    assert result["status"] == "sent", result
    [mail] = server.messages
    assert mail["tls"] is True and mail["to"] == ["a@example.com", "b@example.com"]
    parsed = message_from_string(mail["data"])
    assert parsed["Subject"] == "[Slipway] Test notification from Slipway (mail)"
    assert parsed["X-Slipway-Event"] == "notify.test"
    assert "https://slipway.example.com/" in parsed.get_payload(decode=True).decode()


def test_email_implicit_tls(api: Api, smtp: Callable[..., SmtpReceiver], certs: Certs) -> None:
    server = smtp(mode="tls")
    add(api, "mail", "email", {"host": "localhost", "port": server.port, "security": "tls",
                               "username": server.USER, "password": server.PASSWORD,
                               "from_addr": "slipway@example.com", "to": ["ops@example.com"], "ca_file": str(certs.ca)})
    result = api.call("POST", "/channels/mail/test", 200).json()
    assert result["status"] == "sent", result["error"]
    assert server.messages[0]["to"] == ["ops@example.com"]


def test_email_refuses_an_untrusted_certificate_and_a_wrong_password(api: Api, smtp: Callable[..., SmtpReceiver],
                                                                     certs: Certs) -> None:
    server = smtp(mode="starttls")
    config = {"host": "localhost", "port": server.port, "username": server.USER, "password": "wrong",
              "from_addr": "slipway@example.com", "to": ["ops@example.com"]}
    add(api, "untrusted", "email", config)  # no ca_file: the system store does not know the test CA
    failed = api.call("POST", "/channels/untrusted/test", 200).json()
    assert failed["status"] == "failed" and "certificate" in failed["error"]
    add(api, "badpass", "email", {**config, "ca_file": str(certs.ca)})
    failed = api.call("POST", "/channels/badpass/test", 200).json()
    assert failed["status"] == "failed" and "login refused" in failed["error"]
    assert server.messages == []


def test_apprise_url_delivers_through_apprise(api: Api, receiver: Callable[..., HttpReceiver]) -> None:
    target = receiver()
    add(api, "any", "apprise", {"url": target.url.replace("http://", "json://") + "/apprise"})
    result = api.call("POST", "/channels/any/test", 200).json()
    assert result["status"] == "sent", result
    body = target.requests[0].json()
    assert target.requests[0].path == "/apprise" and body["title"] == "Test notification from Slipway (any)"
    assert api.call("POST", "/channels", 422, json={"name": "bad", "type": "apprise",
                                                    "config": {"url": "nonsense://x"}}).json()["detail"]


def test_browser_notification_center(api: Api) -> None:
    add(api, "inbox", "browser", {})
    for _ in range(3):
        assert api.call("POST", "/channels/inbox/test", 200).json()["status"] == "sent"
    page = api.call("GET", "/notifications", 200).json()
    assert page["unread"] == 3 and len(page["items"]) == 3
    first = page["items"][0]
    assert first["title"] == "Test notification from Slipway (inbox)" and first["read"] is False
    assert api.call("POST", "/notifications/read", 200, json={"ids": [first["id"]]}).json() == \
        {"marked": 1, "unread": 2}
    assert [n["id"] for n in api.call("GET", "/notifications?unread=true", 200).json()["items"]] == \
        [n["id"] for n in page["items"][1:]]
    assert api.call("POST", "/notifications/read", 200, json={"all": True}).json() == {"marked": 2, "unread": 0}
