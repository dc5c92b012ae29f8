"""/api/v1/apps: apps, env vars, instances and their logs."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from slipway.apps import lifecycle
from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.apps.schemas import (
    AppCreate,
    AppDetail,
    AppOut,
    AppUpdate,
    EnvOut,
    EnvPatch,
    InstanceOut,
    ScaleIn,
    ScaleOut,
)
from slipway.crypto import mask
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy, Release
from slipway.errors import NotFound
from slipway.git import service as git_service
from slipway.instances import service as instance_service
from slipway.platform import Platform
from slipway.routing import service as routing
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])

CRASHED = {"backoff", "crashloop", "stopped", "missing"}  # runtime states of an instance meant to run


def _when(unix: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(unix, dt.UTC) if unix else None


def app_out(session: Session, platform: Platform, app: App, *, detail: bool = False) -> AppOut | AppDetail:
    live = session.get(Release, app.live_release_id) if app.live_release_id else None
    rows = instance_service.active(session, app.id)
    states = instance_service.states(platform, rows)
    versions = {r.id: r.version for r in deploy_service.releases(session, app)}
    instances = [
        InstanceOut(id=i.id, process_type=i.process_type, release=versions.get(i.release_id, 0), port=i.port,
                    status=i.status, state=states[i.id].status, pid=states[i.id].pid,
                    restarts=states[i.id].restarts, last_exit=states[i.id].last_exit_reason,
                    started_at=_when(states[i.id].started_at))
        for i in rows
    ]
    if app.deploy_lock is not None and (d := session.get(Deploy, app.deploy_lock)) and d.status == "running":
        status = "deploying"
    elif live is None:
        status = "new"
    elif app.desired_state != "running":
        status = "stopped"
    elif any(i.state in CRASHED for i in instances if i.status == "running"):
        status = "crashed"
    else:
        status = "running"
    base = dict(name=app.name, git_url=git_service.redact(app.git_url), branch=app.branch, runtime=app.runtime,
                url=routing.app_url(platform.settings, app.name), status=status,
                desired_state=app.desired_state, live_release=live.version if live else None,
                live_commit=live.commit if live else None, created_at=app.created_at)
    if not detail:
        return AppOut(**base)
    last = deploy_service.deploys(session, app, limit=1)
    return AppDetail(**base, scale=dict(app.scale), instances=instances, env_keys=app_service.env_keys(session, app),
                     last_deploy={"id": last[0].id, "kind": last[0].kind, "status": last[0].status,
                                  "reason": last[0].reason} if last else None)


@router.get("", response_model=list[AppOut])
def list_apps(platform: PlatformDep, _: CurrentPrincipal) -> list[AppOut | AppDetail]:
    with platform.sessions() as session:
        return [app_out(session, platform, app) for app in app_service.list_all(session)]


@router.post("", response_model=AppDetail, status_code=201)
def create_app(body: AppCreate, platform: PlatformDep, who: CurrentPrincipal) -> AppOut | AppDetail:
    with transaction(platform.sessions) as session:
        app_service.create(session, name=body.name, git_url=body.git_url, branch=body.branch,
                                 actor=who.actor)
    routing.apply(platform)
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, body.name), detail=True)


@router.get("/{name}", response_model=AppDetail)
def show_app(name: str, platform: PlatformDep, _: CurrentPrincipal) -> AppOut | AppDetail:
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, name), detail=True)


@router.patch("/{name}", response_model=AppDetail)
def update_app(name: str, body: AppUpdate, platform: PlatformDep, who: CurrentPrincipal) -> AppOut | AppDetail:
    with transaction(platform.sessions) as session:
        app_service.update(session, app_service.get(session, name), git_url=body.git_url, branch=body.branch,
                           actor=who.actor)
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, name), detail=True)


@router.delete("/{name}", status_code=204)
def delete_app(name: str, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    lifecycle.delete(platform, name, actor=who.actor)
    return Response(status_code=204)


@router.put("/{name}/scale", response_model=ScaleOut)
def scale_app(name: str, body: ScaleIn, platform: PlatformDep, who: CurrentPrincipal) -> ScaleOut:
    """Set instances per process type; a running app is restarted on the new scale, with zero downtime."""
    deploy_id = None
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        changed = app_service.set_scale(session, app, body.processes, actor=who.actor)
        if changed and app.live_release_id is not None and app.desired_state == "running":
            deploy_id = deploy_service.request(session, app, kind="restart", actor=who.actor).id
        scale = dict(app.scale)
    platform.wake_workers()
    return ScaleOut(scale=scale, deploy_id=deploy_id)


# ---- env vars ----------------------------------------------------------------------------------


@router.get("/{name}/env", response_model=EnvOut)
def get_env(name: str, platform: PlatformDep, _: CurrentPrincipal,
            reveal: bool = Query(False, description="Return values in clear.")) -> EnvOut:
    with platform.sessions() as session:
        values = app_service.env_plain(session, platform.box, app_service.get(session, name))
    return EnvOut(env=values if reveal else {k: mask(v) for k, v in values.items()}, revealed=reveal)


@router.patch("/{name}/env", response_model=EnvOut)
def patch_env(name: str, body: EnvPatch, platform: PlatformDep, who: CurrentPrincipal) -> EnvOut:
    deploy_id = None
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        changed = app_service.set_env(session, platform.box, app, body.set, actor=who.actor)
        if body.unset:
            changed = app_service.unset_env(session, app, body.unset, actor=who.actor) or changed
        if changed and body.deploy and app.live_release_id is not None:
            deploy_id = deploy_service.request(session, app, kind="config", actor=who.actor).id
        values = app_service.env_plain(session, platform.box, app)
    platform.wake_workers()
    return EnvOut(env={k: mask(v) for k, v in values.items()}, revealed=False, deploy_id=deploy_id)


# ---- instances and their logs ------------------------------------------------------------------


@router.get("/{name}/instances", response_model=list[InstanceOut])
def list_instances(name: str, platform: PlatformDep, _: CurrentPrincipal) -> list[InstanceOut]:
    with platform.sessions() as session:
        detail = app_out(session, platform, app_service.get(session, name), detail=True)
    assert isinstance(detail, AppDetail)
    return detail.instances


@router.get("/{name}/logs")
def app_logs(name: str, platform: PlatformDep, _: CurrentPrincipal,
             lines: int = Query(100, ge=1, le=10000), follow: bool = Query(False),
             process_type: str | None = Query(None, max_length=64)) -> Response:
    """Instance output, newest last. With follow=true: a text/event-stream of new lines."""
    with platform.sessions() as session:
        app = app_service.get(session, name)
        instances = [i for i in instance_service.active(session, app.id)
                     if process_type is None or i.process_type == process_type]
    if process_type is not None and not instances:
        raise NotFound(f"{name} has no running {process_type} instance")
    tail = sorted(line for i in instances for line in platform.runtime.logs(i.id, lines))[-lines:]
    if not follow:
        return Response("\n".join(tail) + ("\n" if tail else ""), media_type="text/plain; charset=utf-8")

    def stream() -> Iterator[str]:
        for line in tail:
            yield f"data: {json.dumps(line)}\n\n"
        # every instance's new lines, merged as they come; the stream ends when they all stop
        lines_q: queue.Queue[str | None] = queue.Queue(maxsize=10000)

        def pump(instance_id: str) -> None:
            try:
                for line in platform.runtime.follow(instance_id, stop_after=3600):
                    lines_q.put(line)
            finally:
                lines_q.put(None)

        for instance in instances:
            threading.Thread(target=pump, args=(instance.id,), daemon=True).start()
        running = len(instances)
        while running:
            try:
                line = lines_q.get(timeout=15)
            except queue.Empty:
                yield ": keep-alive\n\n"  # also how a gone client is noticed
                continue
            if line is None:
                running -= 1
                continue
            yield f"data: {json.dumps(line)}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
