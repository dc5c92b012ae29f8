from __future__ import annotations

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fields, short, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.command("create")
def create(name: str, git: str = typer.Option(..., "--git", help="git URL, file:// URL or local path"),
           branch: str = typer.Option("main", "--branch"), json_out: bool = JSON) -> None:
    """Create an app from a git repository."""
    data = Client().post("/apps", json={"name": name, "git_url": git, "branch": branch})
    if json_out:
        return emit_json(data)
    console.print(f"created [bold]{data['name']}[/bold] → {data['url']}  (deploy it with `slipway deploy {name}`)",
                  highlight=False)


@app.command("list")
def list_apps(json_out: bool = JSON) -> None:
    """List apps with their status."""
    data = Client().get("/apps")
    if json_out:
        return emit_json(data)
    for row in data:
        row["release"] = f"v{row['live_release']}" if row["live_release"] else ""
    table(data, [("name", "NAME"), ("status", "STATUS"), ("release", "RELEASE"), ("url", "URL")],
          empty="no apps yet: `slipway apps create NAME --git URL`")


@app.command("show")
def show(name: str, json_out: bool = JSON) -> None:
    """Show one app: source, live release, instances, env var names."""
    data = Client().get(f"/apps/{name}")
    if json_out:
        return emit_json(data)
    data["release"] = f"v{data['live_release']} ({short(data['live_commit'])})" if data["live_release"] else "none"
    data["env"] = ", ".join(data["env_keys"]) or "none"
    data["instances_n"] = len(data["instances"])
    fields(data, [("name", "name"), ("status", "status"), ("url", "url"), ("git_url", "git"),
                  ("branch", "branch"), ("release", "release"), ("instances_n", "instances"), ("env", "env")])


@app.command("update")
def update(name: str, git: str = typer.Option(None, "--git", help="New git URL."),
           branch: str = typer.Option(None, "--branch", help="New branch."), json_out: bool = JSON) -> None:
    """Change an app's git source (applies at the next deploy)."""
    body = {k: v for k, v in {"git_url": git, "branch": branch}.items() if v is not None}
    if not body:
        raise typer.BadParameter("give --git and/or --branch")
    data = Client().patch(f"/apps/{name}", json=body)
    if json_out:
        return emit_json(data)
    console.print(f"{name}: {data['git_url']} ({data['branch']})", markup=False)


@app.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
           json_out: bool = JSON) -> None:
    """Delete an app: stop its instances, remove its routes, releases and env vars."""
    if not yes and not typer.confirm(f"Delete {name} and everything it runs?"):
        raise typer.Exit(1)
    Client().delete(f"/apps/{name}")
    if json_out:
        return emit_json({"deleted": name})
    console.print(f"deleted {name}")
