"""The durable queue on a real database: claims, leases, retries, dead workers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from slipway.config import Settings
from slipway.db import make_engine, migrate, session_factory, transaction, utcnow
from slipway.jobs import queue
from slipway.jobs.models import Job


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.db_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def add(sessions: sessionmaker[Session], kind: str = "work", **kwargs: object) -> int:
    with transaction(sessions) as session:
        return queue.enqueue(session, kind, {"n": 1}, **kwargs).id  # type: ignore[arg-type]


def test_claim_takes_oldest_once(sessions: sessionmaker[Session]) -> None:
    first, second = add(sessions), add(sessions)
    a = queue.claim(sessions, worker="a", lease=30)
    b = queue.claim(sessions, worker="b", lease=30)
    assert (a.id, b.id) == (first, second)  # type: ignore[union-attr]
    assert queue.claim(sessions, worker="c", lease=30) is None
    assert a.status == "running" and a.attempts == 1 and a.lease_owner == "a"  # type: ignore[union-attr]


def test_future_jobs_wait(sessions: sessionmaker[Session]) -> None:
    add(sessions, run_at=utcnow() + dt.timedelta(hours=1))
    assert queue.claim(sessions, worker="a", lease=30) is None


def test_kinds_filter(sessions: sessionmaker[Session]) -> None:
    add(sessions, "other")
    assert queue.claim(sessions, worker="a", lease=30, kinds=["work"]) is None
    assert queue.claim(sessions, worker="a", lease=30, kinds=["other"]) is not None


def _expire(sessions: sessionmaker[Session], job_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(update(Job).where(Job.id == job_id)
                        .values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))


def test_lost_lease_is_reclaimed_and_old_owner_cannot_finish(sessions: sessionmaker[Session]) -> None:
    job_id = add(sessions, max_attempts=3)
    assert queue.claim(sessions, worker="dead", lease=30) is not None
    _expire(sessions, job_id)  # the worker was killed: nobody renews
    again = queue.claim(sessions, worker="alive", lease=30)
    assert again is not None and again.id == job_id and again.attempts == 2
    assert not queue.renew(sessions, job_id=job_id, worker="dead", lease=30)
    with transaction(sessions) as session:
        assert not queue.finish(session, job_id=job_id, worker="dead")
        assert queue.finish(session, job_id=job_id, worker="alive")
    with sessions() as session:
        assert session.get(Job, job_id).status == "succeeded"  # type: ignore[union-attr]


def test_lease_expired_without_attempts_left_is_reaped_with_reason(sessions: sessionmaker[Session]) -> None:
    job_id = add(sessions, max_attempts=1)
    assert queue.claim(sessions, worker="dead", lease=30) is not None
    _expire(sessions, job_id)
    assert queue.claim(sessions, worker="alive", lease=30) is None  # not retried
    with transaction(sessions) as session:
        reaped = queue.reap(session)
    assert [j.id for j in reaped] == [job_id]
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job.status == "failed" and job.error == queue.LEASE_LOST  # type: ignore[union-attr]


def test_retry_with_backoff_then_fail(sessions: sessionmaker[Session]) -> None:
    job_id = add(sessions, max_attempts=2)
    queue.claim(sessions, worker="w", lease=30)
    with transaction(sessions) as session:
        queue.finish(session, job_id=job_id, worker="w", error="receiver down", retry_in=0)
    assert queue.claim(sessions, worker="w", lease=30) is not None
    with transaction(sessions) as session:
        queue.finish(session, job_id=job_id, worker="w", error="receiver down", retry_in=0)
    with sessions() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.attempts, job.error) == ("failed", 2, "receiver down")  # type: ignore[union-attr]


def test_waiting_for_a_busy_resource_costs_no_attempt(sessions: sessionmaker[Session]) -> None:
    job_id = add(sessions, max_attempts=1)
    for _ in range(3):
        assert queue.claim(sessions, worker="w", lease=30) is not None
        with transaction(sessions) as session:
            queue.finish(session, job_id=job_id, worker="w", error="busy", retry_in=0, count=False)
    with sessions() as session:
        assert session.get(Job, job_id).status == "queued"  # type: ignore[union-attr]


def test_concurrent_claimers_never_share_a_job(sessions: sessionmaker[Session]) -> None:
    ids = {add(sessions) for _ in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := queue.claim(sessions, worker=name, lease=30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
