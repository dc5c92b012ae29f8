"""Webhooks: per-app endpoints and secrets, intake of deliveries, the delivery log, replay and pruning.

Intake answers fast: verify, record the delivery, queue (or coalesce) a deploy, all in one transaction.
The delivery's unique (app, provider, delivery id) makes a redelivered hook a no-op, even across processes.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.config import Settings
from slipway.crypto import Box
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.errors import Conflict, Invalid, NotFound, Unauthorized, Unavailable
from slipway.hooks import providers, windows
from slipway.hooks.models import AppHook, HookDelivery
from slipway.hooks.providers import Malformed, Parsed, Provider

log = logging.getLogger(__name__)

# SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy handler
# (1 ms, 2 ms, 5 ms … 100 ms steps): under a burst that turns into second-long tails. Threads of this
# process queue here instead and take the write lock in turn; other processes still meet the busy handler.
_SQLITE_WRITERS = threading.Lock()


@contextmanager
def _write(platform: Any) -> Iterator[Session]:
    lock = _SQLITE_WRITERS if platform.engine.dialect.name == "sqlite" else nullcontext()
    with lock, transaction(platform.sessions) as session:
        yield session


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
    base = (settings.public_url or settings.api_url).rstrip("/")
    return {name: f"{base}/hooks/{name}/{hook.hook_id}" for name in ("github", "gitlab", "gitea", "bitbucket")}


# ---- deciding what a delivery does -------------------------------------------------------------


def branch_matches(filter_: str | None, default: str, branch: str) -> bool:
    patterns = (filter_ or default).split(",")
    return any(fnmatch.fnmatchcase(branch, p.strip()) for p in patterns if p.strip())


def decide(parsed: Parsed, *, hook: AppHook, app_branch: str) -> Decision:
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
        return _receive(platform, provider, provider_name, hook_id, headers, body)
    except (DBAPIError, PoolTimeout) as exc:
        if isinstance(exc, IntegrityError):
            raise
        log.warning("webhook intake: database unavailable: %s", exc)
        raise Unavailable("the database is busy: try again", detail=type(exc).__name__) from exc


def _receive(platform: Any, provider: Provider, provider_name: str, hook_id: str,
             headers: Mapping[str, str], body: bytes) -> Answer:
    with platform.sessions() as session:
        row = session.execute(select(AppHook, App.branch).join(App, App.id == AppHook.app_id)
                              .where(AppHook.hook_id == hook_id)).first()
    if row is None:
        raise NotFound("no such webhook")
    hook, app_branch = row
    event = provider.event(headers)
    kept = _kept_headers(headers)
    problem = provider.check(secret(platform.box, hook), body, headers)
    if problem is not None:
        _record(platform, HookDelivery(app_id=hook.app_id, provider=provider_name, event=event, verified=False,
                                       outcome="rejected", reason=problem, headers=kept))
        raise Unauthorized(f"webhook signature refused: {problem}")
    delivery = HookDelivery(app_id=hook.app_id, provider=provider_name, event=event, verified=True,
                            delivery_id=provider.delivery_id(headers), headers=kept,
                            body=body.decode("utf-8", errors="replace"), outcome="invalid")
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise Malformed("the body is not a JSON object")
        decision = decide(provider.parse(event, payload), hook=hook, app_branch=app_branch)
    except (ValueError, Malformed) as exc:
        reason = exc.message if isinstance(exc, Malformed) else f"malformed JSON: {exc}"
        delivery.reason = reason
        _record(platform, delivery)
        raise Malformed(reason) from None
    delivery.outcome, delivery.reason = decision.outcome, decision.reason
    delivery.ref, delivery.commit = decision.ref, decision.commit
    try:
        with _write(platform) as session:
            session.add(delivery)
            session.flush()  # a redelivery fails here, on the unique delivery id, before queueing anything
            if decision.commit is not None:
                app = session.get(App, hook.app_id)
                assert app is not None
                run_at = windows.parse(hook.deploy_window).next_opening(utcnow()) if hook.deploy_window else None
                deploy = deploy_service.request(session, app, kind="deploy", commit=decision.commit,
                                                actor=f"webhook:{provider_name}", run_at=run_at, coalesce=True)
                delivery.deploy_id = deploy.id
                if run_at is not None:
                    delivery.reason = f"outside the deploy window {hook.deploy_window!r}: runs at {run_at.isoformat()}"
    except IntegrityError:
        return _duplicate(platform, hook.app_id, provider_name, delivery.delivery_id)
    if delivery.deploy_id is not None:
        platform.wake_workers()
        return Answer(202, {"status": "queued", "deploy_id": delivery.deploy_id, "commit": decision.commit,
                            "delivery": delivery.id})
    if decision.outcome == "ping":
        return Answer(200, {"status": "ok", "event": event, "delivery": delivery.id})
    return Answer(202, {"status": "ignored", "reason": decision.reason, "delivery": delivery.id})


def _record(platform: Any, delivery: HookDelivery) -> None:
    """Log a refused delivery; losing that log line must not change the answer."""
    try:
        with _write(platform) as session:
            session.add(delivery)
    except IntegrityError:
        pass  # a redelivery of a malformed body: already logged
    except Exception:
        log.exception("could not record a refused webhook delivery")


def _duplicate(platform: Any, app_id: int, provider: str, delivery_id: str | None) -> Answer:
    with platform.sessions() as session:
        first = session.scalar(select(HookDelivery).where(
            HookDelivery.app_id == app_id, HookDelivery.provider == provider, HookDelivery.delivery_id == delivery_id))
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
    if row.commit is None:
        raise Conflict(f"delivery {delivery_id} deployed nothing ({row.outcome}"
                       + (f": {row.reason}" if row.reason else "") + "): nothing to replay")
    deploy = deploy_service.request(session, app, kind="deploy", commit=row.commit, actor=actor)
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
