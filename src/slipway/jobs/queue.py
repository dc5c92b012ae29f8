"""The durable job queue: enqueue in the caller's transaction, claim with a conditional UPDATE.

The claim is one UPDATE guarded by the row's current state, so exactly one worker wins a job on
SQLite (one writer at a time) and on PostgreSQL (the row lock re-checks the WHERE clause).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from slipway.db import read_only, transaction, utcnow
from slipway.jobs.models import Job

LEASE_LOST = "lease expired: the worker running this job stopped or was killed"


def enqueue(session: Session, kind: str, payload: dict[str, Any] | None = None, *,
            run_at: dt.datetime | None = None, max_attempts: int = 3) -> Job:
    job = Job(kind=kind, payload=payload or {}, run_at=run_at or utcnow(), max_attempts=max_attempts)
    session.add(job)
    session.flush()
    return job


def _claimable(now: dt.datetime) -> Any:
    return or_(
        and_(Job.status == "queued", Job.run_at <= now),
        and_(Job.status == "running", Job.lease_expires_at < now, Job.attempts < Job.max_attempts),
    )


def has_work(factory: sessionmaker[Session], *, kinds: list[str] | None = None) -> bool:
    """A cheap read-only look before taking the write lock that claim() needs."""
    query = select(Job.id).where(_claimable(utcnow())).limit(1)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    with read_only(factory) as session:
        return session.scalar(query) is not None


def claim(factory: sessionmaker[Session], *, worker: str, lease: float,
          kinds: list[str] | None = None) -> Job | None:
    """Take the oldest runnable job (or one whose worker lost its lease), or None."""
    for _ in range(5):  # another worker may win the race for a candidate: try the next one
        now = utcnow()
        with transaction(factory) as session:
            query = select(Job.id).where(_claimable(now)).order_by(Job.run_at, Job.id).limit(1)
            if kinds:
                query = query.where(Job.kind.in_(kinds))
            job_id = session.scalar(query)
            if job_id is None:
                return None
            won = session.execute(
                update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(status="running", lease_owner=worker, attempts=Job.attempts + 1,
                        lease_expires_at=now + dt.timedelta(seconds=lease),
                        started_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won == 1:
                return session.get(Job, job_id, populate_existing=True)
    return None


def renew(factory: sessionmaker[Session], *, job_id: int, worker: str, lease: float) -> bool:
    """Extend our lease; False means we lost it (another worker may own the job now)."""
    with transaction(factory) as session:
        return session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
            .values(lease_expires_at=utcnow() + dt.timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def finish(session: Session, *, job_id: int, worker: str, error: str | None = None,
           retry_in: float | None = None, count: bool = True) -> bool:
    """Record the outcome if we still own the job. A retryable error puts it back in the queue."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.lease_owner != worker or job.status != "running":
        return False
    job.lease_owner = None
    job.lease_expires_at = None
    if error is None:
        job.status, job.error, job.finished_at = "succeeded", None, utcnow()
    elif retry_in is not None and (job.attempts < job.max_attempts or not count):
        job.status, job.error = "queued", error
        if not count:
            job.attempts -= 1
        job.run_at = utcnow() + dt.timedelta(seconds=retry_in)
    else:
        job.status, job.error, job.finished_at = "failed", error, utcnow()
    return True


def reap(session: Session) -> list[Job]:
    """Mark failed the jobs whose lease expired and that have no attempt left; return them."""
    now = utcnow()
    dead = session.scalars(
        select(Job).where(Job.status == "running", Job.lease_expires_at < now,
                          Job.attempts >= Job.max_attempts)
        .with_for_update()
    ).all()
    for job in dead:
        job.status, job.error, job.finished_at = "failed", LEASE_LOST, now
        job.lease_owner = job.lease_expires_at = None
    return list(dead)
