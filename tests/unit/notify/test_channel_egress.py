"""Notification channels obey the egress rules: refused at config time (422) and again at each send.

The notify fixtures allow loopback (their receivers listen there); these tests take that allowance away
with `rules()` to show what an unlisted internal target gets, then give it back as the positive control.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slipway.egress import Policy
from slipway.platform import Platform
from tests.unit.notify.conftest import Api
from tests.unit.notify.receivers import Certs, HttpReceiver, SmtpReceiver


def rules(platform: Platform, allow: str, *answers: str) -> None:
    resolver = (lambda host, port: list(answers)) if answers else None
    platform.egress = Policy.from_settings(platform.settings.model_copy(update={"egress_allow": allow}),
                                           resolver=resolver)


def refused(response: Any) -> bool:
    return bool(response.status_code == 422 and response.json()["code"] == "egress_refused")


def test_internal_targets_are_refused_when_a_channel_is_configured(
        api: Api, platform: Platform, receiver: Callable[..., HttpReceiver]) -> None:
    rules(platform, "")
    inside = receiver()
    for type_, config in [
        ("webhook", {"url": inside.url + "/hook", "secret": "s" * 16}),
        ("webhook", {"url": "http://169.254.169.254/latest/", "secret": "s" * 16}),
        ("slack", {"webhook_url": "http://10.0.0.3/services/T/B/X"}),
        ("discord", {"webhook_url": "http://[::ffff:127.0.0.1]:2019/config/"}),
        ("telegram", {"bot_token": "1:A", "chat_id": "1", "api_url": f"http://127.0.0.1:{inside.port}"}),
        ("apprise", {"url": inside.url.replace("http://", "json://") + "/x"}),
        ("apprise", {"url": "ntfy://192.168.1.20/topic"}),
        ("apprise", {"url": "mailto://user:pass@example.com?smtp=10.0.0.5"}),
        ("email", {"host": "127.0.0.1", "port": 25, "from_addr": "s@example.com", "to": ["a@example.com"]}),
    ]:
        response = api.call("POST", "/channels", json={"name": "c", "type": type_, "config": config})
        assert refused(response), (type_, response.text)
    assert api.call("GET", "/channels", 200).json() == []
    assert inside.requests == []
    # services whose URL carries a token where a host would go (fixed public API hosts) still pass
    api.call("POST", "/channels", 201, json={"name": "push", "type": "apprise",
                                             "config": {"url": "pover://u" + "x" * 29 + "@a" + "y" * 29}})


def test_a_channel_cannot_be_changed_to_an_internal_target(api: Api, platform: Platform) -> None:
    rules(platform, "", "93.184.216.34")
    api.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                             "config": {"url": "https://hooks.example.org/x", "secret": "s" * 16}})
    assert refused(api.call("PATCH", "/channels/hook", json={"config": {"url": "http://127.0.0.1:2019/load"}}))


def test_each_send_checks_again(api: Api, platform: Platform, receiver: Callable[..., HttpReceiver]) -> None:
    hook, any_ = receiver(), receiver()
    api.call("POST", "/channels", 201, json={"name": "hook", "type": "webhook",
                                             "config": {"url": hook.url + "/h", "secret": "s" * 16}})
    api.call("POST", "/channels", 201, json={"name": "any", "type": "apprise",
                                             "config": {"url": any_.url.replace("http://", "json://") + "/a"}})
    rules(platform, "")  # the Admin removes loopback from SLIPWAY_EGRESS_ALLOW (or the name now points there)
    for name in ("hook", "any"):
        result = api.call("POST", f"/channels/{name}/test", 200).json()
        assert result["status"] != "sent" and "egress rules" in result["attempt_log"][-1]["error"], result
    assert hook.requests == [] and any_.requests == []
    rules(platform, "127.0.0.0/8")  # positive control
    for name in ("hook", "any"):
        assert api.call("POST", f"/channels/{name}/test", 200).json()["status"] == "sent"
    assert len(hook.requests) == 1 and len(any_.requests) == 1


def test_email_connects_through_the_rules(api: Api, platform: Platform, smtp: Callable[..., SmtpReceiver],
                                          certs: Certs) -> None:
    server = smtp(mode="starttls")
    # the certificate is checked against the name ("localhost"), while the connection goes to the address
    # the rules checked
    config = {"host": "localhost", "port": server.port, "security": "starttls", "from_addr": "s@example.com",
              "to": ["a@example.com"], "username": server.USER, "password": server.PASSWORD,
              "ca_file": str(certs.ca)}
    api.call("POST", "/channels", 201, json={"name": "mail", "type": "email", "config": config})
    rules(platform, "")
    result = api.call("POST", "/channels/mail/test", 200).json()
    assert result["status"] != "sent" and "egress rules" in result["attempt_log"][-1]["error"], result
    assert server.messages == []
    rules(platform, "127.0.0.0/8")
    assert api.call("POST", "/channels/mail/test", 200).json()["status"] == "sent"
    assert len(server.messages) == 1
