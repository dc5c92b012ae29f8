"""A user's own certificate: validated (key matches, chain complete, names cover the domain, not expired),
stored encrypted with the platform's key, loaded into the router from memory (never written in clear)."""

from __future__ import annotations

import datetime as dt
import json

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from sqlalchemy.orm import Session

from slipway import events
from slipway.crypto import Box
from slipway.db import utcnow
from slipway.domains.certs import covers, fingerprint, issuer_of, names_of
from slipway.domains.models import Domain
from slipway.errors import Invalid

MAX_CHAIN = 10


def parse(cert_pem: str, key_pem: str, hostname: str, *, now: dt.datetime | None = None,
          roots: list[x509.Certificate] | None = None) -> list[x509.Certificate]:
    """The chain, leaf first, or Invalid with what is wrong. `roots`: CAs trusted to end the chain
    (default: the system's); a chain that reaches none of them is incomplete."""
    now = now or utcnow()
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        raise Invalid("--cert is not a PEM certificate chain") from None
    if not chain or len(chain) > MAX_CHAIN:
        raise Invalid(f"--cert must hold the certificate and its intermediates (1 to {MAX_CHAIN} certificates)")
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise Invalid("--key is not an unencrypted PEM private key") from None
    leaf = chain[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise Invalid("the key does not match the certificate", "give the private key of the first certificate "
                      "in --cert (the leaf)")
    if not covers(leaf, hostname):
        raise Invalid(f"the certificate is for {', '.join(names_of(leaf)) or 'no DNS name'}, not {hostname}")
    if leaf.not_valid_after_utc <= now:
        raise Invalid(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise Invalid(f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    _verify_chain(chain, hostname, now, roots)
    return chain


def load_roots(path: str) -> list[x509.Certificate]:
    """A PEM bundle's certificates. Some roots in common bundles have non-positive serials, which
    cryptography warns about (and will refuse): they are still what clients trust, so they are kept."""
    import warnings

    with open(path, "rb") as bundle, warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(bundle.read())


def system_roots() -> list[x509.Certificate]:
    import certifi

    return load_roots(certifi.where())


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _verify_chain(chain: list[x509.Certificate], hostname: str, now: dt.datetime,
                  roots: list[x509.Certificate] | None) -> None:
    if roots is None:
        roots = system_roots()
    # a self-contained chain (it ends at its own root) is checked against that root, too
    trusted = list(roots) + [c for c in chain[1:] if c.issuer == c.subject and _self_signed(c)]
    if not trusted:
        raise Invalid("the chain is incomplete: no trusted root")
    verifier = PolicyBuilder().store(Store(trusted)).time(now).build_server_verifier(x509.DNSName(hostname))
    try:
        verifier.verify(chain[0], chain[1:])
    except VerificationError as exc:
        raise Invalid(f"the chain is incomplete or invalid: {exc}", "put the certificate first, then every "
                      "intermediate up to (not necessarily including) a trusted root") from None


def _self_signed(cert: x509.Certificate) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def store(session: Session, box: Box, domain: Domain, chain: list[x509.Certificate], key_pem: str, *,
          actor: str) -> None:
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    domain.cert_source = "uploaded"
    domain.cert_enc = box.encrypt(json.dumps({"cert": pem, "key": key_pem}))
    # until the router is read again, the upload is what is expected; served state is re-read after the load
    domain.cert_fingerprint, domain.last_error, domain.expiry_warned = None, None, None
    domain.cert_issuer, domain.cert_not_after = issuer_of(chain[0]), chain[0].not_valid_after_utc
    events.emit(session, "cert.uploaded", app_id=domain.app_id, actor=actor, domain=domain.name,
                issuer=issuer_of(chain[0]), not_after=chain[0].not_valid_after_utc.isoformat())


def fingerprint_of(box: Box, domain: Domain) -> str | None:
    if not domain.cert_enc:
        return None
    data = json.loads(box.decrypt(domain.cert_enc))
    return fingerprint(x509.load_pem_x509_certificates(data["cert"].encode())[0])
