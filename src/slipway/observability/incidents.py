"""Incidents and uptime: uptime is 100 % minus the share of the window covered by incidents.

Counting from incidents rather than from every stored result keeps 90-day figures cheap (a handful of
rows) and independent of how long results are kept. The window starts no earlier than the first check
of the app was created: time nobody watched is not counted as up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from slipway.db import utcnow
from slipway.deploys.models import Deploy
from slipway.observability.models import Check, Incident

WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30),
           "90d": dt.timedelta(days=90)}
Interval = tuple[dt.datetime, dt.datetime]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined (two checks down at once are one outage)."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def uptime(outages: list[Interval], start: dt.datetime, end: dt.datetime) -> float | None:
    """Percent of [start, end) not covered by the (merged) outages; None for an empty window."""
    total = (end - start).total_seconds()
    if total <= 0:
        return None
    down = sum(max(0.0, (min(e, end) - max(s, start)).total_seconds()) for s, e in outages)
    return round(100.0 * (1 - down / total), 4)


def daily(outages: list[Interval], *, days: int, since: dt.datetime | None,
          now: dt.datetime) -> list[dict[str, object]]:
    """One entry per UTC day, oldest first: the day's uptime (None before monitoring began)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    bars = []
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start, end = day, min(day + dt.timedelta(days=1), now)
        if since is not None:
            start = max(start, since)
        value = uptime(outages, start, end) if since is not None and start < end else None
        bars.append({"date": day.date().isoformat(), "uptime": value})
    return bars


def outages(session: Session, *, app_id: int | None = None, check_id: int | None = None,
            since: dt.datetime, now: dt.datetime) -> list[Interval]:
    query = select(Incident.started_at, Incident.ended_at).where(
        or_(Incident.ended_at.is_(None), Incident.ended_at > since))
    if app_id is not None:
        query = query.where(Incident.app_id == app_id)
    if check_id is not None:
        query = query.where(Incident.check_id == check_id)
    return merge((start, end or now) for start, end in session.execute(query))


def monitored_since(session: Session, *, app_id: int | None = None, check_id: int | None = None) -> dt.datetime | None:
    """When uptime starts counting: the first monitoring check, and for an app's checks not before the app
    first served (an app that never ran was not down: its uptime is unknown, None)."""
    query = select(func.min(Check.created_at)).where(Check.monitor.is_(True))
    if app_id is not None:
        query = query.where(Check.app_id == app_id)
    if check_id is not None:
        query = query.where(Check.id == check_id)
    since = session.scalar(query)
    owner = app_id if app_id is not None else \
        session.scalar(select(Check.app_id).where(Check.id == check_id)) if check_id is not None else None
    if since is None or owner is None:
        return since
    served = first_served(session, owner)
    return None if served is None else max(since, served)


def first_served(session: Session, app_id: int) -> dt.datetime | None:
    """When traffic first reached a release of the app (deploys from before live_at was kept: their end)."""
    return session.scalar(select(func.min(func.coalesce(Deploy.live_at, Deploy.finished_at))).where(
        Deploy.app_id == app_id, Deploy.kind != "stop",
        or_(Deploy.live_at.is_not(None), Deploy.status == "succeeded")))


def uptimes(session: Session, *, app_id: int | None = None, check_id: int | None = None,
            now: dt.datetime | None = None) -> dict[str, float | None]:
    now = now or utcnow()
    since = monitored_since(session, app_id=app_id, check_id=check_id)
    if since is None:
        return dict.fromkeys(WINDOWS)
    down = outages(session, app_id=app_id, check_id=check_id, since=now - max(WINDOWS.values()), now=now)
    return {name: uptime(down, max(now - span, since), now) for name, span in WINDOWS.items()}


def listing(session: Session, *, app_id: int | None = None, check_id: int | None = None,
            open_only: bool = False, since: dt.datetime | None = None, limit: int = 100) -> list[tuple[Incident, str]]:
    """Incidents newest first, with the name of their check."""
    query = select(Incident, Check.name).join(Check, Check.id == Incident.check_id)
    if app_id is not None:
        query = query.where(Incident.app_id == app_id)
    if check_id is not None:
        query = query.where(Incident.check_id == check_id)
    if open_only:
        query = query.where(Incident.ended_at.is_(None))
    if since is not None:
        query = query.where(or_(Incident.ended_at.is_(None), Incident.ended_at >= since))
    rows = session.execute(query.order_by(Incident.started_at.desc(), Incident.id.desc()).limit(limit)).all()
    return [(incident, name) for incident, name in rows]
