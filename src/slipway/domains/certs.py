"""The certificate actually served for each hostname: a TLS handshake against the router with the name as
SNI, compared with what should be served. "Served ≠ expected" (Caddy's fallback, an old certificate, none)
is an error that the page shows and that raises `cert.renewal_failed`; a new certificate raises
`cert.issued`; one close to its end raises `cert.expiring` at 21, 7 and 2 days."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from slipway import events
from slipway.db import transaction, utcnow
from slipway.domains import service
from slipway.domains.models import Domain
from slipway.domains.routes import expects_certificate
from slipway.platform import Platform

EXPIRY_WARNINGS = (21, 7, 2)  # days before the end at which cert.expiring is sent
# how long a first issuance may take before "no certificate served" is an error (and cert.renewal_failed):
# Caddy retries a failed order itself with backoff, the first retries within minutes
ISSUANCE_GRACE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Served:
    hostname: str
    cert: x509.Certificate | None = None
    error: str | None = None

    @property
    def fingerprint(self) -> str | None:
        return fingerprint(self.cert) if self.cert else None


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


Fetcher = Callable[..., "Served"]  # (host, port, hostname) → what the router presents


def fetch(host: str, port: int, hostname: str, timeout: float = 5.0) -> Served:
    """The leaf certificate presented at host:port for SNI `hostname` (not verified: we judge it ourselves)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        return Served(hostname, error=f"no certificate served for {hostname}: {exc.__class__.__name__}: {exc}")
    if not der:
        return Served(hostname, error=f"no certificate served for {hostname}")
    return Served(hostname, cert=x509.load_der_x509_certificate(der))


def names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return []


def covers(cert: x509.Certificate, hostname: str) -> bool:
    for name in names_of(cert):
        if name == hostname or (name.startswith("*.") and hostname.partition(".")[2] == name[2:]):
            return True
    return False


def issuer_of(cert: x509.Certificate) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        attrs = cert.issuer.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return cert.issuer.rfc4514_string()


def judge(served: Served, *, now: dt.datetime, expected_fingerprint: str | None = None) -> str | None:
    """Why the served certificate is not the expected one (None: it is)."""
    if served.cert is None:
        return served.error or f"no certificate served for {served.hostname}"
    cert = served.cert
    if not covers(cert, served.hostname):
        return (f"the certificate served for {served.hostname} is for {', '.join(names_of(cert)) or 'no name'} "
                f"(issuer {issuer_of(cert)}): the router has no certificate of its own for this name")
    if cert.not_valid_after_utc <= now:
        return f"the certificate served for {served.hostname} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if expected_fingerprint is not None and served.fingerprint != expected_fingerprint:
        return f"the certificate served for {served.hostname} is not the uploaded one"
    return None


def refresh(platform: Platform, *, names: list[str] | None = None, now: dt.datetime | None = None,
            fetcher: Fetcher = fetch) -> int:
    """Read the served certificate of every domain expecting one (or of `names`), record it and raise the
    events; returns how many were read. Re-applies the routes when a name's served state changed (its HTTP
    → HTTPS redirect starts once the certificate is served)."""
    now = now or utcnow()
    settings = platform.settings
    with platform.sessions() as session:
        wanted = [(d.id, d.name, expects_certificate(d), _uploaded_fingerprint(platform, d))
                  for d in service.every(session) if names is None or d.name in names]
    results = {}
    for domain_id, name, kind, fingerprint in wanted:
        if kind == "none":
            continue
        results[domain_id] = (fetcher("127.0.0.1", settings.https_port, name), fingerprint)
    changed = False
    with transaction(platform.sessions) as session:
        for domain_id, (served, fingerprint) in results.items():
            # locked and re-read: another server process (scale mode) recording the same name waits, then
            # sees the state this one wrote, so each cert.* event is emitted once
            domain = session.get(Domain, domain_id, with_for_update=True, populate_existing=True)
            if domain is not None:
                changed = _record(session, domain, served, judge(served, now=now, expected_fingerprint=fingerprint),
                                  now) or changed
    if changed:
        from slipway.routing import service as routing

        routing.apply(platform)
    return len(results)


def _uploaded_fingerprint(platform: Platform, domain: Domain) -> str | None:
    if expects_certificate(domain) != "uploaded":
        return None
    from slipway.domains import upload

    return upload.fingerprint_of(platform.box, domain)


def _record(session: Session, domain: Domain, served: Served, error: str | None, now: dt.datetime) -> bool:
    was_served = domain.cert_fingerprint is not None and domain.last_error is None
    if error is None and served.cert is not None:
        cert = served.cert
        if served.fingerprint != domain.cert_fingerprint:
            events.emit(session, "cert.issued", app_id=domain.app_id, domain=domain.name, issuer=issuer_of(cert),
                        not_after=cert.not_valid_after_utc.isoformat(), source=domain.cert_source)
            domain.expiry_warned = None
        domain.cert_issuer, domain.cert_not_after = issuer_of(cert), cert.not_valid_after_utc
        domain.cert_fingerprint, domain.last_error = served.fingerprint, None
        _warn_expiry(session, domain, now)
    elif _issuing(domain, now):
        pass  # the CA is being asked for the first certificate: not an error yet
    else:
        if domain.last_error is None:  # newly wrong: one event, not one per round
            events.emit(session, "cert.renewal_failed", app_id=domain.app_id, domain=domain.name, error=error,
                        first_issuance=domain.cert_fingerprint is None and domain.cert_source == "acme")
        domain.last_error = error
        if domain.cert_not_after is not None:
            _warn_expiry(session, domain, now)
    domain.cert_checked_at = now
    return was_served != (domain.cert_fingerprint is not None and domain.last_error is None)


def _issuing(domain: Domain, now: dt.datetime) -> bool:
    """An ACME name that never had a certificate, within ISSUANCE_GRACE of its doctor passing."""
    if domain.cert_source != "acme" or domain.cert_fingerprint is not None:
        return False
    return now - (domain.checked_at or domain.created_at) < ISSUANCE_GRACE


def _warn_expiry(session: Session, domain: Domain, now: dt.datetime) -> None:
    """cert.expiring once per threshold crossed (21, 7, 2 days), the smallest one reached."""
    if domain.cert_not_after is None:
        return
    left = (domain.cert_not_after - now).total_seconds() / 86400
    reached = [t for t in EXPIRY_WARNINGS if left <= t]
    if not reached:
        return
    threshold = min(reached)
    if domain.expiry_warned is not None and domain.expiry_warned <= threshold:
        return
    domain.expiry_warned = threshold
    events.emit(session, "cert.expiring", app_id=domain.app_id, domain=domain.name, days_left=int(left),
                threshold=threshold, not_after=domain.cert_not_after.isoformat(), source=domain.cert_source,
                renews_itself=domain.cert_source == "acme")


def periodic_refresh(platform: Platform, *, now: dt.datetime | None = None) -> int:
    """The periodic job: read names still waiting for their certificate at every round (so the HTTP →
    HTTPS redirect starts soon after issuance), every other name once per SLIPWAY_CERT_CHECK_INTERVAL."""
    now = now or utcnow()
    due = dt.timedelta(seconds=platform.settings.cert_check_interval)
    with platform.sessions() as session:
        names = [d.name for d in service.every(session) if expects_certificate(d) != "none" and (
            d.cert_fingerprint is None or d.last_error is not None or d.cert_checked_at is None
            or now - d.cert_checked_at >= due)]
    return refresh(platform, names=names, now=now) if names else 0
