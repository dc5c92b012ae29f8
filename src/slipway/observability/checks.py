"""Checks: create/update/delete, turn a check into probes, run it, record the result and its incident."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.bounds import digits
from slipway.db import utcnow
from slipway.egress import Policy, url_target
from slipway.errors import Invalid, NotFound
from slipway.events import emit
from slipway.instances.models import Instance
from slipway.observability import health
from slipway.observability.models import Check, CheckResult, Incident, StatusPageEntry

EDITABLE = ("name", "target", "method", "expected_status", "body_contains", "headers", "interval", "timeout",
            "retries", "enabled", "monitor", "smoke", "status_page")


# ---- CRUD -----------------------------------------------------------------------------------------


def create(session: Session, *, app: App | None, fields: dict[str, Any], policy: Policy,
           actor: str = "system") -> Check:
    check = Check(app_id=app.id if app else None, **fields)
    validate(check, policy)
    check.next_run_at = utcnow() if check.monitor and check.enabled else None
    session.add(check)
    session.flush()
    if app is not None and check.status_page:
        set_status_page(session, app, enabled=True)
    emit(session, "check.created", app_id=check.app_id, actor=actor, check_id=check.id, name=check.name)
    return check


def update_fields(session: Session, check: Check, changes: dict[str, Any], *, policy: Policy,
                  actor: str = "system") -> Check:
    for key, value in changes.items():
        if key in EDITABLE:
            setattr(check, key, value)
    validate(check, policy)
    if check.timeout >= check.interval:
        raise Invalid("timeout must be shorter than interval")
    check.next_run_at = utcnow() if check.monitor and check.enabled else None
    if check.app_id is not None and changes.get("status_page"):
        app = session.get(App, check.app_id)
        assert app is not None
        set_status_page(session, app, enabled=True)
    emit(session, "check.updated", app_id=check.app_id, actor=actor, check_id=check.id, name=check.name)
    return check


def delete(session: Session, check: Check, *, actor: str = "system") -> None:
    emit(session, "check.deleted", app_id=check.app_id, actor=actor, check_id=check.id, name=check.name)
    session.delete(check)


def validate(check: Check, policy: Policy) -> None:
    """The target's form, then the egress rules for any address the user typed (an app's own path or
    port needs none: Slipway probes that app's instances itself)."""
    target = check.target
    if (check.method or "GET").upper() not in health.SAFE_METHODS:
        raise Invalid(f"method {check.method!r} is not allowed: checks only observe, use GET or HEAD")
    if check.kind in ("http", "json"):
        if target.startswith("/"):
            if check.app_id is None:
                raise Invalid("a monitor needs an absolute URL (http:// or https://)")
            if any(c.isspace() or ord(c) < 32 or c == "\\" for c in target):
                raise Invalid(f"invalid path {target!r}")
        else:
            try:
                url_target(target)  # Invalid also for what urlsplit cannot parse ("http://[::1", a bad port)
            except Invalid:
                raise Invalid(f"invalid URL {target!r}: use http(s)://host/path" +
                              (" or a path such as /health" if check.app_id else "")) from None
            policy.check_url(target)
    elif check.kind == "tcp":
        host, _, port = target.rpartition(":")
        if not digits(port) or not 0 < int(port) < 65536 or (not host and check.app_id is None):
            raise Invalid(f"invalid TCP target {target!r}: use host:port" + (" or :port" if check.app_id else ""))
        if host:
            policy.check_host(host, int(port))
    else:
        raise Invalid(f"unknown check kind {check.kind!r}: use http, tcp or json")


def get(session: Session, check_id: int, *, app: App | None) -> Check:
    check = session.get(Check, check_id)
    if check is None or check.app_id != (app.id if app else None):
        raise NotFound(f"no check {check_id}" + (f" on {app.name}" if app else " among the monitors"))
    return check


def list_for(session: Session, *, app: App | None) -> list[Check]:
    where = Check.app_id == app.id if app else Check.app_id.is_(None)
    return list(session.scalars(select(Check).where(where).order_by(Check.id)))


def set_status_page(session: Session, app: App, *, enabled: bool, display_name: str | None = None) -> StatusPageEntry:
    entry = session.get(StatusPageEntry, app.id)
    if entry is None:
        entry = StatusPageEntry(app_id=app.id, enabled=enabled, display_name=display_name)
        session.add(entry)
    else:
        entry.enabled = enabled
        if display_name is not None:
            entry.display_name = display_name or None
    session.flush()
    return entry


# ---- running --------------------------------------------------------------------------------------


def probes(session: Session, check: Check, *, release_id: int | None = None) -> list[health.Probe]:
    """The probes of one run: one for a URL or address, one per live web instance for an app path/port.

    An empty list means there is nothing to probe (an app without a running web instance): a failure.
    """
    common = dict(method=check.method, headers=dict(check.headers or {}), expected_status=check.expected_status,
                  body_contains=check.body_contains, timeout=check.timeout)
    if check.kind == "tcp":
        host, _, port = check.target.rpartition(":")
        if host:
            return [health.Probe("tcp", host=host.strip("[]"), port=int(port), timeout=check.timeout)]
        return [health.Probe("tcp", host="127.0.0.1", port=p, timeout=check.timeout, own=True)
                for p in _web_ports(session, check, release_id)]
    if not check.target.startswith("/"):
        return [health.Probe(check.kind, url=check.target, **common)]  # type: ignore[arg-type]
    return [health.Probe(check.kind, url=f"http://127.0.0.1:{p}{check.target}", own=True,  # type: ignore[arg-type]
                         **common) for p in _web_ports(session, check, release_id)]


def _web_ports(session: Session, check: Check, release_id: int | None) -> list[int]:
    query = select(Instance.port).where(Instance.app_id == check.app_id, Instance.process_type == "web",
                                        Instance.status == "running", Instance.port.is_not(None))
    if release_id is not None:
        query = query.where(Instance.release_id == release_id)
    return [p for p in session.scalars(query.order_by(Instance.created_at)) if p is not None]


def run_probes(probes_: Iterable[health.Probe], clients: health.Clients) -> health.Result:
    """Probe every target; the worst answer is the check's (the slowest response time is reported)."""
    results = [health.run(p, clients) for p in probes_]
    if not results:
        return health.Result(health.DOWN, None, "no running web instance to probe")
    order = {health.UP: 0, health.DEGRADED: 1, health.DOWN: 2}
    worst = max(results, key=lambda r: order[r.status])
    times = [r.response_ms for r in results if r.response_ms is not None]
    output = worst.output if worst.status == health.UP else "\n".join(
        r.output for r in results if r.status != health.UP)
    return health.Result(worst.status, max(times) if times else None, output[: health.MAX_OUTPUT])


def claim_due(session: Session, *, now: dt.datetime, limit: int) -> list[int]:
    """Ids of checks due now, each pushed to its next run with a guarded UPDATE so that of several
    processes exactly one runs it."""
    due = session.execute(
        select(Check.id, Check.next_run_at, Check.interval)
        .where(Check.enabled.is_(True), Check.monitor.is_(True), Check.next_run_at <= now)
        .order_by(Check.next_run_at).limit(limit)).all()
    won = []
    for check_id, next_run_at, interval in due:
        claimed = session.execute(
            update(Check).where(Check.id == check_id, Check.next_run_at == next_run_at)
            .values(next_run_at=now + dt.timedelta(seconds=interval))
            .execution_options(synchronize_session=False)).rowcount
        if claimed == 1:
            won.append(check_id)
    return won


def record(session: Session, check: Check, result: health.Result, *, now: dt.datetime | None = None) -> str | None:
    """Store a result, move the state machine, open or close the incident, emit the events.

    Returns the action taken ("open", "close" or None).
    """
    now = now or utcnow()
    session.add(CheckResult(check_id=check.id, ts=now, status=result.status, response_ms=result.response_ms,
                            output=None if result.status == health.UP else result.output))
    incident = session.scalar(select(Incident).where(Incident.check_id == check.id, Incident.ended_at.is_(None)))
    step = health.transition(check.state, check.failures, check.retries, result.status,
                             incident_open=incident is not None)
    check.state, check.failures = step.state, step.failures
    check.last_run_at, check.last_response_ms, check.last_output = now, result.response_ms, result.output
    common = dict(check_id=check.id, check=check.name, app_id=check.app_id)
    if step.action == "open":
        started = _streak_start(session, check.id, now)
        cause = result.output.splitlines()[0][:255] if result.output else "check failed"
        incident = Incident(check_id=check.id, app_id=check.app_id, started_at=started, cause=cause,
                            output=result.output)
        session.add(incident)
        session.flush()
        emit(session, "health.down", **common, cause=cause, failures=check.failures)
        emit(session, "incident.opened", **common, incident_id=incident.id, cause=cause,
             started_at=started.isoformat())
    elif step.action == "close" and incident is not None:
        incident.ended_at = now
        emit(session, "health.recovered", **common, state=check.state)
        emit(session, "incident.resolved", **common, incident_id=incident.id,
             duration=(now - incident.started_at).total_seconds())
    return step.action


def _streak_start(session: Session, check_id: int, now: dt.datetime) -> dt.datetime:
    """When the current run of failures began: the first 'down' result after the last good one."""
    session.flush()
    last_good = session.scalar(select(func.max(CheckResult.ts)).where(CheckResult.check_id == check_id,
                                                                      CheckResult.status != health.DOWN))
    query = select(func.min(CheckResult.ts)).where(CheckResult.check_id == check_id,
                                                   CheckResult.status == health.DOWN)
    if last_good is not None:
        query = query.where(CheckResult.ts > last_good)
    return session.scalar(query) or now
