"""Health checks against real servers: incidents opened and resolved, TCP, deep JSON, uptime, smoke checks,
the scheduler path (claim + thread pool)."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest
from sqlalchemy import select
from tests.conftest import free_port
from tests.integration.conftest import Api
from tests.integration.observability.conftest import FlipServer, deploy_app

from slipway.deploys.models import Release
from slipway.events import Event
from slipway.observability.smoke import run_smoke_checks
from slipway.observability.tasks import HealthRunner

pytestmark = pytest.mark.integration


def events(api: Api, prefix: str) -> list[Event]:
    with api.platform.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind.like(prefix + "%")).order_by(Event.id)))


def test_http_monitor_goes_down_opens_an_incident_and_recovery_resolves_it(api: Api, flip: FlipServer) -> None:
    monitor = api.call("POST", "/monitors", 201, json={
        "name": "website", "kind": "http", "target": flip.url, "retries": 2, "interval": 30, "timeout": 2,
        "body_contains": "good", "headers": {"X-Probe": "slipway"}}).json()
    run = lambda: api.call("POST", f"/monitors/{monitor['id']}/run", 200).json()  # noqa: E731

    first = run()
    assert first["state"] == "healthy" and first["last_response_ms"] > 0
    flip.answer(500, b"internal error")
    assert run()["state"] == "degraded"  # one failure of the two allowed
    assert api.call("GET", f"/monitors/{monitor['id']}/incidents", 200).json() == []
    flip.stop()  # unreachable now
    down = run()
    assert down["state"] == "down" and "ConnectError" in down["last_output"]
    [incident] = api.call("GET", f"/monitors/{monitor['id']}/incidents", 200).json()
    assert incident["ended_at"] is None and incident["duration"] is None
    assert incident["cause"].startswith("GET http://127.0.0.1") and "ConnectError" in incident["output"]
    run()  # still down: no second incident
    time.sleep(0.2)
    flip.start()
    flip.answer(200, b"all good again")
    assert run()["state"] == "healthy"
    [resolved] = api.call("GET", f"/monitors/{monitor['id']}/incidents", 200).json()
    assert resolved["id"] == incident["id"] and resolved["ended_at"] is not None
    started, ended = (dt.datetime.fromisoformat(resolved[k]) for k in ("started_at", "ended_at"))
    assert resolved["duration"] == pytest.approx((ended - started).total_seconds())
    assert resolved["duration"] > 0.2
    # the incident began at the first failure (the 500), not when retries ran out
    results = api.call("GET", f"/monitors/{monitor['id']}/results?range=1h", 200).json()
    assert [r["status"] for r in results] == ["up", "down", "down", "down", "up"]
    assert started == dt.datetime.fromisoformat(results[1]["ts"])
    assert results[1]["output"].endswith("expected 2xx/3xx: internal error") and results[0]["output"] is None
    assert [e.kind for e in events(api, "health.")] == ["health.down", "health.recovered"]
    opened, closed = events(api, "incident.")
    assert (opened.kind, closed.kind) == ("incident.opened", "incident.resolved")
    assert closed.payload["incident_id"] == incident["id"] and closed.payload["duration"] > 0

    detail = api.call("GET", f"/monitors/{monitor['id']}", 200).json()
    assert 0 < detail["uptime"]["24h"] < 100
    api.call("DELETE", f"/monitors/{monitor['id']}", 204)
    api.call("GET", f"/monitors/{monitor['id']}", 404)


def test_tcp_and_deep_json_checks(api: Api, flip: FlipServer) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        tcp = api.call("POST", "/monitors", 201, json={"name": "db", "kind": "tcp", "target": f"127.0.0.1:{port}",
                                                       "retries": 1}).json()
        assert api.call("POST", f"/monitors/{tcp['id']}/run", 200).json()["state"] == "healthy"
    closed = api.call("POST", "/monitors", 201, json={"name": "nothing", "kind": "tcp", "retries": 1,
                                                      "target": f"127.0.0.1:{free_port()}"}).json()
    after = api.call("POST", f"/monitors/{closed['id']}/run", 200).json()
    assert after["state"] == "down" and "refused" in after["last_output"].lower()

    flip.answer(200, {"status": "ok", "checks": {"db": "ok", "redis": "fail"}})
    deep = api.call("POST", "/monitors", 201, json={"name": "api", "kind": "json", "target": flip.url}).json()
    state = api.call("POST", f"/monitors/{deep['id']}/run", 200).json()
    assert state["state"] == "degraded" and "redis: fail" in state["last_output"]
    flip.answer(503, {"status": "fail", "checks": {"db": "fail"}})
    assert api.call("POST", f"/monitors/{deep['id']}/run", 200).json()["failures"] == 1
    flip.answer(200, {"status": "ok", "checks": {"db": "ok", "redis": "ok"}})
    assert api.call("POST", f"/monitors/{deep['id']}/run", 200).json()["state"] == "healthy"

    for bad in ({"name": "x", "target": "/health"},  # a monitor needs a URL
                {"name": "x", "target": "ftp://host/"}, {"name": "x", "kind": "tcp", "target": "host"},
                {"name": "x", "target": "http://h/", "interval": 5, "timeout": 10}):
        api.call("POST", "/monitors", 422, json=bad)


def test_app_checks_uptime_smoke_checks_and_the_scheduler(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    deploy_app(api, make_repo)
    ok = api.call("POST", "/apps/hello/checks", 201, json={
        "name": "home", "target": "/", "body_contains": "version", "smoke": True, "retries": 1}).json()
    assert ok["app"] == "hello" and ok["state"] == "unknown"
    broken = api.call("POST", "/apps/hello/checks", 201, json={
        "name": "missing", "target": "/", "body_contains": "no such text", "retries": 1, "monitor": False}).json()
    api.call("POST", "/monitors", 201, json={"name": "elsewhere", "target": f"http://127.0.0.1:{free_port()}/",
                                             "retries": 1})

    runner = HealthRunner(api.platform)
    try:
        assert runner.tick() == 2  # the app check and the monitor; the smoke-only check is not scheduled
        assert runner.tick() == 0  # claimed: not due again before its interval
        deadline = time.monotonic() + 10
        while any(c["state"] == "unknown" for c in api.call("GET", "/monitors", 200).json()
                  + [api.call("GET", f"/apps/hello/checks/{ok['id']}", 200).json()]):
            assert time.monotonic() < deadline, "the scheduled checks did not run"
            time.sleep(0.05)
    finally:
        runner.close()
    assert api.call("GET", f"/apps/hello/checks/{ok['id']}", 200).json()["state"] == "healthy"
    assert api.call("GET", "/monitors", 200).json()[0]["state"] == "down"

    uptime = api.call("GET", "/apps/hello/uptime", 200).json()
    assert uptime["state"] == "healthy" and uptime["uptime"]["24h"] == 100.0 and uptime["open_incidents"] == 0
    assert api.call("GET", "/apps/hello/incidents", 200).json() == []
    assert len(api.call("GET", "/apps/hello/checks", 200).json()) == 2

    with api.platform.sessions() as session:
        release = session.scalars(select(Release)).one()
    api.call("PATCH", f"/apps/hello/checks/{broken['id']}", 200, json={"smoke": True})
    reason = run_smoke_checks(api.platform, release.app_id, release)
    assert reason is not None and reason.startswith("smoke check 'missing' failed") and "no such text" in reason
    api.call("PATCH", f"/apps/hello/checks/{broken['id']}", 200, json={"body_contains": "version"})
    assert run_smoke_checks(api.platform, release.app_id, release) is None

    api.call("DELETE", f"/apps/hello/checks/{broken['id']}", 204)
    api.call("GET", f"/monitors/{ok['id']}", 404)  # an app check is not a monitor


def test_an_app_without_instances_is_down(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    api.call("POST", "/apps", 201, json={"name": "idle", "git_url": make_repo().url})
    check = api.call("POST", "/apps/idle/checks", 201, json={"name": "home", "target": "/", "retries": 1}).json()
    after = api.call("POST", f"/apps/idle/checks/{check['id']}/run", 200).json()
    assert after["state"] == "down" and after["last_output"] == "no running web instance to probe"
    [incident] = api.call("GET", "/apps/idle/incidents?open=true", 200).json()
    assert incident["check"] == "home"
    assert api.call("GET", "/apps/idle/uptime", 200).json()["open_incidents"] == 1
