"""Dashboard: teams — members and roles, invitations, projects, settings (require 2FA)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from slipway.auth import service as auth_service
from slipway.auth import teams as team_service
from slipway.auth.api import acting_rank, invitation_out
from slipway.auth.models import Invitation
from slipway.auth.policy import Access
from slipway.auth.service import Principal
from slipway.bounds import PathId
from slipway.db import transaction
from slipway.errors import NotFound, SlipwayError
from slipway.platform import Platform
from slipway.web.deps import AccessDep, PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/team")
def my_teams(platform: PlatformDep, _: Viewer, access: AccessDep) -> Response:
    with platform.sessions() as session:
        teams = [t for t in team_service.teams(session) if access.can_team("team:read", t.id)]
    if not teams:
        return redirect("/account", flash="You are not in any team yet.", kind="error")
    return redirect(f"/teams/{teams[0].name}")


def _page(
    request: Request, platform: object, team: str, access: object, status: int = 200, **extra: object
) -> Response:
    with platform.sessions() as session:  # type: ignore[attr-defined]
        row = team_service.get_team(session, team)
        members = team_service.members(session, row)
        can_admin = access.can_team("team:admin", row.id)  # type: ignore[attr-defined]
        invitations = (
            [invitation_out(session, i, "") for i in team_service.invitations(session, row)] if can_admin else []
        )
        projects = [p for p in team_service.projects(session, row) if access.can_project("app:read", p.id)]  # type: ignore[attr-defined]
        others = [t.name for t in team_service.teams(session) if access.can_team("team:read", t.id)]  # type: ignore[attr-defined]
    return render(
        request,
        "team/team.html",
        status,
        team=row,
        members=members,
        invitations=invitations,
        projects=projects,
        can_admin=can_admin,
        can_own=access.can_team("team:owner", row.id),  # type: ignore[attr-defined]
        roles=team_service.ROLES,
        teams=others,
        **extra,
    )


@router.get("/teams/{team}")
def team_page(team: str, request: Request, platform: PlatformDep, _: Viewer, access: AccessDep) -> Response:
    return _page(request, platform, team, access)


@router.post("/teams/{team}/settings")
def team_settings(
    team: str, platform: PlatformDep, who: Actor, require_2fa: Annotated[bool, Form()] = False
) -> Response:
    with transaction(platform.sessions) as session:
        team_service.update_team(
            session, team_service.get_team(session, team), require_2fa=require_2fa, actor=who.actor
        )
    return redirect(f"/teams/{team}", flash="Settings saved.")


@router.post("/teams/{team}/invitations")
def invite(
    team: str,
    request: Request,
    platform: PlatformDep,
    who: Actor,
    access: AccessDep,
    role: Annotated[str, Form(max_length=16)] = "developer",
    project: Annotated[str, Form(max_length=64)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    hours: Annotated[float, Form(ge=0.1, le=720)] = 168,
) -> Response:
    try:
        with transaction(platform.sessions) as session:
            row = team_service.get_team(session, team)
            target = team_service.get_project(session, project) if project else None
            plain, _ = team_service.invite(
                session,
                team=row,
                role=role,
                project=target,
                email=email.strip() or None,
                ttl=dt.timedelta(hours=hours),
                actor=who.actor,
                acting_rank=acting_rank(access, row.id),
            )
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    link = f"{str(request.base_url).rstrip('/')}/invite/{plain}"
    return _page(request, platform, team, access, new_link=link)


@router.post("/teams/{team}/invitations/{invitation_id}/revoke")
def revoke_invitation(team: str, invitation_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            team_service.revoke_invitation(
                session, team=team_service.get_team(session, team), invitation_id=invitation_id, actor=who.actor
            )
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash="Invitation revoked.")


def _add(platform: Platform, team: str, username: str, role: str, project: str, who: Principal,
         access: Access) -> str:
    """Membership by consent (auth/teams.add_member): a member's new role, or an invitation to anyone else."""
    with transaction(platform.sessions) as session:
        row = team_service.get_team(session, team)
        target = team_service.get_project(session, project) if project else None
        if target is not None and target.team_id != row.id:
            raise NotFound(f"no project named {project!r} in team {row.name!r}")
        result = team_service.add_member(session, team=row, username=username, role=role, project=target,
                                         actor=who.actor, acting_rank=acting_rank(access, row.id))
        if isinstance(result, Invitation):
            return f"Invited {username} as {role}: they join when they accept, on their account page."
        return f"{username} is now {role}."


@router.post("/teams/{team}/members")
def add_member(
    team: str,
    platform: PlatformDep,
    who: Actor,
    access: AccessDep,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "developer",
    project: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        message = _add(platform, team, username.strip(), role, project, who, access)
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash=message)


@router.post("/teams/{team}/members/{username}/role")
def set_role(
    team: str,
    username: str,
    platform: PlatformDep,
    who: Actor,
    access: AccessDep,
    role: Annotated[str, Form(max_length=16)] = "",
    project: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        message = _add(platform, team, username, role, project, who, access)
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash=message)


@router.post("/teams/{team}/members/{username}/remove")
def remove_member(team: str, username: str, platform: PlatformDep, who: Actor, access: AccessDep) -> Response:
    try:
        with transaction(platform.sessions) as session:
            row = team_service.get_team(session, team)
            if not team_service.is_member(session, row, username):
                raise NotFound(f"{username} is not a member of {row.name}")
            team_service.remove_member(
                session,
                team=row,
                user=auth_service.user_by_name(session, username),
                actor=who.actor,
                acting_rank=acting_rank(access, row.id),
            )
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash=f"Removed {username}: their sessions and tokens have ended.")


@router.post("/teams/{team}/projects")
def create_project(
    team: str, platform: PlatformDep, who: Actor, name: Annotated[str, Form(max_length=63)] = ""
) -> Response:
    try:
        with transaction(platform.sessions) as session:
            team_service.create_project(
                session, team=team_service.get_team(session, team), name=name.strip(), actor=who.actor
            )
    except SlipwayError as exc:
        return redirect(f"/teams/{team}", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash=f"Created project {name}.")
