"""Alert rules on metrics, the evaluator that fires and resolves alerts, acknowledgement and escalation.

A rule reads "metric operator threshold for duration" — `cpu > 80 for 5m` — on one app or on every app
(disk is the host's). The evaluator (periodic, every `alert_interval` seconds) looks at the raw
observability samples of each (rule, target):

  - it fires when every sample of the last `duration` seconds breaches the threshold, the samples cover
    the whole window (the oldest is within a grace of its start) and the newest is fresh: a gap in the
    data never fires an alert, and a spike that does not last is not an alert;
  - it resolves when the newest fresh sample no longer breaches (a firing alert does not resolve on
    missing data: a dead collector is not a recovery);
  - restarts is a counter: its value is the increase over the window, compared once;
  - response_time reads the app's health-check results (response_ms), every result of the window;
  - error_rate reads the app's router access log: one sample per minute that had a request (the percent
    answered 5xx), stamped at the minute's start; every minute overlapping the window counts, and a
    minute without a request has no sample, so an idle app neither fires nor resolves.

State lives in `alerts` (one unresolved row per (rule, target), enforced by a partial unique index) and
every transition is a conditional UPDATE whose row count says who made it, so several evaluators (one per
server process) fire, resolve and escalate once.

Delivery — the design: each transition emits an outbox event (`alert.fired`, `alert.resolved`,
`alert.reminder`, `alert.escalated`, `alert.acknowledged`) whose payload names the alert rule and a
route ("channels", "escalation", "both" or "none"). The existing dispatcher delivers every event to the
channels of ordinary rules that match it *and*, for these events, to the alert rule's own channels for
that route (dispatch.py `_alert_targets`). So alerts get the same durable, retried, muted-aware,
once-per-(event, channel) deliveries as everything else, the rule's channels are chosen when the alert
rule is written, and a team can still add a catch-all rule on `alert.*`. No flapping storm: an alert
notifies once when it fires, once when it resolves, optionally every `reminder_minutes` while it fires
unacknowledged, and once to the escalation channels when unacknowledged after `escalation_minutes`.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator as op
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.errors import Conflict, Invalid, NotFound
from slipway.notify import service
from slipway.notify.models import Alert, AlertEvent, AlertRule, AlertRuleChannel, Channel
from slipway.notify.values import UNITS, with_unit
from slipway.observability import logsearch
from slipway.observability.models import Check, CheckResult, metric_raw
from slipway.platform import Platform

log = logging.getLogger(__name__)

OPERATORS: dict[str, Callable[[float, float], bool]] = {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le}
METRICS = UNITS  # metric → unit; what each reads: see notify/values.py
MINUTE_BUCKETS = {"error_rate"}  # metrics sampled once per minute: a sample stands for the minute it starts
SEVERITIES = ("info", "warning", "critical")
STATES = ("firing", "acknowledged", "resolved")
HOST = "host"


# ---- rules -------------------------------------------------------------------------------------


def _check(metric: str, operator: str, severity: str, duration: float, threshold: float) -> None:
    if metric not in METRICS:
        raise Invalid(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    if operator not in OPERATORS:
        raise Invalid(f"unknown operator {operator!r}: one of {' '.join(OPERATORS)}")
    if severity not in SEVERITIES:
        raise Invalid(f"unknown severity {severity!r}: one of {', '.join(SEVERITIES)}")
    if duration < 0 or duration > 86400:
        raise Invalid("duration is between 0 and 24 h")
    if threshold != threshold:  # NaN
        raise Invalid("threshold is a number")


def _set_channels(session: Session, rule: AlertRule, refs: list[int | str], *, escalation: bool) -> None:
    ids = sorted({service.get_channel(session, ref).id for ref in refs})
    session.execute(delete(AlertRuleChannel).where(AlertRuleChannel.rule_id == rule.id,
                                                   AlertRuleChannel.escalation.is_(escalation)))
    session.add_all(AlertRuleChannel(rule_id=rule.id, channel_id=i, escalation=escalation) for i in ids)


def describe(rule: AlertRule) -> str:
    """cpu > 80% for 5m"""
    value = with_unit(f"{rule.threshold:g}", METRICS.get(rule.metric, ""))  # a threshold exactly as set
    return f"{rule.metric} {rule.operator} {value}" + (f" for {_span(rule.duration)}" if rule.duration else "")


def _span(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def create_rule(session: Session, *, metric: str, operator: str, threshold: float, duration: float = 0.0,
                app: str | None = None, severity: str = "warning", channels: list[int | str],
                escalation_channels: list[int | str] | None = None, escalation_minutes: float | None = None,
                reminder_minutes: float | None = None, name: str | None = None, enabled: bool = True,
                actor: str = "system") -> AlertRule:
    _check(metric, operator, severity, duration, threshold)
    if not channels:
        raise Invalid("an alert rule needs at least one channel")
    if escalation_channels and not escalation_minutes:
        raise Invalid("escalation channels need escalation_minutes")
    if metric == "disk" and app:
        raise Invalid("disk is the host's: an alert on it has no app")
    app_id = app_service.get(session, app).id if app else None
    rule = AlertRule(metric=metric, operator=operator, threshold=threshold, duration=duration, app_id=app_id,
                     severity=severity, enabled=enabled, reminder_minutes=reminder_minutes or None,
                     escalation_minutes=escalation_minutes or None, name="")
    rule.name = (name or describe(rule))[:100]
    session.add(rule)
    session.flush()
    _set_channels(session, rule, channels, escalation=False)
    _set_channels(session, rule, escalation_channels or [], escalation=True)
    events.emit(session, "alert_rule.created", app_id=app_id, actor=actor, alert_rule_id=rule.id,
                rule=rule.name)
    return rule


def update_rule(session: Session, rule: AlertRule, *, actor: str = "system", **changes: Any) -> AlertRule:
    """Patch: fields given (not None) change; channels / escalation_channels replace the lists."""
    channels = changes.pop("channels", None)
    escalation = changes.pop("escalation_channels", None)
    if changes.pop("all_apps", False):
        rule.app_id = None
    app = changes.pop("app", None)
    if app is not None:
        rule.app_id = app_service.get(session, app).id
    for key, value in changes.items():
        if value is not None:
            setattr(rule, key, value)
    _check(rule.metric, rule.operator, rule.severity, rule.duration, rule.threshold)
    if rule.metric == "disk" and rule.app_id is not None:
        raise Invalid("disk is the host's: an alert on it has no app")
    if channels is not None:
        if not channels:
            raise Invalid("an alert rule needs at least one channel")
        _set_channels(session, rule, channels, escalation=False)
    if escalation is not None:
        _set_channels(session, rule, escalation, escalation=True)
    events.emit(session, "alert_rule.updated", app_id=rule.app_id, actor=actor, alert_rule_id=rule.id)
    return rule


def delete_rule(session: Session, rule: AlertRule, *, actor: str = "system") -> None:
    events.emit(session, "alert_rule.deleted", actor=actor, alert_rule_id=rule.id, rule=rule.name)
    session.delete(rule)


def get_rule(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"no alert rule {rule_id}")
    return rule


def list_rules(session: Session) -> list[AlertRule]:
    return list(session.scalars(select(AlertRule).order_by(AlertRule.id)))


def rule_channels(session: Session, rule_id: int, *, escalation: bool) -> list[Channel]:
    return list(session.scalars(
        select(Channel).join(AlertRuleChannel, AlertRuleChannel.channel_id == Channel.id)
        .where(AlertRuleChannel.rule_id == rule_id, AlertRuleChannel.escalation.is_(escalation))
        .order_by(Channel.name)))


def route_channels(session: Session, rule_id: int, route: str) -> list[int]:
    """The channel ids an alert event goes to (the dispatcher asks)."""
    query = select(AlertRuleChannel.channel_id).where(AlertRuleChannel.rule_id == rule_id)
    if route == "channels":
        query = query.where(AlertRuleChannel.escalation.is_(False))
    elif route == "escalation":
        query = query.where(AlertRuleChannel.escalation.is_(True))
    elif route != "both":
        return []
    return sorted(set(session.scalars(query)))


# ---- reading samples ---------------------------------------------------------------------------


@dataclass
class Reading:
    breach: bool  # the condition held over the whole window
    ok: bool  # the newest fresh sample does not breach (a firing alert may resolve)
    value: float | None  # the newest value (restarts: the increase over the window)


def _samples(session: Session, rule: AlertRule, target: str, since: dt.datetime,
             until: dt.datetime, home: Path | None = None) -> list[tuple[dt.datetime, float]]:
    if rule.metric == "error_rate":
        app = session.get(App, int(target.split(":")[1]))
        if app is None or home is None:
            return []
        points = logsearch.error_rate(home, app.name, since.replace(second=0, microsecond=0))
        minutes = [(dt.datetime.fromisoformat(str(p["ts"]).replace("Z", "+00:00")),
                    100.0 * float(p["error_rate"])) for p in points]  # type: ignore[arg-type]
        return [(ts, v) for ts, v in minutes if ts <= until]
    if rule.metric == "response_time":
        app_id = int(target.split(":")[1])
        rows = session.execute(
            select(CheckResult.ts, CheckResult.response_ms).join(Check, Check.id == CheckResult.check_id)
            .where(Check.app_id == app_id, CheckResult.ts >= since, CheckResult.ts <= until,
                   CheckResult.response_ms.is_not(None))
            .order_by(CheckResult.ts)).all()
        return [(ts, float(v)) for ts, v in rows]
    if rule.metric == "disk":
        rows = session.execute(
            select(metric_raw.c.ts, metric_raw.c.disk_used, metric_raw.c.disk_total)
            .where(metric_raw.c.scope == "host", metric_raw.c.ts >= since, metric_raw.c.ts <= until)
            .order_by(metric_raw.c.ts)).all()
        return [(ts, 100.0 * used / total) for ts, used, total in rows if used is not None and total]
    column = {"cpu": metric_raw.c.cpu, "memory": metric_raw.c.mem, "restarts": metric_raw.c.restarts}[rule.metric]
    rows = session.execute(
        select(metric_raw.c.ts, column)
        .where(metric_raw.c.scope == "app", metric_raw.c.target == target.split(":")[1],
               metric_raw.c.ts >= since, metric_raw.c.ts <= until)
        .order_by(metric_raw.c.ts)).all()
    scale = 1 / (1024 * 1024) if rule.metric == "memory" else 1.0
    return [(ts, float(v) * scale) for ts, v in rows if v is not None]


def read(session: Session, rule: AlertRule, target: str, *, now: dt.datetime, grace: float,
         home: Path | None = None) -> Reading:
    """`grace`: how old the newest sample may be, and how far after the window's start the oldest.
    `home`: $SLIPWAY_HOME, where error_rate's access logs are."""
    start = now - dt.timedelta(seconds=rule.duration)
    step = dt.timedelta(seconds=60 if rule.metric in MINUTE_BUCKETS else 0)  # how long a sample stands
    samples = _samples(session, rule, target, start - step - dt.timedelta(seconds=grace), now, home)
    fresh = bool(samples) and samples[-1][0] + step >= now - dt.timedelta(seconds=grace)
    if not fresh:
        return Reading(False, False, None)
    cond = OPERATORS[rule.operator]
    in_window = [(ts, v) for ts, v in samples if ts >= start or ts + step > start] or [samples[-1]]
    covered = samples[0][0] <= start + dt.timedelta(seconds=grace)
    if rule.metric == "restarts":
        value = max(0.0, samples[-1][1] - samples[0][1])
        hit = cond(value, rule.threshold)
        return Reading(hit and covered, not hit, value)
    value = samples[-1][1]
    return Reading(covered and all(cond(v, rule.threshold) for _, v in in_window),
                   not cond(value, rule.threshold), value)


def _targets(session: Session, rule: AlertRule) -> list[tuple[str, int | None]]:
    if rule.metric == "disk":
        return [(HOST, None)]
    if rule.app_id is not None:
        return [(f"app:{rule.app_id}", rule.app_id)]
    return [(f"app:{i}", i) for i in session.scalars(select(App.id).order_by(App.id))]


# ---- the evaluator -----------------------------------------------------------------------------


def _emit(session: Session, alert: Alert, rule: AlertRule, kind: str, route: str, *, actor: str = "system",
          value: float | None = None, now: dt.datetime | None = None) -> None:
    payload = {"alert_id": alert.id, "alert_rule_id": rule.id, "route": route, "rule": rule.name,
               "metric": rule.metric, "operator": rule.operator, "threshold": rule.threshold,
               "duration": rule.duration, "unit": METRICS.get(rule.metric, ""), "severity": rule.severity,
               "value": value if value is not None else alert.last_value, "condition": describe(rule)}
    event = events.emit(session, kind, app_id=alert.app_id, actor=actor, **payload)
    session.flush()
    session.add(AlertEvent(alert_id=alert.id, kind=kind.partition(".")[2], actor=actor, value=payload["value"],
                           event_id=event.id, at=now or utcnow()))


def evaluate(platform: Platform, *, now: dt.datetime | None = None) -> dict[str, int]:
    """One look at every enabled rule and target; return counts of what changed."""
    now = now or utcnow()
    grace = 2 * platform.settings.metrics_interval + platform.settings.alert_interval
    counts = {"fired": 0, "resolved": 0, "reminded": 0, "escalated": 0}
    with platform.sessions() as session:
        rules = list(session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id)))
        work = [(rule.id, target, app_id) for rule in rules for target, app_id in _targets(session, rule)]
        # open alerts of disabled/retargeted rules or deleted apps are resolved by their rules' next reading
        open_keys = {(a.rule_id, a.target): a.app_id for a in session.scalars(
            select(Alert).where(Alert.state != "resolved"))}
    keys = {(r, t) for r, t, _ in work}
    for (rule_id, target), app_id in open_keys.items():
        if (rule_id, target) not in keys:
            work.append((rule_id, target, app_id))
    for rule_id, target, app_id in work:
        try:
            for key in _step(platform, rule_id, target, app_id, now=now, grace=grace,
                             active=(rule_id, target) in keys):
                counts[key] += 1
        except IntegrityError:  # another evaluator opened it first
            continue
        except Exception:  # one bad rule must not stop the others
            log.exception("alert rule %s on %s", rule_id, target)
    return counts


def _step(platform: Platform, rule_id: int, target: str, app_id: int | None, *, now: dt.datetime,
          grace: float, active: bool) -> Iterable[str]:
    done: list[str] = []
    with transaction(platform.sessions) as session:
        rule = session.get(AlertRule, rule_id)
        if rule is None:
            return done
        alert = session.scalar(select(Alert).where(Alert.rule_id == rule_id, Alert.target == target,
                                                   Alert.state != "resolved"))
        if not active:  # the rule was disabled or no longer covers this target: resolve it
            reading = Reading(False, True, alert.last_value if alert else None)
        else:
            reading = read(session, rule, target, now=now, grace=grace, home=platform.settings.home)
        if alert is None:
            if reading.breach:
                alert = Alert(rule_id=rule.id, app_id=app_id, target=target, state="firing", started_at=now,
                              last_value=reading.value, last_notified_at=now)
                session.add(alert)
                session.flush()  # the partial unique index refuses a second open alert here
                _emit(session, alert, rule, "alert.fired", "channels", now=now)
                done.append("fired")
            return done
        if reading.value is not None:
            alert.last_value = reading.value
        if reading.ok:
            escalated = alert.escalated_at is not None
            won = session.execute(update(Alert).where(Alert.id == alert.id, Alert.state != "resolved")
                                  .values(state="resolved", resolved_at=now, last_value=alert.last_value)
                                  .execution_options(synchronize_session=False)).rowcount
            if won:
                _emit(session, alert, rule, "alert.resolved", "both" if escalated else "channels", now=now)
                done.append("resolved")
            return done
        if alert.state != "firing":  # acknowledged: someone is on it, no reminder, no escalation
            return done
        if rule.escalation_minutes and alert.escalated_at is None \
                and now - alert.started_at >= dt.timedelta(minutes=rule.escalation_minutes):
            won = session.execute(
                update(Alert).where(Alert.id == alert.id, Alert.state == "firing", Alert.escalated_at.is_(None))
                .values(escalated_at=now).execution_options(synchronize_session=False)).rowcount
            if won:
                _emit(session, alert, rule, "alert.escalated", "escalation", now=now)
                done.append("escalated")
        if rule.reminder_minutes and alert.last_notified_at is not None \
                and now - alert.last_notified_at >= dt.timedelta(minutes=rule.reminder_minutes):
            won = session.execute(
                update(Alert).where(Alert.id == alert.id, Alert.last_notified_at == alert.last_notified_at)
                .values(last_notified_at=now).execution_options(synchronize_session=False)).rowcount
            if won:
                _emit(session, alert, rule, "alert.reminder", "channels", now=now)
                done.append("reminded")
    return done


# ---- lifecycle ---------------------------------------------------------------------------------


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def acknowledge(session: Session, alert: Alert, *, actor: str) -> Alert:
    if alert.state == "resolved":
        raise Conflict(f"alert {alert.id} is resolved")
    if alert.state == "acknowledged":
        return alert
    now = utcnow()
    won = session.execute(update(Alert).where(Alert.id == alert.id, Alert.state == "firing")
                          .values(state="acknowledged", acknowledged_by=actor, acknowledged_at=now)
                          .execution_options(synchronize_session=False)).rowcount
    session.refresh(alert)
    if won:
        rule = session.get(AlertRule, alert.rule_id)
        assert rule is not None
        _emit(session, alert, rule, "alert.acknowledged", "none", actor=actor, now=now)
    return alert


def list_alerts(session: Session, *, state: str | None = None, app_id: int | None = None,
                rule_id: int | None = None, limit: int = 50, before: int | None = None) -> list[Alert]:
    query = select(Alert)
    if state == "open":
        query = query.where(Alert.state != "resolved")
    elif state is not None:
        if state not in STATES:
            raise Invalid(f"unknown state {state!r}: firing, acknowledged, resolved or open")
        query = query.where(Alert.state == state)
    conditions = [c for c in (Alert.app_id == app_id if app_id is not None else None,
                              Alert.rule_id == rule_id if rule_id is not None else None,
                              Alert.id < before if before is not None else None) if c is not None]
    if conditions:
        query = query.where(and_(*conditions))
    return list(session.scalars(query.order_by(Alert.id.desc()).limit(limit)))


def timeline(session: Session, alert_id: int) -> list[AlertEvent]:
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                                .order_by(AlertEvent.id)))  # the order things happened
