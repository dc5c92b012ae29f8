"""The public status page: apps that opted in (and monitors marked status_page), their state, 90 daily
uptime bars and recent incidents. No login. Only names, states, percentages and times are rendered:
no ports, ids, URLs, hosts or check output (what the page shows is built here, field by field).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.db import utcnow
from slipway.observability import health, incidents
from slipway.observability.models import Check, Incident, StatusPageEntry
from slipway.web.deps import PlatformDep

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "status"
DAYS = 90
RECENT = dt.timedelta(days=14)
LABELS = {"healthy": "Operational", "degraded": "Degraded", "down": "Down", "unknown": "No data"}
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


def app_state(session: Session, app_id: int) -> str:
    states = list(session.scalars(select(Check.state).where(Check.app_id == app_id, Check.enabled.is_(True),
                                                            Check.monitor.is_(True))))
    return health.worst([s for s in states if s != "unknown"]) if any(s != "unknown" for s in states) else "unknown"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _bar_class(value: float | None) -> str:
    if value is None:
        return "none"
    if value >= 99.9:
        return "ok"
    return "minor" if value >= 99.0 else "major"


def _entry(session: Session, *, name: str, state: str, app_id: int | None, check_id: int | None,
           now: dt.datetime) -> dict[str, Any]:
    since = incidents.monitored_since(session, app_id=app_id, check_id=check_id)
    down = incidents.outages(session, app_id=app_id, check_id=check_id, since=now - dt.timedelta(days=DAYS), now=now)
    bars = incidents.daily(down, days=DAYS, since=since, now=now)
    for bar in bars:
        bar["class"] = _bar_class(bar["uptime"])  # type: ignore[arg-type]
    overall = incidents.uptime(down, max(now - dt.timedelta(days=DAYS), since), now) if since else None
    recent = []
    for incident, _ in incidents.listing(session, app_id=app_id, check_id=check_id, since=now - RECENT, limit=5):
        assert isinstance(incident, Incident)
        end = incident.ended_at or now
        recent.append({"started": incident.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                       "ongoing": incident.ended_at is None,
                       "duration": _duration((end - incident.started_at).total_seconds())})
    return {"name": name, "state": state, "label": LABELS.get(state, "No data"), "uptime": overall,
            "bars": bars, "incidents": recent}


def page_data(session: Session, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    entries = []
    apps = session.execute(select(App.id, App.name, StatusPageEntry.display_name)
                           .join(StatusPageEntry, StatusPageEntry.app_id == App.id)
                           .where(StatusPageEntry.enabled.is_(True)).order_by(App.name)).all()
    for app_id, app_name, display in apps:
        entries.append(_entry(session, name=display or app_name, state=app_state(session, app_id), app_id=app_id,
                              check_id=None, now=now))
    monitors = session.execute(select(Check.id, Check.name, Check.state)
                               .where(Check.app_id.is_(None), Check.status_page.is_(True), Check.enabled.is_(True))
                               .order_by(Check.name)).all()
    for check_id, name, state in monitors:
        entries.append(_entry(session, name=name, state=state, app_id=None, check_id=check_id, now=now))
    states = [e["state"] for e in entries if e["state"] != "unknown"]
    overall = health.worst(states) if states else "unknown"
    headline = {"healthy": "All systems operational", "degraded": "Some systems are degraded",
                "down": "Some systems are down", "unknown": "No data yet"}[overall]
    return {"entries": entries, "overall": overall, "headline": headline,
            "updated": now.strftime("%Y-%m-%d %H:%M UTC"), "days": DAYS}


def render(session: Session, *, title: str) -> str:
    return _env.get_template("page.html").render(title=title, **page_data(session))


def status_router(path: str) -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get(path, response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, platform: PlatformDep) -> HTMLResponse:
        with platform.sessions() as session:
            html = render(session, title=platform.settings.status_title)
        return HTMLResponse(html, headers={"Cache-Control": "public, max-age=30",
                                           "X-Content-Type-Options": "nosniff"})

    return router
