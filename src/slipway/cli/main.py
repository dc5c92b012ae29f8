"""`slipway`: the command line. Everything but server/worker/admin is an HTTP client of the API."""

from __future__ import annotations

import sys

import typer

from slipway.cli import admin, apps, deploys, env, host
from slipway.cli.client import ApiError
from slipway.cli.output import errors
from slipway.errors import SlipwayError

app = typer.Typer(help="Slipway: deploy web apps from git onto your own servers.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.add_typer(apps.app, name="apps", help="Create, list, show and delete apps.")
app.add_typer(env.app, name="env", help="Env vars of an app (encrypted at rest, masked on output).")
app.add_typer(admin.app, name="admin", help="Host-side administration (runs on the server, opens the DB).")
deploys.register(app)
host.register(app)

def main() -> None:
    try:
        app()
    except ApiError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        if exc.detail:
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            errors.print(detail)
        sys.exit(1)
    except SlipwayError as exc:  # host-side commands (admin …) call services directly
        errors.print(f"[red]error:[/red] {exc.message}")
        if exc.detail:
            errors.print(str(exc.detail))
        sys.exit(1)


if __name__ == "__main__":
    main()
