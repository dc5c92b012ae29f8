"""Scheduled deploys through the API: a DB job due at the instant, listed, cancellable, refused in the past."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from slipway.apps import service as app_service
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.deploys.pipeline import DeployRun
from slipway.events import Event
from slipway.jobs import queue
from slipway.jobs.models import Job
from tests.unit.hooks.conftest import Hooked


def test_schedule_list_and_cancel(hooked: Hooked) -> None:
    body = {"at": "2099-12-01 03:00", "tz": "Europe/Lisbon"}
    response = hooked.client.post("/api/v1/apps/hello/deploys", json=body)
    assert response.status_code == 202, response.text
    scheduled = response.json()
    assert scheduled["status"] == "scheduled"
    assert dt.datetime.fromisoformat(scheduled["run_at"]) == dt.datetime(2099, 12, 1, 3, 0, tzinfo=dt.UTC)
    with hooked.platform.sessions() as session:
        job = session.scalar(select(Job))
        assert job is not None and job.run_at == dt.datetime(2099, 12, 1, 3, 0, tzinfo=dt.UTC)
    assert queue.claim(hooked.platform.sessions, worker="w", lease=30) is None  # not due
    listed = hooked.client.get("/api/v1/apps/hello/deploys", params={"status": "scheduled"}).json()
    assert [d["id"] for d in listed] == [scheduled["id"]]
    cancelled = hooked.client.post(f"/api/v1/apps/hello/deploys/{scheduled['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with hooked.platform.sessions() as session:
        assert session.get(Job, job.id).status == "cancelled"  # type: ignore[union-attr]
    assert hooked.client.get("/api/v1/apps/hello/deploys", params={"status": "scheduled"}).json() == []
    again = hooked.client.post(f"/api/v1/apps/hello/deploys/{scheduled['id']}/cancel")
    assert again.status_code == 409


def test_past_and_unreadable_times_are_refused(hooked: Hooked) -> None:
    for body, words in [({"at": "2001-01-01 00:00"}, "in the past"), ({"at": "soon"}, "cannot read"),
                        ({"at": "2099-01-01 00:00", "tz": "Atlantis/Capital"}, "time zone"),
                        ({"tz": "UTC"}, "only meaningful")]:
        response = hooked.client.post("/api/v1/apps/hello/deploys", json=body)
        assert response.status_code == 422 and words in response.json()["error"], response.text
    assert hooked.deploys() == []


def _schedule(hooked: Hooked, run_at: dt.datetime) -> Deploy:
    with transaction(hooked.platform.sessions) as session:
        app = app_service.get(session, "hello")
        return deploy_service.request(session, app, kind="deploy", actor="user:test", run_at=run_at)


def test_a_scheduled_deploy_is_claimed_only_once_due(hooked: Hooked) -> None:
    later = _schedule(hooked, utcnow() + dt.timedelta(seconds=30))
    assert later.status == "scheduled"
    assert queue.claim(hooked.platform.sessions, worker="w", lease=30) is None
    # the same deploy, seen by a worker after its time has come (as after a restart: the job is in the DB)
    with transaction(hooked.platform.sessions) as session:
        session.get(Job, later.job_id).run_at = utcnow() - dt.timedelta(seconds=1)  # type: ignore[union-attr]
    job = queue.claim(hooked.platform.sessions, worker="w", lease=30)
    assert job is not None and job.payload == {"deploy_id": later.id}
    assert queue.claim(hooked.platform.sessions, worker="w2", lease=30) is None  # runs once
    assert DeployRun(hooked.platform, later.id)._lock() is True
    with hooked.platform.sessions() as session:
        assert session.get(Deploy, later.id).status == "running"  # type: ignore[union-attr]
        started = session.scalar(select(Event).where(Event.kind == "deploy.started"))
        assert started is not None and started.actor == "scheduler"


def test_a_cancelled_deploy_whose_job_was_already_claimed_is_skipped(hooked: Hooked) -> None:
    deploy = _schedule(hooked, utcnow() - dt.timedelta(seconds=1))  # due: plain queued
    assert deploy.status == "queued"
    job = queue.claim(hooked.platform.sessions, worker="w", lease=30)
    assert job is not None
    assert hooked.client.post(f"/api/v1/apps/hello/deploys/{deploy.id}/cancel").status_code == 200
    DeployRun(hooked.platform, deploy.id).run()  # the NoRuntime would fail the test if anything ran
    with hooked.platform.sessions() as session:
        row: Any = session.get(Deploy, deploy.id)
        assert row.status == "cancelled" and row.started_at is None
