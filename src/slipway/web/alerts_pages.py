"""Dashboard pages of metric alerts: open alerts (firing / acknowledged) with Acknowledge, the resolved
history, one alert's timeline (with where each notification went), and alert rules (create, turn on/off,
delete). Calls slipway.notify.alerts (and alerts_api's output builders) directly, never the HTTP API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from slipway.apps import service as app_service
from slipway.bounds import PathId, digits
from slipway.db import transaction
from slipway.errors import SlipwayError
from slipway.notify import alerts, service
from slipway.notify.alerts_api import alert_out, rule_out
from slipway.notify.schemas import AlertRuleIn
from slipway.notify.values import format_value
from slipway.platform import Platform
from slipway.web.deps import PlatformDep
from slipway.web.notify_pages import error_text
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render, templates

templates.filters["alert_value"] = format_value  # the same writing as in the notifications
router = APIRouter(route_class=PageRoute, include_in_schema=False)
BASE = "/alerts"
HISTORY = 50
RULE_FIELDS = ("metric", "operator", "threshold", "for", "app", "severity", "escalation_minutes",
               "reminder_minutes", "name")
DEFAULT_FORM: dict[str, Any] = {"metric": "cpu", "operator": ">", "threshold": "", "for": "5m", "app": "",
                                "severity": "warning", "escalation_minutes": "", "reminder_minutes": "",
                                "name": "", "channels": [], "escalation_channels": []}


def validation_text(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors():
        loc = ".".join(str(x) for x in item.get("loc", ()))
        msg = str(item.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "invalid alert rule: " + "; ".join(parts)


def form_of(form: FormData) -> dict[str, Any]:
    """What the rule form sent, as the inputs show it again on an error."""
    values: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in RULE_FIELDS}
    values["channels"] = [str(v) for v in form.getlist("channels")]
    values["escalation_channels"] = [str(v) for v in form.getlist("escalation_channels")]
    return values


def rule_body(values: dict[str, Any]) -> AlertRuleIn:
    """The form → the API's own schema (empty inputs are left out: the schema's defaults apply)."""
    data: dict[str, Any] = {"channels": [int(v) if digits(v) else v for v in values["channels"]],
                            "escalation_channels": [int(v) if digits(v) else v
                                                    for v in values["escalation_channels"]]}
    for key in RULE_FIELDS:
        if values[key] != "":
            data[key] = values[key]
    return AlertRuleIn.model_validate(data)


def _alerts_page(request: Request, platform: Platform, *, before: int | None = None,
                 form: dict[str, Any] | None = None, rule_error: str | None = None, status: int = 200) -> Response:
    with platform.sessions() as session:
        open_alerts = [alert_out(session, a) for a in alerts.list_alerts(session, state="open", limit=500)]
        history_rows = alerts.list_alerts(session, state="resolved", limit=HISTORY, before=before)
        history = [alert_out(session, a) for a in history_rows]
        rules = [rule_out(session, r) for r in alerts.list_rules(session)]
        channels = [(c.id, c.name) for c in service.list_channels(session)]
        apps = [a.name for a in app_service.list_all(session)]
    return render(request, "alerts/alerts.html", status, open_alerts=open_alerts, history=history, rules=rules,
                  channels=channels, apps=apps, form=form or DEFAULT_FORM, rule_error=rule_error,
                  metrics=alerts.METRICS, operators=list(alerts.OPERATORS), severities=alerts.SEVERITIES,
                  older=history_rows[-1].id if len(history_rows) == HISTORY else None, before=before)


@router.get(BASE)
def alerts_page(request: Request, platform: PlatformDep, _: Viewer,
                before: int | None = Query(None, ge=1)) -> Response:
    return _alerts_page(request, platform, before=before)


@router.get(BASE + "/{alert_id}")
def alert_page(alert_id: PathId, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        alert = alert_out(session, alerts.get_alert(session, alert_id), with_timeline=True)
    return render(request, "alerts/alert.html", alert=alert)


@router.post(BASE + "/{alert_id}/ack")
def acknowledge(alert_id: PathId, platform: PlatformDep, who: Actor,
                back: Annotated[str, Form(max_length=16)] = "") -> Response:
    target = f"{BASE}/{alert_id}" if back == "alert" else BASE
    try:
        with transaction(platform.sessions) as session:
            alerts.acknowledge(session, alerts.get_alert(session, alert_id), actor=who.actor)
    except SlipwayError as exc:
        return redirect(target, flash=exc.message, kind="error")
    return redirect(target, flash=f"Acknowledged alert {alert_id}: no reminders or escalation while it lasts.")


@router.post(BASE + "/rules")
async def create_rule(request: Request, platform: PlatformDep, who: Actor) -> Response:
    values = form_of(await request.form())
    try:
        body = rule_body(values)
    except ValidationError as exc:
        return _alerts_page(request, platform, form=values, rule_error=validation_text(exc), status=422)
    try:
        with transaction(platform.sessions) as session:
            rule = alerts.create_rule(
                session, metric=body.metric, operator=body.operator, threshold=body.threshold,
                duration=body.seconds, app=body.app, severity=body.severity, channels=body.channels,
                escalation_channels=body.escalation_channels, escalation_minutes=body.escalation_minutes,
                reminder_minutes=body.reminder_minutes, name=body.name, enabled=body.enabled, actor=who.actor)
            label = rule.name
    except (SlipwayError, ValueError) as exc:
        text = error_text(exc) if isinstance(exc, SlipwayError) else str(exc)
        return _alerts_page(request, platform, form=values, rule_error=text, status=422)
    return redirect(BASE + "#rules", flash=f"Added the alert rule {label}.")


@router.post(BASE + "/rules/{rule_id}/toggle")
def toggle_rule(rule_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        rule = alerts.get_rule(session, rule_id)
        alerts.update_rule(session, rule, enabled=not rule.enabled, actor=who.actor)
        text = f"Alert rule {rule.name} is {'on' if rule.enabled else 'off'}."
    return redirect(BASE + "#rules", flash=text)


@router.post(BASE + "/rules/{rule_id}/delete")
def delete_rule(rule_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        rule = alerts.get_rule(session, rule_id)
        label = rule.name
        alerts.delete_rule(session, rule, actor=who.actor)
    return redirect(BASE + "#rules", flash=f"Deleted the alert rule {label}.")
