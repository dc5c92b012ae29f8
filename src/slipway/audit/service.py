"""Reading the audit trail (filters, CSV), the backstop record for requests without an event, and the
retention prune. There is deliberately no function that edits or deletes a single record."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from slipway.audit.context import RequestContext
from slipway.audit.models import AuditRecord
from slipway.db import utcnow

COLUMNS = (
    "id",
    "ts",
    "actor",
    "source",
    "ip",
    "action",
    "resource_type",
    "resource_id",
    "resource_name",
    "app_id",
    "project_id",
    "team_id",
    "status",
    "detail",
    "changes",
)


def query(
    session: Session,
    *,
    app_ids: Iterable[int] | None = None,
    project_ids: Iterable[int] | None = None,
    team_ids: Iterable[int] | None = None,
    include_platform: bool = False,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first. The scopes (apps, projects, teams) are ORed: a record in any of them is shown;
    `include_platform` adds records that belong to no team (platform-wide changes, host admin actions)."""
    stmt = select(AuditRecord)
    scopes = []
    if app_ids is not None:
        scopes.append(AuditRecord.app_id.in_(list(app_ids)))
    if project_ids is not None:
        scopes.append(AuditRecord.project_id.in_(list(project_ids)))
    if team_ids is not None:
        scopes.append(AuditRecord.team_id.in_(list(team_ids)))
    if include_platform:
        scopes.append(AuditRecord.team_id.is_(None) & AuditRecord.project_id.is_(None) & AuditRecord.app_id.is_(None))
    if scopes:
        stmt = stmt.where(or_(*scopes))
    if actor:
        stmt = stmt.where(AuditRecord.actor.in_([actor, f"user:{actor}", f"token:{actor}"]))
    if action:
        stmt = stmt.where(
            AuditRecord.action.like(action.replace("*", "%")) if "*" in action else AuditRecord.action == action
        )
    if resource:
        rtype, _, name = resource.partition(":")
        stmt = stmt.where(AuditRecord.resource_type == rtype)
        if name:
            stmt = stmt.where(AuditRecord.resource_name == name)
    if since is not None:
        stmt = stmt.where(AuditRecord.ts >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.ts < until)
    if before_id is not None:
        stmt = stmt.where(AuditRecord.id < before_id)
    return list(session.scalars(stmt.order_by(AuditRecord.id.desc()).limit(limit)))


def as_dict(row: AuditRecord) -> dict[str, Any]:
    return {c: getattr(row, c) for c in COLUMNS}


def as_csv(rows: Iterable[AuditRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        values = as_dict(row)
        values["ts"] = row.ts.isoformat()
        values["detail"] = json.dumps(row.detail, sort_keys=True, default=str)
        values["changes"] = json.dumps(row.changes, sort_keys=True, default=str)
        writer.writerow([_cell(values[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # a spreadsheet would run a cell starting with = + - @ as a formula
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def record_request(session: Session, ctx: RequestContext, status: int) -> AuditRecord:
    """The backstop: a mutating request that wrote no event still leaves a record (method, route, status)."""
    row = AuditRecord(
        actor=ctx.actor or "anonymous",
        user_id=ctx.user_id,
        token_id=ctx.token_id,
        source=ctx.source,
        ip=ctx.ip,
        action=f"http.{ctx.method.lower()}",
        resource_type="route" if ctx.app_id is None else "app",
        resource_id=str(ctx.app_id) if ctx.app_id is not None else None,
        resource_name=ctx.app_name or (ctx.route or ctx.path)[:255],
        app_id=ctx.app_id,
        project_id=ctx.project_id,
        team_id=ctx.team_id,
        status=status,
        detail={"method": ctx.method, "route": ctx.route, "path": ctx.path[:500]},
    )
    session.add(row)
    return row


def prune(session: Session, *, retention_days: float, now: dt.datetime | None = None) -> int:
    """The only deletion: records older than the retention period, oldest first."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    result = session.execute(delete(AuditRecord).where(AuditRecord.ts < cutoff))
    return result.rowcount or 0  # type: ignore[attr-defined,no-any-return]


def prune_task(platform: Any) -> None:
    from slipway.db import transaction

    with transaction(platform.sessions) as session:
        prune(session, retention_days=platform.settings.audit_retention_days)
