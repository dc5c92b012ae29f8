"""deploy, rollback, restart/stop/start, releases, ps, logs."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from slipway.cli.client import ApiError, Client, decode
from slipway.cli.follow import UNTIL, follow, succeeded
from slipway.cli.output import console, emit_json, fields, short, table

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
DETACH = typer.Option(False, "--detach", "--no-follow",
                      help="Return as soon as it is queued (prints its id) instead of following it.")


def _until(value: str) -> str:
    if value not in UNTIL:
        raise typer.BadParameter(f"expected one of {', '.join(UNTIL)}, got {value!r}")
    return value


UNTIL_OPTION = typer.Option("stable", "--until", metavar="live|stable", callback=_until,
                            help="Return once the release serves (live), or after the crash watch (stable).")


def _run(name: str, path: str, body: dict | None, detach: bool, json_out: bool,  # type: ignore[type-arg]
         until: str = "stable") -> None:
    client = Client()
    deploy = client.post(f"/apps/{name}{path}", json=body)
    if json_out:
        if not detach:
            deploy = follow(name, deploy["id"], quiet=True, until=until)
        emit_json(deploy)
        raise typer.Exit(0 if detach or succeeded(deploy, until) else 1)
    if detach:
        console.print(f"queued {deploy['kind']} #{deploy['id']} of {name}", markup=False, highlight=False)
        return
    raise typer.Exit(0 if succeeded(follow(name, deploy["id"], until=until), until) else 1)


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy(name: str, commit: str = typer.Option(None, "--commit", help="Deploy this commit."),
               image: str = typer.Option(None, "--image", help="docker: run this prebuilt image, no build "
                                         "(the app keeps it until --image '' returns to git)."),
               detach: bool = DETACH, until: str = UNTIL_OPTION, json_out: bool = JSON,
               at: str = typer.Option(None, "--at", help="Run later, at 'YYYY-MM-DD HH:MM' (see --tz)."),
               tz: str = typer.Option(None, "--tz", help="Time zone of --at, e.g. Europe/Lisbon (default UTC).")
               ) -> None:
        """Build the branch head (or --commit) and bring it live with zero downtime."""
        if at is None and tz is not None:
            raise typer.BadParameter("--tz goes with --at")
        if image is not None:
            Client().patch(f"/apps/{name}", json={"image": image})
        if at is not None:
            scheduled = Client().post(f"/apps/{name}/deploys", json={"commit": commit, "at": at, "tz": tz})
            if json_out:
                return emit_json(scheduled)
            console.print(f"scheduled deploy #{scheduled['id']} of {name} for {_when(scheduled['run_at'])} UTC"
                          f" (cancel: slipway cancel {name} {scheduled['id']})")
            return
        _run(name, "/deploys", {"commit": commit} if commit else None, detach, json_out, until)

    @app.command("cancel")
    def cancel(name: str, deploy_id: int, json_out: bool = JSON) -> None:
        """Cancel a scheduled (or still queued) deploy: it will never run."""
        data = Client().post(f"/apps/{name}/deploys/{deploy_id}/cancel")
        if json_out:
            return emit_json(data)
        console.print(f"cancelled deploy #{data['id']} of {name}")

    @app.command("deploys")
    def deploys(name: str, deploy_id: int = typer.Argument(None, metavar="DEPLOY",
                                                        help="Show this deploy: its reason and log tail."),
                scheduled: bool = typer.Option(False, "--scheduled", help="Only scheduled deploys."),
                limit: int = typer.Option(20, "--limit", "-n"), json_out: bool = JSON) -> None:
        """List deploys, newest first (one line of reason each); with a DEPLOY id, show that one whole."""
        if deploy_id is not None:
            return _show_deploy(name, deploy_id, json_out)
        params: dict = {"limit": limit}  # type: ignore[type-arg]
        if scheduled:
            params["status"] = "scheduled"
        data = Client().get(f"/apps/{name}/deploys", params=params)
        if json_out:
            return emit_json(data)
        for row in data:
            row["sha"] = short(row["commit"])
            row["when"] = _when(row["run_at"] or row["created_at"])
        table(data, [("id", "DEPLOY"), ("kind", "KIND"), ("status", "STATUS"), ("sha", "COMMIT"),
                     ("when", "AT (UTC)"), ("reason", "REASON")],
              empty=f"{name} has no {'scheduled ' if scheduled else ''}deploys")

    @app.command("rollback")
    def rollback(name: str, to: int = typer.Option(None, "--to", help="Release version (default: previous)."),
                 detach: bool = DETACH, until: str = UNTIL_OPTION, json_out: bool = JSON) -> None:
        """Run an earlier release again (no rebuild)."""
        _run(name, "/rollback", {"version": to} if to else None, detach, json_out, until)

    @app.command("restart")
    def restart(name: str, detach: bool = DETACH, json_out: bool = JSON) -> None:
        """Replace every instance with a fresh one, with zero downtime."""
        _run(name, "/restart", None, detach, json_out)

    @app.command("stop")
    def stop(name: str, detach: bool = DETACH, json_out: bool = JSON) -> None:
        """Stop every instance (the app answers 503 until started)."""
        _run(name, "/stop", None, detach, json_out)

    @app.command("start")
    def start(name: str, detach: bool = DETACH, json_out: bool = JSON) -> None:
        """Start a stopped app on its live release."""
        _run(name, "/start", None, detach, json_out)

    @app.command("scale")
    def scale(name: str, counts: list[str] = typer.Argument(..., metavar="TYPE=COUNT..."),
              detach: bool = DETACH, json_out: bool = JSON) -> None:
        """Set instances per process type (e.g. web=2 worker=1); a running app restarts on it."""
        processes = {}
        for item in counts:
            key, sep, value = item.partition("=")
            if not sep or not value.isdigit():
                raise typer.BadParameter(f"expected TYPE=COUNT, got {item!r}")
            processes[key] = int(value)
        data = Client().request("PUT", f"/apps/{name}/scale", json={"processes": processes})
        if json_out:
            ok = True
            if data.get("deploy_id") and not detach:
                ok = succeeded(follow(name, data["deploy_id"], quiet=True))
            emit_json(data)
            raise typer.Exit(0 if ok else 1)
        console.print(", ".join(f"{k}={v}" for k, v in data["scale"].items()), markup=False)
        if data.get("deploy_id") and not detach:
            raise typer.Exit(0 if succeeded(follow(name, data["deploy_id"])) else 1)

    @app.command("releases")
    def releases(name: str, json_out: bool = JSON) -> None:
        """List releases, newest first."""
        data = Client().get(f"/apps/{name}/releases")
        if json_out:
            return emit_json(data)
        for row in data:
            row["v"] = f"v{row['version']}" + (" (live)" if row["live"] else "")
            row["sha"] = short(row["commit"])
            row["when"] = _when(row["created_at"])
            row["note"] = row["description"] + (" (failed)" if row.get("failed") else "") + \
                (" (pruned)" if row["pruned"] else "")
        table(data, [("v", "RELEASE"), ("kind", "KIND"), ("sha", "COMMIT"), ("build_kind", "BUILD"),
                     ("when", "CREATED"), ("note", "DESCRIPTION")], empty=f"{name} has no releases yet")

    @app.command("ps")
    def ps(name: str, json_out: bool = JSON) -> None:
        """List the app's instances and their state."""
        client = Client()
        data = client.get(f"/apps/{name}/instances")
        if json_out:
            return emit_json(data)
        if not data and client.get(f"/apps/{name}").get("static"):
            console.print(f"{name} is a static site, served by the router: it runs no process", markup=False,
                          highlight=False)
            return None
        for row in data:
            row["v"] = f"v{row['release']}"
        table(data, [("id", "INSTANCE"), ("process_type", "TYPE"), ("v", "RELEASE"), ("state", "STATE"),
                     ("port", "PORT"), ("pid", "PID"), ("restarts", "RESTARTS"), ("last_exit", "LAST EXIT")],
              empty=f"{name} has no running instances")

    @app.command("logs")
    def logs(name: str, follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
             lines: int = typer.Option(100, "--lines", "-n", help="How many lines of history (at most)."),
             process_type: str = typer.Option(None, "--type", help="Only this process type."),
             level: str = typer.Option(None, "--level", help="Minimum level: debug, info, warn or error."),
             since: str = typer.Option(None, "--since", help="History from this time: 15m, 1h, 2d or ISO 8601."),
             grep: str = typer.Option(None, "--grep", help="Only lines containing this text (case-insensitive)."),
             source: str = typer.Option(None, "--source",
                                        help="Search another log: access (router) or deploys (not with -f)."),
             json_out: bool = JSON) -> None:
        """Print what the app's instances wrote; filter with --level/--since/--grep, -f to keep following."""
        client = Client()
        params: dict = {"lines": lines}  # type: ignore[type-arg]
        filters = {k: v for k, v in (("level", level), ("q", grep), ("since", since)) if v}
        if process_type:
            params["process_type"] = process_type
        if source and follow_:
            raise typer.BadParameter("--source cannot be followed (-f): search it without -f")
        if not follow_ and (filters or source):
            found = client.get(f"/apps/{name}/logs/search", params={**filters, "limit": lines,
                                                                    "source": source or "instances"})
            hits = [h for h in found["lines"] if not process_type or h.get("process_type") == process_type]
            if json_out:
                return emit_json(hits)
            for hit in hits:
                where = f"deploy-{hit['deploy']}" if "deploy" in hit else hit["instance"]
                head = " ".join(str(part) for part in (hit["ts"], where, hit.get("stream")) if part)
                console.print(f"{head} {hit['text']}", markup=False, highlight=False)
            return
        if not follow_:
            text = client.get(f"/apps/{name}/logs", params=params) or ""
            if json_out:
                return emit_json(text.splitlines())
            console.print(text, end="", markup=False, highlight=False)
            return
        try:
            for _, data in client.events(f"/apps/{name}/logs", follow=True, **params, **filters):
                line = decode(data)
                if json_out:
                    print(json.dumps(line), flush=True)
                else:
                    console.print(line, markup=False, highlight=False)
        except KeyboardInterrupt:
            return


    @app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run(name: str, command: list[str] = typer.Argument(..., metavar="-- COMMAND..."),
            timeout: float = typer.Option(3600.0, "--timeout", help="Seconds before the command is killed."),
            tty: bool = typer.Option(False, "-t", "--tty",
                                     help="Interactive, under a terminal (PTY): a shell, a REPL.")
            ) -> None:
        """Run a one-off command in a new container/process of the live release (e.g. migrations)."""
        import httpx

        client = Client()
        if tty:
            from slipway.cli.tty import run_tty

            raise typer.Exit(run_tty(client, name, command))
        code = 1
        try:
            with client.http.stream("POST", f"/apps/{name}/run", json={"command": command, "timeout": timeout},
                                    timeout=httpx.Timeout(10.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    body = response.json()
                    raise ApiError(response.status_code, body.get("error", ""), body.get("detail"))
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "line":
                        print(decode(line[5:].strip()), flush=True)
                    elif line.startswith("data:") and event == "exit":
                        code = int(line[5:].strip())
        except httpx.TransportError as exc:
            raise ApiError(0, f"lost the connection to Slipway at {client.url}: {exc}") from exc
        raise typer.Exit(code)


def _show_deploy(name: str, deploy_id: int, json_out: bool) -> None:
    """One deploy: its fields, then the log tail that explains a failure (the reason stays one line)."""
    data = Client().get(f"/apps/{name}/deploys/{deploy_id}")
    if json_out:
        return emit_json(data)
    data["sha"] = short(data["commit"])
    data["release"] = f"v{data['release']}" if data.get("release") else None
    for key in ("created_at", "finished_at"):
        data[key] = _when(data[key]) if data.get(key) else None
    fields(data, [("id", "deploy"), ("kind", "kind"), ("status", "status"), ("step", "step"), ("sha", "commit"),
                  ("release", "release"), ("created_at", "created"), ("finished_at", "finished"),
                  ("reason", "reason")])
    if data.get("log_tail"):
        console.print("\n[bold]log tail[/bold]")
        console.print(data["log_tail"], markup=False, highlight=False)


def _when(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
