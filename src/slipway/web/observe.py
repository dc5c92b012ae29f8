"""Dashboard pages of observability: charts (JSON for static/charts.js), the overview, the host page,
the logs view and the health page of an app (checks, uptime, incidents). Calls the services directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway import redaction
from slipway.apps import service as app_service
from slipway.apps.api import app_out
from slipway.apps.models import App
from slipway.bounds import INT32_MAX, PathId, digits
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy, Release
from slipway.errors import Invalid, SlipwayError
from slipway.instances.models import Instance
from slipway.observability import checks, incidents, logsearch
from slipway.observability.models import CheckResult
from slipway.observability.schemas import CheckIn
from slipway.observability.series import service as series
from slipway.observability.status import app_state
from slipway.observability.tasks import run_check
from slipway.platform import Platform
from slipway.web.deps import AccessDep, PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render, templates

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RANGES = list(series.RANGES)
APP_CHART_METRICS = ("cpu", "mem")
HOST_CHART_METRICS = ("cpu", "mem", "mem_total", "disk_used", "disk_total", "load1", "load5", "load15")
SINCE_CHOICES = ("15m", "1h", "6h", "24h", "7d")
CHECK_KINDS = (("http", "HTTP"), ("tcp", "TCP"), ("json", "Deep (JSON health document)"))


def _pct(value: float | None) -> str:
    if value is None:  # never measured (e.g. the app never ran): unknown, not 0 %
        return "—"
    return "100 %" if value >= 100 else f"{value:.2f} %"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "ongoing"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds / 86400:.1f} days"


templates.filters["pct"] = _pct
templates.filters["duration"] = _duration


def _range(value: str | None) -> str:
    if value is not None and value not in series.RANGES:
        raise Invalid(f"unknown range {value!r}: use one of {', '.join(series.RANGES)}")
    return value or "1h"


# ---- chart data (the same series as GET /api/v1/apps/{name}/metrics, as JSON) -----------------------


@router.get("/apps/{name}/metrics.json")
def app_metrics_json(name: str, platform: PlatformDep, _: Viewer, range_: str | None = Query(None, alias="range"),
                     metrics: str = Query("cpu,mem", max_length=200)) -> dict[str, Any]:
    wanted = tuple(m for m in (x.strip() for x in metrics.split(",")) if m in series.INSTANCE_METRICS)
    begin, end = series.parse_window(_range(range_), None, None)
    with platform.sessions() as session:
        app = app_service.get(session, name)
        data = series.query(session, scope="app", target=str(app.id), start=begin, end=end,
                            metrics=wanted or APP_CHART_METRICS)
    return data.as_json()


@router.get("/servers/local/metrics.json")
def host_metrics_json(platform: PlatformDep, _: Viewer,
                      range_: str | None = Query(None, alias="range")) -> dict[str, Any]:
    begin, end = series.parse_window(_range(range_), None, None)
    with platform.sessions() as session:
        data = series.query(session, scope="host", target="local", start=begin, end=end, metrics=HOST_CHART_METRICS)
    return data.as_json()


@router.get("/apps/{name}/checks/{check_id}/results.json")
def check_results_json(name: str, check_id: PathId, platform: PlatformDep, _: Viewer,
                       range_: str | None = Query(None, alias="range")) -> dict[str, Any]:
    """Response times in the chart format: one `response_ms` metric (a failed probe has none)."""
    begin, end = series.parse_window(_range(range_), None, None)
    with platform.sessions() as session:
        app = app_service.get(session, name)
        checks.get(session, check_id, app=app)
        rows = session.execute(select(CheckResult.ts, CheckResult.response_ms, CheckResult.status)
                               .where(CheckResult.check_id == check_id, CheckResult.ts >= begin,
                                      CheckResult.ts <= end)
                               .order_by(CheckResult.ts).limit(20000)).all()
    times = [r.response_ms if r.status != "down" else None for r in rows]
    return {"resolution": "raw", "step": None, "from": begin.isoformat(), "to": end.isoformat(),
            "ts": [r.ts.isoformat() for r in rows], "metrics": {"response_ms": {"avg": times, "max": times}}}


# ---- the host --------------------------------------------------------------------------------------


@router.get("/servers/local")
def host_page(request: Request, _: Viewer) -> Response:
    return render(request, "observe/host.html", ranges=RANGES)


# ---- overview: every app, recent deploys, open incidents -------------------------------------------


def recent_deploys(session: Session, limit: int = 15) -> list[dict[str, Any]]:
    rows = session.execute(select(Deploy, App.name, Release.version)
                           .join(App, App.id == Deploy.app_id)
                           .join(Release, Release.id == Deploy.release_id, isouter=True)
                           .order_by(Deploy.id.desc()).limit(limit)).all()
    return [{"id": d.id, "app": name, "kind": d.kind, "status": d.status, "commit": d.commit, "release": version,
             "reason": d.reason, "created_at": d.created_at, "finished_at": d.finished_at}
            for d, name, version in rows]


@router.get("/overview")
def overview_page(request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        apps = []
        for app in app_service.list_all(session):
            apps.append({"out": app_out(session, platform, app), "health": app_state(session, app.id),
                         "uptime": incidents.uptimes(session, app_id=app.id)["24h"]})
        names = {a.id: a.name for a in app_service.list_all(session)}
        open_incidents = [(i, check, names.get(i.app_id or -1)) for i, check in
                          incidents.listing(session, open_only=True, limit=50)]
        deploys = recent_deploys(session)
        from slipway.domains import service as domain_service

        certs = domain_service.certificate_summary(session, list(names))
    return render(request, "observe/overview.html", apps=apps, deploys=deploys, incidents=open_incidents,
                  now=utcnow(), certs=certs, cert_apps=names)


# ---- logs --------------------------------------------------------------------------------------------


@router.get("/apps/{name}/logs")
def logs_page(name: str, request: Request, platform: PlatformDep, _: Viewer, access: AccessDep,
              q: str = Query("", max_length=500), level: str = Query("", max_length=8),
              since: str = Query("", max_length=40), release: str = Query("", max_length=10),
              instance: str = Query("", max_length=128), limit: int = Query(500, ge=1, le=5000)) -> Response:
    form = {"q": q, "level": level, "since": since, "release": release, "instance": instance}
    error = None
    lines: list[logsearch.Hit] = []
    truncated = False
    with platform.sessions() as session:
        app = app_service.get(session, name)
        app_id = app.id
        redact = redaction.for_caller(session, platform.box, app, access)  # env values masked but for revealers
        releases = [r.version for r in deploy_service.releases(session, app)]
        instance_ids = list(session.scalars(select(Instance.id).where(Instance.app_id == app.id)
                                            .order_by(Instance.created_at.desc()).limit(50)))
    try:
        if level and level not in logsearch.LEVELS:
            raise Invalid(f"unknown level {level!r}: use debug, info, warn or error")
        if release and (not digits(release) or int(release) > INT32_MAX):
            raise Invalid("release: a version number such as 3")
        query = logsearch.Query(q=q or None, level=level or None,
                                since=series.parse_time(since) if since else None,
                                release=int(release) if release else None, instance=instance or None, limit=limit)
        lines, truncated = logsearch.search(platform, app_id, query, redact)
    except SlipwayError as exc:
        error = exc.message
    params = {k: v for k, v in form.items() if v}
    return render(request, "observe/logs.html", 422 if error else 200, app={"name": name}, form=form, lines=lines,
                  truncated=truncated, error=error, releases=releases, instances=instance_ids,
                  levels=list(logsearch.LEVELS), since_choices=SINCE_CHOICES,
                  export_params={**params, "format": "text"}, limit=limit)


# ---- health: checks, uptime, incidents --------------------------------------------------------------


def _health_context(session: Session, app: App) -> dict[str, Any]:
    rows = checks.list_for(session, app=app)
    now = utcnow()
    since = incidents.monitored_since(session, app_id=app.id)
    outages = incidents.outages(session, app_id=app.id, since=now - dt.timedelta(days=90), now=now)
    return {
        "checks": [(c, incidents.uptimes(session, check_id=c.id, now=now)) for c in rows],
        "uptime": incidents.uptimes(session, app_id=app.id, now=now),
        "state": app_state(session, app.id),
        "incidents": incidents.listing(session, app_id=app.id, limit=50),
        "days": incidents.daily(outages, days=90, since=since, now=now),
    }


CHECK_DEFAULTS = {"name": "", "kind": "http", "target": "/", "expected_status": "", "body_contains": "",
                  "interval": "60", "timeout": "5", "retries": "3", "smoke": False, "status_page": False,
                  "method": "GET"}


def _health_page(request: Request, platform: Platform, name: str, *, form: dict[str, Any] | None = None,
                 errors: list[str] | None = None, status: int = 200) -> Response:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        context = _health_context(session, app)
    return render(request, "observe/health.html", status, app={"name": name}, form=form or CHECK_DEFAULTS,
                  errors=errors or [], kinds=CHECK_KINDS, ranges=RANGES, **context)


@router.get("/apps/{name}/health")
def health_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    return _health_page(request, platform, name)


def _validation_messages(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return out


@router.post("/apps/{name}/checks")
def add_check(name: str, request: Request, platform: PlatformDep, who: Actor,
              check_name: Annotated[str, Form(alias="name", max_length=100)] = "",
              kind: Annotated[str, Form(max_length=8)] = "http",
              target: Annotated[str, Form(max_length=2048)] = "",
              method: Annotated[str, Form(max_length=8)] = "GET",
              expected_status: Annotated[str, Form(max_length=3)] = "",
              body_contains: Annotated[str, Form(max_length=1024)] = "",
              interval: Annotated[str, Form(max_length=10)] = "60",
              timeout: Annotated[str, Form(max_length=10)] = "5",
              retries: Annotated[str, Form(max_length=3)] = "3",
              smoke: Annotated[bool, Form()] = False, status_page: Annotated[bool, Form()] = False) -> Response:
    form = {"name": check_name, "kind": kind, "target": target, "method": method,
            "expected_status": expected_status, "body_contains": body_contains, "interval": interval,
            "timeout": timeout, "retries": retries, "smoke": smoke, "status_page": status_page}
    raw: dict[str, Any] = {"name": check_name.strip(), "kind": kind, "target": target, "method": method,
                           "expected_status": expected_status.strip() or None,
                           "body_contains": body_contains or None, "interval": interval.strip() or "60",
                           "timeout": timeout.strip() or "5", "retries": retries.strip() or "3",
                           "smoke": smoke, "status_page": status_page}
    if kind == "tcp":
        raw.update(expected_status=None, body_contains=None)
    try:
        body = CheckIn.model_validate(raw)
    except ValidationError as exc:
        return _health_page(request, platform, name, form=form, errors=_validation_messages(exc), status=422)
    try:
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            check = checks.create(session, app=app, fields=body.model_dump(), policy=platform.egress,
                                  actor=who.actor)
            label = check.name
    except Invalid as exc:
        return _health_page(request, platform, name, form=form, errors=[exc.message], status=422)
    platform.wake_workers()
    return redirect(f"/apps/{name}/health", flash=f"Added the check {label}: it runs every {body.interval:g} s.")


@router.post("/apps/{name}/checks/{check_id}/delete")
def delete_check(name: str, check_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        check = checks.get(session, check_id, app=app_service.get(session, name))
        label = check.name
        checks.delete(session, check, actor=who.actor)
    return redirect(f"/apps/{name}/health", flash=f"Removed the check {label}.")


@router.post("/apps/{name}/checks/{check_id}/run")
def run_check_now(name: str, check_id: PathId, platform: PlatformDep, _: Actor) -> Response:
    with platform.sessions() as session:
        checks.get(session, check_id, app=app_service.get(session, name))
    run_check(platform, check_id)
    with platform.sessions() as session:
        check = checks.get(session, check_id, app=app_service.get(session, name))
        state, label = check.state, check.name
    return redirect(f"/apps/{name}/health", flash=f"Ran {label}: {state}.",
                    kind="error" if state == "down" else "ok")
