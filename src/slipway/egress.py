"""Egress rules: where a server-side request that a user can aim may go.

Health checks, monitors, the forge API URL and notification channels make Slipway send requests to
addresses users choose. Without rules that is a way into everything the server can reach: Caddy's admin
API, the control plane's own API, cloud metadata (169.254.169.254), databases and admin pages on the
private network. So every such target is checked twice:

- at config time (`check_url` / `check_host`), so the API, CLI and dashboard answer a clear 422;
- at request time, because DNS can change: `client()` builds an httpx client whose connections go through
  `PinnedBackend`, which resolves the name once, checks every address, and connects to the address it
  checked. The URL is not rewritten, so the Host header, TLS SNI and certificate verification stay those of
  the name (httpcore takes them from the request's origin, not from the address we connect to).

Refused: loopback, link-local (metadata services), private ranges (RFC 1918, fc00::/7, CGNAT 100.64/10),
unspecified, multicast, reserved/documentation ranges, the same through IPv4-mapped / NAT64 / 6to4 / Teredo
IPv6 forms, and Slipway's own ports (API, router) on this host's addresses. An Admin opens a target with
SLIPWAY_EGRESS_ALLOW: CIDRs (any port but Slipway's own) and host:port pairs (exactly that target).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx
import psutil

from slipway.errors import Invalid

if TYPE_CHECKING:
    from slipway.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class EgressRefused(Invalid):
    """A target the egress rules refuse (422: the request is well-formed, the target is not allowed)."""

    code = "egress_refused"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo): each must pass as well."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def why_internal(ip: IPAddress) -> str | None:
    """Why an address is not a public one (None: it is public)."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_v4(ip):
            reason = why_internal(inner)
            if reason:
                return f"{reason} (inside {ip})"
    checks = (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
              ("multicast", ip.is_multicast), ("private", ip.is_private),
              ("shared (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT),
              ("reserved", ip.is_reserved), ("not globally routable", not ip.is_global))
    return next((name for name, hit in checks if hit), None)


def _local_addresses() -> set[IPAddress]:
    """The addresses of this host's interfaces: Slipway's own ports there are the control plane."""
    found: set[IPAddress] = set()
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(addr.address.split("%")[0]))
                except ValueError:
                    continue
    return found


def _parse_allow(value: str) -> tuple[tuple[Network, ...], frozenset[tuple[str, int]]]:
    networks: list[Network] = []
    pairs: set[tuple[str, int]] = set()
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"SLIPWAY_EGRESS_ALLOW: {item!r} is neither a CIDR nor host:port")
        pairs.add((host.strip("[]").lower(), int(port)))
    return tuple(networks), frozenset(pairs)


@dataclass(frozen=True)
class Policy:
    allow_networks: tuple[Network, ...] = ()
    allow_pairs: frozenset[tuple[str, int]] = frozenset()
    own_ports: frozenset[int] = frozenset()
    # app instances listen on these: reached through their own app's checks or the router, never directly
    instance_ports: range = range(0)
    resolver: Resolver = system_resolve
    local_addresses: Callable[[], set[IPAddress]] = field(default=_local_addresses)

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver | None = None) -> Policy:
        networks, pairs = _parse_allow(settings.egress_allow)
        own = {settings.listen_port, settings.http_port, settings.https_port}
        return cls(networks, pairs, frozenset(own), settings.ports, resolver or system_resolve)

    # ---- the rule -------------------------------------------------------------------------------

    def refusal(self, host: str, port: int, address: str) -> str | None:
        """Why connecting to `address` for `host:port` is refused (None: allowed)."""
        name = host.strip("[]").lower()
        if (name, port) in self.allow_pairs or (address.lower(), port) in self.allow_pairs:
            return None  # an Admin listed exactly this target
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        local = ip.is_loopback or ip.is_unspecified or ip in self.local_addresses()
        if port in self.own_ports and local:  # even inside an allowed range: only an exact host:port opens it
            return f"port {port} on {address} is Slipway's own (API or router)"
        if any(ip in net for net in self.allow_networks):
            return None
        if port in self.instance_ports and local:  # this host's public address: another app's instance
            return f"port {port} on {address} is an app instance's (reach apps through the router)"
        reason = why_internal(ip)
        return f"{address} is {reason}" if reason else None

    def addresses(self, host: str, port: int, *, unresolved_ok: bool = False) -> list[str]:
        """Resolve `host` once and return its addresses if every one is allowed; else EgressRefused.

        All must pass: a name answering with one public and one internal address is refused, or a client
        (ours or a retry) could end up on the internal one.
        """
        name = host.strip("[]")
        if not name:
            raise EgressRefused("no host to connect to")
        try:
            ipaddress.ip_address(name.split("%")[0])
            found = [name]  # a literal address is where we connect: nothing to resolve
        except ValueError:
            found = []
        try:
            found = found or self.resolver(name, port)
        except (OSError, UnicodeError, ValueError) as exc:  # UnicodeError: not a valid IDNA name
            if unresolved_ok:
                return []
            raise EgressRefused(f"cannot resolve {name!r}: {exc}") from exc
        if not found:
            raise EgressRefused(f"{name!r} resolves to no address")
        for address in found:
            reason = self.refusal(name, port, address)
            if reason:
                shown = f"[{name}]" if ":" in name else name
                raise EgressRefused(f"refused by the egress rules: {shown}:{port} → {reason}; an Admin can "
                                    "allow it in SLIPWAY_EGRESS_ALLOW")
        return found

    def check_host(self, host: str, port: int) -> list[str]:
        """Config-time check of host:port. A name that does not resolve (yet) passes: nothing can reach it
        now, and every request checks again where it connects."""
        return self.addresses(host, port, unresolved_ok=True)

    def check_url(self, url: str) -> list[str]:
        """Config-time check of an http(s) URL: the scheme, then the host it names and its port."""
        host, port = url_target(url)
        return self.check_host(host, port)

    # ---- clients --------------------------------------------------------------------------------

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to `host:port` through the rules (the checked address, not a new lookup)."""
        last: OSError | None = None
        for address in self.addresses(host, port):
            try:
                return socket.create_connection((address, port), timeout)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    def transport(self, **kwargs: Any) -> httpx.HTTPTransport:
        return PinnedTransport(self, **kwargs)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client whose every connection obeys the rules. Redirects are not followed unless asked;
        when they are, each hop's connection is checked again. No proxy from the environment: a proxy
        would make the connection we check the proxy's, not the target's."""
        limits = kwargs.pop("limits", httpx.Limits())
        verify = kwargs.pop("verify", True)
        kwargs.setdefault("follow_redirects", False)
        return httpx.Client(transport=self.transport(limits=limits, verify=verify), trust_env=False, **kwargs)


def url_target(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; Invalid for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"invalid URL {url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"invalid URL {url!r}: use http(s)://host/path")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to addresses the policy checked in the same call."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.addresses(host, port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(exc.message) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                           socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("refused by the egress rules: no unix sockets")


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response mapping, TLS) over a pool that uses PinnedBackend."""

    def __init__(self, policy: Policy, *, limits: httpx.Limits | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx builds its pool without a network_backend option: replace it by the same pool with ours.
        # The TLS context still honours SSL_CERT_FILE / SSL_CERT_DIR (a private CA); proxies from the
        # environment are what trust_env=False leaves out.
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections, max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=PinnedBackend(policy))
