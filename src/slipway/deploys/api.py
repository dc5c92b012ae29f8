"""/api/v1/apps/{name}/deploys, releases, rollback, restart, stop, start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.bounds import INT32_MAX, PathId, digits
from slipway.db import transaction
from slipway.deploys import log as deploy_log
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy, Release
from slipway.deploys.schedule import parse_when
from slipway.deploys.schemas import DeployCreate, DeployLog, DeployOut, LogLine, ReleaseOut, RollbackCreate
from slipway.errors import Invalid
from slipway.platform import Platform
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1/apps/{name}", tags=["deploys"])


def deploy_out(session: Session, app_name: str, deploy: Deploy) -> DeployOut:
    release = session.get(Release, deploy.release_id) if deploy.release_id else None
    return DeployOut(id=deploy.id, app=app_name, kind=deploy.kind, status=deploy.status, step=deploy.step,
                     commit=deploy.commit, source=deploy.source, release=release.version if release else None,
                     reason=deploy.reason, log_tail=deploy.log_tail,
                     run_at=deploy.run_at, created_at=deploy.created_at, started_at=deploy.started_at,
                     finished_at=deploy.finished_at, live_at=deploy.live_at, watch_until=deploy.watch_until)


def _request(platform: Platform, name: str, kind: str, actor: str, **kwargs: object) -> DeployOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        deploy = deploy_service.request(session, app, kind=kind, actor=actor, **kwargs)  # type: ignore[arg-type]
        out = deploy_out(session, name, deploy)
    platform.wake_workers()
    return out


@router.post("/deploys", response_model=DeployOut, status_code=202)
def create_deploy(name: str, platform: PlatformDep, who: CurrentPrincipal,
                  body: DeployCreate | None = None) -> DeployOut:
    if body is not None and body.at:
        return _request(platform, name, "deploy", who.actor, commit=body.commit, run_at=parse_when(body.at, body.tz))
    if body is not None and body.tz:
        raise Invalid("tz is only meaningful with at (a scheduled deploy)")
    return _request(platform, name, "deploy", who.actor, commit=body.commit if body else None)


@router.post("/deploys/{deploy_id}/cancel", response_model=DeployOut)
def cancel_deploy(name: str, deploy_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> DeployOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        deploy = deploy_service.cancel(session, app, deploy_service.get(session, deploy_id, app), actor=who.actor)
        return deploy_out(session, name, deploy)


@router.post("/rollback", response_model=DeployOut, status_code=202)
def rollback(name: str, platform: PlatformDep, who: CurrentPrincipal,
             body: RollbackCreate | None = None) -> DeployOut:
    return _request(platform, name, "rollback", who.actor, target_version=body.version if body else None)


@router.post("/restart", response_model=DeployOut, status_code=202)
def restart(name: str, platform: PlatformDep, who: CurrentPrincipal) -> DeployOut:
    return _request(platform, name, "restart", who.actor)


@router.post("/stop", response_model=DeployOut, status_code=202)
def stop(name: str, platform: PlatformDep, who: CurrentPrincipal) -> DeployOut:
    return _request(platform, name, "stop", who.actor)


@router.post("/start", response_model=DeployOut, status_code=202)
def start(name: str, platform: PlatformDep, who: CurrentPrincipal) -> DeployOut:
    return _request(platform, name, "start", who.actor)


@router.get("/deploys", response_model=list[DeployOut])
def list_deploys(name: str, platform: PlatformDep, _: CurrentPrincipal,
                 limit: int = Query(20, ge=1, le=200),
                 status: str | None = Query(None, max_length=16, description="Only deploys in this status "
                                            "(e.g. scheduled).")) -> list[DeployOut]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return [deploy_out(session, name, d)
                for d in deploy_service.deploys(session, app, limit=limit, status=status)]


@router.get("/deploys/{deploy_id}", response_model=DeployOut)
def show_deploy(name: str, deploy_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> DeployOut:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return deploy_out(session, name, deploy_service.get(session, deploy_id, app))


def _log_page(platform: Platform, name: str, deploy_id: int, after: int) -> DeployLog:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        deploy = deploy_service.get(session, deploy_id, app)
        lines = deploy_log.lines(session, deploy.id, after_id=after)
        return DeployLog(deploy=deploy_out(session, name, deploy),
                         lines=[LogLine(id=x.id, ts=x.ts, line=x.line) for x in lines],
                         next_after=lines[-1].id if lines else after)


@router.get("/deploys/{deploy_id}/log", response_model=DeployLog)
def deploy_log_page(name: str, deploy_id: PathId, platform: PlatformDep, _: CurrentPrincipal,
                    after: int = Query(0, ge=0, le=INT32_MAX)) -> DeployLog:
    return _log_page(platform, name, deploy_id, after)


@router.get("/deploys/{deploy_id}/stream")
async def deploy_log_stream(name: str, deploy_id: PathId, request: Request, platform: PlatformDep,
                            _: CurrentPrincipal, after: int = Query(0, ge=0, le=INT32_MAX)) -> StreamingResponse:
    """Server-sent events: `line` events while the deploy runs, a `phase` event (the deploy, as JSON) each time
    its step changes or traffic switches (`live_at`, `watch_until`), then one `end` event with the outcome.

    A reconnecting EventSource sends Last-Event-ID: the stream resumes after that line."""
    last_id = request.headers.get("last-event-id", "")
    if digits(last_id) and int(last_id) <= INT32_MAX:
        after = max(after, int(last_id))
    first = await run_in_threadpool(_log_page, platform, name, deploy_id, after)

    async def events() -> AsyncIterator[str]:
        page, phase = first, None
        while True:
            # from the page already fetched for the lines (no extra query), and before its lines: the deploy
            # was read first, so it is never ahead of them
            if (page.deploy.step, page.deploy.live_at) != phase and page.deploy.status != "queued":
                phase = (page.deploy.step, page.deploy.live_at)
                yield f"event: phase\ndata: {page.deploy.model_dump_json()}\n\n"
            for line in page.lines:
                yield f"id: {line.id}\nevent: line\ndata: {json.dumps(line.line)}\n\n"
            if page.deploy.status in deploy_service.FINISHED and not page.lines:
                yield f"event: end\ndata: {page.deploy.model_dump_json()}\n\n"
                return
            if await request.is_disconnected():
                return
            if not page.lines:
                await asyncio.sleep(0.2)
            page = await run_in_threadpool(_log_page, platform, name, deploy_id, page.next_after)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(name: str, platform: PlatformDep, _: CurrentPrincipal) -> list[ReleaseOut]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return [ReleaseOut(version=r.version, kind=r.kind, commit=r.commit, build_kind=r.build_kind,
                           description=r.description, processes=r.config.get("processes", {}),
                           live=r.id == app.live_release_id, pruned=r.pruned, failed=r.failed,
                           created_at=r.created_at)
                for r in deploy_service.releases(session, app)]
