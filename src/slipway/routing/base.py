"""The Router protocol: the whole route table is rendered from the database and applied at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slipway.routing.tls import TlsPlan


@dataclass(frozen=True)
class Upstream:
    dial: str  # host:port
    weight: int = 1


@dataclass(frozen=True)
class Route:
    host: str  # e.g. hello.localhost
    upstreams: tuple[Upstream, ...] = ()
    static_root: str | None = None  # serve files from here instead of proxying
    path_prefix: str | None = None
    app: str | None = None  # for logs and labels


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)
    tls: TlsPlan | None = None  # HTTPS: names with certificates, the ACME issuer (routing/tls.py)


class Router(Protocol):
    def apply(self, table: RouteTable) -> None:
        """Make the router serve exactly `table`, atomically, without dropping a connection."""

    def healthy(self) -> bool:
        """Whether the router answers its admin API."""


class MemoryRouter:
    """In-memory router for unit tests: remembers the last table it was given."""

    def __init__(self) -> None:
        self.table = RouteTable()
        self.applied = 0

    def apply(self, table: RouteTable) -> None:
        self.table = table
        self.applied += 1

    def healthy(self) -> bool:
        return True
