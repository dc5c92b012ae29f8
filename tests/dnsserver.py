"""A small authoritative DNS server on a UDP port of 127.0.0.1, answering from a dict: the domain doctor's
resolver talks real DNS to it. (Integration tests use pebble-challtestsrv, which Pebble asks too.)"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}  # (name, type) → values in zone-file text
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, name: str, rtype: str, *values: str) -> None:
        self.records[(name.lower().rstrip("."), rtype)] = list(values)

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower().rstrip(".")
            rtype = dns.rdatatype.to_text(question.rdtype)
            self.asked.append((name, rtype))
            values = self.records.get((name, rtype), [])
            cname = self.records.get((name, "CNAME"))
            if not values and cname and rtype != "CNAME":
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "CNAME", *cname))
                target = cname[0].rstrip(".").lower()
                values = self.records.get((target, rtype), [])
                if values:
                    response.answer.append(dns.rrset.from_text(target + ".", 60, "IN", rtype, *values))
            elif values:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rtype, *values))
            elif not any(key[0] == name for key in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()
