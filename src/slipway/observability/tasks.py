"""The periodic work of observability, as Periodic tasks for server.Background.

- metrics-collect (every SLIPWAY_METRICS_INTERVAL): one sampling round, in the one process that holds the
  sampler lock (see collector.py);
- metrics-rollup (every 30 s) and metrics-retention (every 10 min): idempotent, any process;
- health-checks (every 1 s): claims the due checks with a guarded UPDATE (exactly one process runs each)
  and hands them to a bounded thread pool, so a slow check never holds up the scheduler thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete

from slipway.db import transaction, utcnow
from slipway.jobs.scheduler import Periodic
from slipway.observability import checks, health, logretention, rollup
from slipway.observability.collector import Collector
from slipway.observability.models import Check, CheckResult
from slipway.platform import Platform

log = logging.getLogger(__name__)


class HealthRunner:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        size = platform.settings.health_concurrency
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="slipway-check")
        self._clients = health.Clients(platform.egress, max_connections=size * 2)
        self._inflight: set[int] = set()
        self._lock = threading.Lock()

    def tick(self) -> int:
        with self._lock:
            room = self.platform.settings.health_concurrency * 2 - len(self._inflight)
        if room <= 0:
            return 0
        with transaction(self.platform.sessions) as session:
            due = checks.claim_due(session, now=utcnow(), limit=room)
        for check_id in due:
            with self._lock:
                if check_id in self._inflight:
                    continue
                self._inflight.add(check_id)
            self._pool.submit(self._run, check_id)
        return len(due)

    def run_now(self, check_id: int) -> str | None:
        """Run one check in this thread (tests, "run now" in the API); returns the incident action."""
        return run_check(self.platform, check_id, self._clients)

    def _run(self, check_id: int) -> None:
        try:
            run_check(self.platform, check_id, self._clients)
        except Exception:
            log.exception("health check %s failed to run", check_id)
        finally:
            with self._lock:
                self._inflight.discard(check_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._clients.close()


def run_check(platform: Platform, check_id: int, clients: health.Clients | None = None) -> str | None:
    with platform.sessions() as session:
        check = session.get(Check, check_id)
        if check is None:
            return None
        probes = checks.probes(session, check)
    if clients is None:
        with health.Clients(platform.egress) as own_clients:
            result = checks.run_probes(probes, own_clients)
    else:
        result = checks.run_probes(probes, clients)  # no transaction held while we wait on the network
    with transaction(platform.sessions) as session:
        check = session.get(Check, check_id)
        if check is None:  # deleted meanwhile
            return None
        return checks.record(session, check, result)


def prune_results(platform: Platform) -> int:
    cutoff = utcnow() - dt.timedelta(days=platform.settings.health_results_retention_days)
    with transaction(platform.sessions) as session:
        return session.execute(delete(CheckResult).where(CheckResult.ts < cutoff)).rowcount


class ObservabilityTasks:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.collector = Collector(platform)
        self.health = HealthRunner(platform)

    def periodic(self) -> list[Periodic]:
        settings = self.platform.settings
        return [
            Periodic("metrics-collect", settings.metrics_interval, self.collector.tick),
            Periodic("metrics-rollup", 30.0, lambda: rollup.roll_up(self.platform)),
            Periodic("metrics-retention", 600.0, self._retention),
            Periodic("log-retention", 600.0, lambda: logretention.enforce(self.platform)),
            Periodic("health-checks", 1.0, self.health.tick),
        ]

    def _retention(self) -> None:
        rollup.enforce_retention(self.platform)
        prune_results(self.platform)

    def close(self) -> None:
        self.health.close()
        self.collector.close()
