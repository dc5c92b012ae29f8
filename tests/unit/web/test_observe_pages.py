"""Observability pages: chart JSON, the overview, the host page, the logs view, the health page and its
forms; every page needs a session and every POST the CSRF token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from slipway.apps import service as app_service
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Release
from slipway.instances.models import Instance
from slipway.observability import logsearch
from slipway.observability.models import Check, CheckResult, Incident, metric_raw
from slipway.platform import Platform

from .conftest import page_csrf


@pytest.fixture
def make_app(plat: Platform, make_repo: Callable[..., object]) -> Callable[[str], int]:
    def make(name: str = "hello") -> int:
        repo = make_repo(name)
        with transaction(plat.sessions) as session:
            return app_service.create(session, name=name, git_url=repo.url, branch="main").id  # type: ignore[attr-defined]

    return make


def add_samples(plat: Platform, scope: str, target: str, count: int = 3, **values: float) -> None:
    now = utcnow()
    with transaction(plat.sessions) as session:
        session.execute(insert(metric_raw), [
            {"scope": scope, "target": target, "ts": now - dt.timedelta(seconds=10 * (count - i)), **values}
            for i in range(count)])


PAGES = ["/overview", "/servers/local", "/apps/hello/logs", "/apps/hello/health", "/apps/hello/metrics.json",
         "/servers/local/metrics.json"]
POSTS = ["/apps/hello/checks", "/apps/hello/checks/1/delete", "/apps/hello/checks/1/run"]


def test_pages_need_a_session(client: TestClient, make_app: Callable[[str], int]) -> None:
    make_app("hello")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path


def test_posts_refuse_a_missing_or_wrong_csrf_token(logged_in: TestClient, plat: Platform,
                                                    make_app: Callable[[str], int]) -> None:
    app_id = make_app("hello")
    with transaction(plat.sessions) as session:
        session.add(Check(id=1, app_id=app_id, name="home", kind="http", target="/"))
    data = {"name": "other", "kind": "http", "target": "/health"}
    for path in POSTS:
        assert logged_in.post(path, data=data).status_code == 403, path
        assert logged_in.post(path, data={**data, "csrf_token": "wrong"}).status_code == 403, path
    with plat.sessions() as session:
        assert [c.name for c in session.scalars(select(Check))] == ["home"]


def test_metrics_json_is_the_series_of_the_api(logged_in: TestClient, plat: Platform,
                                               make_app: Callable[[str], int]) -> None:
    app_id = make_app("hello")
    add_samples(plat, "app", str(app_id), cpu=12.5, mem=2e7, pids=3)
    data = logged_in.get("/apps/hello/metrics.json", params={"range": "6h"}).json()
    assert data["resolution"] == "raw"
    assert len(data["ts"]) == 3
    assert set(data["metrics"]) == {"cpu", "mem"}
    assert data["metrics"]["cpu"]["avg"] == [12.5] * 3
    api = logged_in.get("/api/v1/apps/hello/metrics", params={"range": "6h", "metrics": "cpu,mem"}).json()
    assert api["ts"] == data["ts"] and api["metrics"] == data["metrics"]
    assert logged_in.get("/apps/hello/metrics.json", params={"range": "7d"}).json()["resolution"] == "minute"
    assert logged_in.get("/apps/hello/metrics.json", params={"range": "2y"}).status_code == 422
    assert logged_in.get("/apps/nope/metrics.json").status_code == 404

    add_samples(plat, "host", "local", cpu=40.0, mem=1e9, mem_total=4e9, disk_used=1e10, disk_total=5e10,
                load1=0.5, load5=0.4, load15=0.3)
    host = logged_in.get("/servers/local/metrics.json", params={"range": "1h"}).json()
    assert host["metrics"]["load5"]["avg"] == [0.4] * 3 and host["metrics"]["disk_total"]["avg"] == [5e10] * 3


def test_app_page_and_host_page_carry_their_charts(logged_in: TestClient, make_app: Callable[[str], int]) -> None:
    make_app("hello")
    page = logged_in.get("/apps/hello")
    assert 'data-src="/apps/hello/metrics.json"' in page.text
    assert 'data-metrics="cpu"' in page.text and 'data-metrics="mem"' in page.text
    for r in ("1h", "6h", "24h", "7d", "30d", "90d"):
        assert f'data-range="{r}"' in page.text
    assert "/static/charts.js" in page.text and "/static/vendor/uPlot.iife.min.js" in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # the CSP allows neither
    host = logged_in.get("/servers/local")
    assert host.status_code == 200
    assert 'data-metrics="load1,load5,load15"' in host.text and 'data-metrics="disk_used,disk_total"' in host.text
    assert logged_in.get("/static/vendor/uPlot.iife.min.js").status_code == 200
    assert logged_in.get("/static/charts.js").status_code == 200


def test_overview_lists_apps_deploys_and_open_incidents(logged_in: TestClient, plat: Platform,
                                                        make_app: Callable[[str], int]) -> None:
    app_id = make_app("hello")
    make_app("other")
    with transaction(plat.sessions) as session:
        deploy_service.request(session, app_service.get(session, "hello"), kind="deploy", actor="test")
        check = Check(app_id=app_id, name="home", kind="http", target="/", state="down")
        session.add(check)
        session.flush()
        session.add(Incident(check_id=check.id, app_id=app_id, started_at=utcnow() - dt.timedelta(minutes=5),
                             cause="HTTP 503 from /"))
    page = logged_in.get("/overview")
    assert page.status_code == 200
    assert 'data-spark-src="/apps/hello/metrics.json?range=6h"' in page.text
    assert 'data-app="other"' in page.text
    assert "HTTP 503 from /" in page.text and "5 min" in page.text
    assert '/apps/hello/deploys/' in page.text


def write_logs(plat: Platform, app_id: int) -> str:
    with transaction(plat.sessions) as session:
        release = Release(app_id=app_id, version=1, kind="build", commit="a" * 40, build_kind="python",
                          artifact_path="/nowhere", env_enc="")
        session.add(release)
        session.flush()
        session.add(Instance(id="hello-web-v1-abc", app_id=app_id, release_id=release.id, process_type="web",
                             status="running"))
    folder = logsearch.log_root(plat) / "hello-web-v1-abc"
    folder.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    lines = [("INFO starting up", 30), ("WARN cache is cold", 20), ("ERROR mail server <gone>", 10)]
    (folder / "out.log").write_text("".join(
        f"{logsearch._stamp(now - dt.timedelta(seconds=ago))} stdout {text}\n" for text, ago in lines))
    return "hello-web-v1-abc"


def test_logs_view_filters_and_highlights(logged_in: TestClient, plat: Platform,
                                          make_app: Callable[[str], int]) -> None:
    instance = write_logs(plat, make_app("hello"))
    page = logged_in.get("/apps/hello/logs")
    assert page.status_code == 200
    assert page.text.count('class="line lvl-') == 3
    assert 'class="line lvl-error"' in page.text
    assert "mail server &lt;gone&gt;" in page.text  # escaped, never HTML
    assert f'<option value="{instance}">' in page.text and '<option value="1">v1</option>' in page.text
    assert 'data-stream="/api/v1/apps/hello/logs?follow=true&amp;lines=100"' in page.text

    warn = logged_in.get("/apps/hello/logs", params={"level": "warn", "q": "", "since": "1h"})
    assert warn.text.count('class="line lvl-') == 2 and "starting up" not in warn.text
    assert "/api/v1/apps/hello/logs/search?level=warn&amp;since=1h&amp;format=text" in warn.text
    export = logged_in.get("/api/v1/apps/hello/logs/search", params={"level": "warn", "since": "1h",
                                                                      "format": "text"})
    assert export.status_code == 200 and "cache is cold" in export.text and "starting" not in export.text
    text = logged_in.get("/apps/hello/logs", params={"q": "CACHE", "instance": instance, "release": "1"})
    assert text.text.count('class="line lvl-') == 1
    assert logged_in.get("/apps/hello/logs", params={"release": "2"}).text.count('class="line lvl-') == 0

    bad = logged_in.get("/apps/hello/logs", params={"since": "yesterday"})
    assert bad.status_code == 422 and "invalid time" in bad.text


def test_health_page_adds_runs_and_removes_checks(logged_in: TestClient, plat: Platform,
                                                  make_app: Callable[[str], int]) -> None:
    make_app("hello")
    token = page_csrf(logged_in, "/apps/hello/health")
    form = {"csrf_token": token, "name": "home", "kind": "http", "target": "/", "expected_status": "",
            "body_contains": "", "interval": "3", "timeout": "5", "retries": "3"}
    too_fast = logged_in.post("/apps/hello/checks", data=form)
    assert too_fast.status_code == 422
    assert "interval" in too_fast.text and 'value="home"' in too_fast.text  # the form keeps what was typed
    bad_url = logged_in.post("/apps/hello/checks", data={**form, "interval": "30", "target": "example.com"})
    assert bad_url.status_code == 422 and "invalid URL" in bad_url.text
    bad_status = logged_in.post("/apps/hello/checks", data={**form, "interval": "30", "expected_status": "999"})
    assert bad_status.status_code == 422 and "expected_status" in bad_status.text

    added = logged_in.post("/apps/hello/checks", data={**form, "interval": "30", "expected_status": "200",
                                                       "body_contains": "ok", "retries": "2", "smoke": "true",
                                                       "status_page": "true"})
    assert added.status_code == 303 and added.headers["location"] == "/apps/hello/health"
    tcp = logged_in.post("/apps/hello/checks", data={**form, "name": "port", "kind": "tcp", "target": ":8080",
                                                     "interval": "60", "expected_status": "200"})
    assert tcp.status_code == 303
    with plat.sessions() as session:
        checks = {c.name: c for c in session.scalars(select(Check))}
    home = checks["home"]
    assert (home.expected_status, home.body_contains, home.interval, home.retries, home.smoke, home.status_page) \
        == (200, "ok", 30.0, 2, True, True)
    assert checks["port"].kind == "tcp" and checks["port"].expected_status is None

    # results, an incident and the page with uptime and the response-time chart
    now = utcnow()
    with transaction(plat.sessions) as session:
        session.add_all([CheckResult(check_id=home.id, ts=now - dt.timedelta(minutes=m), status="up",
                                     response_ms=10.0 + m) for m in range(5)])
        session.add(Incident(check_id=home.id, app_id=home.app_id, started_at=now - dt.timedelta(hours=2),
                             ended_at=now - dt.timedelta(hours=1), cause="connection refused"))
    page = logged_in.get("/apps/hello/health")
    assert page.status_code == 200
    assert 'data-check="home"' in page.text and "connection refused" in page.text and "resolved" in page.text
    assert f'data-src="/apps/hello/checks/{home.id}/results.json"' in page.text
    assert "smoke" in page.text and "status page" in page.text
    assert 'class="day' in page.text
    results = logged_in.get(f"/apps/hello/checks/{home.id}/results.json", params={"range": "1h"}).json()
    assert results["metrics"]["response_ms"]["avg"] == [14.0, 13.0, 12.0, 11.0, 10.0]

    # run now (no instance runs: the check fails, which the flash says), then remove
    token = page_csrf(logged_in, "/apps/hello/health")
    run = logged_in.post(f"/apps/hello/checks/{home.id}/run", data={"csrf_token": token})
    assert run.status_code == 303
    with plat.sessions() as session:
        assert session.get(Check, home.id).last_run_at is not None  # type: ignore[union-attr]
    removed = logged_in.post(f"/apps/hello/checks/{home.id}/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    with plat.sessions() as session:
        assert [c.name for c in session.scalars(select(Check))] == ["port"]
    assert logged_in.post("/apps/hello/checks/999/delete", data={"csrf_token": token}).status_code == 404


def test_static_js_has_no_inline_eval(tmp_path: Path) -> None:
    from slipway.web import pages

    for name in ("charts.js", "logs.js"):
        source = (pages.HERE / "static" / name).read_text()
        assert "eval(" not in source and "innerHTML" not in source, name


def test_uptime_counts_from_the_first_time_the_app_served(plat: Platform, make_app: Callable[[str], int]) -> None:
    """An app watched for an hour that never ran has no uptime figure (it was not "down 99 %"); once it
    served, the window starts then, and an outage before it does not count."""
    from slipway.deploys.models import Deploy
    from slipway.observability import incidents

    app_id = make_app("never")
    now = utcnow()
    hour_ago = now - dt.timedelta(hours=1)
    with transaction(plat.sessions) as session:
        check = Check(app_id=app_id, name="home", kind="http", target="/", created_at=hour_ago)
        session.add(check)
        session.flush()
        check_id = check.id
        session.add(Incident(check_id=check.id, app_id=app_id, started_at=hour_ago + dt.timedelta(seconds=30),
                             ended_at=now - dt.timedelta(minutes=30), cause="connection refused"))
        session.add(Deploy(app_id=app_id, kind="deploy", status="failed", finished_at=hour_ago))
    with plat.sessions() as session:
        assert incidents.uptimes(session, app_id=app_id, now=now) == dict.fromkeys(incidents.WINDOWS)
        assert incidents.uptimes(session, check_id=check_id, now=now)["24h"] is None
    with transaction(plat.sessions) as session:  # it first served 30 minutes ago, as the outage ended
        session.add(Deploy(app_id=app_id, kind="deploy", status="succeeded", live_at=now - dt.timedelta(minutes=30),
                           finished_at=now - dt.timedelta(minutes=29)))
    with plat.sessions() as session:
        assert incidents.uptimes(session, app_id=app_id, now=now)["24h"] == 100.0
