"""The teardown of a preview (a job: routes, instances, releases, artifacts) and the idle sweep."""

from __future__ import annotations

import logging

from sqlalchemy import select

from slipway.apps import lifecycle
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.deploys.models import Deploy
from slipway.errors import Conflict
from slipway.forge import service as forge_service
from slipway.jobs.scheduler import Periodic
from slipway.jobs.worker import JobContext, Retry
from slipway.platform import Platform
from slipway.previews import service
from slipway.previews.models import Preview

log = logging.getLogger(__name__)


def teardown(ctx: JobContext) -> None:
    platform, preview_id = ctx.platform, ctx.payload["preview_id"]
    with platform.sessions() as session:
        preview = session.get(Preview, preview_id)
        if preview is None or preview.state != "closing":
            return  # reopened meanwhile, or already gone
        app = session.get(App, preview.app_id) if preview.app_id else None
        name = app.name if app else None
        if app is not None and app.deploy_lock is not None:
            holder = session.get(Deploy, app.deploy_lock)
            if holder is not None and holder.status == "running":
                raise Retry(f"deploy #{holder.id} of {app.name} is running", delay=2.0, count=False)
    if name is not None:
        try:
            lifecycle.delete(platform, name, actor="preview")  # instances, routes, releases, artifacts
        except Conflict as exc:  # a deploy started in between: it is short-lived, come back
            raise Retry(exc.message, delay=2.0, count=False) from exc
    with transaction(platform.sessions) as session:
        preview = session.get(Preview, preview_id)
        if preview is None:
            return
        preview.state, preview.closed_at, preview.app_id = "closed", utcnow(), None
        from slipway import events

        events.emit(session, "preview.closed", app_id=preview.parent_app_id, number=preview.number,
                    reason=preview.reason)
        if preview.comment_id is not None or _linked(session, preview):
            forge_service.queue_comment(session, preview.id, max_attempts=platform.settings.forge_max_attempts)
    log.info("preview %s removed (%s)", name, preview.reason)


def _linked(session: object, preview: Preview) -> bool:
    from slipway.forge.models import ForgeLink

    return session.get(ForgeLink, preview.parent_app_id) is not None  # type: ignore[attr-defined]


def remove_all(platform: Platform, parent_app_id: int) -> None:
    """Remove every preview of an app now (the app itself is being deleted)."""
    with platform.sessions() as session:
        names = list(session.scalars(select(App.name).where(App.parent_app_id == parent_app_id)))
    for name in names:
        lifecycle.delete(platform, name, actor="preview")


HANDLERS = {service.TEARDOWN: teardown}


def periodic(platform: Platform) -> list[Periodic]:
    return [Periodic("preview-idle-sweep", platform.settings.preview_ttl_check_interval,
                     lambda: service.sweep_idle(platform))]
