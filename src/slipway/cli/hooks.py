"""hooks show | rotate | set | deliveries | delivery | replay: an app's webhook and its delivery log."""

from __future__ import annotations

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fields, short, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _show(data: dict) -> None:  # type: ignore[type-arg]
    for provider, url in data["urls"].items():
        console.print(f"[bold]{provider:<10}[/bold] {url}")
    fields(data, [("secret", "secret"), ("branch_filter", "branches"), ("deploy_tags", "tags deploy"),
                  ("deploy_window", "window")])
    if not data.get("secret"):
        console.print("[dim]secret hidden: --reveal shows it[/dim]")


@app.command("show")
def show(name: str, reveal: bool = typer.Option(False, "--reveal", help="Print the secret in clear."),
         json_out: bool = JSON) -> None:
    """Payload URL per provider, the secret (with --reveal) and what a push deploys."""
    data = Client().get(f"/apps/{name}/hook", params={"reveal": reveal})
    emit_json(data) if json_out else _show(data)


@app.command("rotate")
def rotate(name: str, json_out: bool = JSON) -> None:
    """Make a new secret; the old one is refused from now on (paste the new one at your forge)."""
    data = Client().post(f"/apps/{name}/hook/rotate")
    emit_json(data) if json_out else _show(data)


@app.command("set")
def configure(name: str,
              branches: str = typer.Option(None, "--branches", help="Names or globs, comma-separated; '' resets."),
              tags: bool = typer.Option(None, "--tags/--no-tags", help="Whether tag pushes deploy."),
              window: str = typer.Option(None, "--window",
                                         help="e.g. 'Mon-Fri 09:00-17:00 Europe/Lisbon'; '' removes."),
              json_out: bool = JSON) -> None:
    """Change which pushes deploy the app."""
    body = {k: v for k, v in {"branch_filter": branches, "deploy_tags": tags, "deploy_window": window}.items()
            if v is not None}
    data = Client().patch(f"/apps/{name}/hook", json=body)
    emit_json(data) if json_out else _show(data)


@app.command("deliveries")
def deliveries(name: str, limit: int = typer.Option(50, "--limit", "-n"), json_out: bool = JSON) -> None:
    """The delivery log, newest first."""
    data = Client().get(f"/apps/{name}/deliveries", params={"limit": limit})
    if json_out:
        return emit_json(data)
    for row in data:
        row["sha"] = short(row["commit"])
        row["when"] = row["received_at"][:19].replace("T", " ")
        row["signed"] = "yes" if row["verified"] else "NO"
        row["deploy"] = f"#{row['deploy_id']}" if row["deploy_id"] else ""
    table(data, [("id", "ID"), ("when", "RECEIVED"), ("provider", "PROVIDER"), ("event", "EVENT"),
                 ("signed", "SIGNED"), ("outcome", "OUTCOME"), ("ref", "REF"), ("sha", "COMMIT"),
                 ("deploy", "DEPLOY"), ("reason", "REASON")], empty=f"no webhook deliveries for {name} yet")


@app.command("delivery")
def delivery(name: str, delivery_id: int, json_out: bool = JSON) -> None:
    """One delivery with its headers (secrets removed) and body (while kept)."""
    data = Client().get(f"/apps/{name}/deliveries/{delivery_id}")
    if json_out:
        return emit_json(data)
    fields(data, [(k, k) for k in ("id", "provider", "event", "delivery_id", "verified", "outcome", "reason",
                                   "ref", "commit", "deploy_id", "received_at")])
    console.print(data.get("body") or "[dim](body no longer kept)[/dim]", markup=False, highlight=False)


@app.command("replay")
def replay(name: str, delivery_id: int, json_out: bool = JSON) -> None:
    """Queue the commit of a past delivery again."""
    data = Client().post(f"/apps/{name}/deliveries/{delivery_id}/replay")
    if json_out:
        return emit_json(data)
    console.print(f"queued deploy #{data['id']} of {name} at {short(data['commit'])}")


@app.command("forge")
def forge(name: str,
          provider: str = typer.Option(None, "--provider", help="github | gitlab | gitea"),
          token: str = typer.Option(None, "--token", envvar="SLIPWAY_FORGE_TOKEN",
                                    help="API token for commit statuses and PR comments (or $SLIPWAY_FORGE_TOKEN)."),
          api_url: str = typer.Option(None, "--api-url", help="GitHub Enterprise / self-hosted GitLab / Gitea API."),
          repo: str = typer.Option(None, "--repo", help="owner/name or GitLab project id (default: from webhooks)."),
          comments: bool = typer.Option(None, "--comments/--no-comments", help="One PR comment with the preview URL."),
          remove: bool = typer.Option(False, "--remove", help="Stop reporting to the forge."),
          json_out: bool = JSON) -> None:
    """Report deploy statuses (and preview URLs) back to the forge."""
    client = Client()
    if remove:
        client.delete(f"/apps/{name}/forge")
        return emit_json({"removed": True}) if json_out else console.print(f"{name}: no longer reporting to a forge")
    body = {k: v for k, v in {"provider": provider, "token": token, "api_url": api_url, "repo": repo,
                              "comments": comments}.items() if v is not None}
    data = client.request("PUT", f"/apps/{name}/forge", json=body) if body else client.get(f"/apps/{name}/forge")
    if json_out:
        return emit_json(data)
    fields(data, [("provider", "provider"), ("api_url", "API"), ("token", "token"), ("repo", "repository"),
                  ("comments", "PR comments")])
