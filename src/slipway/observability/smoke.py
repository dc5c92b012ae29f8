"""Post-deploy smoke checks: the app's checks marked `smoke`, run against the new release's web
instances right after the switch. The pipeline rolls back when run_smoke_checks returns a reason."""

from __future__ import annotations

import time

from sqlalchemy import select

from slipway.deploys.models import Release
from slipway.observability import checks, health
from slipway.observability.models import Check
from slipway.platform import Platform

PAUSE = 0.5  # seconds between attempts of one check


def run_smoke_checks(platform: Platform, app_id: int, release: Release) -> str | None:
    """None when every smoke check passes (or there are none), else why the release failed them.

    A check gets `retries` attempts; "degraded" (a deep check with a failing dependency) passes — the
    release itself answers. Probes go to the release's own instances, not through the router, so a
    failure is the new code's and not a stale route's.
    """
    with platform.sessions() as session:
        smoke = list(session.scalars(select(Check).where(Check.app_id == app_id, Check.smoke.is_(True),
                                                         Check.enabled.is_(True)).order_by(Check.id)))
        plans = [(c.name, c.retries, checks.probes(session, c, release_id=release.id)) for c in smoke]
    if not plans:
        return None
    with health.Clients(platform.egress) as client:
        for name, retries, probes in plans:
            result = checks.run_probes(probes, client)
            for _ in range(max(1, retries) - 1):
                if result.status != health.DOWN:
                    break
                time.sleep(PAUSE)
                result = checks.run_probes(probes, client)
            if result.status == health.DOWN:
                return f"smoke check {name!r} failed: {result.output}"
    return None
