"""Asking for deploys, rollbacks, restarts; reading releases and deploys. The pipeline runs them."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.db import utcnow
from slipway.deploys.models import Deploy, Release
from slipway.errors import Conflict, Invalid, NotFound
from slipway.jobs import queue

KINDS = ("deploy", "rollback", "config", "restart", "start", "stop")
FINISHED = ("succeeded", "failed", "rolled_back", "cancelled")


def request(session: Session, app: App, *, kind: str, commit: str | None = None,
            target_version: int | None = None, actor: str = "system") -> Deploy:
    """Record a deploy and queue its job in the same transaction (no deploy without a job)."""
    if kind not in KINDS:
        raise Invalid(f"unknown deploy kind {kind!r}")
    target_id = None
    if kind == "rollback":
        target_id = rollback_target(session, app, target_version).id
    if kind in ("restart", "start", "config") and app.live_release_id is None:
        raise Conflict(f"{app.name} has no live release yet: deploy it first")
    if commit is not None and not (len(commit) in (40, 64) and all(c in "0123456789abcdef" for c in commit)):
        raise Invalid(f"invalid commit {commit!r}: expected a full hexadecimal sha (40 characters)")
    deploy = Deploy(app_id=app.id, kind=kind, commit=commit, target_release_id=target_id)
    session.add(deploy)
    session.flush()
    # a deploy is not retried by another worker: a half-run pipeline is cleaned up and failed instead
    queue.enqueue(session, "deploy", {"deploy_id": deploy.id}, max_attempts=1)
    events.emit(session, f"{kind}.requested", app_id=app.id, actor=actor, deploy_id=deploy.id)
    return deploy


def rollback_target(session: Session, app: App, version: int | None) -> Release:
    live = session.get(Release, app.live_release_id) if app.live_release_id else None
    if version is None:
        if live is None:
            raise Conflict(f"{app.name} has no live release to roll back from")
        # the release that was live before the current one (skipping the current's own copies)
        target = session.scalar(
            select(Release).where(Release.app_id == app.id, Release.version < live.version,
                                  Release.artifact_path != live.artifact_path, Release.pruned.is_(False))
            .order_by(Release.version.desc()).limit(1)
        ) or session.scalar(
            select(Release).where(Release.app_id == app.id, Release.version < live.version,
                                  Release.pruned.is_(False)).order_by(Release.version.desc()).limit(1)
        )
        if target is None:
            raise Conflict(f"{app.name} has no earlier release to roll back to")
        return target
    target = session.scalar(select(Release).where(Release.app_id == app.id, Release.version == version))
    if target is None:
        raise NotFound(f"{app.name} has no release v{version}")
    if target.pruned:
        raise Conflict(f"release v{version} of {app.name} was pruned (only the newest releases are kept, "
                       "see SLIPWAY_RELEASE_RETENTION)")
    if live is not None and target.id == live.id:
        raise Conflict(f"v{version} is already the live release of {app.name}")
    return target


def next_version(session: Session, app_id: int) -> int:
    return (session.scalar(select(func.max(Release.version)).where(Release.app_id == app_id)) or 0) + 1


def releases(session: Session, app: App) -> list[Release]:
    return list(session.scalars(select(Release).where(Release.app_id == app.id)
                                .order_by(Release.version.desc())))


def deploys(session: Session, app: App, *, limit: int = 20) -> list[Deploy]:
    return list(session.scalars(select(Deploy).where(Deploy.app_id == app.id)
                                .order_by(Deploy.id.desc()).limit(limit)))


def get(session: Session, deploy_id: int, app: App | None = None) -> Deploy:
    deploy = session.get(Deploy, deploy_id)
    if deploy is None or (app is not None and deploy.app_id != app.id):
        raise NotFound(f"no deploy {deploy_id}" + (f" for {app.name}" if app else ""))
    return deploy


def finish(session: Session, deploy: Deploy, *, status: str, reason: str | None = None) -> None:
    deploy.status = status  # `step` keeps the step it ended at: where a failure happened
    deploy.reason = reason
    deploy.finished_at = utcnow()
    events.emit(session, f"deploy.{status}", app_id=deploy.app_id, deploy_id=deploy.id, kind=deploy.kind,
                reason=reason)


def fail_dead(session: Session, deploy_id: int, reason: str) -> Deploy | None:
    """A deploy whose job died with its worker: mark it failed and free its app."""
    deploy = session.get(Deploy, deploy_id)
    if deploy is None or deploy.status in FINISHED:
        return None
    finish(session, deploy, status="failed", reason=reason)
    session.execute(update(App).where(App.id == deploy.app_id, App.deploy_lock == deploy.id)
                    .values(deploy_lock=None))
    return deploy
