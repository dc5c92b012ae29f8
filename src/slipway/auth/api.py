"""/api/v1: health, identity, your tokens; teams, members, projects and invitations."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway import __version__
from slipway.auth import service as auth_service
from slipway.auth import teams as team_service
from slipway.auth.models import ApiToken, Invitation, Project, Team, User
from slipway.auth.policy import Access
from slipway.auth.schemas import (
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberPut,
    MyInvitationOut,
    ProjectCreate,
    ProjectOut,
    TeamCreate,
    TeamOut,
    TeamPatch,
    TokenCreate,
    TokenCreated,
    TokenOut,
    WhoAmI,
)
from slipway.auth.service import Principal
from slipway.bounds import PathId
from slipway.db import transaction, utcnow
from slipway.errors import Conflict, Forbidden, Invalid, NotFound
from slipway.web.deps import AccessDep, CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["auth"])
teams_router = APIRouter(prefix="/api/v1", tags=["teams"])


@router.get("/health", responses={503: {"description": "a part Slipway needs is down; `error` names it"}})
def health(platform: PlatformDep, response: Response) -> dict[str, object]:
    """ok, or 503 naming the failing part (database, router) in `error` and `checks`; and how app code is
    isolated (`isolation`: "unisolated" is loud on purpose)."""
    from slipway import selfcheck

    checks = selfcheck.check(platform)
    isolation = platform.isolation
    body: dict[str, object] = {"status": "ok", "version": __version__, "checks": checks,
                               "isolation": {"mode": isolation.mode, "reason": isolation.reason}}
    failing = [reason for reason in checks.values() if reason != "ok"]
    if failing:
        response.status_code = 503
        body.update(status="unavailable", error="; ".join(failing))
    return body


def _roles(session: Session, access: Access) -> list[dict[str, str | None]]:
    out = []
    for (team_id, project_id), role in sorted(access.roles.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        team = session.get(Team, team_id)
        project = session.get(Project, project_id) if project_id else None
        out.append({"team": team.name if team else None, "project": project.name if project else None, "role": role})
    return out


@router.get("/whoami", response_model=WhoAmI)
def whoami(who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> WhoAmI:
    with platform.sessions() as session:
        team = session.get(Team, who.team_id) if who.team_id else None
        return WhoAmI(
            kind=who.kind,
            name=who.name,
            scope=who.scope if who.kind == "token" else None,
            team=team.name if team else None,
            roles=_roles(session, access),
        )


# ---- tokens: your own -------------------------------------------------------------------------------


def token_out(session: Session, row: ApiToken) -> TokenOut:
    team = session.get(Team, row.team_id) if row.team_id else None
    user = session.get(User, row.user_id) if row.user_id else None
    return TokenOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix + "…",
        scope=row.scope,
        team=team.name if team else None,
        user=user.username if user else None,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


def _user_id(who: Principal) -> int:
    if who.user_id is None:
        raise Forbidden("a host-made token has no account: manage tokens with `slipway admin` on the server")
    return who.user_id


def create_user_token(
    session: Session,
    who: Principal,
    access: Access,
    *,
    name: str,
    scope: str,
    team: str | None,
    expires_in_days: float | None,
) -> tuple[str, ApiToken]:
    """A token for the caller, acting in one of their teams. Its rights are the caller's role there,
    narrowed by its scope."""
    user_id = _user_id(who)
    if who.kind == "token" and who.scope != "admin":
        raise Forbidden("only an admin-scope token can create tokens")
    if team is not None:
        row = session.scalar(select(Team).where(Team.name == team))
        if row is None or not any(t == row.id for t, _ in access.roles):
            raise NotFound(f"no team named {team!r}")
        team_id = row.id
    else:
        mine = sorted({t for t, _ in access.roles})
        if not mine:
            raise Invalid("you are not in any team")
        team_id = mine[0]
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    return auth_service.create_token(
        session, name=name, user_id=user_id, team_id=team_id, scope=scope, expires_at=expires, actor=who.actor
    )


@router.get("/tokens", response_model=list[TokenOut])
def list_my_tokens(who: CurrentPrincipal, platform: PlatformDep) -> list[TokenOut]:
    with platform.sessions() as session:
        if who.user_id is None:
            rows = [session.get(ApiToken, who.id)] if who.kind == "token" else []
        else:
            rows = auth_service.list_tokens(session, user_id=who.user_id, all_users=False)
        return [token_out(session, r) for r in rows if r is not None]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_my_token(body: TokenCreate, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> TokenCreated:
    with transaction(platform.sessions) as session:
        plain, row = create_user_token(
            session, who, access, name=body.name, scope=body.scope, team=body.team, expires_in_days=body.expires_in_days
        )
        return TokenCreated(**token_out(session, row).model_dump(), token=plain)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_my_token(token_id: PathId, who: CurrentPrincipal, platform: PlatformDep) -> Response:
    with transaction(platform.sessions) as session:
        if who.user_id is None and who.kind == "token" and token_id == who.id:
            auth_service.revoke_token_id(session, token_id=token_id, user_id=None, actor=who.actor, any_user=True)
        else:
            auth_service.revoke_token_id(session, token_id=token_id, user_id=_user_id(who), actor=who.actor)
    return Response(status_code=204)


@router.get("/account")
def account(who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> dict[str, object]:
    with platform.sessions() as session:
        user = session.get(User, who.user_id) if who.user_id else None
        return {
            "kind": who.kind,
            "name": who.name,
            "user": user.username if user else None,
            "two_factor": bool(user and user.totp_enabled_at),
            "roles": _roles(session, access),
        }


# ---- teams ------------------------------------------------------------------------------------------------


def _team_out(session: Session, team: Team, access: Access) -> TeamOut:
    return TeamOut(
        name=team.name,
        require_2fa=team.require_2fa,
        role=access.role_in_team(team.id),
        projects=[p.name for p in team_service.projects(session, team) if access.can_project("app:read", p.id)],
    )


@teams_router.get("/teams", response_model=list[TeamOut])
def list_teams(platform: PlatformDep, access: AccessDep) -> list[TeamOut]:
    with platform.sessions() as session:
        return [
            _team_out(session, t, access) for t in team_service.teams(session) if access.can_team("team:read", t.id)
        ]


@teams_router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(body: TeamCreate, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> TeamOut:
    with transaction(platform.sessions) as session:
        me = session.get(User, who.user_id) if who.user_id else None
        invitee = None
        if me is not None:
            # a user founds the team and owns it; anyone else named as owner is invited (consent, and no
            # answer that tells whether such a user exists)
            owner: User | None = me
            invitee = body.owner if body.owner and body.owner != me.username else None
        elif body.owner:  # the host admin (a host-made token) names the first owner
            owner = auth_service.user_by_name(session, body.owner)
        else:
            raise Invalid("name the team's first owner: a host-made token has no account of its own")
        isolation = platform.isolation
        if not isolation.isolated and team_service.teams(session):
            # teams share the host only behind the sandbox: unisolated, one team's app reads everything
            raise Conflict(f"a second team needs the sandbox, and Slipway runs unisolated here "
                           f"({isolation.reason}): install bubblewrap and restart, then create the team")
        team = team_service.create_team(session, name=body.name, owner=owner, actor=who.actor)
        team_service.create_project(session, team=team, name=body.name, actor=who.actor)
        if invitee is not None:
            team_service.add_member(session, team=team, username=invitee, role="owner", actor=who.actor)
        access.roles[(team.id, None)] = "owner" if owner else access.roles.get((team.id, None), "")
        access.project_teams.update({p.id: team.id for p in team_service.projects(session, team)})
        return _team_out(session, team, access)


@teams_router.get("/teams/{team}", response_model=TeamOut)
def show_team(team: str, platform: PlatformDep, access: AccessDep) -> TeamOut:
    with platform.sessions() as session:
        return _team_out(session, team_service.get_team(session, team), access)


@teams_router.patch("/teams/{team}", response_model=TeamOut)
def patch_team(team: str, body: TeamPatch, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> TeamOut:
    with transaction(platform.sessions) as session:
        row = team_service.update_team(
            session, team_service.get_team(session, team), require_2fa=body.require_2fa, actor=who.actor
        )
        return _team_out(session, row, access)


@teams_router.get("/teams/{team}/members", response_model=list[MemberOut])
def list_members(team: str, platform: PlatformDep) -> list[MemberOut]:
    with platform.sessions() as session:
        return [
            MemberOut(
                username=u.username,
                role=m.role,
                project=p.name if p else None,
                two_factor=u.totp_enabled_at is not None,
            )
            for m, u, p in team_service.members(session, team_service.get_team(session, team))
        ]


def acting_rank(access: Access, team_id: int) -> int | None:
    """The rank of the caller in the team; None for a host-made token (the host admin)."""
    principal = access.principal
    if isinstance(principal, Principal) and principal.kind == "token" and principal.user_id is None:
        return None
    return team_service.rank(access.role_in_team(team_id))


@teams_router.put("/teams/{team}/members/{username}", response_model=MemberOut,
                  responses={202: {"model": MemberOut, "description": "Not a member yet: invited (status "
                                                                      "'invited'); they accept from their account."}})
def put_member(
    team: str, username: str, body: MemberPut, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep,
    response: Response,
) -> MemberOut:
    """A member's role (at once); anyone else is invited and joins when they accept (202). The answer is the
    same for a name that exists and one that does not: it reveals nothing about users outside the team."""
    with transaction(platform.sessions) as session:
        row = team_service.get_team(session, team)
        project = team_service.get_project(session, body.project) if body.project else None
        if project is not None and project.team_id != row.id:
            raise NotFound(f"no project named {body.project!r} in team {row.name!r}")
        result = team_service.add_member(
            session,
            team=row,
            username=username,
            role=body.role,
            project=project,
            actor=who.actor,
            acting_rank=acting_rank(access, row.id),
        )
        if isinstance(result, Invitation):
            response.status_code = 202
            return MemberOut(username=username, role=result.role, project=project.name if project else None,
                             two_factor=None, status="invited", invitation_id=result.id)
        user = session.get(User, result.user_id)
        assert user is not None
        return MemberOut(
            username=user.username,
            role=result.role,
            project=project.name if project else None,
            two_factor=user.totp_enabled_at is not None,
        )


@teams_router.delete("/teams/{team}/members/{username}", status_code=204)
def delete_member(
    team: str, username: str, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep
) -> Response:
    with transaction(platform.sessions) as session:
        row = team_service.get_team(session, team)
        if not team_service.is_member(session, row, username):  # the same answer for a name that doesn't exist
            raise NotFound(f"{username} is not a member of {row.name}")
        team_service.remove_member(
            session,
            team=row,
            user=auth_service.user_by_name(session, username),
            actor=who.actor,
            acting_rank=acting_rank(access, row.id),
        )
    return Response(status_code=204)


@teams_router.get("/teams/{team}/projects", response_model=list[ProjectOut])
def list_projects(team: str, platform: PlatformDep, access: AccessDep) -> list[ProjectOut]:
    with platform.sessions() as session:
        row = team_service.get_team(session, team)
        return [
            ProjectOut(name=p.name, team=row.name)
            for p in team_service.projects(session, row)
            if access.can_project("app:read", p.id)
        ]


@teams_router.post("/teams/{team}/projects", response_model=ProjectOut, status_code=201)
def create_project(team: str, body: ProjectCreate, who: CurrentPrincipal, platform: PlatformDep) -> ProjectOut:
    with transaction(platform.sessions) as session:
        row = team_service.get_team(session, team)
        project = team_service.create_project(session, team=row, name=body.name, actor=who.actor)
        return ProjectOut(name=project.name, team=row.name)


def invitation_out(session: Session, row: Invitation, base_url: str, plain: str | None = None) -> InvitationOut:
    project = session.get(Project, row.project_id) if row.project_id else None
    return InvitationOut(
        id=row.id,
        role=row.role,
        project=project.name if project else None,
        email=row.email,
        created_by=row.created_by,
        expires_at=row.expires_at,
        username=row.username,
        url=f"{base_url.rstrip('/')}/invite/{plain}" if plain else None,
        token=plain,
    )


@teams_router.get("/teams/{team}/invitations", response_model=list[InvitationOut])
def list_invitations(team: str, platform: PlatformDep) -> list[InvitationOut]:
    with platform.sessions() as session:
        row = team_service.get_team(session, team)
        return [
            invitation_out(session, i, platform.settings.dashboard_url) for i in team_service.invitations(session, row)
        ]


@teams_router.post("/teams/{team}/invitations", response_model=InvitationOut, status_code=201)
def create_invitation(
    team: str, body: InvitationCreate, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep
) -> InvitationOut:
    with transaction(platform.sessions) as session:
        row = team_service.get_team(session, team)
        project = team_service.get_project(session, body.project) if body.project else None
        plain, invitation = team_service.invite(
            session,
            team=row,
            role=body.role,
            project=project,
            email=body.email,
            ttl=dt.timedelta(hours=body.expires_in_hours),
            actor=who.actor,
            acting_rank=acting_rank(access, row.id),
        )
        return invitation_out(session, invitation, platform.settings.dashboard_url, plain)


@teams_router.delete("/teams/{team}/invitations/{invitation_id}", status_code=204)
def revoke_invitation(team: str, invitation_id: PathId, who: CurrentPrincipal, platform: PlatformDep) -> Response:
    with transaction(platform.sessions) as session:
        team_service.revoke_invitation(
            session, team=team_service.get_team(session, team), invitation_id=invitation_id, actor=who.actor
        )
    return Response(status_code=204)


def _consenting_user(session: Session, who: Principal) -> User:
    """The account that accepts or declines: a dashboard session, or an admin-scope token of that user (a
    narrower token may not change what its user belongs to)."""
    if who.user_id is None or who.kind not in ("user", "token") or (who.kind == "token" and who.scope != "admin"):
        raise Forbidden("answer an invitation as its user: in the dashboard, or with an admin-scope token of your "
                        "account")
    user = session.get(User, who.user_id)
    assert user is not None
    return user


@teams_router.get("/account/invitations", response_model=list[MyInvitationOut])
def my_invitations(who: CurrentPrincipal, platform: PlatformDep) -> list[MyInvitationOut]:
    """The open invitations addressed to you (a team added you by name)."""
    if who.user_id is None:
        return []
    with platform.sessions() as session:
        user = session.get(User, who.user_id)
        return [my_invitation_out(session, i) for i in team_service.pending_for(session, user.username)] \
            if user else []


def my_invitation_out(session: Session, row: Invitation) -> MyInvitationOut:
    team = session.get(Team, row.team_id)
    project = session.get(Project, row.project_id) if row.project_id else None
    return MyInvitationOut(id=row.id, team=team.name if team else "", role=row.role,
                           project=project.name if project else None, created_by=row.created_by,
                           expires_at=row.expires_at)


@teams_router.post("/account/invitations/{invitation_id}/accept", response_model=TeamOut)
def accept_my_invitation(invitation_id: PathId, who: CurrentPrincipal, platform: PlatformDep) -> TeamOut:
    with transaction(platform.sessions) as session:
        team = team_service.accept_addressed(session, user=_consenting_user(session, who),
                                             invitation_id=invitation_id)
        return TeamOut(name=team.name, require_2fa=team.require_2fa)


@teams_router.post("/account/invitations/{invitation_id}/decline", status_code=204)
def decline_my_invitation(invitation_id: PathId, who: CurrentPrincipal, platform: PlatformDep) -> Response:
    with transaction(platform.sessions) as session:
        team_service.decline(session, user=_consenting_user(session, who), invitation_id=invitation_id)
    return Response(status_code=204)


@teams_router.post("/invitations/{token}/accept", response_model=list[TeamOut])
def accept_invitation(token: str, who: CurrentPrincipal, platform: PlatformDep, access: AccessDep) -> list[TeamOut]:
    """Join with the account you are logged in as (a new account: open the link in a browser)."""
    if who.kind != "user" or who.user_id is None:
        raise Forbidden("accept an invitation with a dashboard session (or open the link in a browser)")
    with transaction(platform.sessions) as session:
        user = session.get(User, who.user_id)
        team_service.accept(session, token, user=user)
        invitation = session.scalar(
            select(Invitation).where(Invitation.accepted_by == who.user_id).order_by(Invitation.id.desc())
        )
        team = session.get(Team, invitation.team_id) if invitation else None
        return [TeamOut(name=team.name, require_2fa=team.require_2fa)] if team else []
