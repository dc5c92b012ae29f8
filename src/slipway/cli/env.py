from __future__ import annotations

import typer

from slipway.cli.client import Client
from slipway.cli.follow import follow, succeeded
from slipway.cli.output import console, emit_json, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _pairs(assignments: list[str]) -> dict[str, str]:
    values = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        values[key] = value
    return values


@app.command("set")
def set_vars(name: str, assignments: list[str] = typer.Argument(..., metavar="KEY=VALUE..."),
             no_deploy: bool = typer.Option(False, "--no-deploy", help="Store only; apply at the next deploy."),
             json_out: bool = JSON) -> None:
    """Set env vars; a running app gets a new release and a zero-downtime restart."""
    data = Client().patch(f"/apps/{name}/env", json={"set": _pairs(assignments), "deploy": not no_deploy})
    _done(name, data, json_out)


@app.command("unset")
def unset_vars(name: str, keys: list[str] = typer.Argument(..., metavar="KEY..."),
               no_deploy: bool = typer.Option(False, "--no-deploy"), json_out: bool = JSON) -> None:
    """Remove env vars."""
    data = Client().patch(f"/apps/{name}/env", json={"unset": keys, "deploy": not no_deploy})
    _done(name, data, json_out)


@app.command("list")
def list_vars(name: str, reveal: bool = typer.Option(False, "--reveal", help="Show values in clear."),
              json_out: bool = JSON) -> None:
    """List env vars (values masked unless --reveal)."""
    data = Client().get(f"/apps/{name}/env", params={"reveal": reveal})
    if json_out:
        return emit_json(data)
    table([{"key": k, "value": v} for k, v in data["env"].items()], [("key", "KEY"), ("value", "VALUE")],
          empty=f"{name} has no env vars")


def _done(name: str, data: dict, json_out: bool) -> None:  # type: ignore[type-arg]
    if json_out:
        return emit_json(data)
    console.print(f"{name}: {len(data['env'])} env vars")
    if data.get("deploy_id"):
        raise typer.Exit(0 if succeeded(follow(name, data["deploy_id"])) else 1)
