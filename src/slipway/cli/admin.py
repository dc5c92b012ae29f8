"""Host-side administration: these commands open the database directly."""

from __future__ import annotations

import sys

import typer

from slipway.cli.output import console, emit_json, table
from slipway.config import Settings

app = typer.Typer(no_args_is_help=True)
user_app = typer.Typer(no_args_is_help=True, help="Dashboard users.")
app.add_typer(user_app, name="user")
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _sessions():  # type: ignore[no-untyped-def]
    from slipway.db import make_engine, migrate, session_factory

    engine = make_engine(Settings().db_url)
    migrate(engine)
    return session_factory(engine)


@app.command("token")
def token(name: str = typer.Option(..., "--name", help="What the token is for."), json_out: bool = JSON) -> None:
    """Create an API token (printed once, stored hashed)."""
    from slipway.auth import service
    from slipway.db import transaction

    with transaction(_sessions()) as session:
        plain, row = service.create_token(session, name=name)
    if json_out:
        return emit_json({"name": row.name, "token": plain})
    console.print(plain, markup=False)


@app.command("tokens")
def tokens(json_out: bool = JSON) -> None:
    """List API tokens (never their values)."""
    from slipway.auth import service

    with _sessions()() as session:
        rows = [{"name": t.name, "prefix": t.prefix + "…", "created_at": t.created_at,
                 "last_used_at": t.last_used_at, "revoked": t.revoked_at is not None}
                for t in service.list_tokens(session)]
    if json_out:
        return emit_json(rows)
    table(rows, [("name", "NAME"), ("prefix", "PREFIX"), ("created_at", "CREATED"),
                 ("last_used_at", "LAST USED"), ("revoked", "REVOKED")], empty="no tokens")


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


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)  # type: ignore[no-any-return]


@user_app.command("create")
def user_create(username: str,
                password_stdin: bool = typer.Option(False, "--password-stdin", help="Read it from stdin."),
                json_out: bool = JSON) -> None:
    """Create a dashboard user."""
    from slipway.auth import service
    from slipway.db import transaction

    password = _password(password_stdin)
    with transaction(_sessions()) as session:
        service.create_user(session, username=username, password=password)
    if json_out:
        return emit_json({"created": username})
    console.print(f"created user {username}")


@user_app.command("password")
def user_password(username: str, password_stdin: bool = typer.Option(False, "--password-stdin"),
                  json_out: bool = JSON) -> None:
    """Set a user's password (ends their sessions)."""
    from slipway.auth import service
    from slipway.db import transaction

    password = _password(password_stdin)
    with transaction(_sessions()) as session:
        service.set_password(session, username=username, password=password)
    if json_out:
        return emit_json({"updated": username})
    console.print(f"password of {username} changed")
