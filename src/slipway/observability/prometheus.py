"""/metrics in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.db import utcnow
from slipway.deploys.models import Deploy
from slipway.instances.models import Instance
from slipway.jobs.models import Job
from slipway.observability.models import Check, metric_raw

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Sample = tuple[dict[str, str], float]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def family(name: str, kind: str, help_: str, samples: Iterable[Sample]) -> str:
    lines = [f"# HELP {name} {help_.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}",
             f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def render(session: Session, *, now: dt.datetime | None = None, fresh: float = 120.0) -> str:
    """Platform-level series and, per app, its latest sample (if younger than `fresh` seconds)."""
    now = now or utcnow()
    apps = dict(session.execute(select(App.id, App.name)).all())
    parts = [
        family("slipway_apps", "gauge", "Apps known to Slipway.", [({}, len(apps))]),
        family("slipway_deploys", "gauge", "Deploys by status (all time).",
               _grouped(session, Deploy.status, "status")),
        family("slipway_jobs_queued", "gauge", "Jobs waiting in the queue.",
               [({}, session.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0)]),
        family("slipway_jobs", "gauge", "Jobs by status.", _grouped(session, Job.status, "status")),
        family("slipway_instances", "gauge", "Instances by state.", _grouped(session, Instance.status, "state")),
    ]
    latest = _latest(session, now - dt.timedelta(seconds=fresh))
    per_app = [(apps[int(t)], row) for t, row in latest.items() if t.isdigit() and int(t) in apps]
    per_app.sort()
    for name, column, help_, kind in (
        ("slipway_app_cpu_percent", "cpu", "CPU of the app's instances, percent of one core.", "gauge"),
        ("slipway_app_memory_bytes", "mem", "Resident memory of the app's instances.", "gauge"),
        ("slipway_app_restarts", "restarts", "Restarts of the app's current instances.", "gauge"),
        ("slipway_app_pids", "pids", "Processes of the app's instances.", "gauge"),
    ):
        parts.append(family(name, kind, help_, [({"app": app}, row[column] or 0.0) for app, row in per_app]))
    checks = session.execute(select(Check.name, Check.app_id, Check.state, Check.last_response_ms)
                             .where(Check.enabled.is_(True), Check.monitor.is_(True))).all()
    parts.append(family("slipway_check_up", "gauge", "1 when the check is healthy or degraded, 0 when down.",
                        [(_check_labels(apps, n, a), 0.0 if s == "down" else 1.0)
                         for n, a, s, _ in checks if s != "unknown"]))
    parts.append(family("slipway_check_response_ms", "gauge", "Response time of the check's last run.",
                        [(_check_labels(apps, n, a), ms) for n, a, _, ms in checks if ms is not None]))
    return "".join(parts)


def _check_labels(apps: dict[int, str], name: str, app_id: int | None) -> dict[str, str]:
    return {"check": name, "app": apps.get(app_id, "") if app_id is not None else ""}


def _grouped(session: Session, column: object, label: str) -> list[Sample]:
    rows = session.execute(select(column, func.count()).group_by(column).order_by(column)).all()  # type: ignore[call-overload]
    return [({label: str(value)}, count) for value, count in rows]


def _latest(session: Session, since: dt.datetime) -> dict[str, dict[str, float | None]]:
    rows = session.execute(
        select(metric_raw.c.target, metric_raw.c.ts, metric_raw.c.cpu, metric_raw.c.mem, metric_raw.c.restarts,
               metric_raw.c.pids)
        .where(metric_raw.c.scope == "app", metric_raw.c.ts >= since).order_by(metric_raw.c.ts)).all()
    latest: dict[str, dict[str, float | None]] = {}
    for target, _, cpu, mem, restarts, pids in rows:
        latest[target] = {"cpu": cpu, "mem": mem, "restarts": restarts, "pids": pids}
    return latest
