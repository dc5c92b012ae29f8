"""/api/v1/apps: apps, env vars, instances and their logs."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Query, Response, WebSocket
from fastapi.responses import StreamingResponse
from sqlalchemy import select
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
    LimitsIn,
    LimitsOut,
    RunIn,
    ScaleIn,
    ScaleOut,
)
from slipway.bounds import INT32_MAX
from slipway.crypto import mask
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy, Release
from slipway.errors import Conflict, Invalid, NotFound, SlipwayError
from slipway.git import local as local_git
from slipway.git import service as git_service
from slipway.instances import service as instance_service
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.routing import service as routing
from slipway.web.deps import AccessDep, CurrentPrincipal, PlatformDep, TargetProject

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])

CRASHED = {"backoff", "crashloop", "stopped", "missing"}  # runtime states of an instance meant to run


def _when(unix: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(unix, dt.UTC) if unix else None


def _project_name(session: Session, project_id: int | None) -> str | None:
    from slipway.auth.models import Project

    project = session.get(Project, project_id) if project_id else None
    return project.name if project else "default"


def app_out(session: Session, platform: Platform, app: App, *, detail: bool = False) -> AppOut | AppDetail:
    live = session.get(Release, app.live_release_id) if app.live_release_id else None
    rows = instance_service.active(session, app.id)
    states = instance_service.states(platform, rows)
    versions = {r.id: r.version for r in deploy_service.releases(session, app)}
    instances = [
        InstanceOut(id=i.id, process_type=i.process_type, release=versions.get(i.release_id, 0), port=i.port,
                    status=i.status, state=states[i.id].status, pid=states[i.id].pid,
                    restarts=states[i.id].restarts, last_exit=states[i.id].last_exit_reason,
                    started_at=_when(states[i.id].started_at), runtime=i.runtime,
                    oom_kills=states[i.id].oom_kills)
        for i in rows
    ]
    last = deploy_service.deploys(session, app, limit=1)
    if app.deploy_lock is not None and (d := session.get(Deploy, app.deploy_lock)) and d.status == "running":
        status = "deploying"
    elif live is None:
        # nothing live: "failed" once an attempt failed (not "new", which reads as never tried)
        status = "failed" if last and last[0].status == "failed" else "new"
    elif app.desired_state != "running":
        status = "stopped"
    elif any(i.state in CRASHED for i in instances if i.status == "running"):
        status = "crashed"
    else:
        status = "running"
    base = dict(name=app.name, git_url=git_service.redact(app.git_url), branch=app.branch, runtime=app.runtime,
                image=app.image,
                url=routing.url_for(platform.settings, app), status=status,
                desired_state=app.desired_state, live_release=live.version if live else None,
                live_commit=live.commit if live else None, created_at=app.created_at,
                project=_project_name(session, app.project_id))
    if not detail:
        return AppOut(**base)
    static = bool(live and live.config.get("static_root"))
    declared = {} if live is None or static else live.config.get("processes", {})
    return AppDetail(**base, scale=dict(app.scale), static=static,
                     processes={t: max(0, app.scale.get(t, 1)) for t in declared},  # as the deploy starts them
                     limits=dict(app.limits or {}),
                     docker_build=dict(app.docker_build or {}), instances=instances,
                     env_keys=app_service.env_keys(session, app),
                     git_remote=platform.settings.git_remote(app.name),
                     last_deploy={"id": last[0].id, "kind": last[0].kind, "status": last[0].status,
                                  "reason": last[0].reason} if last else None)


@router.get("", response_model=list[AppOut])
def list_apps(platform: PlatformDep, _: CurrentPrincipal, access: AccessDep) -> list[AppOut | AppDetail]:
    """Only the apps the principal may see."""
    with platform.sessions() as session:
        return [app_out(session, platform, app) for app in app_service.list_all(session)
                if access.can_app("app:read", app)]


@router.post("", response_model=AppDetail, status_code=201)
def create_app(body: AppCreate, platform: PlatformDep, who: CurrentPrincipal,
               project_id: TargetProject, access: AccessDep) -> AppOut | AppDetail:
    _check_runtime(platform, body.runtime)
    with transaction(platform.sessions) as session:
        app_service.create(session, name=body.name, git_url=body.git_url, branch=body.branch,
                           runtime=body.runtime, image=body.image, actor=who.actor, project_id=project_id,
                           source_policy=local_git.policy(platform.settings, access, project_id))
    routing.apply(platform)
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, body.name), detail=True)


@router.get("/{name}", response_model=AppDetail)
def show_app(name: str, platform: PlatformDep, _: CurrentPrincipal) -> AppOut | AppDetail:
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, name), detail=True)


@router.patch("/{name}", response_model=AppDetail)
def update_app(name: str, body: AppUpdate, platform: PlatformDep, who: CurrentPrincipal,
               access: AccessDep) -> AppOut | AppDetail:
    if body.runtime is not None:
        _check_runtime(platform, body.runtime)
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        app_service.update(session, app, git_url=body.git_url, branch=body.branch,
                           runtime=body.runtime, image=body.image, actor=who.actor,
                           source_policy=local_git.policy(platform.settings, access, app.project_id))
    with platform.sessions() as session:
        return app_out(session, platform, app_service.get(session, name), detail=True)


def _check_runtime(platform: Platform, runtime: str) -> None:
    platform.runtime_for(runtime)  # Invalid, with the configured runtimes, when it does not exist


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
        live = session.get(Release, app.live_release_id) if app.live_release_id else None
        changed = app_service.set_scale(session, app, body.processes, actor=who.actor,
                                        declared=list(live.config.get("processes", {})) if live else None,
                                        static=bool(live and live.config.get("static_root")))
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
def app_logs(name: str, platform: PlatformDep, _: CurrentPrincipal, access: AccessDep,
             lines: int = Query(100, ge=1, le=10000), follow: bool = Query(False),
             process_type: str | None = Query(None, max_length=64),
             level: Literal["debug", "info", "warn", "error"] | None = Query(
                 None, description="Minimum level (as in log search)."),
             q: str | None = Query(None, max_length=500, description="Text to find (case-insensitive)."),
             release: int | None = Query(None, ge=1, le=INT32_MAX), instance: str | None = Query(None, max_length=128),
             stream: Literal["stdout", "stderr"] | None = Query(None),
             since: str | None = Query(None, description="History from this time (ISO 8601 or 15m, 2h, 7d) "
                                                         "instead of the last `lines` lines.")) -> Response:
    """Instance output, newest last. With follow=true: a text/event-stream of new lines. The filters (the
    same as log search) apply to the history and to the streamed lines. The app's env values (also base64-
    and URL-encoded) are masked unless the caller may reveal them (app:env:reveal)."""
    from slipway import redaction
    from slipway.observability import logsearch
    from slipway.observability.series import service as series

    query = logsearch.Query(q=q or None, level=level, release=release, instance=instance, stream=stream,
                            since=series.parse_time(since) if since else None, limit=lines)
    with platform.sessions() as session:
        app = app_service.get(session, name)
        redact = redaction.for_caller(session, platform.box, app, access)
        versions = dict(session.execute(select(Release.id, Release.version).where(Release.app_id == app.id)).all())
        instances = [i for i in instance_service.active(session, app.id)
                     if (process_type is None or i.process_type == process_type)
                     and logsearch.wanted(query, i.id, versions.get(i.release_id))]
    if process_type is not None and not instances:
        raise NotFound(f"{name} has no running {process_type} instance")
    if query.since is not None:  # matching history from the log files, stopped instances included
        hits, _ = logsearch.search(platform, app.id, query, redact)
        tail = [f"{hit.ts} {hit.stream} {hit.text}" for hit in hits
                if process_type is None or hit.process_type == process_type]
    else:
        tail = sorted(line for i in instances for raw in instance_service.runtime_of(platform, i).logs(i.id, lines)
                      if logsearch.line_matches(line := logsearch.redact_line(raw, redact), query))[-lines:]
    if not follow:
        return Response("\n".join(tail) + ("\n" if tail else ""), media_type="text/plain; charset=utf-8")

    def stream() -> Iterator[str]:
        for line in tail:
            yield f"data: {json.dumps(line)}\n\n"
        # every instance's new lines, merged as they come; the stream ends when they all stop
        lines_q: queue.Queue[str | None] = queue.Queue(maxsize=10000)

        def pump(instance: Instance) -> None:
            try:
                for raw in instance_service.runtime_of(platform, instance).follow(instance.id, stop_after=3600):
                    line = logsearch.redact_line(raw, redact)
                    if logsearch.line_matches(line, query):
                        lines_q.put(line)
            except SlipwayError:
                pass  # its runtime went away: that instance's stream ends
            finally:
                lines_q.put(None)

        for instance in instances:
            threading.Thread(target=pump, args=(instance,), daemon=True).start()
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


# ---- resource limits, docker build config, one-off commands -------------------------------------


@router.get("/{name}/limits", response_model=LimitsOut)
def get_limits(name: str, platform: PlatformDep, _: CurrentPrincipal) -> LimitsOut:
    with platform.sessions() as session:
        return LimitsOut(limits=dict(app_service.get(session, name).limits or {}))


@router.put("/{name}/limits/{process_type}", response_model=LimitsOut)
def set_limits(name: str, process_type: str, body: LimitsIn, platform: PlatformDep, who: CurrentPrincipal,
               restart: bool = Query(False, description="Restart the app now (zero downtime) to apply them.")
               ) -> LimitsOut:
    """Memory/CPU limits of one process type; applied at the next deploy or restart."""
    from slipway.runtimes.base import Limits
    from slipway.runtimes.limits import over_capacity

    deploy_id = None
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        limits = app_service.set_limits(session, app, process_type, body.model_dump(exclude_unset=True),
                                        actor=who.actor)
        if restart and app.live_release_id is not None and app.desired_state == "running":
            deploy_id = deploy_service.request(session, app, kind="restart", actor=who.actor).id
        runtime_name = app.runtime
    platform.wake_workers()
    warnings: list[str] = []
    capacity = getattr(platform.runtimes.get(runtime_name), "capacity", None)
    if capacity is not None:
        try:
            cores, memory = capacity()
            warnings = over_capacity(Limits.from_dict(limits.get(process_type)), cores, memory)
        except SlipwayError:
            warnings = [f"could not read the capacity of the {runtime_name} host"]
    return LimitsOut(limits=limits, warnings=warnings, deploy_id=deploy_id)


@router.patch("/{name}/build-config", response_model=dict[str, object])
def patch_build_config(name: str, body: dict[str, object], platform: PlatformDep,
                       who: CurrentPrincipal) -> dict[str, object]:
    """Docker build config: dockerfile, context, target, build_args, build_args_from_env, cache, port."""
    with transaction(platform.sessions) as session:
        return app_service.set_docker_build(session, app_service.get(session, name), body, actor=who.actor)


@router.post("/{name}/run")
def run_command(name: str, body: RunIn, platform: PlatformDep, who: CurrentPrincipal) -> StreamingResponse:
    """A one-off command in a new container (docker) or process (local) of the live release.

    A text/event-stream: `line` events with the output, then one `exit` event with the exit code."""
    from slipway import events

    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        release = session.get(Release, app.live_release_id) if app.live_release_id else None
        if release is None:
            raise Conflict(f"{name} has no live release yet: deploy it first")
        if release.config.get("static_root"):
            raise Invalid(f"{name} is a static site: there is nothing to run commands in")
        events.emit(session, "app.run", app_id=app.id, actor=who.actor, command=body.command,
                    release=release.version)
        session.expunge_all()
    lines_q: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=10000)

    def work() -> None:
        try:
            code = instance_service.run_once(platform, app=app, release=release, argv=body.command,
                                             on_line=lambda line: lines_q.put(("line", line)),
                                             timeout=body.timeout)
        except SlipwayError as exc:
            lines_q.put(("line", f"!! {exc.message}"))
            code = 125
        except Exception as exc:  # noqa: BLE001 - the stream must end with an exit code either way
            lines_q.put(("line", f"!! internal error: {type(exc).__name__}: {exc}"))
            code = 125
        lines_q.put(("exit", str(code)))

    threading.Thread(target=work, name=f"run-{name}", daemon=True).start()

    def stream() -> Iterator[str]:
        while True:
            try:
                kind, data = lines_q.get(timeout=15)
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            yield f"event: {kind}\ndata: {json.dumps(data) if kind == 'line' else data}\n\n"
            if kind == "exit":
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.websocket("/{name}/run/tty")
async def run_tty(websocket: WebSocket, name: str, platform: PlatformDep,
                  command: list[str] = Query(..., min_length=1, description="argv, one parameter per word"),
                  rows: int = Query(24, ge=1, le=1000), cols: int = Query(80, ge=1, le=1000)) -> None:
    """`slipway run -t`: a one-off command of the live release under a PTY (same permission as POST …/run).

    Binary frames both ways are the terminal's bytes; a text frame `{"resize": [rows, cols]}` resizes it.
    The server ends with a text frame `{"exit": CODE}` (and `{"error": "…"}` before it when the command
    could not start), then closes. Idle for `tty_idle_timeout` seconds: the command is ended (exit 124)."""
    from slipway.apps import tty

    await tty.serve(websocket, platform, name, command, rows=rows, cols=cols)
