"""Certificates for the apps' own hosts (`<app>.<base domain>`, previews `pr-<n>.<app>.<base domain>`).

SLIPWAY_TLS_BASE_DOMAIN is `auto` by default: on when the base domain is a public DNS name, off for
`localhost`, an IP address or a special-use suffix (RFC 6761/6762/8375 and the de-facto private ones), where no
public CA could ever validate a name. `true`/`false` override the guess.

Wanted is not enough: every app host gets its own certificate over HTTP-01, so a wildcard record that points
somewhere else would make Caddy fail one order per app, again and again, until the CA's rate limit for the
whole base domain is spent. So the domain doctor must first have passed once for a probe name under the base
domain (what the wildcard record answers for any name): its DNS points here, CAA allows the CA, and our token
comes back over HTTP through it. Until then the app hosts stay on HTTP and `slipway certs list` says why.
The pass is remembered per base domain in $SLIPWAY_HOME/tls/base-domain.json (each server with its own
router proves its own reachability); a failing probe is retried by the `recheck-domains` task with backoff.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from slipway.config import Settings
from slipway.domains import doctor

log = logging.getLogger(__name__)

PROBE_LABEL = "slipway-probe"
# Names no public CA can issue for: special-use (RFC 6761: test, example, invalid, localhost; RFC 6762: local;
# RFC 8375: home.arpa; RFC 7686: onion; ICANN 2024: internal) and private habits that are not TLDs.
SPECIAL_USE = ("localhost", "test", "example", "invalid", "local", "home.arpa", "onion", "internal", "lan",
               "localdomain", "home", "corp", "intranet", "private")
RETRY = dt.timedelta(minutes=1)


def is_public_name(base: str) -> bool:
    """A DNS name a public CA could validate: at least two labels, not an IP, no special-use suffix."""
    name = base.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]"))
        return False
    except ValueError:
        pass
    if "." not in name:
        return False
    return not any(name == suffix or name.endswith("." + suffix) for suffix in SPECIAL_USE)


def wanted(settings: Settings) -> bool:
    """Should the app hosts get certificates (before the doctor gate)?"""
    if settings.tls_base_domain == "auto":
        return is_public_name(settings.base_domain)
    return settings.tls_base_domain == "true"


def probe_name(settings: Settings) -> str:
    return f"{PROBE_LABEL}.{settings.base_domain.lower().rstrip('.')}"


@dataclass(frozen=True)
class State:
    base: str
    passed: bool = False
    checked_at: dt.datetime | None = None
    passed_at: dt.datetime | None = None
    findings: list[doctor.Finding] = field(default_factory=list)

    def failure(self) -> str | None:
        """One line for `certs list`: why the app hosts have no certificate yet."""
        if self.passed:
            return None
        if self.checked_at is None:
            return f"waiting for the domain doctor on {self.base} (not run yet)"
        bad = [f for f in self.findings if not f.ok]
        detail = "; ".join(f"{f.message} ({f.fix})" if f.fix else f.message for f in bad) or "failed"
        return (f"the domain doctor fails for {self.base}, no certificate is requested: {detail}; the app "
                f"hosts need a wildcard record *.{self.base} pointing at this server")


def _path(settings: Settings) -> Path:
    return settings.home / "tls" / "base-domain.json"


def load(settings: Settings) -> State:
    """The remembered doctor result for the current base domain (a result for another base is ignored)."""
    base = settings.base_domain.lower().rstrip(".")
    try:
        data = json.loads(_path(settings).read_text())
    except (OSError, ValueError):
        return State(base=base)
    if not isinstance(data, dict) or data.get("base") != base:
        return State(base=base)
    stamp = dt.datetime.fromisoformat
    return State(base=base, passed=bool(data.get("passed")),
                 checked_at=stamp(data["checked_at"]) if data.get("checked_at") else None,
                 passed_at=stamp(data["passed_at"]) if data.get("passed_at") else None,
                 findings=[doctor.Finding(**f) for f in data.get("findings", [])])


def _save(settings: Settings, state: State) -> None:
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"base": state.base, "passed": state.passed, "findings": [f.as_dict() for f in state.findings],
            "checked_at": state.checked_at.isoformat() if state.checked_at else None,
            "passed_at": state.passed_at.isoformat() if state.passed_at else None}
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)  # readers never see half a file


def ready(settings: Settings) -> bool:
    """Request certificates for the app hosts: wanted, and the doctor passed for the base domain once."""
    return wanted(settings) and load(settings).passed


def due(state: State, now: dt.datetime) -> bool:
    """A failing probe is asked again every RETRY (DNS lookups and one fetch to ourselves, never the CA)."""
    return not state.passed and (state.checked_at is None or now - state.checked_at >= RETRY)


def check(settings: Settings, *, now: dt.datetime | None = None) -> bool:
    """Run the doctor on the probe name once it is due; True when this run made the app hosts ready (the
    caller re-applies the routes so Caddy starts asking for their certificates)."""
    now = now or dt.datetime.now(dt.UTC)
    if not wanted(settings):
        return False
    state = load(settings)
    if not due(state, now):
        return False
    findings = doctor.run(settings, probe_name(settings))
    passed = doctor.passed(findings)
    _save(settings, State(base=state.base, passed=passed, checked_at=now, passed_at=now if passed else None,
                          findings=findings))
    if not passed:
        log.warning("base domain %s not ready for certificates: %s", state.base,
                    "; ".join(f.message for f in findings if not f.ok))
    return passed
