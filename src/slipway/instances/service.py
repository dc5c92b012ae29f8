"""Placing instances of a release on the runtime, and reading their live state."""

from __future__ import annotations

import json
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.deploys.models import Release
from slipway.errors import SlipwayError
from slipway.instances import ports
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.runtimes import limits as limits_mod
from slipway.runtimes.base import InstanceSpec, InstanceState, LineSink, Runtime, Terminal

log = logging.getLogger(__name__)
DEFAULT_CONTAINER_PORT = 8000


def release_env(platform: Platform, release: Release) -> dict[str, str]:
    return json.loads(platform.box.decrypt(release.env_enc))


def release_runtime(platform: Platform, release: Release) -> Runtime:
    """Where a release runs is part of the release: a rollback to a local release runs locally even
    after the app moved to docker."""
    return platform.runtime_for(release.config.get("runtime") or "local")


def runtime_of(platform: Platform, instance: Instance) -> Runtime:
    return platform.runtime_for(instance.runtime or "local")


def spec_for(platform: Platform, *, app: App, release: Release, process_type: str, instance_id: str,
             port: int | None, command: str) -> InstanceSpec:
    settings = platform.settings
    docker = release.config.get("runtime") == "docker"
    container_port = int(release.config.get("container_port") or DEFAULT_CONTAINER_PORT) if docker else None
    host_env = {} if docker else {  # a container's HOME and PATH are its image's
        "HOME": str(settings.path("homes", app.name)),  # not $SLIPWAY_HOME: keep apps out of our state
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    env = {
        **host_env,
        "LANG": "C.UTF-8",
        **release.config.get("env", {}),
        **release_env(platform, release),
        "SLIPWAY_APP": app.name,
        "SLIPWAY_RELEASE": str(release.version),
        "SLIPWAY_PROCESS_TYPE": process_type,
        "SLIPWAY_INSTANCE": instance_id,
    }
    if port is not None:
        env["PORT"] = str(container_port or port)
    limits = limits_mod.effective(release.config, app.limits or {}, process_type)
    return InstanceSpec(instance_id=instance_id, app=app.name, release=release.version,
                        process_type=process_type, command=command,
                        cwd="/" if docker else release.artifact_path, env=env, port=port,
                        stop_grace=settings.stop_grace, limits=limits or None,
                        image=(release.config.get("image_id") or release.artifact_path) if docker else None,
                        container_port=container_port)


def start(platform: Platform, *, app: App, release: Release, process_type: str) -> Instance:
    """Lease a port, record the instance, start it on the runtime. Committed step by step so a crash
    in the middle leaves rows that the reconciler can see and clean up."""
    settings = platform.settings
    runtime = release_runtime(platform, release)
    instance_id = f"{app.name}-{process_type}-v{release.version}-{secrets.token_hex(3)}"
    command = release.config["processes"][process_type]
    port = ports.lease(platform.sessions, instance_id=instance_id, ports=settings.ports)
    with transaction(platform.sessions) as session:
        instance = Instance(id=instance_id, app_id=app.id, release_id=release.id, process_type=process_type,
                            runtime=runtime.name, port=port, status="starting")
        session.add(instance)
    spec = spec_for(platform, app=app, release=release, process_type=process_type, instance_id=instance_id,
                    port=port, command=command)
    try:
        runtime.start(spec)
    except Exception:
        with transaction(platform.sessions) as session:
            _forget(session, instance_id, status="failed")
        raise
    return instance


def stop(platform: Platform, instance_id: str, *, grace: float | None = None) -> None:
    with transaction(platform.sessions) as session:
        row = session.get(Instance, instance_id)
        if row is not None and row.status not in ("stopped", "failed"):
            row.status = "stopping"
        runtime = platform.runtime_for(row.runtime if row is not None else "local")
    runtime.stop(instance_id, grace if grace is not None else platform.settings.stop_grace)
    with transaction(platform.sessions) as session:
        _forget(session, instance_id, status="stopped")
    # the files (logs) stay until prune_stopped_instances: logs of old releases remain searchable


def _forget(session: Session, instance_id: str, *, status: str) -> None:
    row = session.get(Instance, instance_id)
    if row is not None:
        row.status = status
        row.stopped_at = utcnow()
    ports.release(session, instance_id=instance_id)


def remove_all(platform: Platform, app_id: int) -> None:
    """Forget every stopped instance of an app, files included (the app is being deleted)."""
    with platform.sessions() as session:
        rows = list(session.execute(select(Instance.id, Instance.runtime).where(Instance.app_id == app_id)))
    for instance_id, runtime in rows:
        platform.runtime_for(runtime or "local").remove(instance_id)


def active(session: Session, app_id: int) -> list[Instance]:
    return list(session.scalars(
        select(Instance).where(Instance.app_id == app_id, Instance.status.in_(("starting", "running",
                                                                                 "stopping")))
        .order_by(Instance.created_at)
    ))


def states(platform: Platform, instances: list[Instance]) -> dict[str, InstanceState]:
    """Live states; an instance whose runtime cannot answer (engine down) shows as "unknown", with why."""
    out = {}
    for i in instances:
        try:
            out[i.id] = runtime_of(platform, i).state(i.id)
        except SlipwayError as exc:
            out[i.id] = InstanceState(i.id, "unknown", last_exit_reason=exc.message)
    return out


def limits_report(platform: Platform, *, app: App, release: Release) -> list[str]:
    """What the deploy log says about resource limits: how they are enforced, or loudly that they are not.

    The process limit applies to every instance (a default when unset): it is named when set, and the
    log says loudly when the runtime cannot enforce it."""
    runtime = release_runtime(platform, release)
    lines = []
    for process_type in release.config.get("processes", {}):
        limits = limits_mod.effective(release.config, app.limits or {}, process_type)
        pids_support = getattr(runtime, "pids_support", None)
        pids_ok, pids_how = pids_support() if pids_support is not None else (
            False, f"the {runtime.name} runtime cannot limit processes")
        if not limits:
            if not pids_ok:
                lines.append(f"!! the process limit of {process_type} ({limits_mod.describe_pids(limits)}) is NOT "
                             f"enforced: degraded mode, {pids_how}")
            continue
        if limits.has_resources:
            support = getattr(runtime, "limits_support", None)
            enforced, how = support() if support is not None else (False, f"the {runtime.name} runtime has no limits")
        else:
            enforced, how = pids_ok, pids_how
        if enforced:
            lines.append(f"limits of {process_type}: {limits_mod.describe(limits)} ({how})")
        else:
            lines.append(f"!! limits of {process_type} ({limits_mod.describe(limits)}) are NOT enforced: "
                         f"degraded mode, {how}")
        if not pids_ok and limits.has_resources:
            lines.append(f"!! the process limit of {process_type} ({limits_mod.describe_pids(limits)}) is NOT "
                         f"enforced: degraded mode, {pids_how}")
        capacity = getattr(runtime, "capacity", None)
        if capacity is not None:
            try:
                cores, memory = capacity()
            except SlipwayError:
                continue
            lines.extend(f"!! warning: {process_type}: {w}" for w in limits_mod.over_capacity(limits, cores, memory))
    return lines


def run_once(platform: Platform, *, app: App, release: Release, argv: list[str], on_line: LineSink,
             timeout: float, process_type: str = "run", instance_id: str | None = None) -> int:
    """A one-off command of the release (a new container or process), with the app's env and limits."""
    runtime = release_runtime(platform, release)
    one_off = getattr(runtime, "run_once", None)
    if one_off is None:
        from slipway.errors import Invalid

        raise Invalid(f"the {runtime.name} runtime cannot run one-off commands")
    instance_id = instance_id or f"{app.name}-{process_type}-v{release.version}-{secrets.token_hex(3)}"
    spec = spec_for(platform, app=app, release=release, process_type=process_type, instance_id=instance_id,
                    port=None, command="")
    return int(one_off(spec, argv, on_line=on_line, timeout=timeout))


def open_tty(platform: Platform, *, app: App, release: Release, argv: list[str], rows: int = 24,
             cols: int = 80, process_type: str = "run") -> Terminal:
    """run_once's one-off command under a terminal (a runtimes.base.Terminal: a process under a PTY, a
    container with a TTY); only runtimes with open_tty."""
    runtime = release_runtime(platform, release)
    opener = getattr(runtime, "open_tty", None)
    if opener is None:
        from slipway.errors import Invalid

        raise Invalid(f"interactive commands (-t) are not supported on the {runtime.name} runtime yet: "
                      "run the command without -t")
    instance_id = f"{app.name}-{process_type}-v{release.version}-{secrets.token_hex(3)}"
    spec = spec_for(platform, app=app, release=release, process_type=process_type, instance_id=instance_id,
                    port=None, command="")
    return opener(spec, argv, rows=rows, cols=cols)


def record_ooms(platform: Platform) -> int:
    """Emit instance.oom for every OOM kill a runtime reports that is not recorded yet; return how many."""
    with platform.sessions() as session:
        rows = list(session.scalars(select(Instance).where(Instance.status.in_(("starting", "running",
                                                                                  "stopping")))))
    recorded = 0
    for row in rows:  # runtime calls outside any transaction: they may be slow
        try:
            state = runtime_of(platform, row).state(row.id)
        except SlipwayError:
            continue
        if state.oom_kills <= row.ooms:
            continue
        with transaction(platform.sessions) as session:
            current = session.get(Instance, row.id, with_for_update=True)
            if current is None or state.oom_kills <= current.ooms:
                continue  # another process recorded it meanwhile
            new = state.oom_kills - current.ooms
            current.ooms = state.oom_kills
            events.emit(session, "instance.oom", app_id=row.app_id, instance=row.id,
                        process_type=row.process_type, reason=state.last_exit_reason, oom_kills=state.oom_kills,
                        restarts=state.restarts, new=new)
            log.warning("instance %s was killed for going over its memory limit (%s)", row.id,
                        state.last_exit_reason)
            recorded += new
    return recorded


def mark(session: Session, instance_ids: list[str], status: str) -> None:
    if instance_ids:
        for row in session.scalars(select(Instance).where(Instance.id.in_(instance_ids))):
            row.status = status
