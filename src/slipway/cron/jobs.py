"""What scheduled jobs run in the background: a worker pool of their own and the ledger tick.

Runs get their own threads (SLIPWAY_CRON_WORKERS per process) so that a long job never holds the
threads deploys need; the tick wakes this process's pool when it queued runs, and the pools of other
processes find them at their next poll.
"""

from __future__ import annotations

from slipway.cron import ledger, runner
from slipway.cron.service import RUN_KIND
from slipway.jobs.scheduler import Periodic
from slipway.jobs.worker import Handler, Worker
from slipway.platform import Platform

HANDLERS: dict[str, Handler] = {RUN_KIND: runner.handle}


def worker(platform: Platform, *, enabled: bool = True) -> Worker | None:
    threads = platform.settings.cron_workers if enabled else 0
    return Worker(platform, HANDLERS, threads=threads, poll=1.0) if threads else None


def periodic(platform: Platform, worker: Worker | None = None) -> list[Periodic]:
    def tick() -> None:
        if ledger.tick(platform) and worker is not None:
            worker.wake()

    return [Periodic("cron-tick", platform.settings.cron_tick, tick),
            Periodic("cron-orphans", 60.0, lambda: ledger.sweep_orphans(platform))]
