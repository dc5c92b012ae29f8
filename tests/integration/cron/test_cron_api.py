"""Scheduled jobs through the API on a real database and the real local runtime (sandboxed one-offs):
runs that succeed, fail, time out; the ledger's exactly-once tick, missed times and catch-up."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from slipway.cron import jobs as cron_jobs
from slipway.cron import ledger
from slipway.cron.models import CronJob, CronRun
from slipway.cron.service import RUN_KIND
from slipway.db import transaction
from slipway.events import Event
from slipway.jobs import queue
from slipway.jobs.worker import Worker
from slipway.platform import Platform
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration
PY = "python3"


def run_cron(platform: Platform, limit: int = 20) -> int:
    """Run every queued cron run in this thread, as a cron worker thread would."""
    worker = Worker(platform, cron_jobs.HANDLERS, threads=0, name="crontest")
    ran = 0
    while ran < limit:
        job = queue.claim(platform.sessions, worker="crontest#0", lease=30.0, kinds=[RUN_KIND])
        if job is None:
            return ran
        worker.run(job, "crontest#0")
        ran += 1
    return ran


@pytest.fixture
def live(api: Api, make_repo) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    repo = make_repo()
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "branch": "main"})
    assert api.deploy("hello")["status"] == "succeeded"
    yield api


def add(api: Api, name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    body = {"name": name, "schedule": extra.pop("schedule", "*/5 * * * *"), "command": command, **extra}
    return api.call("POST", "/apps/hello/cron", 201, json=body).json()  # type: ignore[no-any-return]


def kinds(api: Api) -> list[str]:
    with api.platform.sessions() as session:
        return list(session.scalars(select(Event.kind).where(Event.kind.like("cron.%")).order_by(Event.id)))


def test_manual_run_succeeds_in_a_one_off_with_the_apps_env_and_logs(live: Api) -> None:
    live.call("PATCH", "/apps/hello/env", 200, json={"set": {"GREETING": "from-env"}})
    from tests.integration.conftest import run_jobs

    run_jobs(live.platform)  # the env change's release
    job = add(live, "greet", [PY, "-c", "import os; print('cron says', os.environ['GREETING'], "
                                        "os.environ['SLIPWAY_PROCESS_TYPE'])"], tz="Europe/Lisbon")
    assert job["description"] and len(job["next_runs"]) == 3
    assert all(t.endswith(("+00:00", "+01:00")) for t in job["next_runs"])
    run = live.call("POST", "/apps/hello/cron/greet/run", 202).json()
    assert run["trigger"] == "manual" and run["status"] == "queued"
    assert run_cron(live.platform) == 1
    runs = live.call("GET", "/apps/hello/cron/greet/runs", 200).json()
    assert [(r["status"], r["exit_code"], r["trigger"]) for r in runs] == [("succeeded", 0, "manual")]
    instance = runs[0]["instance"]
    assert instance == f"hello-cron-greet-r{run['id']}"
    # the output is in the app's log search, tagged by the run's instance
    lines = live.call("GET", "/apps/hello/logs/search", 200, params={"instance": instance}).json()["lines"]
    text = "\n".join(line["text"] for line in lines)
    assert "cron says from-env worker" in text and "[slipway] exit code 0" in text
    listed = live.call("GET", "/apps/hello/cron", 200).json()
    assert listed[0]["last_run"]["status"] == "succeeded"


def test_failure_retries_then_cron_failed(live: Api) -> None:
    add(live, "broken", [PY, "-c", "import sys; print('boom'); sys.exit(3)"], retries=1)
    live.call("POST", "/apps/hello/cron/broken/run", 202)
    run_cron(live.platform)
    run = live.call("GET", "/apps/hello/cron/broken/runs", 200).json()[0]
    assert (run["status"], run["exit_code"], run["attempts"]) == ("failed", 3, 2)
    assert "cron.failed" in kinds(live)


def test_timeout_kills_the_run(live: Api) -> None:
    add(live, "slow", [PY, "-c", "import time; print('sleeping', flush=True); time.sleep(60)"], timeout=1)
    live.call("POST", "/apps/hello/cron/slow/run", 202)
    run_cron(live.platform)
    run = live.call("GET", "/apps/hello/cron/slow/runs", 200).json()[0]
    assert run["status"] == "timeout" and run["duration"] < 30
    assert "cron.timeout" in kinds(live)


def _job(platform: Platform, name: str) -> CronJob:
    with platform.sessions() as session:
        job = session.scalar(select(CronJob).where(CronJob.name == name))
        assert job is not None
        return job


def _runs(platform: Platform, name: str) -> list[CronRun]:
    job = _job(platform, name)
    with platform.sessions() as session:
        return list(session.scalars(select(CronRun).where(CronRun.job_id == job.id).order_by(CronRun.scheduled_at)))


def test_tick_queues_each_scheduled_time_once(live: Api, settings) -> None:  # type: ignore[no-untyped-def]
    add(live, "tick", [PY, "-c", "print('tick')"], schedule="* * * * *")
    due = _job(live.platform, "tick").next_run_at
    assert due is not None
    now = due + dt.timedelta(seconds=1)
    assert ledger.tick(live.platform, now) == 1
    assert ledger.tick(live.platform, now) == 0  # the same time is not queued twice
    # a second process (its own engine and sessions) ticking at the same moment queues nothing either
    from slipway.platform import build_platform

    other = build_platform(settings)
    try:
        assert ledger.tick(other, now) == 0
    finally:
        other.close()
    # the unique (job, time) refuses a second row even past the compare-and-set
    import sqlalchemy.exc

    with pytest.raises(sqlalchemy.exc.IntegrityError), transaction(live.platform.sessions) as session:
        session.add(CronRun(job_id=_job(live.platform, "tick").id, scheduled_at=due, trigger="schedule"))
    assert run_cron(live.platform) == 1
    assert [(r.trigger, r.status) for r in _runs(live.platform, "tick")] == [("schedule", "succeeded")]


def test_two_processes_ticking_at_once_queue_each_time_once(live: Api, settings) -> None:  # type: ignore[no-untyped-def]
    import threading

    from slipway.platform import build_platform

    for i in range(20):
        add(live, f"j{i}", [PY, "-c", "print(1)"], schedule="* * * * *")
    due = max(_job(live.platform, f"j{i}").next_run_at for i in range(20))  # type: ignore[type-var]
    others = [build_platform(settings) for _ in range(2)]  # two "processes": engines and sessions of their own
    counts: list[int] = []
    try:
        threads = [threading.Thread(target=lambda p=p: counts.append(ledger.tick(p, due + dt.timedelta(seconds=1))))
                   for p in others]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for other in others:
            other.close()
    assert sum(counts) == 20
    with live.platform.sessions() as session:
        rows = session.execute(select(CronRun.job_id, CronRun.scheduled_at)).all()
        queued = session.scalars(select(queue.Job.id).where(queue.Job.kind == RUN_KIND)).all()
    assert len(rows) == len(set(rows)) == 20 and len(queued) == 20


def test_downtime_records_missed_times_and_catches_up_once(live: Api) -> None:
    add(live, "every", [PY, "-c", "print('hi')"], schedule="* * * * *")
    add(live, "quiet", [PY, "-c", "print('hi')"], schedule="* * * * *", catch_up="none")
    due = _job(live.platform, "every").next_run_at
    assert due is not None
    live.platform.settings.cron_grace = 5.0
    later = due + dt.timedelta(minutes=10, seconds=30)  # "Slipway was down" for ten minutes
    assert ledger.tick(live.platform, later) == 1  # the catch-up of `every`; `quiet` has none
    runs = _runs(live.platform, "every")
    missed = [r for r in runs if r.status == "missed"]
    assert len(missed) == 11 and all("did not start within" in (r.reason or "") for r in missed)
    assert [r.trigger for r in runs if r.status == "queued"] == ["catch-up"]
    assert not [r for r in _runs(live.platform, "quiet") if r.status == "queued"]
    assert kinds(live).count("cron.missed") == 2  # one per job, not one per minute
    assert _job(live.platform, "every").next_run_at > later  # type: ignore[operator]


def test_a_run_stuck_in_the_queue_past_the_grace_is_missed(live: Api) -> None:
    add(live, "stuck", [PY, "-c", "print('late')"], schedule="* * * * *")
    due = _job(live.platform, "stuck").next_run_at
    assert due is not None
    assert ledger.tick(live.platform, due) == 1
    with transaction(live.platform.sessions) as session:  # its time was long ago when a worker got to it
        run = session.scalar(select(CronRun).where(CronRun.status == "queued"))
        assert run is not None
        run.scheduled_at = run.scheduled_at - dt.timedelta(hours=1)
    run_cron(live.platform)
    assert [r.status for r in _runs(live.platform, "stuck")] == ["missed"]
    assert "cron.missed" in kinds(live)


def test_forbid_skips_a_run_while_the_previous_one_runs(live: Api) -> None:
    add(live, "single", [PY, "-c", "print('x')"])
    first = live.call("POST", "/apps/hello/cron/single/run", 202).json()
    with transaction(live.platform.sessions) as session:  # as if another worker were running it now
        row = session.get(CronRun, first["id"])
        assert row is not None
        row.status = "running"
    live.call("POST", "/apps/hello/cron/single/run", 202)
    run_cron(live.platform)
    statuses = sorted(r.status for r in _runs(live.platform, "single"))
    assert statuses == ["running", "skipped"]
    assert "cron.skipped" in kinds(live)


def test_replace_stops_the_running_one_off_for_the_new_run(live: Api) -> None:
    import threading

    add(live, "swap", [PY, "-c", "import time; print('start', flush=True); time.sleep(120)"],
        concurrency="replace", timeout=6)
    first = live.call("POST", "/apps/hello/cron/swap/run", 202).json()
    worker = threading.Thread(target=run_cron, args=(live.platform, 1))
    worker.start()
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    while [r.status for r in _runs(live.platform, "swap")] != ["running"]:
        assert dt.datetime.now(dt.UTC) < deadline, "the first run never started"
        time.sleep(0.2)
    live.call("POST", "/apps/hello/cron/swap/run", 202)
    run_cron(live.platform, 1)  # the second run: starts, marks the first, then its own 6 s timeout
    worker.join(60)
    assert not worker.is_alive()
    by_id = {r.id: r for r in _runs(live.platform, "swap")}
    old = by_id.pop(first["id"])
    assert old.status == "replaced" and "replaced by run" in (old.reason or "")
    assert [r.status for r in by_id.values()] == ["timeout"]
    assert old.finished_at is not None and old.finished_at < list(by_id.values())[0].finished_at  # type: ignore[operator]
    assert "cron.failed" not in kinds(live)


def test_a_run_whose_worker_died_is_failed_and_stops_blocking(live: Api) -> None:
    add(live, "orphan", [PY, "-c", "print(1)"], timeout=60)
    first = live.call("POST", "/apps/hello/cron/orphan/run", 202).json()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    with transaction(live.platform.sessions) as session:  # a worker took it, then was killed
        row = session.get(CronRun, first["id"])
        assert row is not None
        row.status, row.started_at = "running", started
    assert ledger.sweep_orphans(live.platform) == 0  # 3 min < its 60 s timeout + 5 min: it may still run
    assert ledger.sweep_orphans(live.platform, started + dt.timedelta(minutes=7)) == 1
    run = live.call("GET", "/apps/hello/cron/orphan/runs", 200).json()[0]
    assert run["status"] == "failed" and "worker running it stopped" in run["reason"]
    assert "cron.failed" in kinds(live)
    live.call("POST", "/apps/hello/cron/orphan/run", 202)  # forbid no longer sees a run in progress
    run_cron(live.platform)
    assert live.call("GET", "/apps/hello/cron/orphan/runs", 200).json()[0]["status"] == "succeeded"


def test_pause_resume_remove_and_bad_input(live: Api) -> None:
    add(live, "job", [PY, "-c", "print(1)"])
    assert live.call("POST", "/apps/hello/cron/job/pause", 200).json()["paused"] is True
    assert ledger.tick(live.platform, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 0
    assert live.call("POST", "/apps/hello/cron/job/resume", 200).json()["paused"] is False
    duplicate = live.call("POST", "/apps/hello/cron", 409, json={"name": "job", "schedule": "@daily",
                                                                  "command": ["true"]})
    assert "already has a job" in duplicate.json()["error"]
    bad = live.call("POST", "/apps/hello/cron", 422, json={"name": "x", "schedule": "61 * * * *",
                                                           "command": ["true"]})
    assert "minute" in bad.json()["error"]
    zone = live.call("POST", "/apps/hello/cron", 422, json={"name": "y", "schedule": "@daily", "tz": "Mars/Base",
                                                            "command": ["true"]})
    assert "time zone" in zone.json()["error"]
    live.call("DELETE", "/apps/hello/cron/job", 200)
    live.call("GET", "/apps/hello/cron/job", 404)
    assert live.call("GET", "/apps/hello/cron", 200).json() == []


def test_preview_endpoint(api: Api) -> None:
    got = api.call("GET", "/cron/preview", 200, params={"schedule": "30 2 * * *", "tz": "America/New_York",
                                                        "after": "2026-03-07T12:00:00Z", "count": 2}).json()
    assert got["runs"] == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]
    bad = api.call("GET", "/cron/preview", 422, params={"schedule": "* * *"}).json()
    assert "5 fields" in bad["error"]
    too_many = api.call("GET", "/cron/preview", 422, params={"schedule": "@daily", "count": 1000}).json()
    assert too_many["detail"][0]["loc"] == ["query", "count"]
    assert "ISO 8601" in api.call("GET", "/cron/preview", 422, params={"schedule": "@daily",
                                                                      "after": "yesterday"}).json()["error"]
