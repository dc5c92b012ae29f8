"""The collector on a real running instance, rollups, retention, the metrics API (JSON, CSV), /metrics."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select
from tests.integration.conftest import Api
from tests.integration.observability.conftest import deploy_app

from slipway.db import utcnow
from slipway.observability import rollup
from slipway.observability.collector import Collector
from slipway.observability.models import metric_hour, metric_minute, metric_raw

pytestmark = pytest.mark.integration


def test_collector_samples_a_running_instance_and_the_api_serves_it(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    app = deploy_app(api, make_repo)
    [instance] = app["instances"]
    collector = Collector(api.platform)
    try:
        assert collector.tick() == 3  # instance, app, host
        time.sleep(1.0)
        assert collector.tick() == 3
        # a second process over the same home does not sample: the lock is held
        assert Collector(api.platform).tick() == 0
    finally:
        collector.close()
    with api.platform.sessions() as session:
        rows = session.execute(select(metric_raw).order_by(metric_raw.c.ts)).mappings().all()
    by_scope = {(r["scope"], r["target"]) for r in rows}
    assert ("instance", instance["id"]) in by_scope and ("host", "local") in by_scope
    inst = [r for r in rows if r["scope"] == "instance"][-1]
    assert inst["mem"] > 1_000_000 and inst["pids"] >= 1 and inst["threads"] >= 1 and inst["fds"] >= 3
    assert inst["restarts"] == 0 and inst["cpu"] is not None and inst["disk_read"] is not None
    assert inst["net_rx"] is None  # not measurable for a local process (see collector.py)
    host = [r for r in rows if r["scope"] == "host"][-1]
    assert host["mem_total"] > host["mem"] > 0 and host["disk_total"] > 0 and host["net_rx"] is not None

    series = api.call("GET", "/apps/hello/metrics?range=1h", 200).json()
    assert series["resolution"] == "raw" and len(series["ts"]) == 2
    assert series["metrics"]["mem"]["avg"][-1] == pytest.approx(inst["mem"])
    one = api.call("GET", f"/apps/hello/metrics?range=6h&instance={instance['id']}", 200).json()
    assert one["metrics"]["pids"]["max"][-1] >= 1
    host_series = api.call("GET", "/servers/local/metrics?range=24h", 200).json()
    assert host_series["resolution"] == "minute"  # nothing rolled up yet: an empty minute series
    assert api.call("GET", "/servers/local/metrics?range=1h", 200).json()["metrics"]["load1"]["avg"]

    csv = api.call("GET", "/apps/hello/metrics?range=1h&format=csv", 200)
    assert csv.headers["content-type"].startswith("text/csv")
    header, *lines = csv.text.strip().splitlines()
    assert header.startswith("ts,cpu_avg,cpu_max,mem_avg,mem_max") and len(lines) == 2

    assert list(api.call("GET", "/apps/hello/metrics?metrics=cpu,mem", 200).json()["metrics"]) == ["cpu", "mem"]
    api.call("GET", "/apps/hello/metrics?metrics=cpu,load1", 422)  # a host metric
    api.call("GET", "/apps/hello/metrics?range=2y", 422)
    api.call("GET", "/servers/elsewhere/metrics", 404)
    api.call("GET", "/apps/hello/metrics?instance=nope", 404)

    prom = api.client.get("/metrics", headers=api.headers)  # outside /api/v1, same token
    assert prom.status_code == 200 and prom.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "slipway_apps 1\n" in prom.text
    assert 'slipway_instances{state="running"} 1\n' in prom.text
    assert 'slipway_deploys{status="succeeded"} 1\n' in prom.text
    assert 'slipway_app_memory_bytes{app="hello"} ' in prom.text
    assert api.client.get("/metrics").status_code == 401


def test_rollup_and_retention(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    platform = api.platform
    api.call("POST", "/apps", 201, json={"name": "one", "git_url": make_repo().url})
    with platform.sessions() as session:
        from slipway.apps.models import App

        app_id = session.scalar(select(App.id).where(App.name == "one"))
    now = utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    start = now - dt.timedelta(hours=3)
    rows = [{"scope": "app", "target": str(app_id), "ts": start + dt.timedelta(seconds=10 * i), "cpu": float(i % 6),
             "mem": 1000.0} for i in range(6 * 60 * 3)]
    with platform.sessions.begin() as session:
        session.execute(metric_raw.insert(), rows)
    later = now + dt.timedelta(minutes=1)  # every bucket of the 3 hours has ended and settled
    assert rollup.roll_up(platform, now=later) == {"minute": 180, "hour": 3}
    assert rollup.roll_up(platform, now=later) == {"minute": 0, "hour": 0}  # nothing new
    with platform.sessions() as session:
        minute = session.execute(select(metric_minute).order_by(metric_minute.c.ts)).mappings().first()
        hour = session.execute(select(metric_hour).order_by(metric_hour.c.ts)).mappings().first()
    assert minute is not None and hour is not None
    assert minute["n"] == 6 and minute["cpu_avg"] == pytest.approx(2.5) and minute["cpu_max"] == 5
    assert hour["n"] == 360 and hour["cpu_avg"] == pytest.approx(2.5) and hour["mem_max"] == 1000

    # the API picks per-minute points for 24 h and per-hour points for 30 days
    day = api.call("GET", "/apps/one/metrics?range=24h", 200).json()
    assert day["resolution"] == "minute" and len(day["ts"]) == 180 and day["step"] == 60
    month = api.call("GET", "/apps/one/metrics?range=30d", 200).json()
    assert month["resolution"] == "hour" and len(month["ts"]) == 3

    platform.settings.metrics_raw_retention_hours = 1
    deleted = rollup.enforce_retention(platform, now=now)
    assert deleted["raw"] == 6 * 60 * 2 and deleted["minute"] == 0
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(metric_raw)) == 6 * 60
