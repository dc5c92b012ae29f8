"""`slipway channels …`, `slipway rules …`, `slipway alerts …`, `slipway mute APP`, `slipway notifications`:
thin API calls."""

from __future__ import annotations

from typing import Any

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, fields, table
from slipway.notify.values import format_value

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
channels = typer.Typer(no_args_is_help=True, help="Where notifications go: Slack, Discord, Telegram, email, "
                                                  "webhook, browser, any apprise URL.")
rules = typer.Typer(no_args_is_help=True, help="Which events notify which channels (per app or all apps).")


def _coerce(schema: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs typed by the channel's JSON schema (lists are comma-separated)."""
    props = schema.get("properties", {})
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        kind = props.get(key, {}).get("type")
        if kind == "array":
            config[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif kind == "integer":
            config[key] = int(value)
        elif kind == "boolean":
            config[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            config[key] = value
    return config


def _schema(client: Client, type_name: str) -> dict[str, Any]:
    for entry in client.get("/notify/types"):
        if entry["type"] == type_name:
            return entry["config_schema"]  # type: ignore[no-any-return]
    return {}


def _show_channel(data: dict[str, Any]) -> None:
    data = dict(data)
    data["state"] = "FAILING" if data["failing"] else ("ok" if data["enabled"] else "disabled")
    data["settings"] = ", ".join(f"{k}={v}" for k, v in data["config"].items())
    fields(data, [("name", "name"), ("type", "type"), ("state", "state"), ("settings", "config"),
                  ("consecutive_failures", "failures"), ("last_error", "last error"),
                  ("last_success_at", "last success")])


@channels.command("list")
def list_channels(json_out: bool = JSON) -> None:
    """List channels; a channel failing for long shows FAILING."""
    data = Client().get("/channels")
    if json_out:
        return emit_json(data)
    for row in data:
        row["state"] = "FAILING" if row["failing"] else ("ok" if row["enabled"] else "disabled")
    table(data, [("id", "ID"), ("name", "NAME"), ("type", "TYPE"), ("state", "STATE"), ("last_error", "LAST ERROR")],
          empty="no channels yet: `slipway channels add NAME --type slack --set webhook_url=…`")


@channels.command("types")
def types(json_out: bool = JSON) -> None:
    """Channel types and their settings (secret ones are stored encrypted)."""
    data = Client().get("/notify/types")
    if json_out:
        return emit_json(data)
    for entry in data:
        props = entry["config_schema"].get("properties", {})
        required = set(entry["config_schema"].get("required", []))
        keys = [f"{k}{'*' if k in required else ''}{' (secret)' if k in entry['secret_fields'] else ''}" for k in props]
        console.print(f"[bold]{entry['type']}[/bold]  {entry['label']}\n    {', '.join(keys) or '(no settings)'}")


@channels.command("add")
def add(name: str, type_: str = typer.Option(..., "--type", help="slack, discord, telegram, email, webhook, "
                                                                   "browser or apprise"),
        settings: list[str] = typer.Option([], "--set", help="KEY=VALUE (repeat); lists comma-separated."),
        disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
        json_out: bool = JSON) -> None:
    """Add a channel, e.g. `slipway channels add ops --type slack --set webhook_url=https://hooks.slack.com/…`."""
    client = Client()
    config = _coerce(_schema(client, type_), settings)
    data = client.post("/channels", json={"name": name, "type": type_, "config": config, "enabled": not disabled})
    if json_out:
        return emit_json(data)
    console.print(f"added channel [bold]{name}[/bold] ({type_}); try it with `slipway channels test {name}`")


@channels.command("update")
def update(ref: str, settings: list[str] = typer.Option([], "--set", help="KEY=VALUE (repeat)."),
           enable: bool = typer.Option(None, "--enable/--disable", help="Turn the channel on or off."),
           json_out: bool = JSON) -> None:
    """Change some settings of a channel (others keep their value)."""
    client = Client()
    current = client.get(f"/channels/{ref}")
    body: dict[str, Any] = {"config": _coerce(_schema(client, current["type"]), settings) or None}
    if enable is not None:
        body["enabled"] = enable
    data = client.patch(f"/channels/{ref}", json=body)
    if json_out:
        return emit_json(data)
    _show_channel(data)


@channels.command("show")
def show(ref: str, json_out: bool = JSON) -> None:
    """Show a channel (secrets masked) and its health."""
    data = Client().get(f"/channels/{ref}")
    if json_out:
        return emit_json(data)
    _show_channel(data)


@channels.command("test")
def test(ref: str, json_out: bool = JSON) -> None:
    """Send a test message now and say whether it went through."""
    data = Client().post(f"/channels/{ref}/test")
    if json_out:
        return emit_json(data)
    if data["status"] == "sent":
        console.print(f"[green]sent[/green] to {data['channel']} in {data['attempt_log'][-1]['duration_ms']} ms")
    else:
        console.print(f"[red]failed[/red]: {data['error']}")
        raise typer.Exit(1)


@channels.command("remove")
def remove(ref: str, json_out: bool = JSON) -> None:
    """Remove a channel (its rules stop sending there)."""
    Client().delete(f"/channels/{ref}")
    if json_out:
        return emit_json({"removed": ref})
    console.print(f"removed channel {ref}")


@channels.command("deliveries")
def deliveries(ref: str = typer.Argument(None, help="Only this channel."), status: str = typer.Option(None),
               limit: int = typer.Option(30), json_out: bool = JSON) -> None:
    """Recent deliveries: status, attempts, last error."""
    path = f"/channels/{ref}/deliveries" if ref else "/deliveries"
    data = Client().get(path, params={k: v for k, v in {"status": status, "limit": limit}.items() if v})
    if json_out:
        return emit_json(data)
    table(data, [("id", "ID"), ("channel", "CHANNEL"), ("kind", "EVENT"), ("app", "APP"), ("status", "STATUS"),
                 ("attempts", "TRIES"), ("error", "ERROR")], empty="no deliveries")


@rules.command("list")
def list_rules(json_out: bool = JSON) -> None:
    """List notification rules."""
    data = Client().get("/rules")
    if json_out:
        return emit_json(data)
    for row in data:
        row["scope"] = row["app"] or "all apps"
        row["to"] = ", ".join(row["channels"])
        row["on"] = "yes" if row["enabled"] else "no"
    table(data, [("id", "ID"), ("event", "EVENT"), ("scope", "APP"), ("to", "CHANNELS"), ("on", "ENABLED")],
          empty="no rules yet: `slipway rules add --event deploy.failed --channel NAME`")


@rules.command("add")
def add_rule(event: str = typer.Option(..., "--event", help="deploy.failed, a group like deploy.*, or *"),
             channel: list[str] = typer.Option(..., "--channel", help="Channel name or id (repeat)."),
             app_name: str = typer.Option(None, "--app", help="Only this app (default: every app)."),
             json_out: bool = JSON) -> None:
    """Notify channels of an event (kind or group) of one app or of all apps."""
    data = Client().post("/rules", json={"event": event, "channels": channel, "app": app_name})
    if json_out:
        return emit_json(data)
    console.print(f"rule {data['id']}: {data['event']} of {data['app'] or 'all apps'} → {', '.join(data['channels'])}")


def _toggle(rule_id: int, enabled: bool, json_out: bool) -> None:
    data = Client().patch(f"/rules/{rule_id}", json={"enabled": enabled})
    if json_out:
        return emit_json(data)
    console.print(f"rule {rule_id} {'enabled' if enabled else 'disabled'}")


@rules.command("enable")
def enable_rule(rule_id: int, json_out: bool = JSON) -> None:
    """Enable a rule."""
    _toggle(rule_id, True, json_out)


@rules.command("disable")
def disable_rule(rule_id: int, json_out: bool = JSON) -> None:
    """Disable a rule (kept, sends nothing)."""
    _toggle(rule_id, False, json_out)


@rules.command("remove")
def remove_rule(rule_id: int, json_out: bool = JSON) -> None:
    """Remove a rule."""
    Client().delete(f"/rules/{rule_id}")
    if json_out:
        return emit_json({"removed": rule_id})
    console.print(f"removed rule {rule_id}")


alerts = typer.Typer(no_args_is_help=True, help="Alerts on metrics: history, acknowledge, timeline; rules.")
alert_rules = typer.Typer(no_args_is_help=True, help="Alert rules: metric OP threshold for duration → channels.")
alerts.add_typer(alert_rules, name="rules")


@alert_rules.command("add")
def add_alert_rule(condition: list[str] = typer.Argument(..., help="METRIC OP THRESHOLD, e.g. cpu '>' 80 "
                                                                    "(cpu %, memory MiB, restarts, response_time ms, "
                                                                    "disk %, error_rate % 5xx)"),
                   for_: str = typer.Option("0s", "--for", help="How long every sample must breach: 5m, 30s."),
                   channel: list[str] = typer.Option(..., "--channel", help="Channel name or id (repeat)."),
                   app_name: str = typer.Option(None, "--app", help="Only this app (default: every app)."),
                   severity: str = typer.Option("warning", help="info, warning or critical."),
                   escalate_to: list[str] = typer.Option([], "--escalate-to", help="Escalation channel (repeat)."),
                   escalate_after: float = typer.Option(None, "--escalate-after", help="Minutes unacknowledged."),
                   remind_every: float = typer.Option(None, "--remind-every", help="Minutes between reminders."),
                   name: str = typer.Option(None, "--name"), json_out: bool = JSON) -> None:
    """Alert when a metric crosses a threshold, e.g. `slipway alerts rules add cpu '>' 80 --for 5m --channel ops`."""
    text = " ".join(condition).replace(">=", " >= ").replace("<=", " <= ")
    parts = text.split() if any(o in text.split() for o in (">=", "<=")) else \
        text.replace(">", " > ").replace("<", " < ").split()
    if len(parts) != 3:
        raise typer.BadParameter("expected METRIC OP THRESHOLD, e.g. cpu '>' 80")
    body = {"metric": parts[0], "operator": parts[1], "threshold": float(parts[2]), "for": for_, "app": app_name,
            "severity": severity, "channels": channel, "escalation_channels": escalate_to,
            "escalation_minutes": escalate_after, "reminder_minutes": remind_every, "name": name}
    data = Client().post("/alert-rules", json=body)
    if json_out:
        return emit_json(data)
    console.print(f"alert rule {data['id']}: {data['condition']} on {data['app'] or 'every app'} → "
                  f"{', '.join(data['channels'])}" + (f"; after {data['escalation_minutes']:g} min unacknowledged → "
                                                      f"{', '.join(data['escalation_channels'])}"
                                                      if data["escalation_channels"] else ""))


@alert_rules.command("list")
def list_alert_rules(json_out: bool = JSON) -> None:
    """List alert rules."""
    data = Client().get("/alert-rules")
    if json_out:
        return emit_json(data)
    for row in data:
        row["scope"] = row["app"] or "all"
        row["to"] = ", ".join(row["channels"]) + (f" (escalate: {', '.join(row['escalation_channels'])})"
                                                  if row["escalation_channels"] else "")
        row["on"] = "yes" if row["enabled"] else "no"
    table(data, [("id", "ID"), ("condition", "CONDITION"), ("scope", "APP"), ("severity", "SEVERITY"),
                 ("to", "CHANNELS"), ("on", "ENABLED")],
          empty="no alert rules yet: `slipway alerts rules add cpu '>' 80 --for 5m --channel NAME`")


@alert_rules.command("enable")
def enable_alert_rule(rule_id: int) -> None:
    """Enable an alert rule."""
    Client().patch(f"/alert-rules/{rule_id}", json={"enabled": True})
    console.print(f"alert rule {rule_id} enabled")


@alert_rules.command("disable")
def disable_alert_rule(rule_id: int) -> None:
    """Disable an alert rule (its open alerts resolve)."""
    Client().patch(f"/alert-rules/{rule_id}", json={"enabled": False})
    console.print(f"alert rule {rule_id} disabled")


@alert_rules.command("remove")
def remove_alert_rule(rule_id: int) -> None:
    """Remove an alert rule and its alerts."""
    Client().delete(f"/alert-rules/{rule_id}")
    console.print(f"removed alert rule {rule_id}")


@alerts.command("list")
def list_alerts(state: str = typer.Option(None, help="firing, acknowledged, resolved or open."),
                app_name: str = typer.Option(None, "--app"), limit: int = typer.Option(30),
                json_out: bool = JSON) -> None:
    """Alert history, newest first."""
    params = {k: v for k, v in {"state": state, "app": app_name, "limit": limit}.items() if v}
    data = Client().get("/alerts", params=params)
    if json_out:
        return emit_json(data)
    for row in data:
        row["who"] = row["app"] or row["target"]
        row["since"] = row["started_at"][:19]
        row["value"] = format_value(row["last_value"], row.get("unit", ""), missing="")
        row["ack"] = row["acknowledged_by"] or ""
    table(data, [("id", "ID"), ("state", "STATE"), ("severity", "SEVERITY"), ("who", "APP"),
                 ("condition", "CONDITION"), ("value", "VALUE"), ("since", "SINCE"), ("ack", "ACK BY")],
          empty="no alerts")


@alerts.command("show")
def show_alert(alert_id: int, json_out: bool = JSON) -> None:
    """One alert and its timeline (each notification and where it went)."""
    data = Client().get(f"/alerts/{alert_id}")
    if json_out:
        return emit_json(data)
    console.print(f"[bold]alert {data['id']}[/bold] {data['state']}: {data['condition']} on "
                  f"{data['app'] or data['target']} (severity {data['severity']})")
    unit = data.get("unit", "")
    for entry in data["timeline"] or []:
        where = ", ".join(f"{d['channel']}: {d['status']}" for d in entry["deliveries"])
        console.print(f"  {entry['at'][:19]}  {entry['kind']:<13} {entry['actor']}"
                      + (f"  value {format_value(entry['value'], unit)}" if entry["value"] is not None else "")
                      + (f"  → {where}" if where else ""))


@alerts.command("ack")
def ack_alert(alert_id: int, json_out: bool = JSON) -> None:
    """Acknowledge an alert: no reminders, no escalation; its resolution still notifies."""
    data = Client().post(f"/alerts/{alert_id}/ack")
    if json_out:
        return emit_json(data)
    console.print(f"alert {alert_id} acknowledged by {data['acknowledged_by']}")


def register(app: typer.Typer) -> None:
    app.add_typer(channels, name="channels", help="Notification channels (secrets encrypted, masked).")
    app.add_typer(rules, name="rules", help="Notification rules: event → channels.")
    app.add_typer(alerts, name="alerts", help="Alerts on metrics: rules, history, acknowledge, timeline.")

    @app.command("mute")
    def mute(name: str, for_: str = typer.Option(None, "--for", help="How long: 30m, 2h, 1d."),
             until: str = typer.Option(None, "--until", help="Or until when (ISO 8601 with a zone)."),
             reason: str = typer.Option("", "--reason"), json_out: bool = JSON) -> None:
        """Quiet an app's notifications for a while (they are recorded as skipped)."""
        if (for_ is None) == (until is None):
            raise typer.BadParameter("give --for or --until")
        body = {"for": for_} if for_ else {"until": until}
        data = Client().post(f"/apps/{name}/mute", json={**body, "reason": reason})
        if json_out:
            return emit_json(data)
        console.print(f"{name} muted until {data['until']}")

    @app.command("unmute")
    def unmute(name: str, json_out: bool = JSON) -> None:
        """Let an app's notifications through again."""
        data = Client().delete(f"/apps/{name}/mute")
        if json_out:
            return emit_json(data)
        console.print(f"{name} unmuted")

    @app.command("notifications")
    def notifications(unread: bool = typer.Option(False, "--unread"), limit: int = typer.Option(20),
                      read_all: bool = typer.Option(False, "--read-all", help="Mark everything read."),
                      json_out: bool = JSON) -> None:
        """The notification center: newest first, with the unread count."""
        client = Client()
        if read_all:
            client.post("/notifications/read", json={"all": True})
        data = client.get("/notifications", params={"unread": unread, "limit": limit})
        if json_out:
            return emit_json(data)
        console.print(f"[bold]{data['unread']} unread[/bold]")
        for item in data["items"]:
            dot = " " if item["read"] else "[cyan]●[/cyan]"
            console.print(f"{dot} {item['created_at'][:19]}  {item['title']}" + (f"  [dim]{item['url']}[/dim]"
                                                                                 if item["url"] else ""))

