"""cron add | list | runs | run | pause | resume | remove | preview: an app's scheduled jobs."""

from __future__ import annotations

import re
from datetime import datetime

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fail, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
DURATION = re.compile(r"^(\d+)([smhd]?)\Z")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str) -> int:
    """`90`, `90s`, `10m`, `2h`, `1d` → seconds."""
    match = DURATION.match(text.strip().lower())
    if match is None:
        fail(f"invalid duration {text!r}: write e.g. 30s, 10m, 2h or a number of seconds")
        raise typer.Exit(2)
    return int(match.group(1)) * UNITS[match.group(2)]


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %z") if value else ""


def _outcome(run: dict | None) -> str:  # type: ignore[type-arg]
    if not run:
        return "never ran"
    code = f", exit {run['exit_code']}" if run.get("exit_code") is not None else ""
    return f"{run['status']}{code} ({run['trigger']}, {_when(run['scheduled_at'])})"


@app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def add(name: str, job: str, schedule: str = typer.Argument(..., help="5 fields or @hourly/@daily/…"),
        command: list[str] = typer.Argument(..., metavar="-- COMMAND..."),
        tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the schedule, e.g. Europe/Lisbon."),
        timeout: str = typer.Option("10m", "--timeout", help="Kill a run after this long (30s, 10m, 2h)."),
        concurrency: str = typer.Option("forbid", "--concurrency", help="forbid | allow | replace: when the "
                                        "previous run is still going."),
        retries: int = typer.Option(0, "--retries", help="Runs again up to N times while it fails."),
        process_type: str = typer.Option("worker", "--process-type", help="Limits of this process type apply."),
        catch_up: str = typer.Option("once", "--catch-up", help="once | none: after Slipway was down across "
                                     "scheduled times, run once on return, or not."),
        json_out: bool = JSON) -> None:
    """Add a scheduled job: the command runs in a fresh one-off of the live release (options before --)."""
    body = {"name": job, "schedule": schedule, "command": command, "tz": tz, "timeout": seconds(timeout),
            "concurrency": concurrency, "retries": retries, "process_type": process_type, "catch_up": catch_up}
    data = Client().post(f"/apps/{name}/cron", json=body)
    if json_out:
        return emit_json(data)
    console.print(f"added {job} to {name}: {data['description']} ({data['tz']})", highlight=False)
    for moment in data["next_runs"]:
        console.print(f"  next: {moment}", highlight=False)


@app.command("list")
def list_jobs(name: str, json_out: bool = JSON) -> None:
    """The app's jobs: schedule in words, next 3 runs in the job's time zone, last run and outcome."""
    data = Client().get(f"/apps/{name}/cron")
    if json_out:
        return emit_json(data)
    rows = [{"name": j["name"] + (" (paused)" if j["paused"] else ""), "schedule": j["schedule"],
             "words": f"{j['description']} ({j['tz']})", "next": "\n".join(_when(t) for t in j["next_runs"]),
             "command": " ".join(j["command"]), "last": _outcome(j["last_run"])} for j in data]
    table(rows, [("name", "JOB"), ("schedule", "SCHEDULE"), ("words", "WHEN"), ("next", "NEXT RUNS"),
                 ("command", "COMMAND"), ("last", "LAST RUN")],
          empty=f"no scheduled jobs in {name}: slipway cron add {name} NAME \"*/5 * * * *\" -- COMMAND")


@app.command("runs")
def runs(name: str, job: str, limit: int = typer.Option(50, "-n", "--limit", help="How many, newest first."),
         json_out: bool = JSON) -> None:
    """History of a job: start, duration, exit code, trigger (schedule/manual/catch-up), where its log is."""
    data = Client().get(f"/apps/{name}/cron/{job}/runs", params={"limit": limit})
    if json_out:
        return emit_json(data)
    rows = [{**r, "scheduled": _when(r["scheduled_at"]), "started": _when(r["started_at"]),
             "took": f"{r['duration']:.1f}s" if r["duration"] is not None else "",
             "code": "" if r["exit_code"] is None else str(r["exit_code"]),
             "log": f"slipway logs {name} --instance {r['instance']}" if r["instance"] else (r["reason"] or "")}
            for r in data]
    table(rows, [("id", "RUN"), ("scheduled", "SCHEDULED"), ("trigger", "TRIGGER"), ("status", "STATUS"),
                 ("started", "STARTED"), ("took", "TOOK"), ("code", "EXIT"), ("log", "LOG / REASON")],
          empty=f"{job} has not run yet")


@app.command("run")
def run(name: str, job: str, json_out: bool = JSON) -> None:
    """Run a job now, by hand (it is queued; follow it with `slipway cron runs`)."""
    data = Client().post(f"/apps/{name}/cron/{job}/run")
    if json_out:
        return emit_json(data)
    console.print(f"queued run #{data['id']} of {job}: slipway cron runs {name} {job}", highlight=False)


def _toggle(action: str):  # type: ignore[no-untyped-def]
    def command(name: str, job: str, json_out: bool = JSON) -> None:
        data = Client().post(f"/apps/{name}/cron/{job}/{action}")
        if json_out:
            return emit_json(data)
        console.print(f"{job}: {'paused' if data['paused'] else 'resumed'}", highlight=False)

    command.__doc__ = "Stop scheduling the job (runs in progress finish)." if action == "pause" else \
        "Schedule the job again from now on (times while paused are not missed)."
    return command


app.command("pause")(_toggle("pause"))
app.command("resume")(_toggle("resume"))


@app.command("remove")
def remove(name: str, job: str, json_out: bool = JSON) -> None:
    """Remove a job and its history."""
    data = Client().delete(f"/apps/{name}/cron/{job}")
    if json_out:
        return emit_json(data)
    console.print(f"removed {job} from {name}", highlight=False)


@app.command("preview")
def preview(schedule: str, tz: str = typer.Option("UTC", "--tz", help="IANA time zone."),
            after: str = typer.Option(None, "--after", help="ISO 8601 instant (default: now)."),
            count: int = typer.Option(5, "-n", "--count", help="How many run times (at most 100)."),
            json_out: bool = JSON) -> None:
    """The next run times of a schedule, to check it before adding a job."""
    params: dict[str, object] = {"schedule": schedule, "tz": tz, "count": count}
    if after:
        params["after"] = after
    data = Client().get("/cron/preview", params=params)
    if json_out:
        return emit_json(data)
    console.print(f"{data['description']} ({data['tz']})", highlight=False)
    for moment in data["runs"]:
        console.print(moment, highlight=False)
