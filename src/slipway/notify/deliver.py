"""The notify.deliver job: one attempt at sending one delivery, recorded; Retry with backoff on failure.

At least once: a worker killed between the send and the record loses its lease and the job runs
again, so a receiver may see a delivery twice. Webhook receivers drop repeats by X-Slipway-Delivery.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from slipway.db import transaction, utcnow
from slipway.jobs.models import Job
from slipway.jobs.worker import JobContext, Retry
from slipway.notify import service
from slipway.notify.channels import get_type
from slipway.notify.channels.base import DeliveryFailed, Message, SendContext
from slipway.notify.models import Attempt, Channel, Delivery
from slipway.platform import Platform

FINAL = ("sent", "failed", "skipped")


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None


def handle(ctx: JobContext) -> None:
    platform = ctx.platform
    with platform.sessions() as session:
        job = session.get(Job, ctx.job_id)
        last = job is None or ctx.attempt >= job.max_attempts
    outcome = attempt(platform, ctx.payload["delivery_id"], number=ctx.attempt, last=last)
    if outcome is not None and not outcome.ok and outcome.retry:
        # on the last attempt the queue marks the job failed; the delivery already says so
        raise Retry(outcome.error or "delivery failed", delay=backoff(platform, ctx.attempt, outcome.retry_after))


def backoff(platform: Platform, attempt: int, retry_after: float | None = None) -> float:
    """Exponential with ±10% jitter (retries of one outage spread out), at least what the receiver asked."""
    settings = platform.settings
    delay = min(settings.notify_backoff * 2 ** max(attempt - 1, 0), settings.notify_backoff_max)
    delay *= random.uniform(0.9, 1.1)
    return min(max(delay, retry_after or 0.0), max(settings.notify_backoff_max, 1.0))


def attempt(platform: Platform, delivery_id: int, *, number: int, last: bool) -> Outcome | None:
    """Send once and record it. None: nothing to do (already final, channel gone)."""
    with platform.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status in FINAL:
            return None
        channel = session.get(Channel, delivery.channel_id)
        if channel is None or not channel.enabled:
            skip = "channel disabled" if channel else "channel deleted"
        else:
            skip = None
            ctype = get_type(channel.type)
            config = service.load_config(platform.box, channel)
        message = Message.model_validate(delivery.message)
    if skip is not None:
        with transaction(platform.sessions) as session:
            row = session.get(Delivery, delivery_id)
            if row is not None:
                row.status, row.error = "skipped", skip
        return None
    started = time.monotonic()
    try:
        ctype.send(SendContext(platform, delivery_id, channel.id), message, config)
        outcome = Outcome(ok=True)
    except DeliveryFailed as exc:
        outcome = Outcome(ok=False, error=str(exc)[:2000], retry=exc.retry, retry_after=exc.retry_after)
    except Exception as exc:  # a bug in a sender must not lose the message: record it and retry
        outcome = Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:2000], retry=True)
    duration = int((time.monotonic() - started) * 1000)
    record(platform, delivery_id, channel.id, outcome, number=number, duration_ms=duration, last=last)
    return outcome


def record(platform: Platform, delivery_id: int, channel_id: int, outcome: Outcome, *, number: int,
           duration_ms: int, last: bool) -> None:
    with transaction(platform.sessions) as session:
        session.add(Attempt(delivery_id=delivery_id, number=number, ok=outcome.ok, error=outcome.error,
                            duration_ms=duration_ms))
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            delivery.attempts = max(delivery.attempts, number)
            delivery.error = outcome.error
            if outcome.ok:
                delivery.status, delivery.sent_at = "sent", utcnow()
            else:
                delivery.status = "retrying" if outcome.retry and not last else "failed"
        service.record_health(session, channel_id, None if outcome.ok else outcome.error or "failed")


def send_test(platform: Platform, channel_id: int, *, actor: str) -> Delivery:
    """"Send test": one attempt now, in the caller's thread, so the answer says whether it works."""
    with transaction(platform.sessions) as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = Message(kind="notify.test", title=f"Test notification from Slipway ({channel.name})",
                          text=f"{actor} sent this test to check the {channel.type} channel "
                               f"“{channel.name}”. If you can read it, it works.",
                          severity="info", url=platform.settings.dashboard_url.rstrip("/") + "/",
                          created_at=utcnow().isoformat())
        delivery = Delivery(channel_id=channel.id, kind=message.kind, message=message.model_dump(mode="json"),
                            status="queued")
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    # a disabled channel is tested all the same: that is how one checks it before enabling it
    started = time.monotonic()
    try:
        get_type(channel.type).send(SendContext(platform, delivery_id, channel.id), message,
                                    service.load_config(platform.box, channel))
        outcome = Outcome(ok=True)
    except DeliveryFailed as exc:
        outcome = Outcome(ok=False, error=str(exc)[:2000])
    record(platform, delivery_id, channel.id, outcome, number=1,
           duration_ms=int((time.monotonic() - started) * 1000), last=True)
    with platform.sessions() as session:
        return service.get_delivery(session, delivery_id)
