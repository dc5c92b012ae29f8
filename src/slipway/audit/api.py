"""The activity timeline: /api/v1/{apps/NAME | projects/NAME | teams/NAME}/activity, JSON or CSV.

Read-only on purpose: there is no route that edits or deletes an audit record."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from slipway.apps.models import App
from slipway.audit import service as audit_service
from slipway.auth.models import Project, Team
from slipway.auth.policy import Access
from slipway.auth.schemas import AuditOut
from slipway.bounds import BeforeId
from slipway.db import utcnow
from slipway.errors import Invalid, NotFound
from slipway.web.deps import AccessDep, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["audit"])
DURATION = re.compile(r"^(\d+)([smhd])\Z")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(value: str | None) -> dt.datetime | None:
    """ISO 8601 (naive means UTC) or a duration ago: 30m, 2h, 7d."""
    if not value:
        return None
    try:
        return _parse_time(value)
    except OverflowError:  # 99999999999d ago, or year 1 at +14:00: before the first datetime
        raise Invalid(f"not a time: {value!r} is out of range") from None


def _parse_time(value: str) -> dt.datetime:
    match = DURATION.match(value.strip())
    if match:
        return utcnow() - dt.timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid(f"not a time: {value!r} (ISO 8601, or a duration ago like 2h or 7d)") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class Filters:
    def __init__(self, user: str | None = Query(None, max_length=160, description="Actor: a user or token name."),
                 action: str | None = Query(None, max_length=96, description="e.g. env.set, deploy.* "),
                 resource: str | None = Query(None, max_length=300, description="type or type:name, e.g. app:web"),
                 since: str | None = Query(None, max_length=64, description="ISO 8601 or a duration ago (2h)."),
                 until: str | None = Query(None, max_length=64),
                 before: BeforeId = None,
                 limit: int = Query(100, ge=1, le=5000),
                 format: Literal["json", "csv"] = Query("json")) -> None:  # noqa: A002
        self.user, self.action, self.resource = user, action, resource
        self.since, self.until = parse_time(since), parse_time(until)
        self.before, self.limit, self.format = before, limit, format

    def kwargs(self) -> dict[str, Any]:
        return dict(actor=self.user, action=self.action, resource=self.resource, since=self.since, until=self.until,
                    before_id=self.before, limit=self.limit)


FiltersDep = Annotated[Filters, Depends()]


def _answer(rows: list[Any], filters: Filters, filename: str) -> Any:
    if filters.format == "csv":
        return Response(audit_service.as_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}-activity.csv"'})
    return [AuditOut(**audit_service.as_dict(r)) for r in rows]


def team_scope(access: Access, team_id: int) -> dict[str, Any]:
    """What of a team's records the principal sees: all of it with a team-wide role, else its projects'."""
    if access.role_in_team(team_id) is not None:
        return {"team_ids": [team_id]}
    return {"project_ids": [p for p in access.projects_with("audit:read") if access.project_teams.get(p) == team_id]}


@router.get("/apps/{name}/activity", response_model=list[AuditOut])
def app_activity(name: str, platform: PlatformDep, filters: FiltersDep) -> Any:
    with platform.sessions() as session:
        app = session.scalar(select(App).where(App.name == name))
        if app is None:
            raise NotFound(f"no app named {name!r}")
        return _answer(audit_service.query(session, app_ids=[app.id], **filters.kwargs()), filters, name)


@router.get("/projects/{project}/activity", response_model=list[AuditOut])
def project_activity(project: str, platform: PlatformDep, filters: FiltersDep) -> Any:
    with platform.sessions() as session:
        row = session.scalar(select(Project).where(Project.name == project))
        if row is None:
            raise NotFound(f"no project named {project!r}")
        return _answer(audit_service.query(session, project_ids=[row.id], **filters.kwargs()), filters, project)


@router.get("/teams/{team}/activity", response_model=list[AuditOut])
def team_activity(team: str, platform: PlatformDep, access: AccessDep, filters: FiltersDep) -> Any:
    with platform.sessions() as session:
        row = session.scalar(select(Team).where(Team.name == team))
        if row is None:
            raise NotFound(f"no team named {team!r}")
        scope = team_scope(access, row.id)
        # the default team's owners and admins also see platform-wide records (host admin, channels…)
        platform_wide = row.id == access.default_team_id and access.can_platform("platform:admin")
        return _answer(audit_service.query(session, include_platform=platform_wide, **scope, **filters.kwargs()),
                       filters, team)
