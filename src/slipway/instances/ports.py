"""The port pool: each instance leases a port in SLIPWAY_PORT_RANGE; the primary key forbids doubles."""

from __future__ import annotations

import socket

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from slipway.db import transaction
from slipway.errors import Unavailable
from slipway.instances.models import PortLease


def _free_on_host(port: int) -> bool:
    """Something outside Slipway may already listen on a port of the range: skip it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def lease(factory: sessionmaker[Session], *, instance_id: str, ports: range) -> int:
    """Lease the lowest free port, committed at once so concurrent deploys never share one."""
    for _ in range(len(ports)):
        with factory() as session:
            taken = set(session.scalars(select(PortLease.port).where(PortLease.port.between(ports.start,
                                                                                              ports.stop - 1))))
        candidates = [p for p in ports if p not in taken]
        port = next((p for p in candidates if _free_on_host(p)), None)
        if port is None:
            raise Unavailable(
                f"port pool {ports.start}-{ports.stop - 1} is exhausted",
                f"{len(taken)} instances hold a port and the others are in use on this host; "
                "stop some apps or widen SLIPWAY_PORT_RANGE",
            )
        try:
            with transaction(factory) as session:
                session.add(PortLease(port=port, instance_id=instance_id))
            return port
        except IntegrityError:  # another process leased it between our read and our insert
            continue
    raise Unavailable(f"port pool {ports.start}-{ports.stop - 1}: could not lease a port")


def release(session: Session, *, instance_id: str) -> None:
    session.execute(delete(PortLease).where(PortLease.instance_id == instance_id))
