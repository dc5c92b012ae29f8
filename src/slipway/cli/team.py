"""`slipway team …`: teams, members, roles, invitations, projects and the activity log (via the API)."""

from __future__ import annotations

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.command("list")
def list_teams(json_out: bool = JSON) -> None:
    """Your teams and your role in each."""
    data = Client().get("/teams")
    if json_out:
        return emit_json(data)
    table([{**t, "projects": ", ".join(t["projects"])} for t in data],
          [("name", "TEAM"), ("role", "ROLE"), ("require_2fa", "2FA REQUIRED"), ("projects", "PROJECTS")],
          empty="no teams")


@app.command("create")
def create(name: str, json_out: bool = JSON) -> None:
    """Create a team (with a project of the same name); you become its owner."""
    data = Client().post("/teams", json={"name": name})
    return emit_json(data) if json_out else console.print(f"created team {name}")


@app.command("members")
def members(team: str, json_out: bool = JSON) -> None:
    data = Client().get(f"/teams/{team}/members")
    if json_out:
        return emit_json(data)
    table(data, [("username", "USER"), ("role", "ROLE"), ("project", "PROJECT"), ("two_factor", "2FA")],
          empty="no members")


def _put_member(team: str, username: str, role_name: str, project: str | None, json_out: bool) -> None:
    data = Client().request("PUT", f"/teams/{team}/members/{username}",
                            json={"role": role_name, **({"project": project} if project else {})})
    if json_out:
        return emit_json(data)
    if data.get("status") == "invited":
        return console.print(f"invited {username} to {team} as {role_name}: they join when they accept "
                             f"(`slipway team invitations`, then `slipway team accept {data['invitation_id']}`)",
                             markup=False)
    console.print(f"{username} is {role_name} in {team}")


@app.command("role")
def role(team: str, username: str, role_name: str = typer.Argument(..., metavar="ROLE"),
         project: str = typer.Option(None, "--project", help="Only in this project."), json_out: bool = JSON) -> None:
    """Give a member a role: viewer, developer, admin or owner (anyone else is invited: see `team add`)."""
    _put_member(team, username, role_name, project, json_out)


@app.command("add")
def add(team: str, username: str, role_name: str = typer.Option("developer", "--role"),
        project: str = typer.Option(None, "--project", help="Only in this project."), json_out: bool = JSON) -> None:
    """Add a user by name: they get an invitation and join when they accept it (a member: a new role)."""
    _put_member(team, username, role_name, project, json_out)


@app.command("invitations")
def invitations(json_out: bool = JSON) -> None:
    """The invitations addressed to you: teams that added you by name."""
    data = Client().get("/account/invitations")
    if json_out:
        return emit_json(data)
    table(data, [("id", "ID"), ("team", "TEAM"), ("role", "ROLE"), ("project", "PROJECT"), ("created_by", "BY"),
                 ("expires_at", "EXPIRES")], empty="no open invitations")


@app.command("accept")
def accept(invitation_id: int = typer.Argument(..., help="See `slipway team invitations`."),
           json_out: bool = JSON) -> None:
    """Join the team of an invitation addressed to you."""
    data = Client().post(f"/account/invitations/{invitation_id}/accept")
    return emit_json(data) if json_out else console.print(f"you joined team {data['name']}")


@app.command("decline")
def decline(invitation_id: int = typer.Argument(..., help="See `slipway team invitations`."),
            json_out: bool = JSON) -> None:
    """Turn down an invitation addressed to you."""
    Client().post(f"/account/invitations/{invitation_id}/decline")
    return emit_json({"declined": invitation_id}) if json_out else console.print(f"declined invitation {invitation_id}")


@app.command("remove")
def remove(team: str, username: str, json_out: bool = JSON) -> None:
    """Remove a member: their sessions and their tokens for this team end at once."""
    Client().delete(f"/teams/{team}/members/{username}")
    return emit_json({"removed": username}) if json_out else console.print(f"removed {username} from {team}")


@app.command("invite")
def invite(team: str, role_name: str = typer.Option("developer", "--role"),
           project: str = typer.Option(None, "--project"), email: str = typer.Option(None, "--email"),
           hours: float = typer.Option(168, "--hours", help="Valid for this long."), json_out: bool = JSON) -> None:
    """An invitation link (shown once)."""
    body = {"role": role_name, "expires_in_hours": hours, **({"project": project} if project else {}),
            **({"email": email} if email else {})}
    data = Client().post(f"/teams/{team}/invitations", json=body)
    return emit_json(data) if json_out else console.print(data["url"], markup=False)


@app.command("projects")
def projects(team: str, create: str = typer.Option(None, "--create", help="Create this project."),
             json_out: bool = JSON) -> None:
    client = Client()
    if create:
        client.post(f"/teams/{team}/projects", json={"name": create})
    data = client.get(f"/teams/{team}/projects")
    if json_out:
        return emit_json(data)
    table(data, [("name", "PROJECT"), ("team", "TEAM")], empty="no projects")


@app.command("activity")
def activity(team: str = typer.Argument("default"), app_name: str = typer.Option(None, "--app"),
             user: str = typer.Option(None, "--user"), action: str = typer.Option(None, "--action"),
             since: str = typer.Option(None, "--since", help="ISO time or a duration ago: 2h, 7d."),
             limit: int = typer.Option(50, "--limit"), csv: bool = typer.Option(False, "--csv"),
             json_out: bool = JSON) -> None:
    """The audit trail of a team (or of one app with --app)."""
    path = f"/apps/{app_name}/activity" if app_name else f"/teams/{team}/activity"
    params = {k: v for k, v in {"user": user, "action": action, "since": since, "limit": limit,
                                "format": "csv" if csv else "json"}.items() if v is not None}
    data = Client().get(path, params=params)
    if csv:
        return console.print(data, markup=False, end="")
    if json_out:
        return emit_json(data)
    table([{**r, "resource": f"{r['resource_type'] or ''}:{r['resource_name'] or ''}"} for r in data],
          [("ts", "WHEN"), ("actor", "WHO"), ("ip", "IP"), ("action", "ACTION"), ("resource", "RESOURCE")],
          empty="no activity")
