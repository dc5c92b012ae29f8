"""Routes: metrics series (JSON/CSV), /metrics for Prometheus, checks and monitors, incidents, uptime,
status-page opt-in, log search. Every route needs the normal token (or dashboard session) auth;
only the status page (status.py) is public.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway import redaction
from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.bounds import INT32_MAX, PathId
from slipway.config import Settings
from slipway.db import transaction
from slipway.errors import Invalid, NotFound
from slipway.instances.models import Instance
from slipway.observability import checks, incidents, logsearch, prometheus
from slipway.observability.models import Check, CheckResult
from slipway.observability.schemas import (
    CheckIn,
    CheckOut,
    CheckPatch,
    CheckResultOut,
    IncidentOut,
    StatusPageOut,
    StatusPagePatch,
    UptimeOut,
)
from slipway.observability.series import service as series
from slipway.observability.tasks import run_check
from slipway.web.deps import AccessDep, CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["observability"])
RangeParam = Query(None, alias="range", description="1h, 6h, 24h, 7d, 30d or 90d (default 1h).")
FromParam = Query(None, alias="from", description="ISO 8601 time or a duration ago (15m, 2h, 7d).")
ToParam = Query(None, alias="to", description="ISO 8601 time or a duration ago; default now.")
Format = Literal["json", "csv"]
MetricsParam = Query(None, max_length=300, description="Comma-separated subset, e.g. cpu,mem (default: all).")


# ---- metrics ----------------------------------------------------------------------------------------


def _series_response(session: Session, *, scope: str, target: str, metrics: tuple[str, ...], range_: str | None,
                     start: str | None, end: str | None, resolution: str | None, fmt: Format,
                     filename: str, only: str | None = None) -> Any:
    begin, finish = series.parse_window(range_, start, end)
    if only:
        wanted = tuple(m.strip() for m in only.split(",") if m.strip())
        unknown = [m for m in wanted if m not in metrics]
        if unknown:
            raise Invalid(f"unknown metric(s) {', '.join(unknown)}: choose among {', '.join(metrics)}")
        metrics = wanted
    data = series.query(session, scope=scope, target=target, start=begin, end=finish, metrics=metrics,
                        resolution=resolution)
    if fmt == "csv":
        return Response(data.as_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
    return data.as_json()


@router.get("/apps/{name}/metrics")
def app_metrics(name: str, platform: PlatformDep, _: CurrentPrincipal, range_: str | None = RangeParam,
                start: str | None = FromParam, end: str | None = ToParam,
                instance: str | None = Query(None, max_length=128, description="One instance instead of the app."),
                resolution: Literal["raw", "minute", "hour"] | None = Query(None),
                metrics: str | None = MetricsParam, format: Format = Query("json")) -> Any:
    """Series of the app (the sum over its instances) or of one instance: `ts` and, per metric, avg and max
    columns. Resolution: raw for windows up to 6 h, per minute up to 7 days, per hour beyond."""
    with platform.sessions() as session:
        app = app_service.get(session, name)
        scope, target = "app", str(app.id)
        if instance is not None:
            row = session.get(Instance, instance)
            if row is None or row.app_id != app.id:
                raise NotFound(f"{name} has no instance {instance}")
            scope, target = "instance", instance
        return _series_response(session, scope=scope, target=target, metrics=series.INSTANCE_METRICS,
                                range_=range_, start=start, end=end, resolution=resolution, fmt=format,
                                filename=f"{name}-metrics", only=metrics)


@router.get("/servers/{server}/metrics")
def server_metrics(server: str, platform: PlatformDep, _: CurrentPrincipal, range_: str | None = RangeParam,
                   start: str | None = FromParam, end: str | None = ToParam,
                   resolution: Literal["raw", "minute", "hour"] | None = Query(None),
                   metrics: str | None = MetricsParam, format: Format = Query("json")) -> Any:
    if server != "local":
        raise NotFound(f"no server {server!r} (only 'local' for now)")
    with platform.sessions() as session:
        return _series_response(session, scope="host", target="local", metrics=series.HOST_METRICS,
                                range_=range_, start=start, end=end, resolution=resolution, fmt=format,
                                filename="local-metrics", only=metrics)


prometheus_router = APIRouter(tags=["observability"])


@prometheus_router.get("/metrics", response_class=Response)
def prometheus_metrics(platform: PlatformDep, _: CurrentPrincipal) -> Response:
    """Prometheus text format. Authenticated like the API: give Prometheus a token
    (`authorization: {type: Bearer, credentials: <token>}` in its scrape config)."""
    with platform.sessions() as session:
        return Response(prometheus.render(session), media_type=prometheus.CONTENT_TYPE)


# ---- checks and monitors ------------------------------------------------------------------------------


def _check_out(check: Check, app_name: str | None, uptime: dict[str, float | None] | None = None) -> CheckOut:
    return CheckOut(id=check.id, app=app_name, name=check.name, kind=check.kind, target=check.target,
                    method=check.method, expected_status=check.expected_status, body_contains=check.body_contains,
                    headers=dict(check.headers or {}), interval=check.interval, timeout=check.timeout,
                    retries=check.retries, enabled=check.enabled, monitor=check.monitor, smoke=check.smoke,
                    status_page=check.status_page, state=check.state, failures=check.failures,
                    last_run_at=check.last_run_at, last_response_ms=check.last_response_ms,
                    last_output=check.last_output, created_at=check.created_at, uptime=uptime)


def _app(session: Session, name: str | None) -> App | None:
    return app_service.get(session, name) if name is not None else None


def _list(platform: PlatformDep, name: str | None) -> list[CheckOut]:
    with platform.sessions() as session:
        app = _app(session, name)
        return [_check_out(c, name, incidents.uptimes(session, check_id=c.id))
                for c in checks.list_for(session, app=app)]


def _create(platform: PlatformDep, name: str | None, body: CheckIn, actor: str) -> CheckOut:
    with transaction(platform.sessions) as session:
        check = checks.create(session, app=_app(session, name), fields=body.model_dump(),
                              policy=platform.egress, actor=actor)
        out = _check_out(check, name)
    platform.wake_workers()
    return out


def _show(platform: PlatformDep, name: str | None, check_id: int) -> CheckOut:
    with platform.sessions() as session:
        check = checks.get(session, check_id, app=_app(session, name))
        return _check_out(check, name, incidents.uptimes(session, check_id=check.id))


def _patch(platform: PlatformDep, name: str | None, check_id: int, body: CheckPatch, actor: str) -> CheckOut:
    with transaction(platform.sessions) as session:
        check = checks.get(session, check_id, app=_app(session, name))
        checks.update_fields(session, check, body.model_dump(exclude_unset=True), policy=platform.egress,
                             actor=actor)
        return _check_out(check, name)


def _delete(platform: PlatformDep, name: str | None, check_id: int, actor: str) -> Response:
    with transaction(platform.sessions) as session:
        checks.delete(session, checks.get(session, check_id, app=_app(session, name)), actor=actor)
    return Response(status_code=204)


def _run(platform: PlatformDep, name: str | None, check_id: int) -> CheckOut:
    with platform.sessions() as session:
        checks.get(session, check_id, app=_app(session, name))
    run_check(platform, check_id)
    return _show(platform, name, check_id)


def _results(platform: PlatformDep, name: str | None, check_id: int, range_: str | None, start: str | None,
             end: str | None, limit: int) -> list[CheckResultOut]:
    begin, finish = series.parse_window(range_, start, end)
    with platform.sessions() as session:
        checks.get(session, check_id, app=_app(session, name))
        rows = session.scalars(select(CheckResult).where(CheckResult.check_id == check_id, CheckResult.ts >= begin,
                                                         CheckResult.ts <= finish)
                               .order_by(CheckResult.ts.desc()).limit(limit)).all()
        return [CheckResultOut(ts=r.ts, status=r.status, response_ms=r.response_ms, output=r.output)
                for r in reversed(rows)]


@router.get("/apps/{name}/checks", response_model=list[CheckOut])
def list_app_checks(name: str, platform: PlatformDep, _: CurrentPrincipal) -> list[CheckOut]:
    return _list(platform, name)


@router.post("/apps/{name}/checks", response_model=CheckOut, status_code=201)
def create_app_check(name: str, body: CheckIn, platform: PlatformDep, who: CurrentPrincipal) -> CheckOut:
    return _create(platform, name, body, who.actor)


@router.get("/apps/{name}/checks/{check_id}", response_model=CheckOut)
def show_app_check(name: str, check_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> CheckOut:
    return _show(platform, name, check_id)


@router.patch("/apps/{name}/checks/{check_id}", response_model=CheckOut)
def patch_app_check(name: str, check_id: PathId, body: CheckPatch, platform: PlatformDep,
                    who: CurrentPrincipal) -> CheckOut:
    return _patch(platform, name, check_id, body, who.actor)


@router.delete("/apps/{name}/checks/{check_id}", status_code=204)
def delete_app_check(name: str, check_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    return _delete(platform, name, check_id, who.actor)


@router.post("/apps/{name}/checks/{check_id}/run", response_model=CheckOut)
def run_app_check(name: str, check_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> CheckOut:
    """Run the check now (outside its schedule) and return its new state."""
    return _run(platform, name, check_id)


@router.get("/apps/{name}/checks/{check_id}/results", response_model=list[CheckResultOut])
def app_check_results(name: str, check_id: PathId, platform: PlatformDep, _: CurrentPrincipal,
                      range_: str | None = RangeParam, start: str | None = FromParam, end: str | None = ToParam,
                      limit: int = Query(5000, ge=1, le=50000)) -> list[CheckResultOut]:
    """Results with response times, oldest first (the response-time chart)."""
    return _results(platform, name, check_id, range_, start, end, limit)


@router.get("/monitors", response_model=list[CheckOut])
def list_monitors(platform: PlatformDep, _: CurrentPrincipal) -> list[CheckOut]:
    return _list(platform, None)


@router.post("/monitors", response_model=CheckOut, status_code=201)
def create_monitor(body: CheckIn, platform: PlatformDep, who: CurrentPrincipal) -> CheckOut:
    return _create(platform, None, body, who.actor)


@router.get("/monitors/{check_id}", response_model=CheckOut)
def show_monitor(check_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> CheckOut:
    return _show(platform, None, check_id)


@router.patch("/monitors/{check_id}", response_model=CheckOut)
def patch_monitor(check_id: PathId, body: CheckPatch, platform: PlatformDep, who: CurrentPrincipal) -> CheckOut:
    return _patch(platform, None, check_id, body, who.actor)


@router.delete("/monitors/{check_id}", status_code=204)
def delete_monitor(check_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    return _delete(platform, None, check_id, who.actor)


@router.post("/monitors/{check_id}/run", response_model=CheckOut)
def run_monitor(check_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> CheckOut:
    return _run(platform, None, check_id)


@router.get("/monitors/{check_id}/results", response_model=list[CheckResultOut])
def monitor_results(check_id: PathId, platform: PlatformDep, _: CurrentPrincipal, range_: str | None = RangeParam,
                    start: str | None = FromParam, end: str | None = ToParam,
                    limit: int = Query(5000, ge=1, le=50000)) -> list[CheckResultOut]:
    return _results(platform, None, check_id, range_, start, end, limit)


@router.get("/monitors/{check_id}/incidents", response_model=list[IncidentOut])
def monitor_incidents(check_id: PathId, platform: PlatformDep, _: CurrentPrincipal,
                      open: bool = Query(False), limit: int = Query(100, ge=1, le=1000)) -> list[IncidentOut]:
    with platform.sessions() as session:
        checks.get(session, check_id, app=None)
        return _incidents_out(incidents.listing(session, check_id=check_id, open_only=open, limit=limit))


# ---- incidents, uptime, status page ------------------------------------------------------------------


def _incidents_out(rows: list[Any]) -> list[IncidentOut]:
    return [IncidentOut(id=i.id, check_id=i.check_id, check=name, started_at=i.started_at, ended_at=i.ended_at,
                        duration=i.duration, cause=i.cause, output=i.output) for i, name in rows]


@router.get("/apps/{name}/incidents", response_model=list[IncidentOut])
def app_incidents(name: str, platform: PlatformDep, _: CurrentPrincipal, open: bool = Query(False),
                  limit: int = Query(100, ge=1, le=1000)) -> list[IncidentOut]:
    """Newest first; `open=true` for the ongoing ones only."""
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return _incidents_out(incidents.listing(session, app_id=app.id, open_only=open, limit=limit))


@router.get("/apps/{name}/uptime", response_model=UptimeOut)
def app_uptime(name: str, platform: PlatformDep, _: CurrentPrincipal) -> UptimeOut:
    from slipway.observability.status import app_state

    with platform.sessions() as session:
        app = app_service.get(session, name)
        return UptimeOut(app=name, state=app_state(session, app.id), uptime=incidents.uptimes(session, app_id=app.id),
                         open_incidents=len(incidents.listing(session, app_id=app.id, open_only=True)))


@router.get("/apps/{name}/status-page", response_model=StatusPageOut)
def get_status_page(name: str, platform: PlatformDep, _: CurrentPrincipal) -> StatusPageOut:
    from slipway.observability.models import StatusPageEntry

    with platform.sessions() as session:
        app = app_service.get(session, name)
        entry = session.get(StatusPageEntry, app.id)
        return StatusPageOut(app=name, enabled=bool(entry and entry.enabled),
                             display_name=entry.display_name if entry else None)


@router.patch("/apps/{name}/status-page", response_model=StatusPageOut)
def patch_status_page(name: str, body: StatusPagePatch, platform: PlatformDep, who: CurrentPrincipal) -> StatusPageOut:
    """List the app on the public status page (or take it off)."""
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        entry = checks.set_status_page(session, app, enabled=body.enabled, display_name=body.display_name)
        from slipway.events import emit

        emit(session, "status_page.updated", app_id=app.id, actor=who.actor, enabled=body.enabled)
        return StatusPageOut(app=name, enabled=entry.enabled, display_name=entry.display_name)


# ---- log search -------------------------------------------------------------------------------------------


@router.get("/apps/{name}/logs/search")
def search_logs(name: str, platform: PlatformDep, _: CurrentPrincipal, access: AccessDep,
                q: str | None = Query(None, max_length=500, description="Text to find (case-insensitive)."),
                level: Literal["debug", "info", "warn", "error"] | None = Query(
                    None, description="Minimum level: error finds errors, warn finds warnings and errors."),
                since: str | None = Query(None, description="ISO 8601 or a duration ago (15m, 2h, 7d)."),
                until: str | None = Query(None),
                release: int | None = Query(None, ge=1, le=INT32_MAX),
                instance: str | None = Query(None, max_length=128),
                stream: Literal["stdout", "stderr"] | None = Query(None),
                source: Literal["instances", "deploys", "access"] = Query(
                    "instances", description="access: the router's access log of the app (method, uri, status, "
                                             "duration; 5xx are errors, 4xx warnings)."),
                limit: int = Query(500, ge=1, le=10000),
                format: Literal["json", "text"] = Query("json",
                                                        description="text: every match streamed (an export).")) -> Any:
    """Search the app's instance logs (or its deploy logs, or its router access log), newest last. The app's
    env values (also base64- and URL-encoded) are masked unless the caller may reveal them (app:env:reveal)."""
    query = logsearch.Query(q=q or None, level=level, since=series.parse_time(since) if since else None,
                            until=series.parse_time(until) if until else None, release=release,
                            instance=instance, stream=stream, limit=limit)
    if query.since and query.until and query.until < query.since:
        raise Invalid("'until' must be after 'since'")
    with platform.sessions() as session:
        app = app_service.get(session, name)
        redact = redaction.for_caller(session, platform.box, app, access)
        if source == "deploys":
            lines = logsearch.search_deploy_logs(session, app.id, query, redact)
            if format == "text":
                return Response("".join(f"{line['ts']} deploy-{line['deploy']} {line['text']}\n" for line in lines),
                                media_type="text/plain; charset=utf-8")
            return {"lines": lines, "truncated": len(lines) >= limit}
    if source == "access":
        home = platform.settings.home
        if format == "text":
            return StreamingResponse((hit.as_text() + "\n" for hit in logsearch.scan_access(home, name, query)),
                                     media_type="text/plain; charset=utf-8",
                                     headers={"Content-Disposition": f'attachment; filename="{name}-access.txt"'})
        hits, truncated = logsearch.search_access(home, name, query)
        return {"lines": [hit.__dict__ for hit in hits], "truncated": truncated}
    if format == "text":
        def export() -> Iterator[str]:
            for hit in logsearch.stream(platform, app.id, query, redact):
                yield hit.as_text() + "\n"

        return StreamingResponse(export(), media_type="text/plain; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}-logs.txt"'})
    hits, truncated = logsearch.search(platform, app.id, query, redact)
    return {"lines": [hit.__dict__ for hit in hits], "truncated": truncated}


@router.get("/apps/{name}/error-rate")
def app_error_rate(name: str, platform: PlatformDep, _: CurrentPrincipal,
                   range_: str | None = Query(None, alias="range", description="1h (default), 6h or 24h.")
                   ) -> dict[str, Any]:
    """Per minute, from the router's access log: requests, 5xx responses and their share (error_rate)."""
    hours = {"1h": 1, "6h": 6, "24h": 24}.get(range_ or "1h")
    if hours is None:
        raise Invalid("range must be 1h, 6h or 24h")
    with platform.sessions() as session:
        app_service.get(session, name)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    return {"points": logsearch.error_rate(platform.settings.home, name, since)}


def mount(app: FastAPI, settings: Settings) -> None:
    from slipway.observability.status import status_router

    app.include_router(router)
    app.include_router(prometheus_router)
    app.include_router(status_router(settings.status_path))
