"""`slipway`: the command line. Everything but server/worker/admin is an HTTP client of the API."""

from __future__ import annotations

import sys

import typer

from slipway.cli import admin, apps, deploys, env, hooks, host, notify, previews, team
from slipway.cli.client import ApiError
from slipway.cli.output import fail
from slipway.errors import SlipwayError

app = typer.Typer(help="Slipway: deploy web apps from git onto your own servers.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.add_typer(apps.app, name="apps", help="Create, list, show and delete apps.")
app.add_typer(env.app, name="env", help="Env vars of an app (encrypted at rest, masked on output).")
app.add_typer(hooks.app, name="hooks", help="An app's webhook (URL, secret, filters) and its delivery log.")
app.add_typer(team.app, name="team", help="Teams: members, roles, invitations, projects, activity.")
app.add_typer(admin.app, name="admin", help="Host-side administration (runs on the server, opens the DB).")
deploys.register(app)
host.register(app)
notify.register(app)
previews.register(app)

def main() -> None:
    try:
        app()
    except (ApiError, SlipwayError) as exc:  # host-side commands (admin …) call services directly
        fail(exc.message, exc.detail)
        sys.exit(1)


if __name__ == "__main__":
    main()
