"""/api/v1 alert rules and alerts: history, acknowledgement, timeline (included by notify/api.py)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.bounds import INT32_MAX, BeforeId, PathId
from slipway.db import transaction
from slipway.notify import alerts
from slipway.notify.models import Alert, AlertRule, Channel, Delivery
from slipway.notify.schemas import (
    AlertDeliveryOut,
    AlertEventOut,
    AlertOut,
    AlertRuleIn,
    AlertRuleOut,
    AlertRuleUpdate,
    _seconds,
)
from slipway.web.deps import CurrentPrincipal, PlatformDep


def _app_name(session: Session, app_id: int | None) -> str | None:
    app = session.get(App, app_id) if app_id else None
    return app.name if app else None


def rule_out(session: Session, rule: AlertRule) -> AlertRuleOut:
    return AlertRuleOut(
        id=rule.id, name=rule.name, condition=alerts.describe(rule), metric=rule.metric, operator=rule.operator,
        threshold=rule.threshold, duration=rule.duration, app=_app_name(session, rule.app_id),
        severity=rule.severity,
        channels=[c.name for c in alerts.rule_channels(session, rule.id, escalation=False)],
        escalation_channels=[c.name for c in alerts.rule_channels(session, rule.id, escalation=True)],
        escalation_minutes=rule.escalation_minutes, reminder_minutes=rule.reminder_minutes,
        enabled=rule.enabled, created_at=rule.created_at)


def alert_out(session: Session, alert: Alert, *, with_timeline: bool = False) -> AlertOut:
    rule = session.get(AlertRule, alert.rule_id)
    assert rule is not None
    out = AlertOut(id=alert.id, rule_id=rule.id, rule=rule.name, condition=alerts.describe(rule),
                   severity=rule.severity, app=_app_name(session, alert.app_id), target=alert.target,
                   state=alert.state, started_at=alert.started_at, acknowledged_by=alert.acknowledged_by,
                   acknowledged_at=alert.acknowledged_at, escalated_at=alert.escalated_at,
                   resolved_at=alert.resolved_at, last_value=alert.last_value,
                   unit=alerts.METRICS.get(rule.metric, ""))
    if with_timeline:
        entries = alerts.timeline(session, alert.id)
        event_ids = [e.event_id for e in entries if e.event_id]
        sent: dict[int, list[AlertDeliveryOut]] = {}
        if event_ids:
            names = {c.id: c.name for c in session.scalars(select(Channel))}
            for d in session.scalars(select(Delivery).where(Delivery.event_id.in_(event_ids)).order_by(Delivery.id)):
                sent.setdefault(d.event_id or 0, []).append(AlertDeliveryOut(
                    channel=names.get(d.channel_id), status=d.status, attempts=d.attempts, error=d.error))
        out.timeline = [AlertEventOut(kind=e.kind, at=e.at, actor=e.actor, value=e.value, event_id=e.event_id,
                                      deliveries=sent.get(e.event_id or -1, [])) for e in entries]
    return out


def list_rules(platform: PlatformDep, _: CurrentPrincipal) -> list[AlertRuleOut]:
    with platform.sessions() as session:
        return [rule_out(session, r) for r in alerts.list_rules(session)]


def create_rule(body: AlertRuleIn, platform: PlatformDep, who: CurrentPrincipal) -> AlertRuleOut:
    with transaction(platform.sessions) as session:
        rule = alerts.create_rule(
            session, metric=body.metric, operator=body.operator, threshold=body.threshold, duration=body.seconds,
            app=body.app, severity=body.severity, channels=body.channels,
            escalation_channels=body.escalation_channels, escalation_minutes=body.escalation_minutes,
            reminder_minutes=body.reminder_minutes, name=body.name, enabled=body.enabled, actor=who.actor)
        return rule_out(session, rule)


def show_rule(rule_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> AlertRuleOut:
    with platform.sessions() as session:
        return rule_out(session, alerts.get_rule(session, rule_id))


def update_rule(rule_id: PathId, body: AlertRuleUpdate, platform: PlatformDep, who: CurrentPrincipal) -> AlertRuleOut:
    changes = body.model_dump(exclude={"duration"})
    changes["duration"] = _seconds(body.duration)
    with transaction(platform.sessions) as session:
        rule = alerts.update_rule(session, alerts.get_rule(session, rule_id), actor=who.actor, **changes)
        return rule_out(session, rule)


def delete_rule(rule_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    with transaction(platform.sessions) as session:
        alerts.delete_rule(session, alerts.get_rule(session, rule_id), actor=who.actor)
    return Response(status_code=204)


def list_alerts(platform: PlatformDep, _: CurrentPrincipal, state: str | None = None, app: str | None = None,
                rule: int | None = Query(None, ge=1, le=INT32_MAX), limit: int = Query(50, ge=1, le=500),
                before: BeforeId = None) -> list[AlertOut]:
    """History, newest first; state: firing, acknowledged, resolved or open (not resolved)."""
    with platform.sessions() as session:
        app_id = app_service.get(session, app).id if app else None
        return [alert_out(session, a) for a in alerts.list_alerts(session, state=state, app_id=app_id,
                                                                   rule_id=rule, limit=limit, before=before)]


def show_alert(alert_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> AlertOut:
    """One alert with its timeline: each transition and where its notification went."""
    with platform.sessions() as session:
        return alert_out(session, alerts.get_alert(session, alert_id), with_timeline=True)


def acknowledge(alert_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> AlertOut:
    """Someone is on it: no reminder, no escalation; resolving still notifies."""
    with transaction(platform.sessions) as session:
        alert = alerts.acknowledge(session, alerts.get_alert(session, alert_id), actor=who.actor)
        session.flush()
        return alert_out(session, alert, with_timeline=True)


def register(router: APIRouter) -> None:
    """Add these routes to notify/api.py's /api/v1 router (one router: the authorization gate sees them)."""
    add = router.add_api_route
    add("/alert-rules", list_rules, methods=["GET"], response_model=list[AlertRuleOut])
    add("/alert-rules", create_rule, methods=["POST"], response_model=AlertRuleOut, status_code=201)
    add("/alert-rules/{rule_id}", show_rule, methods=["GET"], response_model=AlertRuleOut)
    add("/alert-rules/{rule_id}", update_rule, methods=["PATCH"], response_model=AlertRuleOut)
    add("/alert-rules/{rule_id}", delete_rule, methods=["DELETE"], status_code=204)
    add("/alerts", list_alerts, methods=["GET"], response_model=list[AlertOut])
    add("/alerts/{alert_id}", show_alert, methods=["GET"], response_model=AlertOut)
    add("/alerts/{alert_id}/ack", acknowledge, methods=["POST"], response_model=AlertOut)
