"""Teams, projects, memberships and invitations. Plain functions with an explicit session."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway import events
from slipway.auth.models import Invitation, Membership, Project, Team, User
from slipway.crypto import new_token, token_hash
from slipway.db import utcnow
from slipway.errors import Conflict, Forbidden, Invalid, NotFound

ROLES = ("viewer", "developer", "admin", "owner")  # each has every right of the ones before it
DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
INVITE_TTL = dt.timedelta(days=7)


def rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role in ROLES else 0


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise Invalid(f"a role is one of {', '.join(ROLES)}")


def _check_name(kind: str, name: str) -> None:
    if not NAME.match(name):
        raise Invalid(f"a {kind} name is 1 to 63 lowercase letters, digits or -, starting with a letter or digit")


# ---- teams and projects ------------------------------------------------------------------------------


def default_team(session: Session) -> Team:
    team = session.scalar(select(Team).where(Team.name == DEFAULT))
    if team is None:  # the migration creates it; a hand-made database may lack it
        team = Team(name=DEFAULT)
        session.add(team)
        session.flush()
    return team


def default_project(session: Session) -> Project:
    project = session.scalar(select(Project).where(Project.name == DEFAULT))
    if project is None:
        project = Project(name=DEFAULT, team_id=default_team(session).id)
        session.add(project)
        session.flush()
    return project


def get_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project named {name!r}")
    return project


def create_team(session: Session, *, name: str, owner: User | None, actor: str) -> Team:
    _check_name("team", name)
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(f"a team named {name!r} already exists")
    team = Team(name=name)
    session.add(team)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a team named {name!r} already exists") from exc
    events.emit(session, "team.created", actor=actor, team=name, team_id=team.id)
    if owner is not None:
        set_member(session, team=team, user=owner, role="owner", actor=actor)
    return team


def update_team(session: Session, team: Team, *, require_2fa: bool | None, actor: str) -> Team:
    if require_2fa is not None and require_2fa != team.require_2fa:
        team.require_2fa = require_2fa
        events.emit(session, "team.updated", actor=actor, team=team.name, team_id=team.id, require_2fa=require_2fa)
    return team


def create_project(session: Session, *, team: Team, name: str, actor: str) -> Project:
    _check_name("project", name)
    if session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Conflict(f"a project named {name!r} already exists")
    project = Project(team_id=team.id, name=name)
    session.add(project)
    session.flush()
    events.emit(session, "project.created", actor=actor, project=name, project_id=project.id, team_id=team.id)
    return project


def projects(session: Session, team: Team | None = None) -> list[Project]:
    query = select(Project).order_by(Project.id)
    if team is not None:
        query = query.where(Project.team_id == team.id)
    return list(session.scalars(query))


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.id)))


# ---- members ------------------------------------------------------------------------------------------


def members(session: Session, team: Team) -> list[tuple[Membership, User, Project | None]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.team_id == team.id)
        .order_by(User.username, Membership.id)
    ).all()
    return [(m, u, session.get(Project, m.project_id) if m.project_id else None) for m, u in rows]


def set_member(
    session: Session,
    *,
    team: Team,
    user: User,
    role: str,
    project: Project | None = None,
    actor: str,
    acting_rank: int | None = None,
) -> Membership:
    """Give a user a role in the team (or, with project, in that project only). `acting_rank`: the rank
    of whoever asks (None for the host admin); nobody grants more than they have."""
    _check_role(role)
    if project is not None and project.team_id != team.id:
        raise Invalid(f"project {project.name!r} is not in team {team.name!r}")
    if acting_rank is not None and rank(role) > acting_rank:
        raise Forbidden(f"only an owner can make someone {role}")
    row = session.scalar(
        select(Membership).where(
            Membership.team_id == team.id,
            Membership.user_id == user.id,
            Membership.project_id == (project.id if project else None),
        )
        if project
        else select(Membership).where(
            Membership.team_id == team.id, Membership.user_id == user.id, Membership.project_id.is_(None)
        )
    )
    old = row.role if row else None
    if row is not None and acting_rank is not None and rank(old) > acting_rank:
        raise Forbidden(f"only an owner can change the role of an {old}")
    if row is not None and old == "owner" and role != "owner" and project is None:
        _keep_an_owner(session, team, leaving=user.id)
    if row is None:
        row = Membership(team_id=team.id, user_id=user.id, project_id=project.id if project else None, role=role)
        session.add(row)
        session.flush()
    else:
        row.role = role
    if old != role:
        events.emit(
            session,
            "member.role_changed" if old else "member.added",
            actor=actor,
            team=team.name,
            team_id=team.id,
            username=user.username,
            user_id=user.id,
            project=project.name if project else None,
            old_role=old,
            role=role,
        )
    return row


def _keep_an_owner(session: Session, team: Team, *, leaving: int) -> None:
    owners = session.scalars(
        select(Membership.user_id).where(
            Membership.team_id == team.id, Membership.role == "owner", Membership.project_id.is_(None)
        )
    ).all()
    if set(owners) <= {leaving}:
        raise Conflict(f"team {team.name!r} needs at least one owner")


def remove_member(session: Session, *, team: Team, user: User, actor: str, acting_rank: int | None = None) -> None:
    """Every membership of the user in the team goes, and at once every session of the user and every token
    they made for this team."""
    from slipway.auth import service as auth_service

    rows = session.scalars(select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)).all()
    if not rows:
        raise NotFound(f"{user.username} is not a member of {team.name}")
    top = max(rank(r.role) for r in rows)
    if acting_rank is not None and top > acting_rank:
        raise Forbidden("only an owner can remove an owner")
    if any(r.role == "owner" and r.project_id is None for r in rows):
        _keep_an_owner(session, team, leaving=user.id)
    for row in rows:
        session.delete(row)
    ended, revoked = auth_service.end_sessions_and_tokens(session, user.id, team_id=team.id)
    events.emit(
        session,
        "member.removed",
        actor=actor,
        team=team.name,
        team_id=team.id,
        username=user.username,
        user_id=user.id,
        old_role=max((r.role for r in rows), key=rank),
        sessions_ended=ended,
        tokens_revoked=revoked,
    )


# ---- invitations ----------------------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    team: Team,
    role: str,
    project: Project | None = None,
    email: str | None = None,
    username: str | None = None,
    ttl: dt.timedelta = INVITE_TTL,
    actor: str,
    acting_rank: int | None = None,
) -> tuple[str, Invitation]:
    """A link token, shown once (only its hash is kept). With `username`: addressed to that account, which
    accepts it from its own account page (the link is not shown, and no one else can accept it)."""
    _check_role(role)
    if acting_rank is not None and rank(role) > acting_rank:
        raise Forbidden(f"only an owner can invite an {role}")
    if project is not None and project.team_id != team.id:
        raise Invalid(f"project {project.name!r} is not in team {team.name!r}")
    if email is not None and not re.match(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+\Z", email):
        raise Invalid("not an email address")
    if not dt.timedelta(minutes=5) <= ttl <= dt.timedelta(days=30):
        raise Invalid("an invitation lasts 5 minutes to 30 days")
    plain = new_token("inv")
    row = Invitation(
        team_id=team.id,
        project_id=project.id if project else None,
        role=role,
        email=email,
        username=username,
        token_hash=token_hash(plain),
        created_by=actor,
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    session.flush()
    events.emit(
        session,
        "invitation.created",
        actor=actor,
        team=team.name,
        team_id=team.id,
        role=role,
        invitation_id=row.id,
        project=project.name if project else None,
        email=email,
        username=username,
    )
    return plain, row


def is_member(session: Session, team: Team, username: str) -> bool:
    return session.scalar(
        select(Membership.id).join(User, User.id == Membership.user_id)
        .where(Membership.team_id == team.id, User.username == username).limit(1)) is not None


def add_member(
    session: Session,
    *,
    team: Team,
    username: str,
    role: str,
    project: Project | None = None,
    actor: str,
    acting_rank: int | None = None,
) -> Membership | Invitation:
    """Membership by consent. A member of the team gets the role at once (a role change, or a project role);
    anyone else gets an invitation addressed to that name, to accept from their account — whether or not
    such a user exists, so that the answer tells a team admin nothing about other teams' users."""
    from slipway.auth.service import USERNAME

    if not USERNAME.fullmatch(username):  # no account can have such a name: saying so reveals nothing
        raise Invalid("a username is 1 to 64 letters, digits or . _ @ -")
    if is_member(session, team, username):
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return set_member(session, team=team, user=user, role=role, project=project, actor=actor,
                          acting_rank=acting_rank)
    for old in pending_for(session, username, team=team):  # the newest invitation replaces the older ones
        old.revoked_at = utcnow()
    _, row = invite(session, team=team, role=role, project=project, username=username[:64], actor=actor,
                    acting_rank=acting_rank)
    return row


def pending_for(session: Session, username: str, *, team: Team | None = None) -> list[Invitation]:
    """Open invitations addressed to `username` (of one team, or of all)."""
    query = select(Invitation).where(Invitation.username == username, Invitation.accepted_at.is_(None),
                                     Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
    if team is not None:
        query = query.where(Invitation.team_id == team.id)
    return list(session.scalars(query.order_by(Invitation.id)))


def _addressed(session: Session, user: User, invitation_id: int) -> Invitation:
    row = session.get(Invitation, invitation_id)
    if row is None or row.username != user.username or row not in pending_for(session, user.username):
        raise NotFound(f"no open invitation {invitation_id} for you")
    return row


def accept_addressed(session: Session, *, user: User, invitation_id: int) -> Team:
    """The user joins the team of an invitation addressed to them."""
    row = _addressed(session, user, invitation_id)
    _join(session, row, user)
    team = session.get(Team, row.team_id)
    assert team is not None
    return team


def decline(session: Session, *, user: User, invitation_id: int) -> None:
    row = _addressed(session, user, invitation_id)
    row.revoked_at = utcnow()
    events.emit(session, "invitation.declined", actor=f"user:{user.username}", team_id=row.team_id,
                invitation_id=row.id)


def open_invitation(session: Session, plain: str) -> Invitation:
    row = session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(plain)))
    if row is None or row.revoked_at is not None or row.accepted_at is not None or row.expires_at < utcnow():
        raise NotFound("this invitation is unknown, used or expired")
    return row


def accept(
    session: Session, plain: str, *, user: User | None = None, username: str | None = None, password: str | None = None
) -> User:
    """Join with an existing account (user) or create one (username + password)."""
    from slipway.auth import service as auth_service

    row = open_invitation(session, plain)
    if row.username is not None and (user is None or user.username != row.username):
        raise Forbidden("this invitation is addressed to another account: only that user may accept it")
    if user is None:
        if not username or password is None:
            raise Invalid("a username and a password are needed to create an account")
        user = auth_service.create_user(
            session, username=username, password=password, role=None, actor=f"user:{username}"
        )
    _join(session, row, user)
    return user


def _join(session: Session, row: Invitation, user: User) -> None:
    team = session.get(Team, row.team_id)
    assert team is not None
    project = session.get(Project, row.project_id) if row.project_id else None
    set_member(session, team=team, user=user, role=row.role, project=project, actor=f"user:{user.username}")
    row.accepted_at = utcnow()
    row.accepted_by = user.id
    events.emit(
        session,
        "invitation.accepted",
        actor=f"user:{user.username}",
        team=team.name,
        team_id=team.id,
        invitation_id=row.id,
        role=row.role,
    )


def revoke_invitation(session: Session, *, team: Team, invitation_id: int, actor: str) -> None:
    row = session.get(Invitation, invitation_id)
    if row is None or row.team_id != team.id:
        raise NotFound(f"no invitation {invitation_id}")
    row.revoked_at = utcnow()
    events.emit(session, "invitation.revoked", actor=actor, team=team.name, team_id=team.id, invitation_id=row.id)


def invitations(session: Session, team: Team) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.team_id == team.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id.desc())
        )
    )
