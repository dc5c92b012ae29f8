"""Deliveries are durable jobs: retried with backoff, every attempt recorded, failing channels flagged,
nothing lost when the process goes away."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from slipway.db import transaction, utcnow
from slipway.notify import deliver, service
from slipway.notify.channels.base import Message
from slipway.notify.models import Channel
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from tests.unit.notify.conftest import Api
from tests.unit.notify.receivers import HttpReceiver, drain


def queue_one(platform: Platform, channel: str, title: str = "hello") -> int:
    with transaction(platform.sessions) as session:
        row = service.get_channel(session, channel)
        return service.queue_delivery(session, platform.settings, channel=row,
                                      message=Message(kind="deploy.failed", title=title)).id


def hook(api: Api, name: str, url: str) -> None:
    api.call("POST", "/channels", 201, json={"name": name, "type": "slack", "config": {"webhook_url": url}})


def test_receiver_down_then_up_is_retried_with_backoff(api: Api, platform: Platform,
                                                       receiver: Callable[..., HttpReceiver]) -> None:
    flaky = receiver(fail_first=3)
    hook(api, "ops", flaky.url)
    delivery_id = queue_one(platform, "ops")
    assert drain(platform) == 4
    shown = api.call("GET", f"/deliveries/{delivery_id}", 200).json()
    assert shown["status"] == "sent" and shown["attempts"] == 4
    assert [(a["number"], a["ok"]) for a in shown["attempt_log"]] == [(1, False), (2, False), (3, False), (4, True)]
    assert shown["attempt_log"][0]["error"] == "HTTP 503: busy"
    times = [r.at for r in flaky.requests]
    assert len(times) == 4 and all(b > a for a, b in zip(times, times[1:], strict=False))
    channel = api.call("GET", "/channels/ops", 200).json()
    assert channel["consecutive_failures"] == 0 and not channel["failing"] and channel["last_success_at"]


def test_backoff_doubles_and_is_capped(platform: Platform) -> None:
    settings = platform.settings.model_copy(update={"notify_backoff": 5.0, "notify_backoff_max": 60.0})
    plat = Platform(settings, platform.engine, platform.sessions, platform.box, platform.runtime, platform.router)
    delays = [deliver.backoff(plat, n) for n in (1, 2, 3, 4, 5, 6)]
    assert 4.5 <= delays[0] <= 5.5 and 9 <= delays[1] <= 11 and 18 <= delays[2] <= 22
    assert all(d <= 60 for d in delays) and delays[-1] >= 54
    assert deliver.backoff(plat, 1, retry_after=30) >= 30  # the receiver's Retry-After wins when longer


def test_a_refusal_is_not_retried(api: Api, platform: Platform, receiver: Callable[..., HttpReceiver]) -> None:
    gone = receiver(status=404, reply=b"no_service")
    hook(api, "ops", gone.url)
    delivery_id = queue_one(platform, "ops")
    assert drain(platform) == 1
    shown = api.call("GET", f"/deliveries/{delivery_id}", 200).json()
    assert shown["status"] == "failed" and shown["error"] == "HTTP 404: no_service" and shown["attempts"] == 1


def test_receiver_down_for_good_fails_after_the_last_attempt_and_flags_the_channel(
        api: Api, platform: Platform) -> None:
    from tests.conftest import free_port

    hook(api, "dead", f"http://127.0.0.1:{free_port()}/hook")  # nobody listens there
    ids = [queue_one(platform, "dead", f"m{i}") for i in range(2)]
    drain(platform)
    for delivery_id in ids:
        shown = api.call("GET", f"/deliveries/{delivery_id}", 200).json()
        assert shown["status"] == "failed" and shown["attempts"] == platform.settings.notify_max_attempts
        assert "ConnectError" in shown["error"]
    channel = api.call("GET", "/channels/dead", 200).json()
    assert channel["failing"] is True and channel["consecutive_failures"] == 2 * platform.settings.notify_max_attempts
    assert "ConnectError" in channel["last_error"]
    assert [c["failing"] for c in api.call("GET", "/channels", 200).json()] == [True]


def test_failing_for_an_hour_flags_even_with_few_failures(platform: Platform) -> None:
    now = utcnow()
    channel = Channel(name="x", type="browser", consecutive_failures=1, failing_since=now - dt.timedelta(hours=2))
    assert service.failing(platform.settings, channel, now)
    channel.failing_since = now - dt.timedelta(minutes=5)
    assert not service.failing(platform.settings, channel, now)


def test_nothing_is_lost_across_a_restart(api: Api, platform: Platform, receiver: Callable[..., HttpReceiver]) -> None:
    from tests.conftest import free_port

    port = free_port()
    hook(api, "ops", f"http://127.0.0.1:{port}/hook")
    delivery_id = queue_one(platform, "ops", "survives")
    from slipway.jobs import queue
    from slipway.jobs.worker import Worker
    from slipway.notify import jobs as notify_jobs

    job = queue.claim(platform.sessions, worker="old#0", lease=30, kinds=[service.DELIVER])
    assert job is not None
    Worker(platform, notify_jobs.HANDLERS, threads=0).run(job, "old#0")  # one failed attempt, then "the server stops"
    platform.close()

    # a new control plane over the same database; the receiver is back, on the same address
    back = receiver(port=port)
    fresh = build_platform(platform.settings, router=MemoryRouter())
    try:
        assert drain(fresh) == 1
        with fresh.sessions() as session:
            delivery = service.get_delivery(session, delivery_id)
            assert (delivery.status, delivery.attempts) == ("sent", 2)
        assert [r.json()["text"] for r in back.requests] == ["ℹ️ survives"]
    finally:
        fresh.close()
