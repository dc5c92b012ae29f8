"""Served certificates judged and recorded with certificates made here and a clock we move: cert.issued,
cert.expiring at 21/7/2 days (once each), cert.renewal_failed when the served one is not the expected one;
uploads validated (key, chain, names, dates) and stored encrypted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from slipway.db import transaction
from slipway.domains import certs
from slipway.domains.models import Domain
from slipway.events import Event
from tests.security_world import World

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
API = "/api/v1/apps/alpha/domains"


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_chain(names: list[str], *, days: int = 90,
               start: dt.datetime = NOW) -> tuple[str, str, str, x509.Certificate]:
    """(chain PEM: leaf + intermediate, leaf key PEM, root PEM, leaf)."""
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, cn),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(subject: str, issuer: str, key, signer) -> x509.Certificate:  # type: ignore[no-untyped-def]
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start - dt.timedelta(days=1)).not_valid_after(start + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
                .sign(signer, hashes.SHA256()))
    root_key, mid_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = ca("Test Root", "Test Root", root_key, root_key)
    mid = ca("Test Intermediate", "Test Root", mid_key, root_key)
    leaf = (x509.CertificateBuilder().subject_name(name(names[0])).issuer_name(name("Test Intermediate"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start - dt.timedelta(hours=1)).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(mid_key.public_key()), critical=False)
            .sign(mid_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return _pem(leaf) + _pem(mid), key_pem, _pem(root), leaf


def _ready(world: World, name: str) -> None:
    assert world.call("developer", "POST", API, json={"name": name}).status_code == 201
    with transaction(world.platform.sessions) as session:
        session.scalar(select(Domain).where(Domain.name == name)).dns_status = "ok"  # type: ignore[union-attr]


def _kinds(world: World) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with world.platform.sessions() as session:
        return [(e.kind, e.payload) for e in session.scalars(select(Event).where(Event.kind.like("cert.%"))
                                                             .order_by(Event.id))]


def test_issued_then_expiring_at_each_threshold_once_then_a_lost_certificate_is_an_error(dworld: World) -> None:
    _ready(dworld, "shop.example.com")
    _, _, _, leaf = make_chain(["shop.example.com"], days=30)
    served = certs.Served("shop.example.com", cert=leaf)
    fetch = lambda *a, **k: served  # noqa: E731 (what the router presents, as a TLS handshake would read it)
    certs.refresh(dworld.platform, now=NOW, fetcher=fetch)
    assert [k for k, _ in _kinds(dworld)] == ["cert.issued"]
    body = dworld.call("viewer", "GET", f"{API}/shop.example.com").json()["certificate"]
    assert body["served"] and body["issuer"] == "Test Intermediate" and body["not_after"].startswith("2027-01-06")
    for day, expected in [(5, []), (10, ["cert.expiring"]), (11, []), (24, ["cert.expiring"]),
                          (25, []), (28, ["cert.expiring"]), (29, [])]:
        before = len(_kinds(dworld))
        certs.refresh(dworld.platform, now=NOW + dt.timedelta(days=day), fetcher=fetch)
        assert [k for k, _ in _kinds(dworld)[before:]] == expected, day
    assert [p["threshold"] for k, p in _kinds(dworld) if k == "cert.expiring"] == [21, 7, 2]
    # the router now presents a certificate for other names (its fallback): served ≠ expected
    _, _, _, other = make_chain(["default.invalid"])
    certs.refresh(dworld.platform, now=NOW, fetcher=lambda *a, **k: certs.Served("shop.example.com", cert=other))
    kind, payload = _kinds(dworld)[-1]
    assert kind == "cert.renewal_failed" and "is for default.invalid" in payload["error"]
    body = dworld.call("viewer", "GET", f"{API}/shop.example.com").json()["certificate"]
    assert not body["served"] and "default.invalid" in body["last_error"]


def test_an_upload_is_validated_and_stored_encrypted(dworld: World, tmp_path: Path) -> None:
    assert dworld.call("developer", "POST", API, json={"name": "own.example.com"}).status_code == 201
    chain, key, root, _ = make_chain(["own.example.com"])
    root_file = tmp_path / "root.pem"
    root_file.write_text(root)
    dworld.platform.settings.acme_ca_root = str(root_file)  # our test root is a trusted (private) CA
    _, other_key, _, _ = make_chain(["own.example.com"])
    leaf_only = chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    wrong_name, wrong_name_key, _, _ = make_chain(["else.example.com"])
    expired, expired_key, _, _ = make_chain(["own.example.com"], days=30, start=NOW - dt.timedelta(days=400))
    cases = [({"cert": chain, "key": other_key}, "does not match"),
             ({"cert": leaf_only, "key": key}, "incomplete"),
             ({"cert": wrong_name, "key": wrong_name_key}, "not own.example.com"),
             ({"cert": expired, "key": expired_key}, "expired"),
             ({"cert": "junk", "key": key}, "not a PEM")]
    for body, needle in cases:
        response = dworld.call("developer", "PUT", f"{API}/own.example.com/certificate", json=body)
        assert response.status_code == 422 and needle in response.json()["error"], (needle, response.text)
    with dworld.platform.sessions() as session:
        assert session.scalar(select(Domain.cert_enc).where(Domain.name == "own.example.com")) is None
    assert dworld.call("viewer", "PUT", f"{API}/own.example.com/certificate",
                       json={"cert": chain, "key": key}).status_code == 403
    response = dworld.call("developer", "PUT", f"{API}/own.example.com/certificate", json={"cert": chain, "key": key})
    assert response.status_code == 200, response.text
    assert response.json()["certificate"]["source"] == "uploaded"
    with dworld.platform.sessions() as session:
        stored = session.scalar(select(Domain.cert_enc).where(Domain.name == "own.example.com"))
    assert stored and "PRIVATE KEY" not in stored and key.splitlines()[1] not in stored
    # the router is given the certificate to serve (from memory: the key is in no file of ours)
    plan = dworld.platform.router.table.tls  # type: ignore[attr-defined]
    assert [s.certificate for s in plan.sites if s.host == "own.example.com"] == ["uploaded"]
    assert plan.uploaded[0].key_pem == key


def test_the_overview_shows_the_nearest_expiry_and_certificate_errors(dworld: World) -> None:
    _ready(dworld, "soon.example.com")
    _ready(dworld, "later.example.com")
    _ready(dworld, "broken.example.com")
    leaves = {n: make_chain([n], days=d)[3] for n, d in [("soon.example.com", 10), ("later.example.com", 80)]}

    def fetch(host: str, port: int, name: str, timeout: float = 5.0) -> certs.Served:
        return certs.Served(name, cert=leaves[name]) if name in leaves else certs.Served(name, error="refused")

    certs.refresh(dworld.platform, now=NOW + dt.timedelta(days=1), fetcher=fetch)  # past the issuance grace
    page = dworld.call("viewer", "GET", "/overview").text
    assert "Nearest expiry" in page and "soon.example.com" in page and "later.example.com" not in page
    assert "broken.example.com</a>: refused" in page
    # another team's member does not see alpha's certificates
    assert "soon.example.com" not in dworld.call("outsider", "GET", "/overview").text


def test_a_first_certificate_that_never_comes_is_an_error_after_the_grace_once(dworld: World) -> None:
    from slipway.db import utcnow

    _ready(dworld, "new.example.com")
    refused = lambda *a, **k: certs.Served("new.example.com", error="no certificate served: refused")  # noqa: E731
    start = utcnow()
    certs.refresh(dworld.platform, now=start, fetcher=refused)  # the CA is being asked: not an error yet
    body = dworld.call("viewer", "GET", f"{API}/new.example.com").json()["certificate"]
    assert body["last_error"] is None and not body["served"] and _kinds(dworld) == []
    for minutes in (11, 12, 60):
        certs.refresh(dworld.platform, now=start + dt.timedelta(minutes=minutes), fetcher=refused)
    [(kind, payload)] = _kinds(dworld)
    assert kind == "cert.renewal_failed" and payload["first_issuance"] and "refused" in payload["error"]
    assert "refused" in dworld.call("viewer", "GET", f"{API}/new.example.com").json()["certificate"]["last_error"]


def test_certs_lists_every_hostname_one_can_see_with_what_is_served(dworld: World) -> None:
    _ready(dworld, "shop.example.com")  # expects a certificate: nothing answers on the HTTPS port here
    listed = {c["hostname"]: c for c in dworld.call("viewer", "GET", "/api/v1/certs").json()}
    assert set(listed) == {"shop.example.com", "alpha.apps.test"}  # not beta's (another team)
    assert listed["alpha.apps.test"]["expected"] == "none" and listed["alpha.apps.test"]["kind"] == "app"
    shop = listed["shop.example.com"]
    assert shop["expected"] == "acme" and not shop["ok"] and "no certificate served" in shop["error"]
    assert {c["hostname"] for c in dworld.call("outsider", "GET", "/api/v1/certs").json()} == {"beta.apps.test"}
