"""`slipway`: the command line. Everything but server/worker/admin is an HTTP client of the API.

Start-up matters (every command pays it): importing this module loads Typer and the CLI's own modules
only. httpx, Rich and the server's packages (FastAPI, SQLAlchemy, pydantic-settings…) are imported by the
command that uses them; tests/unit/cli/test_startup.py fails when a client command loads a heavy one."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from slipway import __version__
from slipway.cli import (
    admin,
    apps,
    cron,
    deploys,
    domains,
    env,
    gitgateway,
    hooks,
    host,
    notify,
    previews,
    sshkeys,
    team,
)
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
app.add_typer(sshkeys.app, name="ssh-keys", help="SSH keys that may `git push` to your apps.")
app.add_typer(cron.app, name="cron", help="Scheduled jobs of an app: add, list, runs, run, pause, resume, remove.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"slipway {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """Slipway: deploy web apps from git onto your own servers."""


deploys.register(app)
domains.register(app)
host.register(app)
notify.register(app)
previews.register(app)

@app.command("git-serve", hidden=True)
def git_serve(key: int = typer.Option(..., "--key"), url: str = typer.Option(..., "--url"),
              secret_file: Path = typer.Option(..., "--secret-file")) -> None:
    """What sshd runs for a registered key (written into authorized_keys by Slipway)."""
    raise typer.Exit(gitgateway.serve(key, url, secret_file))


@app.command("git-hook", hidden=True)
def git_hook() -> None:
    """The proc-receive hook of an app's repository (run by `git receive-pack`)."""
    raise typer.Exit(gitgateway.hook(sys.stdin.buffer, sys.stdout.buffer))


def main() -> None:
    try:
        app()
    except (ApiError, SlipwayError) as exc:  # host-side commands (admin …) call services directly
        fail(exc.message, exc.detail)
        sys.exit(1)


if __name__ == "__main__":
    main()
