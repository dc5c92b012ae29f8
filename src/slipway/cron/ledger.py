"""The periodic look for scheduled times that are due: each becomes a ledger row and a queue job, or,
if its time is past the grace period (Slipway was down), a `missed` row and a `cron.missed` event.

Any number of processes may tick at once. A job's next time moves forward by a compare-and-set on
cron_jobs.next_run_at, and the unique (job, scheduled time) of cron_runs refuses a second row for the
same time even if two processes got that far: a scheduled time is queued at most once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from slipway import events
from slipway.cron import service
from slipway.cron.models import CronJob, CronRun
from slipway.cron.runner import missed_reason
from slipway.db import read_only, transaction, utcnow
from slipway.instances.models import Instance
from slipway.platform import Platform

log = logging.getLogger(__name__)
BATCH = 500  # jobs read at once
MAX_BATCHES = 20  # per tick
MAX_BACKLOG = 100  # missed times recorded one by one per job and tick; beyond, the event counts them


def tick(platform: Platform, now: dt.datetime | None = None) -> int:
    """Queue (or record as missed) every due scheduled time; return how many runs were queued."""
    now = now or utcnow()
    grace = dt.timedelta(seconds=platform.settings.cron_grace)
    queued, seen = 0, set[int]()
    for _ in range(MAX_BATCHES):  # bounded work per tick; whatever is left is due at the next one
        with read_only(platform.sessions) as session:
            due = [job_id for job_id in session.scalars(
                select(CronJob.id).where(CronJob.paused.is_(False), CronJob.next_run_at <= now)
                .order_by(CronJob.next_run_at, CronJob.id).limit(BATCH)) if job_id not in seen]
        if not due:
            break
        seen.update(due)
        for job_id in due:
            try:
                with transaction(platform.sessions) as session:
                    queued += _advance(session, job_id, now, grace)
            except (IntegrityError, OperationalError) as exc:  # another process recorded these times first
                log.info("cron job %s: another process took its due times (%s)", job_id, type(exc).__name__)
    return queued


def _due_times(job: CronJob, start: dt.datetime, now: dt.datetime) -> tuple[list[dt.datetime], int, dt.datetime]:
    """The scheduled times from `start` up to `now` (the newest MAX_BACKLOG of them), how many more were
    left out, and the first time after `now`."""
    times: list[dt.datetime] = [start]
    left_out = 0
    for moment in service.parsed(job).after(start):
        moment = moment.astimezone(dt.UTC)
        if moment > now:
            return times, left_out, moment
        times.append(moment)
        if len(times) > MAX_BACKLOG:
            times.pop(0)
            left_out += 1
            if left_out > 100_000:  # years of every-minute times: jump to now instead of walking them
                return times, left_out, service.next_after(job, now)
    raise AssertionError("a cron schedule always has a next time")  # pragma: no cover


def _advance(session: Session, job_id: int, now: dt.datetime, grace: dt.timedelta) -> int:
    job = session.get(CronJob, job_id)
    if job is None or job.paused or job.next_run_at is None or job.next_run_at > now:
        return 0
    start = job.next_run_at
    times, left_out, following = _due_times(job, start, now)
    won = session.execute(update(CronJob).where(CronJob.id == job_id, CronJob.next_run_at == start)
                          .values(next_run_at=following).execution_options(synchronize_session=False)).rowcount
    if won != 1:
        return 0  # another process moved this job on first
    missed = [t for t in times if now - t > grace]
    on_time = [t for t in times if now - t <= grace]
    for moment in on_time:
        service.queue_run(session, job, scheduled_at=moment, trigger="schedule")
    if missed:
        _record_missed(session, job, missed, left_out, grace.total_seconds())
        if job.catch_up == "once" and not on_time:
            service.queue_run(session, job, scheduled_at=now, trigger="catch-up")
    return len(on_time) + (1 if missed and job.catch_up == "once" and not on_time else 0)


def _record_missed(session: Session, job: CronJob, missed: list[dt.datetime], left_out: int, grace: float) -> None:
    reason = missed_reason(grace)
    for moment in missed:
        session.add(CronRun(job_id=job.id, scheduled_at=moment, trigger="schedule", status="missed",
                            reason=reason, finished_at=utcnow()))
    session.flush()
    # one event per job and tick, however long the downtime: a notification per minute of it helps no one
    events.emit(session, "cron.missed", app_id=job.app_id, job=job.name, count=len(missed) + left_out,
                first=missed[0].isoformat(), last=missed[-1].isoformat(), catch_up=job.catch_up, reason=reason)


ORPHAN_MARGIN = dt.timedelta(minutes=5)


def sweep_orphans(platform: Platform, now: dt.datetime | None = None) -> int:
    """Fail runs still `running` well past their timeout: the worker running them died (its queue job has
    one attempt, so nothing else will settle them), and under `forbid` they would block every later run."""
    now = now or utcnow()
    settled = 0
    with transaction(platform.sessions) as session:
        rows = session.execute(
            select(CronRun, CronJob).join(CronJob, CronJob.id == CronRun.job_id)
            .where(CronRun.status.in_(("running", "replacing")), CronRun.started_at < now - ORPHAN_MARGIN)
        ).all()
        for run, job in rows:
            if run.started_at is None or run.started_at + dt.timedelta(seconds=job.timeout) + ORPHAN_MARGIN > now:
                continue
            reason = "the worker running it stopped before it ended (Slipway was killed or restarted)"
            run.status, run.reason, run.finished_at = "failed", reason, now
            instance = session.get(Instance, run.instance_id) if run.instance_id else None
            if instance is not None and instance.status == "running":
                instance.status, instance.stopped_at = "stopped", now
            events.emit(session, "cron.failed", app_id=job.app_id, job=job.name, run_id=run.id, reason=reason,
                        scheduled_at=run.scheduled_at.isoformat(), trigger=run.trigger, instance=run.instance_id)
            settled += 1
    return settled
