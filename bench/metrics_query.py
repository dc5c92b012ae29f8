"""Chart query: 30 days of per-minute data for 200 apps present; one app's 30-day chart must answer in
≤ 100 ms p95, on SQLite and on PostgreSQL.

Data: metric_minute holds 30 days × 1,440 minutes × 200 apps (8.64 M rows; cpu and mem filled, the other
metrics NULL as for a local app without network counters) and metric_hour the matching 144 k hourly rows,
generated inside the database (a recursive CTE on SQLite, generate_series on PostgreSQL). We time the
service call the API makes (series.query: the 30-day window picks the hour table), the same through the
HTTP API (JSON encoding included), and a 7-day window (10,080 per-minute points). Baseline, same run: a
bare SELECT count(*) over the same rows.

    .venv/bin/python bench/metrics_query.py --db sqlite
    .venv/bin/python bench/metrics_query.py --db postgresql+psycopg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import time
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient
from harness import cleanup_on_signals, percentile, report, row
from metrics_common import add_app, bench_platform

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.db import transaction, utcnow
from slipway.observability.models import metric_hour, metric_minute
from slipway.observability.series import service as series

SQLITE_FILL = """
WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < :points - 1)
INSERT INTO {table} (scope, target, ts, n, cpu_avg, cpu_max, mem_avg, mem_max)
SELECT 'app', :target, datetime(:start, '+' || (i * :step) || ' seconds'), :n,
       (i % 97) * 0.5, (i % 97) * 0.9, 50e6 + (i % 13) * 1e6, 60e6 + (i % 13) * 1e6 FROM m
"""
PG_FILL = """
INSERT INTO {table} (scope, target, ts, n, cpu_avg, cpu_max, mem_avg, mem_max)
SELECT 'app', t::text, CAST(:start AS timestamp) + make_interval(secs => i * :step), :n,
       (i % 97) * 0.5, (i % 97) * 0.9, 50e6 + (i % 13) * 1e6, 60e6 + (i % 13) * 1e6
FROM generate_series(1, :apps) AS t, generate_series(0, :points - 1) AS i
"""


def fill(engine: sa.Engine, *, apps: int, days: int, start: dt.datetime) -> float:
    began = time.monotonic()
    naive = start.replace(tzinfo=None).isoformat(sep=" ")
    for table, step in ((metric_minute.name, 60), (metric_hour.name, 3600)):
        points = days * 86400 // step
        n = 6 if step == 60 else 360
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                for target in range(1, apps + 1):
                    conn.execute(sa.text(SQLITE_FILL.format(table=table)),
                                 {"points": points, "target": str(target), "start": naive, "step": step, "n": n})
            else:
                conn.execute(sa.text(PG_FILL.format(table=table)),
                             {"points": points, "apps": apps, "start": naive, "step": step, "n": n})
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - began


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm the cache once: a chart is rarely the first query after a restart
    out = []
    for _ in range(runs):
        begin = time.perf_counter()
        fn()
        out.append((time.perf_counter() - begin) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite", help="'sqlite' or a PostgreSQL server URL (no database)")
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    database, admin = None, None
    if args.db != "sqlite":
        database = f"slipway_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(f"{args.db}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        with cleanup_on_signals(), bench_platform(f"{args.db}/{database}" if database else None) as plat:
            for i in range(args.apps):
                add_app(plat, f"app{i}")
            now = utcnow().replace(second=0, microsecond=0)
            start = now - dt.timedelta(days=args.days)
            fill_seconds = fill(plat.engine, apps=args.apps, days=args.days, start=start)
            target = str(args.apps // 2)
            with plat.sessions() as session:
                def chart(days: int) -> Callable[[], object]:
                    return lambda: series.query(session, scope="app", target=target,
                                                start=now - dt.timedelta(days=days), end=now)

                def count(table: sa.Table, days: int) -> Callable[[], object]:
                    stmt = sa.select(sa.func.count()).select_from(table).where(
                        table.c.scope == "app", table.c.target == target,
                        table.c.ts >= now - dt.timedelta(days=days), table.c.ts <= now)
                    return lambda: session.scalar(stmt)

                points30 = len(series.query(session, scope="app", target=target, start=start, end=now).ts)
                month, month_base = timed(chart(30), args.runs), timed(count(metric_hour, 30), args.runs)
                week, week_base = timed(chart(7), args.runs), timed(count(metric_minute, 7), args.runs)
            with transaction(plat.sessions) as session:
                token, _ = auth_service.create_token(session, name="bench")
            with TestClient(create_app(platform=plat, background=False)) as client:
                def api() -> object:
                    response = client.get(f"/api/v1/apps/app{int(target) - 1}/metrics?range=30d",
                                          headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 200 and response.json()["ts"], response.text[:300]
                    return response
                http = timed(api, args.runs)
        db = plat.engine.dialect.name
        p95 = percentile(month, 95)
        report(f"metrics_query_{db}", [
            row(f"30-day chart, service ({db}) p95", p95, "ms", target="<= 100 ms", met=p95 <= 100,
                baseline=percentile(month_base, 95), ratio=p95 / percentile(month_base, 95)),
            row(f"30-day chart, HTTP API JSON ({db}) p95", percentile(http, 95), "ms", target="<= 100 ms",
                met=percentile(http, 95) <= 100),
            row(f"7-day chart, per-minute ({db}) p95", percentile(week, 95), "ms",
                baseline=percentile(week_base, 95), ratio=percentile(week, 95) / percentile(week_base, 95)),
        ], {"apps": args.apps, "days": args.days, "minute_rows": args.apps * args.days * 1440,
            "points_30d": points30, "fill_seconds": round(fill_seconds, 1), "runs": args.runs})
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
