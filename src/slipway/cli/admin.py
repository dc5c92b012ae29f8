"""Host-side administration: these commands open the server's database directly.

They need the server's environment (SLIPWAY_HOME, SLIPWAY_DATABASE_URL, SLIPWAY_SECRET_KEY…). Run without
it, they say which home they looked in and how to point them at the server's; they never create a
database (nor a home, nor a secret key) of their own."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import console, emit_json, table
from slipway.errors import SlipwayError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from slipway.config import Settings

app = typer.Typer(no_args_is_help=True)
user_app = typer.Typer(no_args_is_help=True, help="Dashboard users.")
app.add_typer(user_app, name="user")
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")

HOW = ("`slipway admin` opens the server's database: run it with the server's SLIPWAY_* environment "
       "(SLIPWAY_HOME, and SLIPWAY_DATABASE_URL / SLIPWAY_SECRET_KEY if the server sets them), "
       "e.g. SLIPWAY_HOME=/var/lib/slipway slipway admin tokens")


class NoServer(SlipwayError):
    """The environment points at no server's database."""


def _where(settings: Settings) -> str:
    if "SLIPWAY_HOME" in os.environ:
        return f"{settings.home} (SLIPWAY_HOME)"
    return f"{settings.home} (the default home: SLIPWAY_HOME is not set)"


def _sessions(settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions on the server's database, brought to the current schema; NoServer if there is none."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from slipway.config import Settings
    from slipway.db import make_engine, migrate, session_factory

    settings = settings or Settings()
    url = make_url(settings.db_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        # SQLite creates a missing file on connect: look before opening it
        path = Path(url.database or "")
        if not url.database or url.database == ":memory:" or not path.is_file():
            where = f"in {_where(settings)}" if not settings.database_url else f"at {path} (SLIPWAY_DATABASE_URL)"
            raise NoServer(f"no Slipway database {where}", HOW)
        shown = str(path)
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as connection:
            initialised = inspect(connection).has_table("alembic_version")
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise NoServer(f"cannot open the database {shown}: {reason}", HOW) from exc
    if not initialised:  # an empty database: no server ever ran on it
        engine.dispose()
        raise NoServer(f"{shown} is not a Slipway server's database: it has no Slipway tables", HOW)
    migrate(engine)
    return session_factory(engine)


def _settings() -> Settings:
    from slipway.config import Settings

    return Settings()


@app.command("token")
def token(name: str = typer.Option(..., "--name", help="What the token is for."),
          scope: str = typer.Option("admin", "--scope", help="read, deploy or admin."),
          team: str = typer.Option(None, "--team", help="Team it acts in, as an owner (default: 'default')."),
          user: str = typer.Option(None, "--user", help="Act as this user (their role in the team) instead."),
          expires_days: float = typer.Option(None, "--expires-days", min=0.01, help="Expire after this many days."),
          json_out: bool = JSON) -> None:
    """Create an API token (printed once, stored hashed). Default: admin scope, owner of the default team."""
    from slipway.auth import service, teams
    from slipway.db import transaction, utcnow

    with transaction(_sessions()) as session:
        team_id = teams.get_team(session, team).id if team else None
        user_id = service.user_by_name(session, user).id if user else None
        expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
        plain, row = service.create_token(session, name=name, scope=scope, team_id=team_id, user_id=user_id,
                                          expires_at=expires)
    if json_out:
        return emit_json({"name": row.name, "token": plain, "scope": row.scope})
    console.print(plain, markup=False)


@app.command("tokens")
def tokens(json_out: bool = JSON) -> None:
    """List API tokens (never their values)."""
    from slipway.auth import service
    from slipway.auth.models import Team, User

    with _sessions()() as session:
        rows = []
        for t in service.list_tokens(session):
            team = session.get(Team, t.team_id) if t.team_id else None
            user = session.get(User, t.user_id) if t.user_id else None
            rows.append({"name": t.name, "prefix": t.prefix + "…", "scope": t.scope,
                         "team": team.name if team else None, "user": user.username if user else None,
                         "created_at": t.created_at, "expires_at": t.expires_at, "last_used_at": t.last_used_at,
                         "revoked": t.revoked_at is not None})
    if json_out:
        return emit_json(rows)
    table(rows, [("name", "NAME"), ("prefix", "PREFIX"), ("scope", "SCOPE"), ("team", "TEAM"), ("user", "USER"),
                 ("created_at", "CREATED"), ("expires_at", "EXPIRES"), ("last_used_at", "LAST USED"),
                 ("revoked", "REVOKED")], empty="no tokens")


@app.command("revoke-token")
def revoke_token(name: str = typer.Option(..., "--name"), json_out: bool = JSON) -> None:
    """Revoke every active token with this name."""
    from slipway.auth import service
    from slipway.db import transaction

    with transaction(_sessions()) as session:
        service.revoke_token(session, name=name)
    if json_out:
        return emit_json({"revoked": name})
    console.print(f"revoked {name}")


@app.command("rotate-key")
def rotate_key(json_out: bool = JSON) -> None:
    """Re-encrypt every secret at rest under SLIPWAY_SECRET_KEY, reading old values with the keys in
    SLIPWAY_OLD_SECRET_KEYS. Servers keep running; safe to run again if interrupted."""
    from slipway.auth import keys
    from slipway.crypto import Box

    settings = _settings()
    sessions = _sessions(settings)  # first: resolving the key would create one in a home with no server
    if not settings.resolved_old_keys():
        console.print("note: SLIPWAY_OLD_SECRET_KEYS is empty: values are rewritten under the same key")
    box = Box(settings.resolved_secret_key(), *settings.resolved_old_keys())
    counts = keys.rotate(sessions, box)
    if json_out:
        return emit_json({"rotated": counts})
    for label, count in counts.items():
        console.print(f"{label}: {count} re-encrypted")
    console.print("done: every process may now drop SLIPWAY_OLD_SECRET_KEYS")


@app.command("prune-audit")
def prune_audit(json_out: bool = JSON) -> None:
    """Delete audit records older than SLIPWAY_AUDIT_RETENTION_DAYS (servers do it hourly anyway)."""
    from slipway.audit import service as audit_service
    from slipway.db import transaction

    settings = _settings()
    with transaction(_sessions(settings)) as session:
        count = audit_service.prune(session, retention_days=settings.audit_retention_days)
    if json_out:
        return emit_json({"pruned": count})
    console.print(f"pruned {count} audit records")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)  # type: ignore[no-any-return]


@user_app.command("create")
def user_create(username: str,
                password_stdin: bool = typer.Option(False, "--password-stdin", help="Read it from stdin."),
                role: str = typer.Option("owner", "--role", help="Role in --team: viewer, developer, admin, owner."),
                team: str = typer.Option("default", "--team"),
                json_out: bool = JSON) -> None:
    """Create a dashboard user (by default an owner of the default team)."""
    from slipway.auth import service, teams
    from slipway.db import transaction

    sessions = _sessions()  # before asking for a password that would go nowhere
    password = _password(password_stdin)
    with transaction(sessions) as session:
        user = service.create_user(session, username=username, password=password, role=None)
        teams.set_member(session, team=teams.get_team(session, team), user=user, role=role, actor="admin")
    if json_out:
        return emit_json({"created": username, "team": team, "role": role})
    console.print(f"created user {username} ({role} of {team})")


@user_app.command("password")
def user_password(username: str, password_stdin: bool = typer.Option(False, "--password-stdin"),
                  json_out: bool = JSON) -> None:
    """Set a user's password (ends their sessions)."""
    from slipway.auth import service
    from slipway.db import transaction

    sessions = _sessions()  # before asking for a password that would go nowhere
    password = _password(password_stdin)
    with transaction(sessions) as session:
        service.set_password(session, username=username, password=password)
    if json_out:
        return emit_json({"updated": username})
    console.print(f"password of {username} changed")


@user_app.command("disable-2fa")
def user_disable_2fa(username: str, json_out: bool = JSON) -> None:
    """Turn two-factor off for a user who lost their device and recovery codes (ends their sessions)."""
    from slipway.auth import service
    from slipway.crypto import Box
    from slipway.db import transaction

    settings = _settings()
    with transaction(_sessions(settings)) as session:
        user = service.user_by_name(session, username)
        service.disable_2fa(session, Box(settings.resolved_secret_key(), *settings.resolved_old_keys()), user,
                            password=None, actor="admin", by_admin=True)
        service.end_sessions_and_tokens(session, user.id)
    if json_out:
        return emit_json({"updated": username})
    console.print(f"two-factor authentication of {username} turned off")
