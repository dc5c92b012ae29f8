"""Dashboard: the activity timeline (audit trail) of an app, a project or a team, with filters; CSV."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from slipway.apps.models import App
from slipway.audit import service as audit_service
from slipway.audit.api import parse_time, team_scope
from slipway.auth.models import Project, Team
from slipway.auth.policy import Access
from slipway.errors import NotFound, SlipwayError
from slipway.web.deps import AccessDep, PlatformDep
from slipway.web.pages import PageRoute, Viewer, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FILTERS = ("user", "action", "resource", "since", "until")


def _scope(session: Any, access: Access, *, app: str | None, project: str | None, team: str | None) -> dict[str, Any]:
    """Filters given as query parameters are checked here (the central gate sees only the path)."""
    if app:
        row = session.scalar(select(App).where(App.name == app))
        if row is None or not access.can_app("audit:read", row):
            raise NotFound(f"no app named {app!r}")
        return {"app_ids": [row.id]}
    if project:
        row = session.scalar(select(Project).where(Project.name == project))
        if row is None or not access.can_project("audit:read", row.id):
            raise NotFound(f"no project named {project!r}")
        return {"project_ids": [row.id]}
    teams = (
        [session.scalar(select(Team).where(Team.name == team))]
        if team
        else [session.get(Team, t) for t in access.teams_with("audit:read")]
    )
    teams = [t for t in teams if t is not None and access.can_team("audit:read", t.id)]
    if team and not teams:
        raise NotFound(f"no team named {team!r}")
    scope: dict[str, Any] = {"team_ids": [], "project_ids": []}
    for row in teams:
        for key, values in team_scope(access, row.id).items():
            scope[key].extend(values)
    scope["include_platform"] = any(t.id == access.default_team_id for t in teams) and access.can_platform(
        "platform:admin"
    )
    return scope


def _rows(request: Request, platform: Any, access: Access, **where: str | None) -> list[Any]:
    params = request.query_params
    with platform.sessions() as session:
        scope = _scope(session, access, **where)  # type: ignore[arg-type]
        return audit_service.query(
            session,
            actor=params.get("user") or None,
            action=params.get("action") or None,
            resource=params.get("resource") or None,
            since=parse_time(params.get("since")),
            until=parse_time(params.get("until")),
            limit=500,
            **scope,
        )


@router.get("/activity")
def activity_page(request: Request, platform: PlatformDep, _: Viewer, access: AccessDep) -> Response:
    params = request.query_params
    where = {k: params.get(k) or None for k in ("app", "project", "team")}
    try:
        rows = _rows(request, platform, access, **where)
        error = None
    except SlipwayError as exc:
        if isinstance(exc, NotFound):
            raise
        rows, error = [], exc.message
    return render(
        request, "activity.html", rows=rows, where=where, filters={k: params.get(k, "") for k in FILTERS}, error=error
    )


@router.get("/apps/{name}/activity")
def app_activity_page(name: str, request: Request, platform: PlatformDep, _: Viewer, access: AccessDep) -> Response:
    rows = _rows(request, platform, access, app=name, project=None, team=None)
    return render(
        request,
        "activity.html",
        rows=rows,
        where={"app": name},
        filters={k: request.query_params.get(k, "") for k in FILTERS},
        error=None,
    )


@router.get("/teams/{team}/activity.csv")
def team_activity_csv(team: str, request: Request, platform: PlatformDep, _: Viewer, access: AccessDep) -> Response:
    rows = _rows(request, platform, access, app=None, project=None, team=team)
    return Response(
        audit_service.as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{team}-activity.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
