"""API tokens, dashboard users and sessions, and the login rate limit."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipway import events
from slipway.auth.models import ApiToken, LoginAttempt, User, WebSession
from slipway.crypto import new_token, token_hash
from slipway.db import utcnow
from slipway.errors import Conflict, Invalid, NotFound, TooMany

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SESSION_TTL = dt.timedelta(days=7)
LOGIN_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES = 5  # per username and per IP within the window
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)  # don't write on every request


@dataclass(frozen=True)
class Principal:
    """Who is acting: a token or a user. Roles arrive with teams; for now every principal is admin."""

    kind: str  # token | user
    id: int
    name: str
    session: WebSession | None = None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


# ---- tokens ------------------------------------------------------------------------------------


def create_token(session: Session, *, name: str, user_id: int | None = None) -> tuple[str, ApiToken]:
    if not name or len(name) > 64 or not name.isprintable():
        raise Invalid("a token name is 1 to 64 printable characters")
    plain = new_token("slw")
    row = ApiToken(name=name, token_hash=token_hash(plain), prefix=plain[:8], user_id=user_id)
    session.add(row)
    session.flush()
    events.emit(session, "token.created", actor="admin", token=name)
    return plain, row


def authenticate_token(session: Session, plain: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(plain)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return Principal("token", row.id, row.name)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, *, name: str) -> None:
    rows = session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).all()
    if not rows:
        raise NotFound(f"no active token named {name!r}")
    for row in rows:
        row.revoked_at = utcnow()
    events.emit(session, "token.revoked", actor="admin", token=name)


# ---- users and sessions ------------------------------------------------------------------------


def create_user(session: Session, *, username: str, password: str) -> User:
    if not USERNAME.match(username):
        raise Invalid("a username is 1 to 64 letters, digits or . _ @ -")
    if len(password) < 8:
        raise Invalid("a password has at least 8 characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named {username!r} already exists")
    user = User(username=username, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    events.emit(session, "user.created", actor="admin", username=username)
    return user


def set_password(session: Session, *, username: str, password: str) -> None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    if len(password) < 8:
        raise Invalid("a password has at least 8 characters")
    user.password_hash = _hasher.hash(password)
    # a new password ends every session
    for row in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        session.delete(row)


def check_rate(session: Session, *, username: str, ip: str) -> None:
    since = utcnow() - LOGIN_WINDOW
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.ip, ip)):
        failures = session.scalar(select(func.count()).select_from(LoginAttempt)
                                  .where(column == value, LoginAttempt.ok.is_(False), LoginAttempt.ts > since))
        if (failures or 0) >= MAX_FAILURES:
            raise TooMany("too many failed logins: try again in 15 minutes")


def login(session: Session, *, username: str, password: str, ip: str) -> tuple[str, WebSession] | None:
    """Check the password; on success return (cookie value, session row), else None.

    A failure returns instead of raising so the caller commits the failed attempt (the rate limit
    counts it) before answering 401.
    """
    check_rate(session, username=username, ip=ip)
    user = session.scalar(select(User).where(User.username == username))
    ok = False
    if user is not None:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # same work either way, so timing does not reveal which names exist
    session.add(LoginAttempt(username=username[:64], ip=ip[:64], ok=ok))
    events.emit(session, "login.succeeded" if ok else "login.failed", actor=f"user:{username[:64]}", ip=ip)
    if not ok or user is None:
        return None
    cookie = secrets.token_urlsafe(32)
    row = WebSession(id_hash=token_hash(cookie), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                     expires_at=utcnow() + SESSION_TTL)
    session.add(row)
    return cookie, row


def session_principal(session: Session, cookie: str) -> Principal | None:
    row = session.get(WebSession, token_hash(cookie))
    if row is None or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    return Principal("user", user.id, user.username, session=row)


def logout(session: Session, cookie: str) -> None:
    row = session.get(WebSession, token_hash(cookie))
    if row is not None:
        session.delete(row)
