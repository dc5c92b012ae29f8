"""previews APP (list) and preview delete | settings | env: pull request previews of an app."""

from __future__ import annotations

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fields, short, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def list_previews(name: str, all_: bool = typer.Option(False, "--all", help="Include removed previews."),
                  json_out: bool = JSON) -> None:
    """The app's pull request previews: URL, state, commit."""
    data = Client().get(f"/apps/{name}/previews", params={"all": all_})
    if json_out:
        return emit_json(data)
    for row in data:
        row["pr"] = f"#{row['number']}"
        row["sha"] = short(row["head_commit"])
        row["from"] = "fork" if row["fork"] else ""
    table(data, [("pr", "PR"), ("state", "STATE"), ("status", "STATUS"), ("url", "URL"), ("sha", "COMMIT"),
                 ("from", "FROM"), ("title", "TITLE"), ("reason", "REASON")],
          empty=f"no previews of {name}: open a pull request (webhook events: pull requests)")


@app.command("delete")
def delete(name: str, number: int, json_out: bool = JSON) -> None:
    """Remove a preview now (routes, instances, releases, artifacts)."""
    data = Client().delete(f"/apps/{name}/previews/{number}")
    if json_out:
        return emit_json(data)
    console.print(f"removing the preview of #{number} ({data['app']})")


def _show(data: dict) -> None:  # type: ignore[type-arg]
    fields({**data, "shared_keys": ", ".join(data["shared_keys"]) or "(none)",
            "fork_safe_keys": ", ".join(data["fork_safe_keys"]) or "(none)",
            "max": f"{data['effective_max_previews']}" + ("" if data["max_previews"] is not None else " (default)")},
           [("enabled", "enabled"), ("forks", "pull requests from forks"), ("shared_keys", "shared from production"),
            ("fork_safe_keys", "given to forks"),
            ("max", "open previews at most"), ("ttl_days", "removed after idle days")])
    for key, value in data["overrides"].items():
        console.print(f"  [bold]{key}[/bold]={value}", highlight=False)


def _keys(value: str | None) -> list[str] | None:
    return None if value is None else [k.strip() for k in value.split(",") if k.strip()]


@app.command("settings")
def settings(name: str,
             enabled: bool = typer.Option(None, "--enable/--disable", help="Previews on or off for this app."),
             share: str = typer.Option(None, "--share", help="Production env vars previews get, comma-separated "
                                       "('' for none). Secrets stay out unless listed here."),
             forks: bool = typer.Option(None, "--forks/--no-forks", help="Previews of pull requests from forks "
                                        "(off by default; they never get production's env vars)."),
             fork_safe: str = typer.Option(None, "--fork-safe", help="Preview overrides that forks get ('' none)."),
             max_previews: int = typer.Option(None, "--max", help="Open previews at most (-1: the default)."),
             json_out: bool = JSON) -> None:
    """Show or change what previews get."""
    body: dict[str, object] = {k: v for k, v in {"enabled": enabled, "forks": forks, "shared_keys": _keys(share),
                                                  "fork_safe_keys": _keys(fork_safe)}.items() if v is not None}
    if max_previews is not None:
        body.update({"reset_max_previews": True} if max_previews < 0 else {"max_previews": max_previews})
    client = Client()
    data = client.patch(f"/apps/{name}/preview-settings", json=body) if body else \
        client.get(f"/apps/{name}/preview-settings")
    emit_json(data) if json_out else _show(data)


@app.command("env")
def env(name: str, assignments: list[str] = typer.Argument(None, help="KEY=VALUE preview overrides to set."),
        unset: list[str] = typer.Option(None, "--unset", help="Override to remove (repeatable)."),
        reveal: bool = typer.Option(False, "--reveal", help="Print values in clear."), json_out: bool = JSON) -> None:
    """Preview overrides (e.g. a DATABASE_URL of a throw-away database); they apply at the next preview deploy."""
    values = {}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        values[key] = value
    client = Client()
    if values or unset:
        client.patch(f"/apps/{name}/preview-settings", json={"set": values, "unset": list(unset or [])})
    data = client.get(f"/apps/{name}/preview-settings", params={"reveal": reveal})
    if json_out:
        return emit_json(data["overrides"])
    for key, value in data["overrides"].items():
        console.print(f"{key}={value}", markup=False, highlight=False)


def register(root: typer.Typer) -> None:
    root.command("previews", help="Pull request previews of an app.")(list_previews)
    root.add_typer(app, name="preview", help="Remove a preview; what previews get (settings, env overrides).")
