"""What notifications run in the background: a worker pool of their own, the dispatcher, crash detection.

Deliveries get their own worker threads (SLIPWAY_NOTIFY_WORKERS per process) so that a slow or dead
receiver never holds the threads deploys need, and so that concurrency towards receivers is bounded.
"""

from __future__ import annotations

from slipway.jobs.scheduler import Periodic
from slipway.jobs.worker import Handler, Worker
from slipway.notify import crash, deliver, dispatch
from slipway.notify.service import DELIVER
from slipway.platform import Platform

HANDLERS: dict[str, Handler] = {DELIVER: deliver.handle}


def worker(platform: Platform, *, enabled: bool = True) -> Worker | None:
    threads = platform.settings.notify_workers if enabled else 0
    return Worker(platform, HANDLERS, threads=threads, poll=0.25) if threads else None


def periodic(platform: Platform) -> list[Periodic]:
    settings = platform.settings
    return [
        Periodic("notify-dispatch", settings.notify_dispatch_interval, lambda: dispatch.dispatch(platform)),
        Periodic("notify-crash-detect", settings.notify_crash_interval, lambda: crash.detect(platform)),
    ]
