"""Running the domain doctor and acting on its report: on add, on demand, and again with backoff while a
domain fails (so that a user who fixes DNS later gets the certificate without asking)."""

from __future__ import annotations

import datetime as dt
import logging

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.domains import basetls, certs, doctor, service
from slipway.platform import Platform
from slipway.routing import service as routing

log = logging.getLogger(__name__)
RECHECK_MIN = dt.timedelta(minutes=1)
RECHECK_MAX = dt.timedelta(hours=1)


def run_doctor(platform: Platform, app_name: str, name: str, *, actor: str) -> None:
    """Run the doctor outside any transaction (it waits on DNS and HTTP), then record what it found and
    route the name over HTTPS when it passed."""
    findings = doctor.run(platform.settings, name)
    with transaction(platform.sessions) as session:
        domain = service.get(session, app_service.get(session, app_name), name)
        changed = service.record_findings(session, domain, findings, actor=actor)
    if changed:
        routing.apply(platform)


def recheck_interval(age: dt.timedelta) -> dt.timedelta:
    """A quarter of the domain's age, between 1 minute and 1 hour: quick while the user is setting DNS up,
    rare for a name left misconfigured (DNS lookups and a fetch each time, never a CA request)."""
    return min(max(age / 4, RECHECK_MIN), RECHECK_MAX)


def recheck_failing(platform: Platform, *, now: dt.datetime | None = None) -> int:
    """The periodic job: run the doctor again on every failing domain that is due; returns how many ran."""
    now = now or utcnow()
    with platform.sessions() as session:
        due = []
        for domain in service.every(session):
            if domain.dns_status == "ok":
                continue
            last = domain.checked_at or domain.created_at
            if now - last >= recheck_interval(now - domain.created_at):
                app = session.get(App, domain.app_id)
                if app is not None:
                    due.append((app.name, domain.name))
    for app_name, name in due:
        try:
            run_doctor(platform, app_name, name, actor="system")
        except Exception:  # one bad name must not stop the others; the next round tries again
            log.exception("the domain doctor failed on %s", name)
    return len(due)


def recheck_base_domain(platform: Platform, *, now: dt.datetime | None = None) -> bool:
    """The periodic job for the app hosts: the doctor on a probe name under the base domain until it passes
    once; then the routes are applied again, and only then does Caddy ask the CA for the app hosts."""
    if not basetls.check(platform.settings, now=now):
        return False
    routing.apply(platform)
    return True


def add_and_check(platform: Platform, app_name: str, raw: str, *, redirect_from: str | None = None,
                  https_redirect: bool = True, hsts: bool = False, actor: str = "system",
                  can_see: service.CanSee = lambda _: False) -> list[str]:
    """Add a domain (and the name redirecting to it), serve it over HTTP at once (the doctor's fetch goes
    through the router), then run the doctor on each name. Returns the names added, the domain first."""
    with transaction(platform.sessions) as session:
        app = app_service.get(session, app_name)
        domain = service.add(session, platform.settings, app, raw, redirect_from=redirect_from, actor=actor,
                             can_see=can_see)
        domain.https_redirect, domain.hsts = https_redirect, hsts
        added = [domain.name] + [d.name for d in service.list_for(session, app) if d.redirect_to == domain.name]
    routing.apply(platform)
    for name in added:
        run_doctor(platform, app_name, name, actor=actor)
    return added


def check_now(platform: Platform, app_name: str, raw: str, *, actor: str) -> str:
    """`domains check`: the doctor, then a read of the certificate served; returns the stored name."""
    with platform.sessions() as session:
        name = service.get(session, app_service.get(session, app_name), raw).name
    run_doctor(platform, app_name, name, actor=actor)
    certs.refresh(platform, names=[name])
    return name


def remove(platform: Platform, app_name: str, raw: str, *, actor: str) -> list[str]:
    """Remove a domain (and the names redirecting to it) and stop routing them."""
    with transaction(platform.sessions) as session:
        removed = service.remove(session, app_service.get(session, app_name), raw, actor=actor)
    routing.apply(platform)
    return removed
