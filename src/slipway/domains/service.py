"""Custom domains of apps: add, list, remove. Plain functions with an explicit session; the caller commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.config import Settings
from slipway.db import utcnow
from slipway.domains import doctor, names
from slipway.domains.models import Domain
from slipway.errors import Conflict, Invalid, NotFound

CanSee = Callable[[App], bool]  # whether the caller may see an app (to name it in a conflict)


def reserved(settings: Settings) -> list[str]:
    """Names Slipway answers at itself: the base domain and the dashboard's own name."""
    out = [settings.base_domain.lower()]
    if settings.dashboard_domain:
        out.append(settings.dashboard_domain.lower())
    return out


def validate(settings: Settings, raw: str) -> str:
    """The normalised name, or Invalid saying why it cannot be an app's custom domain."""
    name = names.normalise(raw)
    if name.startswith("*."):
        raise Invalid(f"{name} is a wildcard: a wildcard certificate needs the DNS-01 challenge, which this "
                      "server has not configured",
                      "add each name on its own (shop.example.com, www.shop.example.com): each gets its own "
                      "certificate over HTTP-01")
    base = settings.base_domain.lower()
    if name == base:
        raise Invalid(f"{name} is the base domain of this server", f"apps already answer at <app>.{base}; "
                      "add a name of your own")
    if names.under(name, base):
        raise Invalid(f"{name} is under the base domain {base}", f"names under {base} belong to apps and "
                      f"previews (<app>.{base}): add a name outside it")
    if settings.dashboard_domain and name == settings.dashboard_domain.lower():
        raise Invalid(f"{name} is the dashboard's domain (SLIPWAY_DASHBOARD_DOMAIN)")
    return name


def add(session: Session, settings: Settings, app: App, raw: str, *, redirect_from: str | None = None,
        actor: str = "system", can_see: CanSee = lambda _: False) -> Domain:
    """Add `raw` (and `redirect_from`, which redirects to it) to `app`; Invalid or Conflict before anything is
    written, so a refused name leaves nothing behind."""
    name = validate(settings, raw)
    alias = validate(settings, redirect_from) if redirect_from else None
    if alias == name:
        raise Invalid(f"--redirect-from {alias} is the domain itself")
    for wanted in (name, alias):
        if wanted is not None:
            _free(session, app, wanted, can_see)
    domain = Domain(app_id=app.id, name=name, findings=[])
    session.add(domain)
    if alias is not None:
        session.add(Domain(app_id=app.id, name=alias, redirect_to=name, findings=[]))
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race with another add of the same name
        raise Conflict(f"{name} is already in use") from exc
    events.emit(session, "domain.added", app_id=app.id, actor=actor, app=app.name, domain=name,
                **({"redirect_from": alias} if alias else {}))
    return domain


def _free(session: Session, app: App, name: str, can_see: CanSee) -> None:
    taken = session.scalar(select(Domain).where(Domain.name == name))
    if taken is None:
        return
    if taken.app_id == app.id:
        raise Conflict(f"{name} is already a domain of {app.name}")
    owner = session.get(App, taken.app_id)
    # name the app only to someone who may see it: a domain must not reveal another team's apps
    who = f"the app {owner.name}" if owner is not None and can_see(owner) else "an app of another team"
    raise Conflict(f"{name} is already used by {who}", "remove it there first")


def get(session: Session, app: App, raw: str) -> Domain:
    try:
        name = names.normalise(raw)
    except Invalid:
        name = raw
    domain = session.scalar(select(Domain).where(Domain.app_id == app.id, Domain.name == name))
    if domain is None:
        raise NotFound(f"{raw} is not a domain of {app.name}")
    return domain


def list_for(session: Session, app: App) -> list[Domain]:
    return list(session.scalars(select(Domain).where(Domain.app_id == app.id).order_by(Domain.name)))


def remove(session: Session, app: App, raw: str, *, actor: str = "system") -> list[str]:
    """Remove a domain and the names that redirect to it; returns every name removed."""
    domain = get(session, app, raw)
    rows = [domain]
    if domain.redirect_to is None:
        rows += session.scalars(select(Domain).where(Domain.app_id == app.id, Domain.redirect_to == domain.name))
    for row in rows:
        session.delete(row)
    removed = [r.name for r in rows]
    events.emit(session, "domain.removed", app_id=app.id, actor=actor, app=app.name, domain=domain.name,
                removed=removed)
    return removed


def every(session: Session) -> list[Domain]:
    return list(session.scalars(select(Domain).order_by(Domain.name)))


def names_of(session: Session, app_ids: list[int]) -> dict[int, list[Domain]]:
    out: dict[int, list[Domain]] = {i: [] for i in app_ids}
    if not app_ids:
        return out
    for domain in session.scalars(select(Domain).where(or_(*(Domain.app_id == i for i in app_ids)))
                                  .order_by(Domain.name)):
        out[domain.app_id].append(domain)
    return out


def record_findings(session: Session, domain: Domain, findings: list[doctor.Finding], *,
                    actor: str = "system") -> bool:
    """Store the doctor's report; True when the readiness changed (the router must learn it)."""
    status = "ok" if doctor.passed(findings) else "failed"
    changed = status != domain.dns_status and "ok" in (status, domain.dns_status)
    before = domain.dns_status
    domain.dns_status = status
    domain.findings = [f.as_dict() for f in findings]
    domain.checked_at = utcnow()
    if before != status:
        app = session.get(App, domain.app_id)
        events.emit(session, "domain.checked", app_id=domain.app_id, actor=actor, app=app.name if app else None,
                    domain=domain.name, dns_status=status,
                    failed=[f.message for f in findings if not f.ok])
    return changed


def change(session: Session, domain: Domain, *, https_redirect: bool | None = None, hsts: bool | None = None,
           actor: str = "system") -> None:
    changes = {k: v for k, v in {"https_redirect": https_redirect, "hsts": hsts}.items()
               if v is not None and getattr(domain, k) != v}
    for key, value in changes.items():
        setattr(domain, key, value)
    if changes:
        events.emit(session, "domain.updated", app_id=domain.app_id, actor=actor, domain=domain.name, **changes)


def certificate_summary(session: Session, app_ids: list[int]) -> dict[str, object]:
    """For the overview: the certificate that ends soonest among these apps' domains, and the names whose
    served certificate is not the expected one."""
    rows = [d for ds in names_of(session, app_ids).values() for d in ds]
    dated = [d for d in rows if d.cert_not_after is not None]
    nearest = min(dated, key=lambda d: d.cert_not_after or dt.datetime.max.replace(tzinfo=dt.UTC), default=None)
    return {"nearest": nearest, "errors": [d for d in rows if d.last_error]}
