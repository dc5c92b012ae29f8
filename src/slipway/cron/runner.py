"""Running one ledger row: a fresh one-off of the app's live release (never an exec into a web instance).

The handler of the durable `cron.run` queue job: one worker claims it, so a run starts at most once.
Output goes to an instance log directory named after the job and run, so log search finds it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from sqlalchemy import select

from slipway import events
from slipway.apps.models import App
from slipway.cron import replace
from slipway.cron.models import CronJob, CronRun
from slipway.db import transaction, utcnow
from slipway.deploys.models import Release
from slipway.errors import SlipwayError
from slipway.instances import service as instance_service
from slipway.instances.models import Instance
from slipway.jobs.worker import JobContext
from slipway.observability.logsearch import log_root
from slipway.platform import Platform

log = logging.getLogger(__name__)
TIMED_OUT = 124  # what run_once returns for a command it killed at its timeout


def missed_reason(grace: float) -> str:
    return (f"did not start within {grace:g} s of its time: Slipway was down or its job queue was busy")


def handle(ctx: JobContext) -> None:
    platform, run_id = ctx.platform, int(ctx.payload["run_id"])
    started = _start(platform, run_id)
    if started is None:
        return
    app, release, job, run = started
    code, timed_out, attempts = _execute(platform, app=app, release=release, job=job, run=run)
    _finish(platform, run_id, code=code, timed_out=timed_out, attempts=attempts, timeout=job.timeout)


def _start(platform: Platform, run_id: int) -> tuple[App, Release, CronJob, CronRun] | None:
    """Claim the ledger row for this attempt, or settle it as missed/skipped/failed without running."""
    grace = platform.settings.cron_grace
    with transaction(platform.sessions) as session:
        run = session.get(CronRun, run_id, with_for_update=True)
        job = session.get(CronJob, run.job_id) if run is not None else None
        if run is None or job is None or run.status != "queued":
            return None  # removed meanwhile, or settled by another process
        app = session.get(App, job.app_id)
        assert app is not None  # cron_jobs cascade with apps
        now = utcnow()
        if run.trigger == "schedule" and (now - run.scheduled_at).total_seconds() > grace:
            _settle(session, run, app, "missed", missed_reason(grace))
            return None
        if job.concurrency == "forbid" and _running(session, job.id, run.id):
            _settle(session, run, app, "skipped", "the previous run is still running (concurrency: forbid)")
            return None
        if job.concurrency == "replace":  # the worker running each one sees this and stops its one-off
            for older in session.scalars(select(CronRun).where(CronRun.job_id == job.id, CronRun.status == "running",
                                                               CronRun.id != run.id)):
                older.status, older.reason = "replacing", f"replaced by run #{run.id} (concurrency: replace)"
        release = session.get(Release, app.live_release_id) if app.live_release_id else None
        if release is None or release.config.get("static_root"):
            _settle(session, run, app, "failed", f"{app.name} has no live release with processes to run")
            return None
        run.status, run.started_at, run.release = "running", now, release.version
        run.instance_id = f"{app.name}-cron-{job.name}-r{run.id}"[:128]
        session.add(Instance(id=run.instance_id, app_id=app.id, release_id=release.id,
                             process_type=f"cron:{job.name}"[:64], runtime=release.config.get("runtime") or "local",
                             status="running"))
        session.flush()
        session.expunge_all()
    return app, release, job, run


def _running(session: object, job_id: int, run_id: int) -> bool:
    return session.scalar(select(CronRun.id).where(  # type: ignore[attr-defined]
        CronRun.job_id == job_id, CronRun.status == "running", CronRun.id != run_id).limit(1)) is not None


def _settle(session: object, run: CronRun, app: App, status: str, reason: str) -> None:
    run.status, run.reason, run.finished_at = status, reason, utcnow()
    kind = {"missed": "cron.missed", "skipped": "cron.skipped", "failed": "cron.failed"}[status]
    job = session.get(CronJob, run.job_id)  # type: ignore[attr-defined]
    events.emit(session, kind, app_id=app.id, job=job.name if job else None,  # type: ignore[arg-type]
                run_id=run.id, scheduled_at=run.scheduled_at.isoformat(), trigger=run.trigger, reason=reason)


class RunLog:
    """The run's output as instance log lines (`<ts> stdout <text>`), the format log search reads."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.path = directory / "out.log"
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def line(self, text: str) -> None:
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        self._fh.write(f"{stamp} stdout {text.replace(chr(10), ' ')}\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _execute(platform: Platform, *, app: App, release: Release, job: CronJob, run: CronRun
             ) -> tuple[int, bool, int]:
    """Run the command, once plus up to `retries` more times while it fails; (exit code, timed out, attempts)."""
    assert run.instance_id is not None
    out = RunLog(log_root(platform) / run.instance_id)
    code, timed_out, attempt = 0, False, 0
    watch = replace.Watch(platform, run_id=run.id, instance_id=run.instance_id,
                          runtime=release.config.get("runtime") or "local")
    try:
        for attempt in range(1, job.retries + 2):
            out.line(f"[slipway] cron {job.name} run #{run.id} (attempt {attempt}, release v{release.version}): "
                     + " ".join(job.command))
            began = time.monotonic()
            try:
                code = instance_service.run_once(platform, app=app, release=release, argv=list(job.command),
                                                 on_line=out.line, timeout=float(job.timeout),
                                                 process_type=job.process_type, instance_id=run.instance_id)
            except SlipwayError as exc:
                out.line(f"[slipway] {exc.message}")
                code = 125
            timed_out = code == TIMED_OUT and time.monotonic() - began >= job.timeout * 0.95
            out.line(f"[slipway] exit code {code}" + (f" (killed after its {job.timeout} s timeout)"
                                                       if timed_out else ""))
            if code == 0 or timed_out or watch.replaced:
                break  # a run over its timeout is not retried: the next would most likely hang too
    finally:
        watch.stop()
        out.close()
    return code, timed_out, attempt


def _finish(platform: Platform, run_id: int, *, code: int, timed_out: bool, attempts: int, timeout: int) -> None:
    with transaction(platform.sessions) as session:
        run = session.get(CronRun, run_id, with_for_update=True)
        if run is None:
            return  # the job was removed while it ran
        job = session.get(CronJob, run.job_id)
        instance = session.get(Instance, run.instance_id) if run.instance_id else None
        if instance is not None:
            instance.status, instance.stopped_at = "stopped", utcnow()
        run.exit_code, run.attempts, run.finished_at = code, attempts, utcnow()
        if run.status == "replacing":
            run.status = "replaced"  # stopped on purpose: not a failure to notify about
            return
        run.status = "timeout" if timed_out else "succeeded" if code == 0 else "failed"
        if run.status == "succeeded":
            return
        run.reason = (f"killed after its timeout of {timeout} s" if timed_out
                      else f"exited with code {code}" + (f" after {attempts} attempts" if attempts > 1 else ""))
        events.emit(session, "cron.timeout" if timed_out else "cron.failed", app_id=job.app_id if job else None,
                    job=job.name if job else None, run_id=run.id, exit_code=code, reason=run.reason,
                    scheduled_at=run.scheduled_at.isoformat(), trigger=run.trigger, instance=run.instance_id)
