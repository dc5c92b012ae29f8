"""What runs beside the API in `slipway server` / `slipway worker`: router, job workers, periodic tasks."""

from __future__ import annotations

import datetime as dt
import logging

from slipway.audit import service as audit_service
from slipway.cron import jobs as cron_jobs
from slipway.db_sqlite import Checkpointer
from slipway.deploys import pipeline, reconcile
from slipway.forge import jobs as forge_jobs
from slipway.hooks import service as hook_service
from slipway.instances import service as instance_service
from slipway.jobs.scheduler import Periodic, Scheduler
from slipway.jobs.worker import Handler, Worker
from slipway.notify import jobs as notify_jobs
from slipway.observability.tasks import ObservabilityTasks
from slipway.platform import Platform
from slipway.previews import jobs as preview_jobs
from slipway.routing import service as routing

log = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {"deploy": pipeline.handle, **forge_jobs.HANDLERS, **preview_jobs.HANDLERS}
# forge statuses and preview teardowns also get threads of their own: they must not wait behind long builds
SIDE_HANDLERS: dict[str, Handler] = {**forge_jobs.HANDLERS, **preview_jobs.HANDLERS}


class Background:
    def __init__(self, platform: Platform, *, workers: int | None = None, router: bool = True) -> None:
        self.platform = platform
        self.with_router = router
        threads = platform.settings.workers if workers is None else workers
        self.worker = Worker(platform, HANDLERS, threads=threads) if threads else None
        tasks = [
            Periodic("reap-dead-jobs", 5.0, lambda: reconcile.reap_dead_jobs(platform)),
            Periodic("reconcile-instances", 10.0, lambda: reconcile.reconcile_instances(platform)),
            Periodic("record-oom-kills", 5.0, lambda: instance_service.record_ooms(platform)),
            Periodic("prune-hook-deliveries", 3600.0, lambda: hook_service.prune_task(platform)),
            # stopped instances (and their logs) stay as long as logs are kept: log search by release
            Periodic("prune-stopped-instances", 3600.0, lambda: reconcile.prune_stopped_instances(
                platform, older_than=dt.timedelta(days=platform.settings.log_retention_days))),
            Periodic("prune-audit-records", 3600.0, lambda: audit_service.prune_task(platform)),
            Periodic("prune-one-off-containers", 3600.0, lambda: reconcile.prune_one_off_containers(platform)),
        ]
        if router:
            tasks.append(Periodic("ensure-router", 5.0, lambda: reconcile.ensure_router(platform)))
            from slipway.domains import certs, checks

            def check_certificates() -> None:  # the certificates actually served: cert.* events
                certs.periodic_refresh(platform)

            def recheck_domains() -> None:  # failing domains, with backoff: fixed DNS gets its certificate
                checks.recheck_failing(platform)
                checks.recheck_base_domain(platform)  # app hosts' certificates wait for its first pass

            tasks.append(Periodic("check-certificates", 30.0, check_certificates))
            tasks.append(Periodic("recheck-domains", 30.0, recheck_domains))
        self.observability = ObservabilityTasks(platform)  # metrics, rollups, health checks
        tasks.extend(self.observability.periodic())
        self.notify_worker = notify_jobs.worker(platform, enabled=bool(threads))  # a pool of its own
        tasks.extend(notify_jobs.periodic(platform, self.notify_worker))  # dispatcher, crash detection
        side = platform.settings.forge_workers if threads else 0
        self.side_worker = Worker(platform, SIDE_HANDLERS, threads=side) if side else None

        def forge_dispatch() -> None:
            if forge_jobs.dispatch(platform) and self.side_worker is not None:
                self.side_worker.wake()

        tasks.append(Periodic("forge-dispatch", platform.settings.forge_dispatch_interval, forge_dispatch))
        tasks.extend(preview_jobs.periodic(platform))
        self.cron_worker = cron_jobs.worker(platform, enabled=bool(threads))  # long runs: a pool of their own
        tasks.extend(cron_jobs.periodic(platform, self.cron_worker))
        self.scheduler = Scheduler(tasks)
        self.checkpointer = Checkpointer(platform.engine)  # SQLite: WAL checkpoints off the request path

    def start(self) -> None:
        self.checkpointer.start()
        if self.with_router:
            start = getattr(self.platform.router, "start", None)
            if start is not None:
                start()
            try:
                routing.apply(self.platform)  # a restarted control plane rebuilds the routes from the DB
            except Exception:
                log.exception("could not load routes into the router; retrying in the background")
        if self.worker:
            self.platform.worker = self.worker
            self.worker.start()
        if self.notify_worker:
            self.notify_worker.start()
        if self.side_worker:
            self.side_worker.start()
        if self.cron_worker:
            self.cron_worker.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.checkpointer.stop()
        self.observability.close()
        if self.worker:
            self.worker.stop()
        if self.notify_worker:
            self.notify_worker.stop()
        if self.side_worker:
            self.side_worker.stop()
        if self.cron_worker:
            self.cron_worker.stop()
