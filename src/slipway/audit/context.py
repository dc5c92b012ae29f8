"""What the current request (or job) is, for the audit records written while it runs.

Set by the audit middleware and filled in by the authorization dependency; a contextvar, so that
sync routes running in the thread pool see it too. Background work has none: its records say
"system", "scheduler" or "webhook:<provider>" from the event's actor.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    method: str
    path: str
    ip: str
    source: str  # api | dashboard | webhook
    actor: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    route: str | None = None
    project_id: int | None = None
    team_id: int | None = None
    app_id: int | None = None
    app_name: str | None = None
    records: int = 0  # audit records committed during this request
    # projects whose apps the principal may see (None: no filter, e.g. before authorization)
    visible_projects: frozenset[int] | None = None
    default_project_id: int | None = None


current: ContextVar[RequestContext | None] = ContextVar("slipway_audit_context", default=None)
