"""Webhooks: per-app endpoints and secrets, intake of deliveries, the delivery log, replay and pruning.

Intake answers fast: verify, record the delivery, queue (or coalesce) a deploy, all in one transaction.
The delivery's unique (app, provider, delivery id) makes a redelivered hook a no-op, even across processes.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.audit import context as audit_context
from slipway.audit import recorder as audit_recorder
from slipway.audit.models import AuditRecord
from slipway.auth.models import Project
from slipway.config import Settings
from slipway.crypto import Box
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.errors import Conflict, Invalid, NotFound, SlipwayError, Unauthorized, Unavailable
from slipway.forge import clients as forge_clients
from slipway.forge import service as forge_service
from slipway.forge.models import ForgeLink
from slipway.hooks import providers, windows
from slipway.hooks.models import AppHook, HookDelivery
from slipway.hooks.providers import Malformed, Parsed, Provider
from slipway.jobs.models import Job

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    outcome: str  # queued | ignored | ping
    reason: str | None = None
    ref: str | None = None
    commit: str | None = None


# ---- the app's hook ----------------------------------------------------------------------------


def get(session: Session, app: App) -> AppHook | None:
    return session.scalar(select(AppHook).where(AppHook.app_id == app.id))


def ensure(session: Session, box: Box, app: App) -> AppHook:
    """The app's hook, created with a fresh id and secret on first use."""
    hook = get(session, app)
    if hook is None:
        hook = AppHook(app_id=app.id, hook_id=secrets.token_urlsafe(18),
                       secret_enc=box.encrypt(secrets.token_urlsafe(32)))
        session.add(hook)
        session.flush()
    return hook


def secret(box: Box, hook: AppHook) -> str:
    return box.decrypt(hook.secret_enc)


def rotate(session: Session, box: Box, app: App, *, actor: str) -> AppHook:
    """A new secret (the old one is refused from now on). The URL stays, so only the secret changes at the forge."""
    hook = ensure(session, box, app)
    hook.secret_enc = box.encrypt(secrets.token_urlsafe(32))
    hook.rotated_at = utcnow()
    events.emit(session, "hook.rotated", app_id=app.id, actor=actor)
    return hook


def configure(session: Session, box: Box, app: App, *, actor: str, branch_filter: str | None = None,
              deploy_tags: bool | None = None, deploy_window: str | None = None) -> AppHook:
    """Change what a push deploys. An empty string resets branch_filter (the app's branch) or the window (none)."""
    hook = ensure(session, box, app)
    changes: dict[str, Any] = {}
    if branch_filter is not None:
        patterns = [p.strip() for p in branch_filter.split(",") if p.strip()]
        if any(len(p) > 255 or any(c in p for c in " \t\n~^:\\") for p in patterns):
            raise Invalid(f"invalid branch filter {branch_filter!r}: comma-separated branch names or globs")
        changes["branch_filter"] = ",".join(patterns) or None
    if deploy_tags is not None:
        changes["deploy_tags"] = deploy_tags
    if deploy_window is not None:
        changes["deploy_window"] = deploy_window.strip() or None
        if changes["deploy_window"]:
            windows.parse(changes["deploy_window"])
    changed = {k: v for k, v in changes.items() if getattr(hook, k) != v}
    for key, value in changed.items():
        setattr(hook, key, value)
    if changed:
        events.emit(session, "hook.updated", app_id=app.id, actor=actor, **changed)
    return hook


def urls(settings: Settings, hook: AppHook) -> dict[str, str]:
    base = settings.dashboard_url.rstrip("/")  # public_url, else the router's slipway.<base domain> route
    return {name: f"{base}/hooks/{name}/{hook.hook_id}" for name in ("github", "gitlab", "gitea", "bitbucket")}


# ---- deciding what a delivery does -------------------------------------------------------------


def branch_matches(filter_: str | None, default: str, branch: str) -> bool:
    patterns = (filter_ or default).split(",")
    return any(fnmatch.fnmatchcase(branch, p.strip()) for p in patterns if p.strip())


def decide(parsed: Parsed, *, hook: Any, app_branch: str) -> Decision:
    """`hook`: the AppHook, or a row with its branch_filter and deploy_tags."""
    if parsed.ping:
        return Decision("ping", f"{parsed.event}: the hook is reachable and signed")
    if parsed.ignored:
        return Decision("ignored", parsed.ignored)
    reasons: list[str] = []
    chosen = None
    for update_ in parsed.updates:
        if update_.commit is None:
            reasons.append(f"{update_.kind} {update_.name!r} was deleted")
        elif update_.kind == "tag" and not hook.deploy_tags:
            reasons.append(f"tag {update_.name!r}: tag pushes do not deploy this app (deploy_tags is off)")
        elif update_.kind == "branch" and not branch_matches(hook.branch_filter, app_branch, update_.name):
            reasons.append(f"branch {update_.name!r} does not match {hook.branch_filter or app_branch!r}")
        elif update_.kind == "other":
            reasons.append(f"ref {update_.name!r} is neither a branch nor a tag")
        else:
            chosen = update_  # the last matching change is the newest
    if chosen is None:
        return Decision("ignored", "; ".join(reasons) or "the push changed no ref",
                        ref=parsed.updates[-1].name if parsed.updates else None)
    return Decision("queued", ref=chosen.name, commit=chosen.commit)


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v[:512] for k, v in headers.items() if k not in providers.SECRET_HEADERS}


# ---- intake ------------------------------------------------------------------------------------


def receive(platform: Any, *, provider_name: str, hook_id: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Verify, record, queue. A failure of our own database answers 503 (a forge retries or keeps the hook)."""
    provider = providers.get(provider_name)
    if provider is None:
        raise NotFound(f"unknown webhook provider {provider_name!r}: use github, gitlab, gitea, forgejo or bitbucket")
    try:
        answer = _receive(platform, provider, provider_name, hook_id, headers, body)
    except (DBAPIError, PoolTimeout) as exc:
        if isinstance(exc, IntegrityError):
            raise
        log.warning("webhook intake: database unavailable: %s", exc)
        raise Unavailable("the database is busy: try again", detail=type(exc).__name__) from exc
    if answer.status == 202 and answer.body.get("status") in ("queued", "teardown"):
        platform.wake_workers()
    return answer


# The hot path is SQLAlchemy Core on one connection and one transaction: look the hook up, verify the
# signature (before anything is written), queue or coalesce the deploy, insert the delivery, commit. The
# ORM's unit of work cost more than the work itself here (~3.5 ms for ten statements in two sessions).
_HOOKS, _DELIVERIES = AppHook.__table__, HookDelivery.__table__
_DEPLOYS, _JOBS, _EVENTS = Deploy.__table__, Job.__table__, events.Event.__table__
_LOOKUP = (select(AppHook.app_id, AppHook.secret_enc, AppHook.branch_filter, AppHook.deploy_tags,
                  AppHook.deploy_window, App.name, App.branch, App.project_id, Project.team_id,
                  ForgeLink.provider.label("forge"), ForgeLink.repo.label("forge_repo"))
           .join(App, App.id == AppHook.app_id).outerjoin(ForgeLink, ForgeLink.app_id == AppHook.app_id)
           .outerjoin(Project, Project.id == App.project_id)
           .where(AppHook.hook_id == bindparam("hook_id")))
# built once: executing a prepared statement with parameters skips most of Core's per-call construction
_INSERT_DELIVERY, _INSERT_DEPLOY, _INSERT_JOB, _INSERT_EVENT = (insert(_DELIVERIES), insert(_DEPLOYS), insert(_JOBS),
                                                                insert(_EVENTS))
_INSERT_AUDIT = insert(AuditRecord.__table__)
_LOCK_APP = select(App.id).where(App.id == bindparam("app_id")).with_for_update()
# (bound as of_app and at: in an UPDATE, app_id and run_at name the columns' own parameters)
_WAITING = select(_DEPLOYS.c.id).where(_DEPLOYS.c.app_id == bindparam("of_app"), _DEPLOYS.c.kind == "deploy",
                                       _DEPLOYS.c.source.is_(None))  # a pushed deploy's pusher waits for it
_WAITING_QUEUED = _WAITING.where(_DEPLOYS.c.status == "queued").order_by(_DEPLOYS.c.id.desc()).limit(1)
_WAITING_SCHEDULED = (_WAITING.where(_DEPLOYS.c.status == "scheduled", _DEPLOYS.c.run_at == bindparam("at"))
                      .order_by(_DEPLOYS.c.id.desc()).limit(1))
_SET_COMMIT = update(_DEPLOYS).where(_DEPLOYS.c.id == bindparam("deploy_id")).values(commit=bindparam("new_commit"))
# the same in one statement where UPDATE … RETURNING exists (PostgreSQL, SQLite >= 3.35): a burst of pushes
# is mostly this path, so a round trip less per delivery
_COALESCE_QUEUED, _COALESCE_SCHEDULED = (
    update(_DEPLOYS).where(_DEPLOYS.c.id == waiting.scalar_subquery()).values(commit=bindparam("new_commit"))
    .returning(_DEPLOYS.c.id) for waiting in (_WAITING_QUEUED, _WAITING_SCHEDULED))
_SET_JOB = update(_DEPLOYS).where(_DEPLOYS.c.id == bindparam("deploy_id")).values(job_id=bindparam("new_job"))


@functools.lru_cache(maxsize=1024)
def _decrypted(box: Box, secret_enc: str) -> str:
    """Decrypting is a pure function of (key, ciphertext): cached, a rotation simply misses the cache."""
    return box.decrypt(secret_enc)


def _receive(platform: Any, provider: Provider, provider_name: str, hook_id: str,
             headers: Mapping[str, str], body: bytes) -> Answer:
    values: dict[str, Any] = {"provider": provider_name, "event": provider.event(headers),
                              "headers": _kept_headers(headers)}
    try:
        with platform.engine.begin() as conn:  # (on SQLite: after this process's other writers, see db.py)
            conn.info["audit_written"] = 0  # (the DBAPI connection's info outlives this checkout)
            answer = _intake(platform, conn, provider, hook_id, headers, body, values)
            written = conn.info.pop("audit_written", 0)
        ctx = audit_context.current.get()
        if ctx is not None and written:
            ctx.records += written  # committed: the audit middleware's backstop record is not needed
    except IntegrityError:  # a redelivery: its delivery id is in the log already, and nothing was queued
        if values.get("outcome") == "invalid":
            raise Malformed(values["reason"]) from None
        return _duplicate(platform, values["app_id"], provider_name, values.get("delivery_id"))
    if isinstance(answer, SlipwayError):  # refused: the delivery log line is committed, now say no
        raise answer
    answer.body["delivery"] = values["id"]
    return answer


def _intake(platform: Any, conn: Connection, provider: Provider, hook_id: str, headers: Mapping[str, str],
            body: bytes, values: dict[str, Any]) -> Answer | SlipwayError:
    hook = conn.execute(_LOOKUP, {"hook_id": hook_id}).first()
    if hook is None:
        raise NotFound("no such webhook")
    values.update(app_id=hook.app_id, received_at=utcnow())
    problem = provider.check(_decrypted(platform.box, hook.secret_enc), body, headers)
    if problem is not None:  # logged without the body or the delivery id: a forger burns nothing
        values.update(verified=False, outcome="rejected", reason=problem)
        conn.execute(_INSERT_DELIVERY, values)
        return Unauthorized(f"webhook signature refused: {problem}")
    values.update(verified=True, delivery_id=provider.delivery_id(headers),
                  body=body.decode("utf-8", errors="replace"))
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise Malformed("the body is not a JSON object")
        parsed = provider.parse(values["event"], payload)
    except (ValueError, Malformed) as exc:
        values.update(outcome="invalid", reason=exc.message if isinstance(exc, Malformed) else f"malformed JSON: {exc}")
        conn.execute(_INSERT_DELIVERY, values)
        return Malformed(values["reason"])
    answer = _act(platform, conn, hook, values["provider"], parsed, values)
    values["id"] = conn.execute(_INSERT_DELIVERY, values).inserted_primary_key[0]
    return answer


def _act(platform: Any, conn: Connection, hook: Any, provider_name: str, parsed: Parsed,
         values: dict[str, Any]) -> Answer:
    """What a verified, well-formed delivery does; fills the delivery's outcome into `values`."""
    if parsed.pull is not None:
        return _pull_request(platform, conn, hook, provider_name, parsed, values)
    decision = decide(parsed, hook=hook, app_branch=hook.branch)
    values.update(outcome=decision.outcome, reason=decision.reason, ref=decision.ref, commit=decision.commit)
    if decision.commit is None:
        if decision.outcome == "ping":
            return Answer(200, {"status": "ok", "event": parsed.event})
        return Answer(202, {"status": "ignored", "reason": decision.reason})
    run_at = windows.parse(hook.deploy_window).next_opening(utcnow()) if hook.deploy_window else None
    actor = f"webhook:{provider_name}"
    deploy_id = _queue_deploy(conn, hook, commit=decision.commit, actor=actor, run_at=run_at)
    values["deploy_id"] = deploy_id
    if run_at is not None:
        values["reason"] = f"outside the deploy window {hook.deploy_window!r}: runs at {run_at.isoformat()}"
    repo = hook.forge_repo or parsed.repo
    if hook.forge is not None and hook.forge == forge_clients.forge_of_hook(provider_name) and repo:
        forge_service.record_target(conn, app_id=hook.app_id, deploy_id=deploy_id, repo=repo, sha=decision.commit,
                                    ctx=forge_service.context(hook.name, preview=False))
    return Answer(202, {"status": "queued", "deploy_id": deploy_id, "commit": decision.commit})


def _queue_deploy(conn: Connection, hook: Any, *, commit: str, actor: str, run_at: dt.datetime | None) -> int:
    """deploys.service.request(kind="deploy", coalesce=True) in Core statements: keep the two in step.

    A deploy of the app still waiting to start takes the newer commit (one in flight, at most one queued);
    otherwise a new deploy and its job. The deploy's event goes to the outbox in the same transaction."""
    app_id = hook.app_id
    now = utcnow()
    scheduled = run_at is not None and run_at > now
    if conn.dialect.name != "sqlite":  # see deploys.service._waiting_deploy: the pipeline's start locks it too
        conn.execute(_LOCK_APP, {"app_id": app_id})
    params = {"of_app": app_id, "at": run_at, "new_commit": commit} if scheduled else \
        {"of_app": app_id, "new_commit": commit}
    if conn.dialect.update_returning:
        pending = conn.execute(_COALESCE_SCHEDULED if scheduled else _COALESCE_QUEUED, params).scalar()
    else:
        pending = conn.execute(_WAITING_SCHEDULED if scheduled else _WAITING_QUEUED, params).scalar()
        if pending is not None:
            conn.execute(_SET_COMMIT, {"deploy_id": pending, "new_commit": commit})
    if pending is not None:
        _event(conn, hook, "deploy.coalesced", actor, {"deploy_id": pending, "commit": commit})
        return int(pending)
    deploy_id = conn.execute(_INSERT_DEPLOY, {
        "app_id": app_id, "kind": "deploy", "commit": commit, "status": "scheduled" if scheduled else "queued",
        "run_at": run_at if scheduled else None}).inserted_primary_key[0]
    job_id = conn.execute(_INSERT_JOB, {"kind": "deploy", "payload": {"deploy_id": deploy_id}, "max_attempts": 1,
                                        "run_at": run_at if scheduled and run_at else now}).inserted_primary_key[0]
    conn.execute(_SET_JOB, {"deploy_id": deploy_id, "new_job": job_id})
    extra = {"run_at": run_at.isoformat()} if scheduled and run_at else {}
    _event(conn, hook, f"deploy.{'scheduled' if scheduled else 'requested'}", actor, {"deploy_id": deploy_id, **extra})
    return int(deploy_id)


def _event(conn: Connection, hook: Any, kind: str, actor: str, payload: dict[str, Any]) -> None:
    """An outbox event and its audit record, as audit/recorder.py writes them for ORM sessions (Core
    statements do not pass through its before_flush hook, so the intake writes the record itself)."""
    conn.execute(_INSERT_EVENT, {"kind": kind, "app_id": hook.app_id, "actor": actor, "payload": payload})
    ctx = audit_context.current.get()
    conn.execute(_INSERT_AUDIT, {
        "actor": actor, "action": kind, "resource_type": "app", "resource_id": str(hook.app_id),
        "resource_name": hook.name, "app_id": hook.app_id, "project_id": hook.project_id, "team_id": hook.team_id,
        "detail": audit_recorder.redact(payload), "changes": {},
        "source": ctx.source if ctx is not None else audit_recorder.source_of(actor),
        "ip": ctx.ip if ctx is not None else None})
    conn.info["audit_written"] = conn.info.get("audit_written", 0) + 1


def _pull_request(platform: Any, conn: Connection, hook: Any, provider_name: str, parsed: Parsed,
                  values: dict[str, Any]) -> Answer:
    """Pull request events are rare: the ORM, on the same connection and transaction."""
    from slipway.previews import service as previews

    pull = parsed.pull
    assert pull is not None
    with Session(bind=conn) as session:
        parent = session.get(App, hook.app_id)
        assert parent is not None
        done = previews.handle_pull(session, platform, parent=parent, provider=provider_name, repo=hook.forge_repo
                                    or parsed.repo, pull=pull, actor=f"webhook:{provider_name}")
        session.flush()
    values.update(outcome=done.outcome, reason=done.reason, ref=f"pr-{pull.number}", commit=pull.head_commit,
                  deploy_id=done.deploy_id)
    body: dict[str, Any] = {"status": done.outcome, **done.body}
    if done.deploy_id is not None:
        body.update(deploy_id=done.deploy_id, commit=pull.head_commit)
    if done.reason:
        body["reason"] = done.reason
    return Answer(202, body)


def _duplicate(platform: Any, app_id: int, provider: str, delivery_id: str | None) -> Answer:
    with platform.engine.connect() as conn:
        first = conn.execute(select(_DELIVERIES.c.id, _DELIVERIES.c.deploy_id).where(
            _DELIVERIES.c.app_id == app_id, _DELIVERIES.c.provider == provider,
            _DELIVERIES.c.delivery_id == delivery_id)).first()
    if first is None:  # the conflict was something else (the app was deleted meanwhile): let the forge retry
        raise Unavailable("could not record the delivery: try again")
    return Answer(200, {"status": "duplicate", "deploy_id": first.deploy_id, "delivery": first.id})


# ---- the delivery log --------------------------------------------------------------------------


def deliveries(session: Session, app: App, *, limit: int = 50, before: int | None = None) -> list[HookDelivery]:
    query = select(HookDelivery).where(HookDelivery.app_id == app.id)
    if before is not None:
        query = query.where(HookDelivery.id < before)
    return list(session.scalars(query.order_by(HookDelivery.id.desc()).limit(limit)))


def delivery(session: Session, app: App, delivery_id: int) -> HookDelivery:
    row = session.get(HookDelivery, delivery_id)
    if row is None or row.app_id != app.id:
        raise NotFound(f"no webhook delivery {delivery_id} for {app.name}")
    return row


def replay(session: Session, app: App, delivery_id: int, *, actor: str) -> Deploy:
    """Queue the delivery's commit again (a new deploy, even if it deployed before)."""
    row = delivery(session, app, delivery_id)
    if row.event in PULL_EVENTS and row.ref and row.ref.startswith("pr-"):
        return _replay_preview(session, app, row, actor=actor)
    if row.commit is None:
        raise Conflict(f"delivery {delivery_id} deployed nothing ({row.outcome}"
                       + (f": {row.reason}" if row.reason else "") + "): nothing to replay")
    deploy = deploy_service.request(session, app, kind="deploy", commit=row.commit, actor=actor)
    events.emit(session, "hook.replayed", app_id=app.id, actor=actor, delivery=row.id, deploy_id=deploy.id)
    return deploy


PULL_EVENTS = frozenset({"pull_request", "pull_request_sync", "Merge Request Hook", "pullrequest:created",
                         "pullrequest:updated"})


def _replay_preview(session: Session, app: App, row: HookDelivery, *, actor: str) -> Deploy:
    """A pull request delivery replays into its preview (never into production)."""
    from slipway.previews.models import Preview

    preview = session.scalar(select(Preview).where(Preview.parent_app_id == app.id,
                                                   Preview.number == int(row.ref.removeprefix("pr-"))))
    target = session.get(App, preview.app_id) if preview is not None and preview.app_id else None
    if preview is None or preview.state != "active" or target is None:
        raise Conflict(f"delivery {row.id} is for pull request {row.ref}, which has no preview up: nothing to replay")
    deploy = deploy_service.request(session, target, kind="deploy", commit=row.commit, actor=actor)
    events.emit(session, "hook.replayed", app_id=app.id, actor=actor, delivery=row.id, deploy_id=deploy.id)
    return deploy


def prune_task(platform: Any) -> None:
    bodies, rows = prune(platform)
    if bodies or rows:
        log.info("webhook log: dropped %d bodies and %d deliveries past their retention", bodies, rows)


def prune(platform: Any, *, now: dt.datetime | None = None) -> tuple[int, int]:
    """Drop raw bodies past their retention, and whole log rows past theirs. Returns (bodies, rows)."""
    now = now or utcnow()
    settings: Settings = platform.settings
    body_cutoff = now - dt.timedelta(days=settings.webhook_body_retention_days)
    row_cutoff = now - dt.timedelta(days=settings.webhook_log_retention_days)
    with transaction(platform.sessions) as session:
        rows = session.execute(delete(HookDelivery).where(HookDelivery.received_at < row_cutoff)
                               .execution_options(synchronize_session=False)).rowcount
        bodies = session.execute(update(HookDelivery)
                                 .where(HookDelivery.received_at < body_cutoff, HookDelivery.body.is_not(None))
                                 .values(body=None).execution_options(synchronize_session=False)).rowcount
    return bodies, rows
