"""/api/v1/apps/{name}/cron…: an app's scheduled jobs and their ledger; /api/v1/cron/preview."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.cron import schedule as schedules
from slipway.cron import service
from slipway.cron.models import CronJob, CronRun
from slipway.cron.schemas import CronJobIn, CronJobOut, CronRunOut, PreviewOut
from slipway.db import transaction, utcnow
from slipway.errors import Invalid
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["cron"])
NEXT_RUNS = 3


def run_out(run: CronRun) -> CronRunOut:
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    return CronRunOut(id=run.id, scheduled_at=run.scheduled_at, trigger=run.trigger, status=run.status,
                      attempts=run.attempts, exit_code=run.exit_code, release=run.release, instance=run.instance_id,
                      reason=run.reason, started_at=run.started_at, finished_at=run.finished_at, duration=duration)


def job_out(session: Session, job: CronJob) -> CronJobOut:
    sched = service.parsed(job)
    last = service.last_run(session, job)
    return CronJobOut(name=job.name, schedule=job.schedule, description=sched.describe(), tz=job.tz,
                      command=list(job.command), timeout=job.timeout, concurrency=job.concurrency,
                      retries=job.retries, process_type=job.process_type, catch_up=job.catch_up, paused=job.paused,
                      source=job.source,
                      next_runs=[t.isoformat() for t in sched.next_runs(utcnow(), NEXT_RUNS)],
                      last_run=run_out(last) if last else None)


@router.get("/cron/preview", response_model=PreviewOut)
def preview(platform: PlatformDep, _: CurrentPrincipal,
            schedule: str = Query(..., max_length=schedules.MAX_SCHEDULE_LENGTH, description="5 fields or @daily…"),
            tz: str = Query("UTC", max_length=64, description="IANA time zone"),
            after: str | None = Query(None, max_length=64, description="ISO 8601 instant (default: now)"),
            count: int = Query(5, ge=1, le=schedules.MAX_PREVIEW, description="how many run times")) -> PreviewOut:
    """The next `count` run times of a schedule after an instant, so it can be checked before it is saved."""
    instant = None
    if after is not None:
        try:
            instant = dt.datetime.fromisoformat(after)
        except ValueError as exc:
            raise Invalid(f"after is not an ISO 8601 instant: {after!r} (e.g. 2026-03-29T00:00:00Z)") from exc
    runs = schedules.preview(schedule, tz, after=instant, count=count)
    sched = schedules.parse(schedule, tz)
    return PreviewOut(schedule=sched.expression, tz=tz, description=sched.describe(), runs=runs)


@router.get("/apps/{name}/cron", response_model=list[CronJobOut])
def list_jobs(name: str, platform: PlatformDep, _: CurrentPrincipal) -> list[CronJobOut]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return [job_out(session, job) for job in service.jobs_of(session, app)]


@router.post("/apps/{name}/cron", response_model=CronJobOut, status_code=201)
def add_job(name: str, body: CronJobIn, platform: PlatformDep, who: CurrentPrincipal) -> CronJobOut:
    """A scheduled job: the command runs in a fresh one-off of the live release at each scheduled time."""
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        job = service.add(session, app, service.JobSpec(**body.model_dump()), actor=who.actor)
        return job_out(session, job)


@router.get("/apps/{name}/cron/{job}", response_model=CronJobOut)
def show_job(name: str, job: str, platform: PlatformDep, _: CurrentPrincipal) -> CronJobOut:
    with platform.sessions() as session:
        return job_out(session, service.get(session, app_service.get(session, name), job))


@router.delete("/apps/{name}/cron/{job}", response_model=dict[str, str])
def remove_job(name: str, job: str, platform: PlatformDep, who: CurrentPrincipal) -> dict[str, str]:
    with transaction(platform.sessions) as session:
        service.remove(session, app_service.get(session, name), job, actor=who.actor)
    return {"removed": job}


@router.post("/apps/{name}/cron/{job}/pause", response_model=CronJobOut)
def pause_job(name: str, job: str, platform: PlatformDep, who: CurrentPrincipal) -> CronJobOut:
    with transaction(platform.sessions) as session:
        row = service.set_paused(session, app_service.get(session, name), job, True, actor=who.actor)
        return job_out(session, row)


@router.post("/apps/{name}/cron/{job}/resume", response_model=CronJobOut)
def resume_job(name: str, job: str, platform: PlatformDep, who: CurrentPrincipal) -> CronJobOut:
    with transaction(platform.sessions) as session:
        row = service.set_paused(session, app_service.get(session, name), job, False, actor=who.actor)
        return job_out(session, row)


@router.post("/apps/{name}/cron/{job}/run", response_model=CronRunOut, status_code=202)
def run_job(name: str, job: str, platform: PlatformDep, who: CurrentPrincipal) -> CronRunOut:
    """Run the job now, by hand (trigger `manual`); follow it with GET …/runs."""
    with transaction(platform.sessions) as session:
        run = service.run_now(session, app_service.get(session, name), job, actor=who.actor)
        out = run_out(run)
    platform.wake_workers()
    return out


@router.get("/apps/{name}/cron/{job}/runs", response_model=list[CronRunOut])
def list_runs(name: str, job: str, platform: PlatformDep, _: CurrentPrincipal,
              limit: int = Query(50, ge=1, le=500)) -> list[CronRunOut]:
    """The ledger, newest first: every expected time (missed ones too) and every manual run."""
    with platform.sessions() as session:
        row = service.get(session, app_service.get(session, name), job)
        return [run_out(run) for run in service.runs_of(session, row, limit=limit)]
