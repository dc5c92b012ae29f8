"""API tokens, dashboard users and sessions, two-factor, and the login rate limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipway import events
from slipway.auth.models import ApiToken, LoginAttempt, Membership, User, WebSession
from slipway.crypto import Box, new_token, token_hash
from slipway.db import utcnow
from slipway.errors import Conflict, Forbidden, Invalid, NotFound, TooMany

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")
SESSION_TTL = dt.timedelta(days=7)
MFA_PENDING_TTL = dt.timedelta(minutes=10)
LOGIN_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES = 5  # per username and per IP within the window, before a lockout
LOCKOUT_BASE = dt.timedelta(minutes=1)  # doubled for every further failure, up to LOCKOUT_MAX
LOCKOUT_MAX = dt.timedelta(hours=24)
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)  # don't write on every request
SCOPES = ("read", "deploy", "admin")
RECOVERY_CODES = 10


@dataclass(frozen=True)
class Principal:
    """Who is acting: a token or a user (a dashboard session). What it may do: see auth/policy.py."""

    kind: str  # token | user
    id: int
    name: str
    session: WebSession | None = None
    user_id: int | None = None  # the user behind a session, or the owner of a token (None: a host-made token)
    scope: str = "admin"  # a token's scope; sessions have the full rights of their user's roles
    team_id: int | None = None  # the team a token acts in

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


# ---- tokens ------------------------------------------------------------------------------------


def create_token(
    session: Session,
    *,
    name: str,
    user_id: int | None = None,
    team_id: int | None = None,
    scope: str = "admin",
    expires_at: dt.datetime | None = None,
    actor: str = "admin",
) -> tuple[str, ApiToken]:
    """A new token, returned in clear once. Without a team: the default team. Without a user: the token
    acts as an owner of its team (what `slipway admin token` makes on the host)."""
    from slipway.auth import teams

    if not name or len(name) > 64 or not name.isprintable():
        raise Invalid("a token name is 1 to 64 printable characters")
    if scope not in SCOPES:
        raise Invalid(f"a token scope is one of {', '.join(SCOPES)}")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("a token's expiry must be in the future")
    team_id = team_id if team_id is not None else teams.default_team(session).id
    plain = new_token("slw")
    row = ApiToken(
        name=name,
        token_hash=token_hash(plain),
        prefix=plain[:8],
        user_id=user_id,
        team_id=team_id,
        scope=scope,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    events.emit(
        session,
        "token.created",
        actor=actor,
        token=name,
        token_id=row.id,
        scope=scope,
        team_id=team_id,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return plain, row


def authenticate_token(session: Session, plain: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(plain)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return Principal("token", row.id, row.name, user_id=row.user_id, scope=row.scope, team_id=row.team_id)


def list_tokens(session: Session, *, user_id: int | None = None, all_users: bool = True) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not all_users:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_token(session: Session, *, name: str, actor: str = "admin") -> None:
    rows = session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).all()
    if not rows:
        raise NotFound(f"no active token named {name!r}")
    for row in rows:
        row.revoked_at = utcnow()
    events.emit(session, "token.revoked", actor=actor, token=name, token_ids=[r.id for r in rows])


def revoke_token_id(
    session: Session, *, token_id: int, user_id: int | None, actor: str, any_user: bool = False
) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (not any_user and row.user_id != user_id):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        events.emit(session, "token.revoked", actor=actor, token=row.name, token_ids=[row.id])
    return row


# ---- users ---------------------------------------------------------------------------------------


def create_user(
    session: Session, *, username: str, password: str, role: str | None = "owner", actor: str = "admin"
) -> User:
    """A dashboard user. With a role: a member of the default team with that role (the host admin's
    `slipway admin user create` makes owners, as before teams existed); invitations pass None."""
    from slipway.auth import teams

    if not USERNAME.match(username):
        raise Invalid("a username is 1 to 64 letters, digits or . _ @ -")
    check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named {username!r} already exists")
    user = User(username=username, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    events.emit(session, "user.created", actor=actor, username=username, user_id=user.id)
    if role is not None:
        teams.set_member(session, team=teams.default_team(session), user=user, role=role, actor=actor)
    return user


def check_password(password: str) -> None:
    if len(password) < 8:
        raise Invalid("a password has at least 8 characters")
    if len(password) > 1024:
        raise Invalid("a password has at most 1024 characters")


def set_password(session: Session, *, username: str, password: str, actor: str = "admin") -> None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    check_password(password)
    user.password_hash = _hasher.hash(password)
    # a new password ends every session
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    events.emit(session, "user.password_changed", actor=actor, username=username, user_id=user.id)


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def end_sessions_and_tokens(session: Session, user_id: int, *, team_id: int | None = None) -> tuple[int, int]:
    """Revoke at once: every dashboard session of the user, and their tokens (of one team, or all)."""
    ended = session.execute(delete(WebSession).where(WebSession.user_id == user_id)).rowcount or 0
    query = select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if team_id is not None:
        query = query.where(ApiToken.team_id == team_id)
    tokens = session.scalars(query).all()
    for row in tokens:
        row.revoked_at = utcnow()
    return ended, len(tokens)


# ---- the login rate limit: per account and per IP, with an exponential lockout -------------------


def lockout_until(session: Session, *, username: str, ip: str) -> dt.datetime | None:
    """When failures pile up (MAX_FAILURES within LOGIN_WINDOW, counted since the last success of that
    account), logins are refused until the last failure + LOCKOUT_BASE * 2**(extra failures)."""
    now = utcnow()
    since = now - LOGIN_WINDOW
    worst: dt.datetime | None = None
    for column, value in ((LoginAttempt.username, username[:64]), (LoginAttempt.ip, ip[:64])):
        last_ok = session.scalar(select(func.max(LoginAttempt.ts)).where(column == value, LoginAttempt.ok.is_(True)))
        start = max(since, last_ok) if last_ok else since
        failures, last = session.execute(
            select(func.count(), func.max(LoginAttempt.ts)).where(
                column == value, LoginAttempt.ok.is_(False), LoginAttempt.ts > start
            )
        ).one()
        if (failures or 0) >= MAX_FAILURES and last is not None:
            extra = min(failures - MAX_FAILURES, 20)
            until = last + min(LOCKOUT_BASE * (2**extra), LOCKOUT_MAX)
            if until > now and (worst is None or until > worst):
                worst = until
    return worst


def check_rate(session: Session, *, username: str, ip: str) -> None:
    until = lockout_until(session, username=username, ip=ip)
    if until is not None:
        seconds = max(1, int((until - utcnow()).total_seconds()))
        raise TooMany(f"too many failed logins: try again in {_human(seconds)}", detail={"retry_after": seconds})


def _human(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{seconds // 60} minutes"


# ---- logins and sessions ---------------------------------------------------------------------------


def _verify(user: User | None, password: str) -> bool:
    if user is None:
        _hasher.hash(password)  # same work either way, so timing does not reveal which names exist
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _new_session(session: Session, user: User, *, ip: str, user_agent: str, pending: bool) -> tuple[str, WebSession]:
    cookie = secrets.token_urlsafe(32)
    ttl = MFA_PENDING_TTL if pending else SESSION_TTL
    row = WebSession(
        id_hash=token_hash(cookie),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + ttl,
        ip=ip[:64],
        user_agent=user_agent[:256],
        last_seen_at=utcnow(),
        mfa_pending=pending,
    )
    session.add(row)
    return cookie, row


def login(
    session: Session, *, username: str, password: str, ip: str, user_agent: str = ""
) -> tuple[str, WebSession] | None:
    """Check the password; on success return (cookie value, session row), else None.

    Always a brand-new session id (no fixation). With 2FA on, the session is `mfa_pending`: it opens
    only the second-factor form (see verify_second_factor). A failure returns instead of raising so the
    caller commits the failed attempt (the rate limit counts it) before answering 401.
    """
    check_rate(session, username=username, ip=ip)
    user = session.scalar(select(User).where(User.username == username))
    ok = _verify(user, password)
    session.add(LoginAttempt(username=username[:64], ip=ip[:64], ok=ok))
    events.emit(
        session,
        "login.succeeded" if ok else "login.failed",
        actor=f"user:{username[:64]}",
        ip=ip,
        user_id=user.id if user else None,
        second_factor=bool(user and user.totp_enabled_at) if ok else None,
    )
    if not ok or user is None:
        return None
    return _new_session(session, user, ip=ip, user_agent=user_agent, pending=user.totp_enabled_at is not None)


def pending_session(session: Session, cookie: str) -> tuple[WebSession, User] | None:
    row = session.get(WebSession, token_hash(cookie))
    if row is None or not row.mfa_pending or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    return (row, user) if user is not None else None


def verify_second_factor(
    session: Session, box: Box, *, cookie: str, code: str, ip: str, user_agent: str = ""
) -> tuple[str, WebSession] | None:
    """The second step of a login: a TOTP code or a recovery code. Success replaces the pending session
    with a full one (a new id again); failures count toward the same lockout as passwords."""
    found = pending_session(session, cookie)
    if found is None:
        return None
    pending, user = found
    check_rate(session, username=user.username, ip=ip)
    how = check_code(session, box, user, code)
    session.add(LoginAttempt(username=user.username, ip=ip[:64], ok=how is not None))
    events.emit(
        session,
        "login.2fa_succeeded" if how else "login.2fa_failed",
        actor=f"user:{user.username}",
        ip=ip,
        user_id=user.id,
        method=how,
    )
    if how is None:
        return None
    session.delete(pending)
    return _new_session(session, user, ip=ip, user_agent=user_agent, pending=False)


def session_principal(session: Session, cookie: str) -> Principal | None:
    row = session.get(WebSession, token_hash(cookie))
    now = utcnow()
    if row is None or row.expires_at < now or row.mfa_pending:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    if row.last_seen_at is None or now - row.last_seen_at > LAST_USED_RESOLUTION:
        row.last_seen_at = now  # written only when the caller commits
    return Principal("user", user.id, user.username, session=row, user_id=user.id)


def logout(session: Session, cookie: str) -> None:
    row = session.get(WebSession, token_hash(cookie))
    if row is not None:
        session.delete(row)


def list_sessions(session: Session, user_id: int) -> list[WebSession]:
    return list(
        session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.expires_at > utcnow(), WebSession.mfa_pending.is_(False))
            .order_by(WebSession.created_at.desc())
        )
    )


def end_session(session: Session, *, user_id: int, id_hash: str, actor: str) -> None:
    row = session.get(WebSession, id_hash)
    if row is None or row.user_id != user_id:
        raise NotFound("no such session")
    session.delete(row)
    events.emit(session, "session.ended", actor=actor, user_id=user_id)


def end_other_sessions(session: Session, *, user_id: int, keep: str, actor: str) -> int:
    count = session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.id_hash != keep)
    ).rowcount
    events.emit(session, "session.others_ended", actor=actor, user_id=user_id, count=count or 0)
    return count or 0


# ---- two-factor (TOTP, RFC 6238) and recovery codes ---------------------------------------------------


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def begin_2fa(session: Session, box: Box, user: User) -> str:
    """A new secret (not active until confirmed with a code). Returns it in clear, for the user's app."""
    import pyotp

    if user.totp_enabled_at is not None:
        raise Conflict("two-factor authentication is already on: turn it off first")
    secret = pyotp.random_base32()
    user.totp_secret_enc = box.encrypt(secret)
    return secret


def provisioning_uri(box: Box, user: User, issuer: str = "Slipway") -> str | None:
    import pyotp

    if not user.totp_secret_enc:
        return None
    return pyotp.TOTP(box.decrypt(user.totp_secret_enc)).provisioning_uri(name=user.username, issuer_name=issuer)


def _totp_step(box: Box, user: User, code: str) -> int | None:
    """The time step the code belongs to (±1 step of drift), or None."""
    import pyotp

    code = code.strip().replace(" ", "")
    if not user.totp_secret_enc or not (code.isascii() and code.isdigit()) or len(code) != 6:
        return None
    totp = pyotp.TOTP(box.decrypt(user.totp_secret_enc))
    now = utcnow()
    for drift in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(at), code):
            return int(at.timestamp()) // 30
    return None


def enable_2fa(session: Session, box: Box, user: User, code: str, *, actor: str) -> list[str]:
    """Confirm the set-up with a code from the app; returns recovery codes, shown once."""
    if user.totp_enabled_at is not None:
        raise Conflict("two-factor authentication is already on")
    step = _totp_step(box, user, code)
    if step is None:
        raise Invalid("that code is not right: check the time on your device and try the next one")
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    user.recovery_hashes = [_recovery_hash(c) for c in codes]
    events.emit(session, "user.2fa_enabled", actor=actor, user_id=user.id, username=user.username)
    return codes


def disable_2fa(
    session: Session, box: Box, user: User, *, password: str | None, actor: str, by_admin: bool = False
) -> None:
    if not by_admin and (password is None or not _verify(user, password)):
        raise Forbidden("wrong password")
    user.totp_secret_enc = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_hashes = []
    events.emit(session, "user.2fa_disabled", actor=actor, user_id=user.id, username=user.username)


def check_code(session: Session, box: Box, user: User, code: str) -> str | None:
    """'totp' or 'recovery' when the code is good (each usable once), else None."""
    step = _totp_step(box, user, code)
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return None  # replayed
        user.totp_last_step = step
        return "totp"
    digest = _recovery_hash(code)
    hashes = list(user.recovery_hashes or [])
    for stored in hashes:
        if secrets.compare_digest(stored, digest):
            hashes.remove(stored)
            user.recovery_hashes = hashes
            return "recovery"
    return None


def needs_2fa_setup(session: Session, user_id: int) -> bool:
    """True when a team of the user requires 2FA and the user has not turned it on."""
    from slipway.auth.models import Team

    user = session.get(User, user_id)
    if user is None or user.totp_enabled_at is not None:
        return False
    required = session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(Team, Team.id == Membership.team_id)
        .where(Membership.user_id == user_id, Team.require_2fa.is_(True))
    )
    return bool(required)
