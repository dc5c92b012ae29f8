"""Every event written to the outbox becomes an audit record in the same transaction.

A `before_flush` hook on every Session: for each new Event it adds one AuditRecord with the actor of the
event, the request context (IP, principal, source) when there is one, the resource, and the changes
(old → new, column by column) of the rows modified since the last record in this session. Secrets are
redacted on the way in: columns and payload keys that hold them are written as "[redacted]".
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from slipway.audit import context as audit_context

REDACTED = "[redacted]"
SECRET = re.compile(r"(^|_)(secret|secrets|password|passwd|token_hash|id_hash|csrf|enc|totp|recovery|hash|hashes|"
                    r"value|values|env|credentials|api_key|private_key|body)(_|$)", re.I)
SAFE_KEYS = {"token", "token_id", "token_ids", "keys", "env_keys"}  # names and ids, not values
# bookkeeping tables whose rows are not the subject of an action
NOISE = {"events", "audit_records", "jobs", "login_attempts", "deploy_log_lines", "web_sessions", "port_leases",
         "notify_cursor", "notify_deliveries", "notify_attempts", "notifications", "metric_raw", "metric_minute",
         "metric_hour", "check_results", "hook_deliveries"}
MAX_VALUE = 500
_installed = False


def redact(value: Any, key: str = "") -> Any:
    if key in ("git_url", "url") and isinstance(value, str):
        from slipway.git.service import redact as redact_url

        return redact_url(value)
    if key and key not in SAFE_KEYS and SECRET.search(key):
        return REDACTED if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value[:100]]
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + "…"
    if isinstance(value, int | float | bool | str) or value is None:
        return value
    return str(value)


def _changes(session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for obj in list(session.dirty):
        table = getattr(obj, "__tablename__", None)
        if table is None or table in NOISE or not session.is_modified(obj):
            continue
        state = inspect(obj)
        ident = state.identity[0] if state.identity else None
        for attr in state.mapper.column_attrs:
            hist = state.attrs[attr.key].history
            if not hist.added and not hist.deleted:
                continue
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if attr.key in ("updated_at", "last_used_at", "last_seen_at"):
                continue
            out[f"{table}.{attr.key}" + (f"#{ident}" if ident is not None else "")] = \
                [redact(old, attr.key), redact(new, attr.key)]
    for obj in list(session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table and table not in NOISE:
            state = inspect(obj)
            label = getattr(obj, "key", None) or getattr(obj, "name", None) or getattr(obj, "username", None)
            out[f"{table}#{state.identity[0] if state.identity else '?'}"] = \
                ["exists" if label is None else str(label), "deleted"]
    return out


def _resource(kind: str, payload: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    rtype = kind.split(".", 1)[0]
    for key in ("name", "app", "channel", "team", "project", "username", "token", "check_id", "rule_id",
                "deploy_id", "invitation_id", "user_id"):
        if key in payload and payload[key] is not None:
            value = payload[key]
            ident = payload.get(f"{rtype}_id") or payload.get("id")
            return rtype, str(ident) if ident is not None else None, str(value)
    return rtype, None, None


def source_of(actor: str) -> str:
    if actor.startswith("webhook"):
        return "webhook"
    if actor == "scheduler":
        return "scheduler"
    return "system"


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    from slipway.apps.models import App
    from slipway.audit.models import AuditRecord
    from slipway.events import Event

    new_events = [o for o in session.new if isinstance(o, Event)]
    pending = session.info.setdefault("audit_changes", {})
    pending.update(_changes(session))
    if not new_events:
        return
    ctx = audit_context.current.get()
    with session.no_autoflush:
        for index, ev in enumerate(new_events):
            payload = dict(ev.payload or {})
            rtype, rid, rname = _resource(ev.kind, payload)
            app_id = ev.app_id
            project_id = team_id = None
            if app_id is not None:
                app = session.get(App, app_id)
                rtype, rid, rname = "app", str(app_id), app.name if app else rname
                project_id = app.project_id if app else None
            elif ctx is not None and ctx.app_id is not None and ev.kind.startswith("app."):
                rtype, rid, rname = "app", str(ctx.app_id), ctx.app_name or rname
                app_id = ctx.app_id
            if project_id is None and ctx is not None and ctx.project_id is not None and app_id == ctx.app_id:
                project_id = ctx.project_id
            if project_id is None:
                project_id = payload.get("project_id")
            team_id = payload.get("team_id")
            if team_id is None and project_id is not None:
                from slipway.auth.models import Project

                project = session.get(Project, project_id)
                team_id = project.team_id if project else None
            if team_id is None and ctx is not None:
                team_id = ctx.team_id
            from_request = ctx is not None and ctx.actor is not None and ev.actor in (ctx.actor, "admin", "system")
            actor = ev.actor
            if from_request and ev.actor in ("admin", "system"):
                actor = ctx.actor  # type: ignore[union-attr,assignment]
            record = AuditRecord(
                actor=actor or "system", action=ev.kind, resource_type=rtype, resource_id=rid,
                resource_name=rname, app_id=app_id, project_id=project_id, team_id=team_id,
                detail=redact(payload), changes=pending if index == 0 else {},
                source=ctx.source if ctx is not None else source_of(ev.actor),
                ip=(payload.get("ip") if isinstance(payload.get("ip"), str) else None) or (ctx.ip if ctx else None),
                user_id=ctx.user_id if from_request and ctx is not None else payload.get("user_id")
                if ev.kind.startswith("login.") else None,
                token_id=ctx.token_id if from_request and ctx is not None else None,
            )
            if ctx is not None and ctx.actor is None and ev.kind.startswith("login."):
                record.source = ctx.source
            session.add(record)
            session.info["audit_written"] = session.info.get("audit_written", 0) + 1
        session.info["audit_changes"] = {}


def _after_commit(session: Session) -> None:
    written = session.info.pop("audit_written", 0)
    session.info.pop("audit_changes", None)
    ctx = audit_context.current.get()
    if ctx is not None and written:
        ctx.records += written


def _after_rollback(session: Session) -> None:
    session.info.pop("audit_written", None)
    session.info.pop("audit_changes", None)


def install() -> None:
    global _installed
    if _installed:
        return
    sa_event.listen(Session, "before_flush", _before_flush)
    sa_event.listen(Session, "after_commit", _after_commit)
    sa_event.listen(Session, "after_soft_rollback", lambda s, _tx: _after_rollback(s))
    _installed = True


install()
