"""From the database to what the router serves for custom domains: their routes and the TLS plan."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from slipway.config import Settings
from slipway.crypto import Box
from slipway.domains import basetls, service
from slipway.domains.models import Domain
from slipway.routing.base import Route, Upstream
from slipway.routing.tls import Site, TlsPlan, Uploaded

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


def served(domain: Domain) -> bool:
    """A certificate for the name was seen served by the router, and it is the expected one."""
    return domain.cert_fingerprint is not None and domain.last_error is None


def expects_certificate(domain: Domain) -> str:
    """acme | uploaded | none: what the router should present for the name."""
    if domain.cert_source == "uploaded" and domain.cert_enc:
        return "uploaded"
    return "acme" if domain.dns_status == "ok" else "none"


def extend(session: Session, settings: Settings, box: Box,
           app_routes: dict[int, Route]) -> tuple[list[Route], TlsPlan]:
    """Routes for every custom domain (the same target as its app's host, by app id) and the plan for HTTPS."""
    routes: list[Route] = []
    sites: list[Site] = []
    uploaded: list[Uploaded] = []
    for domain in service.every(session):
        app_route = app_routes.get(domain.app_id)
        if app_route is None:
            continue
        kind = expects_certificate(domain)
        if domain.redirect_to is None:
            routes.append(Route(host=domain.name, upstreams=app_route.upstreams, static_root=app_route.static_root,
                                app=app_route.app))
        if kind == "uploaded":
            data = json.loads(box.decrypt(domain.cert_enc or ""))
            uploaded.append(Uploaded(cert_pem=data["cert"], key_pem=data["key"]))
        sites.append(Site(host=domain.name, certificate=kind, https_redirect=domain.https_redirect and served(domain),
                          hsts=domain.hsts, redirect_to=domain.redirect_to))
    if settings.dashboard_domain:
        routes.append(Route(host=settings.dashboard_domain.lower(), upstreams=(Upstream(settings.listen),)))
        sites.append(Site(host=settings.dashboard_domain.lower(), certificate="acme", https_redirect=True))
    if basetls.ready(settings):  # wanted, and the doctor passed for the base domain once
        sites += [Site(host=r.host, certificate="acme") for r in app_routes.values()]
    return routes, plan(settings, sites, uploaded)


def plan(settings: Settings, sites: list[Site], uploaded: list[Uploaded]) -> TlsPlan:
    staging = settings.acme_staging_ca or (LETS_ENCRYPT_STAGING if settings.acme_ca == LETS_ENCRYPT else "")
    return TlsPlan(sites=tuple(sites), uploaded=tuple(uploaded), control_plane=settings.listen,
                   acme_ca=settings.acme_ca, acme_test_ca=staging, acme_email=settings.acme_email,
                   acme_ca_root=settings.acme_ca_root)

