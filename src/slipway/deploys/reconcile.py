"""Keeping what runs in line with the database: dead jobs, lost instances, a restarted router."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.deploys import gate
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Release
from slipway.errors import SlipwayError
from slipway.instances import service as instance_service
from slipway.instances.models import Instance
from slipway.jobs import queue
from slipway.platform import Platform
from slipway.routing import service as routing
from slipway.routing.base import RouteTable

log = logging.getLogger(__name__)


def reap_dead_jobs(platform: Platform) -> None:
    with transaction(platform.sessions) as session:
        for job in queue.reap(session):
            if job.kind == "deploy":
                deploy_service.fail_dead(session, job.payload["deploy_id"], queue.LEASE_LOST)
                log.warning("deploy %s failed: %s", job.payload["deploy_id"], queue.LEASE_LOST)


def reconcile_instances(platform: Platform) -> None:
    """Restart live instances whose supervisor is gone; stop leftovers of deploys that died."""
    stale_before = utcnow() - dt.timedelta(seconds=platform.settings.health_timeout + 60)
    changed = False
    with platform.sessions() as session:
        apps = list(session.scalars(select(App).where(App.deploy_lock.is_(None))))
        work = [(app, instance_service.active(session, app.id),
                 session.get(Release, app.live_release_id) if app.live_release_id else None) for app in apps]
    for app, instances, live in work:
        for instance in instances:
            leftover = instance.status in ("starting", "stopping") and instance.created_at < stale_before
            not_live = instance.status == "running" and (live is None or instance.release_id != live.id
                                                         or app.desired_state != "running")
            if leftover or not_live:
                log.info("stopping leftover instance %s", instance.id)
                instance_service.stop(platform, instance.id)
                changed = True
            elif instance.status == "running" and instance_service.states(platform, [instance])[instance.id].status \
                    in ("missing", "stopped"):
                # its supervisor is gone (killed, or the host rebooted): nothing will restart it
                log.warning("instance %s is gone: starting a replacement", instance.id)
                instance_service.stop(platform, instance.id)
                assert live is not None
                replacement = instance_service.start(platform, app=app, release=live,
                                                     process_type=instance.process_type)
                try:
                    gate.wait_until_healthy(platform, live, [replacement], log=log.info)
                except SlipwayError as exc:
                    log.error("the replacement of %s is not healthy: %s", instance.id, exc.message)
                    instance_service.stop(platform, replacement.id)
                    continue
                with transaction(platform.sessions) as session:
                    instance_service.mark(session, [replacement.id], "running")
                changed = True
    if changed:
        routing.apply(platform)


def prune_stopped_instances(platform: Platform, *, older_than: dt.timedelta = dt.timedelta(days=3)) -> None:
    """Stopped instances keep their logs for a while (log search by release); then they go."""
    cutoff = utcnow() - older_than
    with platform.sessions() as session:
        doomed = list(session.execute(select(Instance.id, Instance.runtime).where(
            Instance.status.in_(("stopped", "failed")), Instance.stopped_at < cutoff)))
    for instance_id, runtime in doomed:
        try:
            platform.runtime_for(runtime or "local").remove(instance_id)
        except SlipwayError as exc:  # e.g. the docker engine is down: try again at the next round
            log.warning("could not remove instance %s: %s", instance_id, exc.message)
            continue
        with transaction(platform.sessions) as session:
            row = session.get(Instance, instance_id)
            if row is not None:
                session.delete(row)


def prune_one_off_containers(platform: Platform) -> int:
    """Exited one-off containers of the docker runtime (see DockerRuntime.prune_one_offs)."""
    runtime = platform.runtimes.get("docker")
    prune = getattr(runtime, "prune_one_offs", None)
    if prune is None:
        return 0
    try:
        return int(prune(older_than=3600.0))
    except SlipwayError as exc:  # the engine is down: the next round
        log.warning("could not prune one-off containers: %s", exc.message)
        return 0


def ensure_router(platform: Platform) -> None:
    """Restart a dead router and give a router that lost its config (wiped through its admin API, restarted,
    edited) the database's route table again: run every few seconds by the server."""
    ensure = getattr(platform.router, "ensure", None)
    if ensure is None:
        return

    def wanted() -> RouteTable:
        with platform.sessions() as session:
            return routing.table(session, platform.settings, platform.box)

    ensure(wanted)

