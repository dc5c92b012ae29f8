"""The domain doctor: is a name ready for a certificate? One finding per check, each with its fix.

Checks, in order: the name's CNAME (if any) is the expected target; its A/AAAA records are this server's
addresses (SLIPWAY_PUBLIC_IPS, detected when unset) and only those; CAA allows the configured CA; and a
token that the control plane serves answers through the public name over HTTP (catches a firewall, a CDN
proxy or another server answering). A certificate is asked for only when every check passed, so a
misconfigured name never spends the CA's rate limit.

The DNS questions go to SLIPWAY_DNS_RESOLVERS (default: the system's), the same ones the CA should see.
The HTTP fetch connects only to an address that both the name resolved to and SLIPWAY_PUBLIC_IPS lists, at
the router's HTTP port: the target is always this server, so no user-chosen name can aim it elsewhere
(the SSRF question the egress rules answer for other requests does not arise; see docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import dns.exception
import dns.nameserver
import dns.resolver
import httpx

from slipway.config import Settings
from slipway.egress import _local_addresses, why_internal

TOKEN_PATH = "/.well-known/slipway-doctor/"
LE_HOSTS = ("letsencrypt.org",)


@dataclass(frozen=True)
class Finding:
    check: str  # dns | cname | caa | http | config
    ok: bool
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def proof(settings: Settings, nonce: str) -> str:
    """What the control plane answers for `nonce`: only this installation can compute it."""
    key = settings.resolved_secret_key().encode()
    return hmac.new(key, b"slipway-doctor:" + nonce.encode(), hashlib.sha256).hexdigest()


def public_ips(settings: Settings) -> list[str]:
    """SLIPWAY_PUBLIC_IPS, else this host's globally routable interface addresses."""
    if settings.public_ips.strip():
        return [str(ipaddress.ip_address(p.strip())) for p in settings.public_ips.split(",") if p.strip()]
    return sorted(str(ip) for ip in _local_addresses() if why_internal(ip) is None)


def cname_target(settings: Settings) -> str:
    return (settings.cname_target or f"slipway.{settings.base_domain}").lower().rstrip(".")


def caa_identities(settings: Settings) -> list[str]:
    if settings.acme_caa_identities.strip():
        return [i.strip().lower() for i in settings.acme_caa_identities.split(",") if i.strip()]
    host = (urlsplit(settings.acme_ca).hostname or "").lower()
    if host.endswith("api.letsencrypt.org"):
        return ["letsencrypt.org"]
    return [host]


def resolver(settings: Settings, timeout: float = 5.0) -> dns.resolver.Resolver:
    configured = [s.strip() for s in settings.dns_resolvers.split(",") if s.strip()]
    res = dns.resolver.Resolver(configure=not configured)
    if configured:
        res.nameservers = [_nameserver(s) for s in configured]
    res.lifetime = timeout
    return res


def _nameserver(value: str) -> dns.nameserver.Nameserver:
    host, port = value, 53
    if value.startswith("["):  # [v6]:port
        host, _, rest = value[1:].partition("]")
        port = int(rest.lstrip(":") or 53)
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = int(port_text)
    return dns.nameserver.Do53Nameserver(str(ipaddress.ip_address(host)), port)


def _records(res: dns.resolver.Resolver, name: str, rtype: str) -> list[str]:
    try:
        answer = res.resolve(name, rtype, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.resolver.NoAnswer):
        return []
    return [r.to_text() for r in answer.rrset] if answer.rrset is not None else []


def check_dns(settings: Settings, res: dns.resolver.Resolver, name: str) -> tuple[list[Finding], list[str]]:
    """The CNAME and A/AAAA findings, and the addresses of this server the name resolves to."""
    findings: list[Finding] = []
    ours = public_ips(settings)
    target = cname_target(settings)
    if not ours:
        findings.append(Finding("config", False, "this server's public addresses are unknown",
                                "set SLIPWAY_PUBLIC_IPS to the addresses the name should point to"))
    cnames = [c.rstrip(".").lower() for c in _records(res, name, "CNAME")]
    if cnames and cnames[0] != target:
        findings.append(Finding("cname", False, f"{name} is a CNAME to {cnames[0]}, not to {target}",
                                f"change the CNAME of {name} to {target} (or replace it with A records "
                                f"to {', '.join(ours) or 'this server'})"))
    elif cnames:
        findings.append(Finding("cname", True, f"{name} is a CNAME to {target}"))
    addresses = _records(res, name, "A") + _records(res, name, "AAAA")
    addresses = [str(ipaddress.ip_address(a)) for a in addresses]
    if not addresses:
        findings.append(Finding("dns", False, f"{name} has no A or AAAA record",
                                f"create an A record {name} → {ours[0] if ours else 'this server'}"
                                + (f" (or a CNAME to {target})" if not cnames else "")))
        return findings, []
    foreign = [a for a in addresses if a not in ours]
    if foreign:
        findings.append(Finding("dns", False, f"{name} resolves to {', '.join(foreign)}, which is not this server "
                                f"({', '.join(ours) or 'unknown'})",
                                f"point {name} to {', '.join(ours) or 'this server'} and remove "
                                f"{', '.join(foreign)} (the CA may pick any of the addresses)"))
        return findings, []
    findings.append(Finding("dns", True, f"{name} resolves to this server ({', '.join(addresses)})"))
    return findings, addresses


def check_caa(settings: Settings, res: dns.resolver.Resolver, name: str) -> Finding:
    """RFC 8659: the closest name (walking up) with CAA records decides; no records anywhere allows any CA."""
    identities = caa_identities(settings)
    labels = name.split(".")
    for i in range(len(labels) - 1):
        zone = ".".join(labels[i:])
        records = _records(res, zone, "CAA")
        issuers = [_caa_issuer(r) for r in records if _caa_tag(r) == "issue"]
        if not records or not issuers:
            continue
        if any(issuer in identities for issuer in issuers):
            return Finding("caa", True, f"CAA of {zone} allows {', '.join(identities)}")
        return Finding("caa", False, f"CAA of {zone} allows only {', '.join(sorted(set(issuers)))}, not "
                       f"{', '.join(identities)}",
                       f"add a CAA record {zone} 0 issue \"{identities[0]}\"")
    return Finding("caa", True, "no CAA record restricts which CA may issue")


def _caa_tag(record: str) -> str:
    parts = record.split(None, 2)
    return parts[1].lower() if len(parts) == 3 else ""


def _caa_issuer(record: str) -> str:
    value = record.split(None, 2)[2].strip('"')
    return value.split(";", 1)[0].strip().lower()


def check_http(settings: Settings, name: str, addresses: list[str]) -> Finding:
    """Fetch a fresh token from http://name/ at each address the name resolved to (all of them are ours)."""
    nonce = secrets.token_urlsafe(24)
    expected = proof(settings, nonce)
    port = settings.http_port
    for address in addresses:
        host = f"[{address}]" if ":" in address else address
        try:
            # connect to the checked address, present the name: the request reaches whoever answers for
            # `name` on that address (Caddy, a CDN, another server)
            with httpx.Client(timeout=settings.doctor_http_timeout, follow_redirects=False, trust_env=False) as c:
                response = c.get(f"http://{host}:{port}{TOKEN_PATH}{nonce}", headers={"Host": name})
        except httpx.HTTPError as exc:
            return Finding("http", False, f"http://{name}:{port}/ is not reachable at {address}: "
                           f"{exc.__class__.__name__}", f"open port {port} (TCP) to this server in the "
                           "firewall; the CA connects to it to validate the name")
        if response.status_code != 200 or response.text.strip() != expected:
            return Finding("http", False, f"another server answers for {name} on port {port} at {address} "
                           f"(HTTP {response.status_code}, not Slipway's token)",
                           "turn off the CDN proxy for this name (DNS only) or stop the other server; the "
                           "name must reach this server directly")
    return Finding("http", True, f"http://{name}:{port}/ reaches this server")


def run(settings: Settings, name: str) -> list[Finding]:
    """Every finding for `name`; it is ready for a certificate when all are ok."""
    try:
        res = resolver(settings)
    except (ValueError, dns.exception.DNSException) as exc:
        return [Finding("config", False, f"the DNS resolvers cannot be used: {exc}",
                        "fix SLIPWAY_DNS_RESOLVERS (ip or ip:port, comma-separated)")]
    try:
        findings, addresses = check_dns(settings, res, name)
        findings.append(check_caa(settings, res, name))
    except dns.exception.DNSException as exc:
        return [Finding("dns", False, f"DNS lookup of {name} failed: {exc}",
                        "check SLIPWAY_DNS_RESOLVERS and that the domain's name servers answer")]
    if addresses:
        findings.append(check_http(settings, name, addresses))
    return findings


def passed(findings: list[Finding]) -> bool:
    return bool(findings) and all(f.ok for f in findings)
