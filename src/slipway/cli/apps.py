from __future__ import annotations

from typing import Any

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fields, short, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.command("create")
def create(name: str, git: str = typer.Option("", "--git", help="git URL, file:// URL or local path"),
           branch: str = typer.Option("main", "--branch"),
           runtime: str = typer.Option("local", "--runtime", help="Where it runs: local or docker."),
           image: str = typer.Option(None, "--image", help="docker: run this prebuilt image, no git, no build."),
           project: str = typer.Option(None, "--project", help="Project (and so team) of the app."),
           json_out: bool = JSON) -> None:
    """Create an app from a git repository, from `git push` (no --git), or on docker from a prebuilt image."""
    data = Client().post("/apps", json={"name": name, "git_url": git, "branch": branch, "runtime": runtime,
                                        "image": image, **({"project": project} if project else {})})
    if json_out:
        return emit_json(data)
    if git or image:
        console.print(f"created [bold]{data['name']}[/bold] → {data['url']}  (deploy it with `slipway deploy {name}`)",
                      highlight=False)
        return
    remote = Client().get(f"/apps/{name}/git")["remote"]
    console.print(f"created [bold]{data['name']}[/bold] → {data['url']}\n"
                  f"deploy it with git (after `slipway ssh-keys add NAME`):\n"
                  f"  git remote add slipway {remote}\n  git push slipway {data['branch']}", highlight=False)


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
    """Show one app: source, live release, process types and their scale, instances, env var names."""
    data = Client().get(f"/apps/{name}")
    if json_out:
        return emit_json(data)
    data["release"] = f"v{data['live_release']} ({short(data['live_commit'])})" if data["live_release"] else "none"
    data["env"] = ", ".join(data["env_keys"]) or "none"
    data["instances_n"] = len(data["instances"])
    data["git_url"] = data["git_url"] or "(none: fed by git push)"
    data["process_scale"] = process_summary(data)
    fields(data, [("name", "name"), ("status", "status"), ("url", "url"), ("git_url", "git"),
                  ("git_remote", "git remote"), ("branch", "branch"), ("release", "release"),
                  ("process_scale", "processes"), ("instances_n", "instances"), ("env", "env")])


def process_summary(app: dict[str, Any]) -> str:
    """The live release's process types and how many instances each runs, e.g. `web=2 worker=1`."""
    if app.get("static"):
        return "none: a static site, served by the router"
    if app.get("processes"):
        return " ".join(f"{ptype}={count}" for ptype, count in app["processes"].items())
    scale = " ".join(f"{ptype}={count}" for ptype, count in (app.get("scale") or {}).items())
    return f"none deployed yet (scale: {scale or 'default'})"


@app.command("update")
def update(name: str, git: str = typer.Option(None, "--git", help="New git URL."),
           branch: str = typer.Option(None, "--branch", help="New branch."),
           runtime: str = typer.Option(None, "--runtime", help="local or docker."),
           image: str = typer.Option(None, "--image", help="docker: prebuilt image ('' to build from git again)."),
           json_out: bool = JSON) -> None:
    """Change an app's source or runtime (applies at the next deploy)."""
    body = {k: v for k, v in {"git_url": git, "branch": branch, "runtime": runtime, "image": image}.items()
            if v is not None}
    if not body:
        raise typer.BadParameter("give --git, --branch, --runtime and/or --image")
    data = Client().patch(f"/apps/{name}", json=body)
    if json_out:
        return emit_json(data)
    console.print(f"{name}: {data.get('image') or data['git_url']} ({data['branch']}) on {data['runtime']}",
                  markup=False)


@app.command("build-config")
def build_config(name: str,
                 dockerfile: str = typer.Option(None, "--dockerfile", help="Path of the Dockerfile in the repo."),
                 context: str = typer.Option(None, "--context", help="Build context directory in the repo."),
                 target: str = typer.Option(None, "--target", help="Stage of a multi-stage Dockerfile."),
                 build_arg: list[str] = typer.Option([], "--build-arg", help="NAME=value (repeatable)."),
                 build_arg_from_env: list[str] = typer.Option(
                     [], "--build-arg-from-env", help="Pass this env var as a build arg (repeatable)."),
                 cache: bool = typer.Option(None, "--cache/--no-cache", help="Use the engine's build cache."),
                 port: int = typer.Option(None, "--port", help="Port the app listens on in the container."),
                 json_out: bool = JSON) -> None:
    """Show or change how a docker app is built from its Dockerfile (applies at the next deploy)."""
    body: dict[str, object] = {k: v for k, v in {"dockerfile": dockerfile, "context": context, "target": target,
                                                  "cache": cache, "port": port}.items() if v is not None}
    if build_arg:
        pairs = [a.partition("=") for a in build_arg]
        if any(not sep for _, sep, _ in pairs):
            raise typer.BadParameter("--build-arg takes NAME=value")
        body["build_args"] = {k: v for k, _, v in pairs}
    if build_arg_from_env:
        body["build_args_from_env"] = build_arg_from_env
    data = Client().patch(f"/apps/{name}/build-config", json=body)
    if json_out:
        return emit_json(data)
    for key, value in sorted(data.items()):
        console.print(f"{key}: {value}", markup=False, highlight=False)
    if not data:
        console.print("defaults (Dockerfile at the repository root, context '.', cache on, port 8000)")


@app.command("limits")
def limits(name: str, process_type: str = typer.Argument("web"),
           memory: str = typer.Option(None, "--memory", help="Hard memory limit, e.g. 256M ('' removes it)."),
           memory_reservation: str = typer.Option(None, "--memory-reservation", help="Soft memory limit."),
           cpus: float = typer.Option(None, "--cpus", help="CPU limit in cores, e.g. 0.5."),
           cpu_reservation: float = typer.Option(None, "--cpu-reservation", help="CPU share under contention."),
           pids: int = typer.Option(None, "--pids", help="Most processes/threads per instance (default 512)."),
           restart: bool = typer.Option(False, "--restart", help="Restart now to apply them (zero downtime)."),
           json_out: bool = JSON) -> None:
    """Show or set memory/CPU/process limits of a process type (applied at the next deploy or restart)."""
    body = {k: v for k, v in {"memory": memory, "memory_reservation": memory_reservation, "cpus": cpus,
                              "cpu_reservation": cpu_reservation, "pids": pids}.items() if v is not None}
    client = Client()
    if body:
        data = client.request("PUT", f"/apps/{name}/limits/{process_type}", json=body,
                              params={"restart": str(restart).lower()})
    else:
        data = client.get(f"/apps/{name}/limits")
    if json_out:
        return emit_json(data)
    for ptype, values in sorted(data["limits"].items()):
        console.print(f"{ptype}: " + (", ".join(f"{k}={v}" for k, v in values.items()) or "none"), markup=False)
    if not data["limits"]:
        console.print("no limits")
    console.print(f"processes: at most {data.get('default_pids', 512)} per instance unless pids is set",
                  markup=False, highlight=False)
    for warning in data.get("warnings", []):
        console.print(f"[yellow]warning: {warning}[/yellow]", highlight=False)
    if data.get("deploy_id"):
        console.print(f"restarting (deploy #{data['deploy_id']})")


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
