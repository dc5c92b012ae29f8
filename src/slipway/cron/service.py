"""Scheduled jobs of an app: add, change, pause, remove, run by hand, and read the ledger."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.apps.validation import PROCESS_TYPE
from slipway.cron import schedule as schedules
from slipway.cron.models import CronJob, CronRun
from slipway.db import utcnow
from slipway.errors import Conflict, Invalid, NotFound
from slipway.jobs import queue

RUN_KIND = "cron.run"
JOB_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
CONCURRENCY = ("forbid", "allow", "replace")
CATCH_UP = ("once", "none")
MAX_TIMEOUT = 7 * 24 * 3600
MAX_RETRIES = 10
MAX_ARGV = 256
MAX_ARG = 4096
MAX_JOBS_PER_APP = 100
FINAL = ("succeeded", "failed", "timeout", "replaced", "missed", "skipped")


@dataclass
class JobSpec:
    name: str
    schedule: str
    command: list[str]
    tz: str = "UTC"
    timeout: int = 600
    concurrency: str = "forbid"
    retries: int = 0
    process_type: str = "worker"
    catch_up: str = "once"


def validate(spec: JobSpec) -> schedules.Schedule:
    """Every field checked before anything is written (never half-apply); the parsed schedule."""
    if not JOB_NAME.match(spec.name or ""):
        raise Invalid(f"invalid job name {spec.name!r}: lowercase letters, digits and dashes, starting with a "
                      "letter, at most 63 characters")
    if not spec.command:
        raise Invalid("the command is empty: put it after --, e.g. -- python manage.py clearsessions")
    if len(spec.command) > MAX_ARGV or any(len(a) > MAX_ARG or "\x00" in a for a in spec.command):
        raise Invalid(f"the command has more than {MAX_ARGV} words, a word over {MAX_ARG} characters, or a NUL")
    if not 1 <= spec.timeout <= MAX_TIMEOUT:
        raise Invalid(f"timeout must be between 1 second and {MAX_TIMEOUT // 86400} days")
    if spec.concurrency not in CONCURRENCY:
        raise Invalid(f"concurrency must be one of {', '.join(CONCURRENCY)}")
    if spec.catch_up not in CATCH_UP:
        raise Invalid(f"catch-up must be one of {', '.join(CATCH_UP)}")
    if not 0 <= spec.retries <= MAX_RETRIES:
        raise Invalid(f"retries must be between 0 and {MAX_RETRIES}")
    if not PROCESS_TYPE.match(spec.process_type or ""):
        raise Invalid(f"invalid process type {spec.process_type!r}")
    return schedules.parse(spec.schedule, spec.tz)


def parsed(job: CronJob) -> schedules.Schedule:
    return schedules.parse(job.schedule, job.tz)


def next_after(job: CronJob, instant: dt.datetime) -> dt.datetime:
    return next(parsed(job).after(instant)).astimezone(dt.UTC)


def get(session: Session, app: App, name: str) -> CronJob:
    job = session.scalar(select(CronJob).where(CronJob.app_id == app.id, CronJob.name == name))
    if job is None:
        raise NotFound(f"{app.name} has no scheduled job named {name!r}")
    return job


def jobs_of(session: Session, app: App) -> list[CronJob]:
    return list(session.scalars(select(CronJob).where(CronJob.app_id == app.id).order_by(CronJob.name)))


def add(session: Session, app: App, spec: JobSpec, *, actor: str) -> CronJob:
    sched = validate(spec)
    if session.scalar(select(CronJob.id).where(CronJob.app_id == app.id, CronJob.name == spec.name)):
        raise Conflict(f"{app.name} already has a job named {spec.name!r}: remove it first")
    if len(jobs_of(session, app)) >= MAX_JOBS_PER_APP:
        raise Conflict(f"{app.name} has {MAX_JOBS_PER_APP} scheduled jobs already")
    job = CronJob(app_id=app.id, name=spec.name, schedule=sched.expression, tz=spec.tz, command=list(spec.command),
                  timeout=spec.timeout, concurrency=spec.concurrency, retries=spec.retries,
                  process_type=spec.process_type, catch_up=spec.catch_up, paused=False)
    job.next_run_at = next(sched.after(utcnow())).astimezone(dt.UTC)
    session.add(job)
    session.flush()
    events.emit(session, "cron.added", app_id=app.id, actor=actor, job=job.name, schedule=job.schedule, tz=job.tz,
                command=job.command)
    return job


def set_paused(session: Session, app: App, name: str, paused: bool, *, actor: str) -> CronJob:
    job = get(session, app, name)
    if job.paused != paused:
        job.paused = paused
        job.updated_at = utcnow()
        if not paused:  # times while paused were not missed: the user asked for no runs
            job.next_run_at = next_after(job, utcnow())
        events.emit(session, "cron.paused" if paused else "cron.resumed", app_id=app.id, actor=actor, job=name)
    return job


def remove(session: Session, app: App, name: str, *, actor: str) -> None:
    job = get(session, app, name)
    session.delete(job)  # its ledger goes with it (cascade); a running run finishes and finds no row
    events.emit(session, "cron.removed", app_id=app.id, actor=actor, job=name)


def queue_run(session: Session, job: CronJob, *, scheduled_at: dt.datetime, trigger: str,
              actor: str = "system") -> CronRun:
    """A ledger row and the durable queue job that runs it, in the caller's transaction."""
    run = CronRun(job_id=job.id, scheduled_at=scheduled_at, trigger=trigger, status="queued", actor=actor)
    session.add(run)
    session.flush()  # the unique (job, time) refuses a second row for the same scheduled time here
    queue.enqueue(session, RUN_KIND, {"run_id": run.id}, max_attempts=1)
    return run


def run_now(session: Session, app: App, name: str, *, actor: str) -> CronRun:
    job = get(session, app, name)
    if app.live_release_id is None:
        raise Conflict(f"{app.name} has no live release yet: deploy it first")
    run = queue_run(session, job, scheduled_at=utcnow(), trigger="manual", actor=actor)
    events.emit(session, "cron.requested", app_id=app.id, actor=actor, job=name, run_id=run.id)
    return run


def runs_of(session: Session, job: CronJob, *, limit: int = 50) -> list[CronRun]:
    return list(session.scalars(select(CronRun).where(CronRun.job_id == job.id)
                                .order_by(CronRun.scheduled_at.desc(), CronRun.id.desc()).limit(limit)))


def last_run(session: Session, job: CronJob) -> CronRun | None:
    return session.scalar(select(CronRun).where(CronRun.job_id == job.id)
                          .order_by(CronRun.scheduled_at.desc(), CronRun.id.desc()).limit(1))
