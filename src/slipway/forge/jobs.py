"""Background work for the forge: follow deploy events into commit statuses, post them, keep the one PR
comment of each preview up to date. Every call to a forge is a durable job retried with backoff."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, or_, select, update

from slipway.apps.models import App
from slipway.db import read_only, transaction, utcnow
from slipway.deploys.models import Deploy
from slipway.events import Event
from slipway.forge import clients
from slipway.forge.models import ForgeLink, ForgeTarget
from slipway.forge.service import COMMENT_JOB, STATUS_JOB, queue_comment, queue_status
from slipway.jobs.worker import JobContext, Retry
from slipway.notify.dispatch import _contiguous, advance  # the same outbox-reading rules as the notifier's
from slipway.notify.models import Cursor
from slipway.platform import Platform
from slipway.previews.models import Preview
from slipway.routing import service as routing

log = logging.getLogger(__name__)
CURSOR = "forge"

# deploy event → (state, description)
STATES = {
    "deploy.requested": ("pending", "Queued"),
    "deploy.scheduled": ("pending", "Scheduled (outside the deploy window)"),
    "deploy.coalesced": ("pending", "Queued"),
    "deploy.started": ("running", "Deploying"),
    "deploy.succeeded": ("success", "Deployed"),
    "deploy.failed": ("failure", "Deploy failed"),
    "deploy.rolled_back": ("failure", "Crashed after the switch: rolled back"),
    "deploy.cancelled": ("cancelled", "Deploy cancelled"),
}


# ---- the dispatcher: events → targets → jobs --------------------------------------------------------


def dispatch(platform: Platform, *, batch: int = 500) -> int:
    """Move forge targets along with their deploys' events; return how many jobs were queued."""
    with read_only(platform.sessions) as session:  # an idle server does not take the write lock
        newest = session.scalar(select(func.max(Event.id))) or 0
        seen = session.scalar(select(Cursor.last_event_id).where(Cursor.name == CURSOR))
        if seen is not None and seen >= newest:
            return 0
        # nor does a batch that moves no target (pushes to apps without a forge link): read it here, and
        # hold the write lock only to move the cursor on (see notify/dispatch.py)
        last = None if seen is None else _untargeted(session, platform, seen, batch)
    if seen is not None and last is not None:
        if last > seen:  # (if another dispatcher moved it meanwhile, it did this batch)
            advance(platform, CURSOR, seen=seen, to=last)
        return 0
    queued = 0
    with transaction(platform.sessions) as session:
        cursor = session.get(Cursor, CURSOR, with_for_update=True, populate_existing=True)
        if cursor is None:  # first run: statuses start from now
            session.add(Cursor(name=CURSOR, last_event_id=newest))
            return 0
        rows = list(session.scalars(select(Event).where(Event.id > cursor.last_event_id).order_by(Event.id)
                                    .limit(batch)))
        todo = _contiguous(rows, cursor.last_event_id, platform.settings.notify_gap_grace)
        if not todo:
            return 0
        cursor.last_event_id, cursor.updated_at = todo[-1].id, utcnow()
        wanted = [e for e in todo if e.kind in STATES and isinstance(e.payload.get("deploy_id"), int)]
        if not wanted:
            return 0
        targets: dict[int, list[ForgeTarget]] = {}
        for target in session.scalars(select(ForgeTarget).where(
                ForgeTarget.deploy_id.in_({e.payload["deploy_id"] for e in wanted}))):
            targets.setdefault(target.deploy_id or 0, []).append(target)
        touched: dict[int, ForgeTarget] = {}
        for event in wanted:
            for target in targets.get(event.payload["deploy_id"], []):
                target.state, target.description = STATES[event.kind]
                if event.kind == "deploy.failed" and event.payload.get("reason"):
                    target.description = f"Deploy failed: {event.payload['reason']}"[:140]
                if target.state == "success":
                    target.target_url = _deployed_url(session, platform, target)
                touched[target.id] = target
        attempts = platform.settings.forge_max_attempts
        for target in touched.values():
            queue_status(session, target.id, max_attempts=attempts)
            queued += 1
            if target.preview_id is not None:
                queue_comment(session, target.preview_id, max_attempts=attempts)
                queued += 1
    return queued


def _untargeted(session: Any, platform: Platform, seen: int, batch: int) -> int | None:
    """The id of the last event ready after `seen` (`seen` itself when none is ready yet) when none of them
    moves a forge target, else None."""
    rows = session.execute(select(Event.id, Event.created_at, Event.kind).where(Event.id > seen)
                           .order_by(Event.id).limit(batch)).all()
    todo = _contiguous(rows, seen, platform.settings.notify_gap_grace)
    if not todo:
        return seen
    wanted = [e.id for e in todo if e.kind in STATES]
    deploys = {p.get("deploy_id") for p in session.scalars(select(Event.payload).where(Event.id.in_(wanted)))
               if isinstance(p, dict)} if wanted else set()
    deploys = {d for d in deploys if isinstance(d, int)}
    if deploys and session.scalar(select(ForgeTarget.id).where(ForgeTarget.deploy_id.in_(deploys)).limit(1)):
        return None
    return int(todo[-1].id)


def _deployed_url(session: Any, platform: Platform, target: ForgeTarget) -> str | None:
    deploy = session.get(Deploy, target.deploy_id) if target.deploy_id else None
    app = session.get(App, deploy.app_id) if deploy else None
    return routing.url_for(platform.settings, app) if app else None


# ---- the jobs ------------------------------------------------------------------------------------------


def _client(platform: Platform, link: ForgeLink) -> clients.Forge:
    return clients.client(link.provider, link.api_url, platform.box.decrypt(link.token_enc),
                          policy=platform.egress, timeout=platform.settings.forge_timeout)


def _backoff(attempt: int) -> float:
    return float(min(300, 2 ** attempt))


def post_status(ctx: JobContext) -> None:
    platform = ctx.platform
    with platform.sessions() as session:
        target = session.get(ForgeTarget, ctx.payload["target_id"])
        link = session.get(ForgeLink, target.app_id) if target else None
        if target is None or link is None:
            return  # the deploy or the link is gone: nothing to report any more
        state = target.state
        session.expunge_all()
    forge = _client(platform, link)
    try:
        forge.status(repo=target.repo, sha=target.sha, state=state, context=target.context,
                     description=target.description, target_url=target.target_url)
    except clients.ForgeError as exc:
        if exc.transient:
            raise Retry(str(exc), delay=_backoff(ctx.attempt)) from exc
        raise
    finally:
        forge.close()
    with transaction(platform.sessions) as session:
        session.execute(update(ForgeTarget).where(ForgeTarget.id == target.id).values(posted_state=state))


LOCK_SECONDS = 120


def update_comment(ctx: JobContext) -> None:
    """Create the preview's one comment, or edit it. One writer per preview at a time (a row lease), so
    two jobs never both create it."""
    platform, preview_id = ctx.platform, ctx.payload["preview_id"]
    now = utcnow()
    with transaction(platform.sessions) as session:
        won = session.execute(update(Preview).where(
            Preview.id == preview_id,
            or_(Preview.comment_lock.is_(None), Preview.comment_lock == ctx.job_id,
                Preview.comment_lock_until < now))
            .values(comment_lock=ctx.job_id, comment_lock_until=now + dt.timedelta(seconds=LOCK_SECONDS))
            .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise Retry("another job is writing this preview's comment", delay=1.0, count=False)
    try:
        _write_comment(platform, preview_id)
    finally:
        with transaction(platform.sessions) as session:
            session.execute(update(Preview).where(Preview.id == preview_id, Preview.comment_lock == ctx.job_id)
                            .values(comment_lock=None, comment_lock_until=None)
                            .execution_options(synchronize_session=False))


def _write_comment(platform: Platform, preview_id: int) -> None:
    with platform.sessions() as session:
        preview = session.get(Preview, preview_id)
        link = session.get(ForgeLink, preview.parent_app_id) if preview else None
        if preview is None or link is None or not link.comments or not preview.repo and not link.repo:
            return
        target = session.scalar(select(ForgeTarget).where(ForgeTarget.preview_id == preview_id)
                                .order_by(ForgeTarget.updated_at.desc(), ForgeTarget.id.desc()).limit(1))
        parent = session.get(App, preview.parent_app_id)
        body = render_comment(preview, target, app_name=parent.name if parent else "?",
                              url=preview_url(platform, parent.name, preview.number) if parent else None)
        repo = link.repo or preview.repo or ""
        comment_id, number = preview.comment_id, preview.number
        session.expunge_all()
    forge = _client(platform, link)
    try:
        if comment_id is not None:
            try:
                forge.update_comment(repo=repo, number=number, comment_id=comment_id, body=body)
                return
            except clients.ForgeError as exc:
                if exc.status != 404:  # deleted by someone at the forge: write a new one
                    raise
        new_id = forge.create_comment(repo=repo, number=number, body=body)
    except clients.ForgeError as exc:
        if exc.transient:
            raise Retry(str(exc), delay=5.0) from exc
        raise
    finally:
        forge.close()
    with transaction(platform.sessions) as session:
        session.execute(update(Preview).where(Preview.id == preview_id).values(comment_id=new_id))


def preview_url(platform: Platform, app_name: str, number: int) -> str:
    settings = platform.settings
    return f"http://pr-{number}.{app_name}.{settings.base_domain}:{settings.http_port}/"


ICONS = {"pending": "⏳", "running": "⏳", "success": "✅", "failure": "❌", "error": "⚠️", "cancelled": "⚪"}


def render_comment(preview: Preview, target: ForgeTarget | None, *, app_name: str, url: str | None) -> str:
    head = f"**Slipway preview of `{app_name}`** for #{preview.number}"
    if preview.state in ("closing", "closed"):
        return f"{head}\n\n🗑️ Removed ({preview.reason or 'closed'}).\n\n<!-- slipway:preview -->"
    if preview.state == "refused":
        return f"{head}\n\n⛔ Not deployed: {preview.reason}\n\n<!-- slipway:preview -->"
    lines = [head, ""]
    if target is not None:
        lines.append(f"{ICONS.get(target.state, '')} {target.description} — commit `{target.sha[:12]}`")
    if url:
        lines.append(f"\n**URL:** {url}")
    if preview.fork:
        lines.append("\n_From a fork: built without the app's secrets (only fork-safe preview variables)._")
    lines.append("\n<!-- slipway:preview -->")
    return "\n".join(lines)


HANDLERS = {STATUS_JOB: post_status, COMMENT_JOB: update_comment}
