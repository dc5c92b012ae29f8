"""Turning an outbox event into a Message: title, severity, app, release, commit, link, reason, log tail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.config import Settings
from slipway.deploys.models import Deploy, DeployLogLine, Release
from slipway.events import Event
from slipway.notify.channels.base import Message
from slipway.notify.values import format_value

ENVIRONMENT = "production"  # one environment per app for now; environments will set it per event

# events a rule can name today, for the dashboard's picker (any syntactically valid kind is accepted:
# alert.* and what other packages add later match the same way)
KNOWN_KINDS = (
    "deploy.requested", "deploy.scheduled", "deploy.started", "deploy.succeeded", "deploy.failed",
    "deploy.rolled_back", "deploy.cancelled", "rollback.requested", "restart.requested",
    "app.crashed", "app.recovered", "instance.oom", "app.created", "app.deleted", "env.set", "env.unset",
    "health.down", "health.recovered", "incident.opened", "incident.resolved",
    "alert.fired", "alert.resolved", "alert.reminder", "alert.escalated", "alert.acknowledged", "notify.test",
    "cert.issued", "cert.renewal_failed", "cert.expiring", "domain.checked",
    "cron.failed", "cron.timeout", "cron.missed", "cron.skipped",
)

SEVERITY = {"failed": "error", "crashed": "error", "down": "error", "opened": "error", "fired": "error", "oom": "error",
            "rolled_back": "warning", "cancelled": "warning", "succeeded": "success", "recovered": "success",
            "resolved": "success", "escalated": "error", "reminder": "warning", "issued": "success",
            "renewal_failed": "error", "expiring": "warning", "timeout": "error", "missed": "warning",
            "skipped": "warning"}


def severity_of(kind: str) -> str:
    return SEVERITY.get(kind.rpartition(".")[2], "info")


def app_link(settings: Settings, app: str | None, deploy_id: int | None = None) -> str:
    base = settings.dashboard_url.rstrip("/")
    if app is None:
        return base + "/"
    return f"{base}/apps/{app}" + (f"/deploys/{deploy_id}" if deploy_id else "")


def log_tail(session: Session, deploy_id: int, lines: int) -> list[str]:
    if lines <= 0:
        return []
    rows = session.scalars(select(DeployLogLine.line).where(DeployLogLine.deploy_id == deploy_id)
                           .order_by(DeployLogLine.id.desc()).limit(lines)).all()
    return [line[:500] for line in reversed(rows)]


def render(session: Session, settings: Settings, event: Event) -> Message:
    payload: dict[str, Any] = dict(event.payload or {})
    app = session.get(App, event.app_id) if event.app_id else None
    name = app.name if app else payload.get("app") or payload.get("name")
    message = Message(kind=event.kind, title="", severity=severity_of(event.kind), app=name,
                      environment=ENVIRONMENT if name else None, event_id=event.id,
                      created_at=event.created_at.isoformat(), url=app_link(settings, name))
    deploy_id = payload.get("deploy_id")
    deploy = session.get(Deploy, deploy_id) if isinstance(deploy_id, int) else None
    if deploy is not None:
        release = session.get(Release, deploy.release_id or deploy.target_release_id or -1)
        message.deploy_id = deploy.id
        message.commit = deploy.commit or (release.commit if release else None)
        message.release = release.version if release else None
        message.url = app_link(settings, name, deploy.id)
        message.reason = payload.get("reason") or deploy.reason
        if message.severity in ("error", "warning") and event.kind.startswith("deploy."):
            message.log_tail = log_tail(session, deploy.id, settings.notify_log_tail)
    elif app is not None and app.live_release_id:
        live = session.get(Release, app.live_release_id)
        if live is not None:
            message.release, message.commit = live.version, live.commit
    group, _, verb = event.kind.partition(".")
    titler = TITLES.get(event.kind) or TITLES.get(f"{group}.*")
    message.title, message.text = titler(message, payload) if titler else _generic(message, payload, verb)
    if message.reason is None and isinstance(payload.get("reason"), str):
        message.reason = payload["reason"]
    return message


def _who(m: Message) -> str:
    return m.app or "Slipway"


def _deploy(m: Message, p: dict[str, Any]) -> tuple[str, str]:
    kind = p.get("kind", "deploy")
    what = "deploy" if kind == "deploy" else kind
    verb = m.kind.rpartition(".")[2].replace("_", " ")
    release = f" v{m.release}" if m.release else ""
    if m.kind == "deploy.succeeded":
        text = f"{what.capitalize()} #{m.deploy_id} is live" + (f": release{release}" if release else "") + "."
        return f"{_who(m)}: {what}{release} succeeded", text
    ref = f"{what} #{m.deploy_id}" if m.deploy_id else what
    return f"{_who(m)}: {ref} {verb}", f"{ref.capitalize()} {verb}."


def _crashed(m: Message, p: dict[str, Any]) -> tuple[str, str]:
    lines = [f"{i.get('process_type')} {i.get('id')}: {i.get('state')}, {i.get('restarts', 0)} restarts"
             + (f", last exit: {i['last_exit']}" if i.get("last_exit") else "") for i in p.get("instances", [])]
    return f"{_who(m)} is crashing", "\n".join(lines) or "An instance keeps exiting."


def _recovered(m: Message, p: dict[str, Any]) -> tuple[str, str]:
    return f"{_who(m)} recovered", f"No crash for {int(p.get('quiet_seconds', 0))} s " \
                                   f"(episode of {int(p.get('duration_seconds', 0))} s)."


def _generic(m: Message, p: dict[str, Any], verb: str) -> tuple[str, str]:
    subject = p.get("check") or p.get("name") or p.get("title") or ""
    title = f"{_who(m)}: {m.kind}" + (f" ({subject})" if subject and subject != m.app else "")
    def show(value: Any) -> str | None:
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return ", ".join(str(v) for v in value)
        return str(value) if isinstance(value, str | int | float) else None

    text = p.get("message") or p.get("summary") or ", ".join(
        f"{k}: {shown}" for k, v in p.items() if k not in ("app", "name") and (shown := show(v)) is not None)
    return title, str(text)[:2000]


def _alert(m: Message, p: dict[str, Any]) -> tuple[str, str]:
    verb = m.kind.rpartition(".")[2]
    if verb in ("fired", "reminder", "escalated"):  # the rule's severity, not the verb's
        m.severity = {"critical": "error", "warning": "warning"}.get(str(p.get("severity")), "info")
    value, unit = p.get("value"), str(p.get("unit") or "")
    shown = format_value(value, unit, missing="no data")  # as the alert pages show it
    what = {"fired": "firing", "reminder": "still firing", "escalated": "unacknowledged, escalated",
            "resolved": "resolved", "acknowledged": "acknowledged"}.get(verb, verb)
    title = f"{_who(m)}: [{p.get('severity', 'alert')}] {p.get('condition', p.get('rule', 'alert'))} — {what}"
    text = f"Alert #{p.get('alert_id')} ({p.get('rule')}) {what}; {p.get('metric')} is now {shown}."
    return title, text


def _cert(m: Message, p: dict[str, Any]) -> tuple[str, str]:
    domain, until = p.get("domain", "?"), str(p.get("not_after") or "")[:10]
    if m.kind == "cert.issued":
        return f"{_who(m)}: certificate for {domain} issued", f"Issuer {p.get('issuer')}, valid until {until}."
    if m.kind == "cert.expiring":
        fix = ("Slipway renews it itself: this warning means renewal has not happened yet."
               if p.get("renews_itself") else "It is an uploaded certificate: upload its successor "
               f"(slipway certs upload {m.app} {domain} --cert … --key …).")
        return f"{_who(m)}: certificate for {domain} expires in {p.get('days_left')} days", \
            f"Valid until {until}. {fix}"
    return f"{_who(m)}: certificate for {domain} is not served", str(p.get("error") or "")


TITLES: dict[str, Callable[[Message, dict[str, Any]], tuple[str, str]]] = {
    "deploy.*": _deploy, "app.crashed": _crashed, "app.recovered": _recovered, "alert.*": _alert,
    "cert.*": _cert,
}
