"""Placing instances of a release on the runtime, and reading their live state."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.deploys.models import Release
from slipway.instances import ports
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.runtimes.base import InstanceSpec, InstanceState


def release_env(platform: Platform, release: Release) -> dict[str, str]:
    return json.loads(platform.box.decrypt(release.env_enc))


def start(platform: Platform, *, app: App, release: Release, process_type: str) -> Instance:
    """Lease a port, record the instance, start it on the runtime. Committed step by step so a crash
    in the middle leaves rows that the reconciler can see and clean up."""
    settings = platform.settings
    instance_id = f"{app.name}-{process_type}-v{release.version}-{secrets.token_hex(3)}"
    command = release.config["processes"][process_type]
    port = ports.lease(platform.sessions, instance_id=instance_id, ports=settings.ports)
    with transaction(platform.sessions) as session:
        instance = Instance(id=instance_id, app_id=app.id, release_id=release.id, process_type=process_type,
                            runtime=platform.runtime.name, port=port, status="starting")
        session.add(instance)
    env = {
        "HOME": str(settings.path("homes", app.name)),  # not $SLIPWAY_HOME: keep apps out of our state
        "LANG": "C.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        **release.config.get("env", {}),
        **release_env(platform, release),
        "PORT": str(port),
        "SLIPWAY_APP": app.name,
        "SLIPWAY_RELEASE": str(release.version),
        "SLIPWAY_PROCESS_TYPE": process_type,
        "SLIPWAY_INSTANCE": instance_id,
    }
    spec = InstanceSpec(instance_id=instance_id, app=app.name, release=release.version,
                        process_type=process_type, command=command, cwd=release.artifact_path, env=env,
                        port=port, stop_grace=settings.stop_grace)
    try:
        platform.runtime.start(spec)
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
    platform.runtime.stop(instance_id, grace if grace is not None else platform.settings.stop_grace)
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
        ids = list(session.scalars(select(Instance.id).where(Instance.app_id == app_id)))
    for instance_id in ids:
        platform.runtime.remove(instance_id)


def active(session: Session, app_id: int) -> list[Instance]:
    return list(session.scalars(
        select(Instance).where(Instance.app_id == app_id, Instance.status.in_(("starting", "running",
                                                                                 "stopping")))
        .order_by(Instance.created_at)
    ))


def states(platform: Platform, instances: list[Instance]) -> dict[str, InstanceState]:
    return {i.id: platform.runtime.state(i.id) for i in instances}


def mark(session: Session, instance_ids: list[str], status: str) -> None:
    if instance_ids:
        for row in session.scalars(select(Instance).where(Instance.id.in_(instance_ids))):
            row.status = status
