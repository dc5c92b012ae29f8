"""Asking for deploys, rollbacks, restarts; reading releases and deploys. The pipeline runs them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.db import utcnow
from slipway.deploys import reasons
from slipway.deploys.models import Deploy, Release
from slipway.errors import Conflict, Invalid, NotFound
from slipway.jobs import queue
from slipway.jobs.models import Job

KINDS = ("deploy", "rollback", "config", "restart", "start", "stop")
FINISHED = ("succeeded", "failed", "rolled_back", "cancelled")


def request(session: Session, app: App, *, kind: str, commit: str | None = None,
            target_version: int | None = None, actor: str = "system", run_at: dt.datetime | None = None,
            coalesce: bool = False, source: str | None = None) -> Deploy:
    """Record a deploy and queue its job in the same transaction (no deploy without a job).

    run_at in the future makes a "scheduled" deploy whose job is due then. coalesce=True (bursts of
    pushes): if a deploy of this app is still waiting to start, point it at the new commit and return
    it instead of queueing another, so at most one waits behind the one in flight.
    source="push": the commit was pushed to the app's repository on this host (`git push`); such a deploy
    is never coalesced into, since its pusher waits for that very commit.
    """
    if kind not in KINDS:
        raise Invalid(f"unknown deploy kind {kind!r}")
    target_id = None
    if kind == "rollback":
        target_id = rollback_target(session, app, target_version).id
    if kind in ("restart", "start", "config") and app.live_release_id is None:
        raise Conflict(f"{app.name} has no live release yet: deploy it first")
    if commit is not None and not (len(commit) in (40, 64) and all(c in "0123456789abcdef" for c in commit)):
        raise Invalid(f"invalid commit {commit!r}: expected a full hexadecimal sha (40 characters)")
    scheduled = run_at is not None and run_at > utcnow()
    if coalesce and kind == "deploy":
        pending = _waiting_deploy(session, app, run_at if scheduled else None)
        if pending is not None:
            if commit is not None:
                pending.commit = commit
            events.emit(session, "deploy.coalesced", app_id=app.id, actor=actor, deploy_id=pending.id,
                        commit=commit)
            return pending
    if source not in (None, "push"):
        raise Invalid(f"unknown deploy source {source!r}")
    deploy = Deploy(app_id=app.id, kind=kind, commit=commit, source=source, target_release_id=target_id,
                    status="scheduled" if scheduled else "queued", run_at=run_at if scheduled else None)
    session.add(deploy)
    session.flush()
    # a deploy is not retried by another worker: a half-run pipeline is cleaned up and failed instead
    job = queue.enqueue(session, "deploy", {"deploy_id": deploy.id}, max_attempts=1,
                        run_at=run_at if scheduled else None)
    deploy.job_id = job.id
    events.emit(session, f"{kind}.{'scheduled' if scheduled else 'requested'}", app_id=app.id, actor=actor,
                deploy_id=deploy.id, **({"run_at": run_at.isoformat()} if scheduled and run_at else {}))
    return deploy


def _waiting_deploy(session: Session, app: App, run_at: dt.datetime | None) -> Deploy | None:
    """The app's deploy that has not started yet (queued now, or scheduled for the same instant)."""
    # lock the app row (PostgreSQL) so that the pipeline's start (which locks it too) and a concurrent
    # push see each other; SQLite transactions are already serialised by BEGIN IMMEDIATE
    session.execute(select(App.id).where(App.id == app.id).with_for_update())
    query = select(Deploy).where(Deploy.app_id == app.id, Deploy.kind == "deploy", Deploy.source.is_(None))
    if run_at is None:
        query = query.where(Deploy.status == "queued")
    else:
        query = query.where(Deploy.status == "scheduled", Deploy.run_at == run_at)
    return session.scalar(query.order_by(Deploy.id.desc()).limit(1))


def cancel(session: Session, app: App, deploy: Deploy, *, actor: str = "system") -> Deploy:
    """Cancel a deploy that has not started; its job is marked so that no worker ever runs it."""
    session.execute(select(App.id).where(App.id == app.id).with_for_update())
    session.refresh(deploy)
    if deploy.status not in ("scheduled", "queued"):
        raise Conflict(f"deploy {deploy.id} of {app.name} is {deploy.status}: only a scheduled or queued "
                       "deploy can be cancelled")
    if deploy.job_id is not None:
        session.execute(update(Job).where(Job.id == deploy.job_id, Job.status == "queued")
                        .values(status="cancelled", finished_at=utcnow())
                        .execution_options(synchronize_session=False))
    # a job already claimed finds its deploy finished when it tries to start, and stops there
    finish(session, deploy, status="cancelled", reason=f"cancelled by {actor}")
    return deploy


def rollback_target(session: Session, app: App, version: int | None) -> Release:
    live = session.get(Release, app.live_release_id) if app.live_release_id else None
    if version is None:
        if live is None:
            raise Conflict(f"{app.name} has no live release to roll back from")
        # the release that was live before the current one (skipping the current's own copies)
        target = session.scalar(
            select(Release).where(Release.app_id == app.id, Release.version < live.version,
                                  Release.artifact_path != live.artifact_path, Release.pruned.is_(False),
                                  Release.failed.is_(False))
            .order_by(Release.version.desc()).limit(1)
        ) or session.scalar(
            select(Release).where(Release.app_id == app.id, Release.version < live.version,
                                  Release.pruned.is_(False), Release.failed.is_(False))
            .order_by(Release.version.desc()).limit(1)
        )
        if target is None:
            raise Conflict(f"{app.name} has no earlier release to roll back to")
        return target
    target = session.scalar(select(Release).where(Release.app_id == app.id, Release.version == version))
    if target is None:
        raise NotFound(f"{app.name} has no release v{version}")
    if target.failed:
        raise Conflict(f"release v{version} of {app.name} failed to deploy: it cannot be rolled back to")
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


def deploys(session: Session, app: App, *, limit: int = 20, status: str | None = None) -> list[Deploy]:
    query = select(Deploy).where(Deploy.app_id == app.id)
    if status is not None:
        query = query.where(Deploy.status == status)
    return list(session.scalars(query.order_by(Deploy.id.desc()).limit(limit)))


def get(session: Session, deploy_id: int, app: App | None = None) -> Deploy:
    deploy = session.get(Deploy, deploy_id)
    if deploy is None or (app is not None and deploy.app_id != app.id):
        raise NotFound(f"no deploy {deploy_id}" + (f" for {app.name}" if app else ""))
    return deploy


def finish(session: Session, deploy: Deploy, *, status: str, reason: str | None = None,
           log_tail: str | None = None) -> None:
    """The outcome; every reason is stored as one line (reasons.one_line), its explanation in log_tail."""
    deploy.status = status  # `step` keeps the step it ended at: where a failure happened
    reason = reasons.one_line(reason) if reason else None
    deploy.reason, deploy.log_tail = reason, log_tail
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
