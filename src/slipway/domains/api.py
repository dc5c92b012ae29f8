"""/api/v1/apps/{name}/domains (add, list, show, check, change, remove, upload a certificate) and the
doctor's token, served to whoever fetches it through a public name."""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.config import Settings
from slipway.db import transaction
from slipway.domains import basetls, certs, checks, doctor, names, service, upload
from slipway.domains.checks import add_and_check
from slipway.domains.models import Domain
from slipway.domains.routes import expects_certificate, served
from slipway.domains.schemas import (
    CertificateOut,
    CertUpload,
    DomainIn,
    DomainOut,
    DomainPatch,
    FindingOut,
    RecordOut,
    ServedCertOut,
)
from slipway.errors import Invalid, NotFound
from slipway.platform import Platform
from slipway.routing import service as routing
from slipway.web.deps import AccessDep, CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1/apps/{name}/domains", tags=["domains"])
token_router = APIRouter(tags=["domains"])
certs_router = APIRouter(prefix="/api/v1/certs", tags=["domains"])
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}\Z")


def days_left(not_after: dt.datetime | None, now: dt.datetime | None = None) -> int | None:
    if not_after is None:
        return None
    return int((not_after - (now or dt.datetime.now(dt.UTC))).total_seconds() // 86400)


def records(platform: Platform, domain: Domain) -> list[RecordOut]:
    """The DNS records the user should create for `domain`."""
    ips = doctor.public_ips(platform.settings)
    out = [RecordOut(type="AAAA" if ":" in ip else "A", name=domain.name, value=ip) for ip in ips]
    if domain.name.count(".") >= 2:  # a subdomain may CNAME instead (an apex cannot)
        out.append(RecordOut(type="CNAME", name=domain.name, value=doctor.cname_target(platform.settings)))
    return out


def domain_out(session: Session, platform: Platform, domain: Domain) -> DomainOut:
    app = session.get(App, domain.app_id)
    cert = CertificateOut(source=domain.cert_source, served=served(domain), issuer=domain.cert_issuer,
                          not_after=domain.cert_not_after, days_left=days_left(domain.cert_not_after),
                          checked_at=domain.cert_checked_at, last_error=domain.last_error)
    return DomainOut(name=domain.name, display_name=names.display(domain.name), app=app.name if app else "",
                     redirect_to=domain.redirect_to, dns_status=domain.dns_status,
                     findings=[FindingOut(**f) for f in domain.findings or []], checked_at=domain.checked_at,
                     https_redirect=domain.https_redirect, hsts=domain.hsts, records=records(platform, domain),
                     certificate=cert, created_at=domain.created_at)


@router.get("", response_model=list[DomainOut])
def list_domains(name: str, platform: PlatformDep, _: CurrentPrincipal) -> list[DomainOut]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return [domain_out(session, platform, d) for d in service.list_for(session, app)]


@router.post("", response_model=DomainOut, status_code=201)
def add_domain(name: str, body: DomainIn, platform: PlatformDep, who: CurrentPrincipal,
               access: AccessDep) -> DomainOut:
    """Add a domain, then run the doctor on it (and on the redirecting name); a certificate is asked for
    once it passes."""
    added = add_and_check(platform, name, body.name, redirect_from=body.redirect_from,
                          https_redirect=body.https_redirect, hsts=body.hsts, actor=who.actor,
                          can_see=lambda other: access.can_app("app:read", other))
    return show_domain(name, added[0], platform, who)


@router.get("/{domain}", response_model=DomainOut)
def show_domain(name: str, domain: str, platform: PlatformDep, _: CurrentPrincipal) -> DomainOut:
    with platform.sessions() as session:
        return domain_out(session, platform, service.get(session, app_service.get(session, name), domain))


@router.post("/{domain}/check", response_model=DomainOut)
def check_domain(name: str, domain: str, platform: PlatformDep, who: CurrentPrincipal) -> DomainOut:
    """Run the doctor now; also reads the certificate the router serves for the name."""
    return show_domain(name, checks.check_now(platform, name, domain, actor=who.actor), platform, who)


@router.patch("/{domain}", response_model=DomainOut)
def change_domain(name: str, domain: str, body: DomainPatch, platform: PlatformDep,
                  who: CurrentPrincipal) -> DomainOut:
    with transaction(platform.sessions) as session:
        row = service.get(session, app_service.get(session, name), domain)
        service.change(session, row, https_redirect=body.https_redirect, hsts=body.hsts, actor=who.actor)
        found = row.name
    routing.apply(platform)
    return show_domain(name, found, platform, who)


@router.delete("/{domain}", status_code=204)
def remove_domain(name: str, domain: str, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    checks.remove(platform, name, domain, actor=who.actor)
    return Response(status_code=204)


@token_router.get(doctor.TOKEN_PATH + "{nonce}", include_in_schema=False)
def doctor_token(nonce: str, platform: PlatformDep) -> PlainTextResponse:
    """The proof for a nonce, fetched by the doctor through the router and a public name."""
    if not NONCE.match(nonce):
        raise NotFound("no such token")
    return PlainTextResponse(doctor.proof(platform.settings, nonce))


@router.put("/{domain}/certificate", response_model=DomainOut)
def upload_certificate(name: str, domain: str, body: CertUpload, platform: PlatformDep,
                       who: CurrentPrincipal) -> DomainOut:
    """Serve your own certificate for the name (validated; stored encrypted; never renewed by Slipway)."""
    with transaction(platform.sessions) as session:
        row = service.get(session, app_service.get(session, name), domain)
        if row.redirect_to is not None:
            raise Invalid(f"{row.name} only redirects to {row.redirect_to}: upload a certificate for that name")
        chain = upload.parse(body.cert, body.key, row.name, roots=_trusted_roots(platform))
        upload.store(session, platform.box, row, chain, body.key, actor=who.actor)
        found = row.name
    routing.apply(platform)
    certs.refresh(platform, names=[found])
    return show_domain(name, found, platform, who)


def _trusted_roots(platform: Platform) -> list[x509.Certificate] | None:
    """The system's roots, plus SLIPWAY_ACME_CA_ROOT's (a private CA's chains are complete too)."""
    if not platform.settings.acme_ca_root:
        return None
    return upload.system_roots() + upload.load_roots(platform.settings.acme_ca_root)


@certs_router.get("", response_model=list[ServedCertOut])
def list_certs(platform: PlatformDep, _: CurrentPrincipal, access: AccessDep) -> list[ServedCertOut]:
    """Every hostname Slipway serves for the apps one can see (and the dashboard's name), each read from the
    certificate the router presents for it now; hosts served over HTTP only are listed as such."""
    settings = platform.settings
    with platform.sessions() as session:
        visible = {a.id: a for a in app_service.list_all(session) if access.can_app("app:read", a)}
        wanted: list[tuple[str, str | None, str, str, str | None]] = [
            (d.name, visible[d.app_id].name, "domain", expects_certificate(d),
                   upload.fingerprint_of(platform.box, d))
                  for d in service.every(session) if d.app_id in visible]
        wanted += [(routing.host_for(settings, a), a.name, "app", _app_hosts_expect(settings), None)
                   for a in visible.values()]
    if settings.dashboard_domain:
        wanted.append((settings.dashboard_domain.lower(), None, "dashboard", "acme", None))
    now = dt.datetime.now(dt.UTC)
    blocker = basetls.load(settings).failure()
    with ThreadPoolExecutor(max_workers=8) as pool:  # one TLS handshake per name, a few at a time
        return list(pool.map(lambda w: _served_out(settings.https_port, now, *w, blocker=blocker),
                             sorted(wanted, key=lambda w: w[0])))


def _app_hosts_expect(settings: Settings) -> str:
    """acme (certificates requested) | pending (wanted, the base domain's doctor has not passed) | none."""
    if not basetls.wanted(settings):
        return "none"
    return "acme" if basetls.load(settings).passed else "pending"


def _served_out(port: int, now: dt.datetime, hostname: str, app_name: str | None, kind: str, expected: str,
                fingerprint: str | None, *, blocker: str | None = None) -> ServedCertOut:
    if expected == "none":  # HTTP only (no certificate expected): nothing to read
        return ServedCertOut(hostname=hostname, app=app_name, kind=kind, expected=expected, ok=True)
    if expected == "pending":  # wanted, but nothing is asked of the CA until the base domain's doctor passes
        return ServedCertOut(hostname=hostname, app=app_name, kind=kind, expected=expected, ok=False, error=blocker)
    served = certs.fetch("127.0.0.1", port, hostname)
    error = certs.judge(served, now=now, expected_fingerprint=fingerprint)
    cert = served.cert
    return ServedCertOut(hostname=hostname, app=app_name, kind=kind, expected=expected, ok=error is None,
                         issuer=certs.issuer_of(cert) if cert else None,
                         subject=", ".join(certs.names_of(cert)) if cert else None,
                         not_after=cert.not_valid_after_utc if cert else None,
                         days_left=days_left(cert.not_valid_after_utc, now) if cert else None,
                         fingerprint=served.fingerprint, error=error)
