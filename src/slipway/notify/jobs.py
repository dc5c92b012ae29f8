"""What notifications run in the background: a worker pool of their own, the dispatcher, crash detection,
the alert evaluator.

Deliveries get their own worker threads (SLIPWAY_NOTIFY_WORKERS per process) so that a slow or dead
receiver never holds the threads deploys need, and so that concurrency towards receivers is bounded.
"""

from __future__ import annotations

from slipway.jobs.scheduler import Periodic
from slipway.jobs.worker import Handler, Worker
from slipway.notify import alerts, crash, deliver, dispatch
from slipway.notify.service import DELIVER
from slipway.platform import Platform

HANDLERS: dict[str, Handler] = {DELIVER: deliver.handle}


def worker(platform: Platform, *, enabled: bool = True) -> Worker | None:
    threads = platform.settings.notify_workers if enabled else 0
    return Worker(platform, HANDLERS, threads=threads) if threads else None


def periodic(platform: Platform, worker: Worker | None = None) -> list[Periodic]:
    """The dispatcher wakes this process's delivery workers when it queued something (their own poll is
    slow, to keep an idle server cheap); workers of other processes find the jobs at their next poll."""
    settings = platform.settings

    def run_dispatch() -> None:
        if dispatch.dispatch(platform) and worker is not None:
            worker.wake()

    return [
        Periodic("notify-dispatch", settings.notify_dispatch_interval, run_dispatch),
        Periodic("notify-crash-detect", settings.notify_crash_interval, lambda: crash.detect(platform)),
        Periodic("notify-alerts", settings.alert_interval, lambda: alerts.evaluate(platform)),
    ]
