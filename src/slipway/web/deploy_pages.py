"""Dashboard: schedule a deploy for later, and cancel one that has not started (what `slipway deploy --at`
and `slipway cancel` do)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response

from slipway.apps import service as app_service
from slipway.bounds import PathId
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.schedule import parse_when
from slipway.errors import SlipwayError
from slipway.web.deps import PlatformDep
from slipway.web.pages import Actor, PageRoute, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.post("/apps/{name}/deploys/schedule")
def schedule(name: str, platform: PlatformDep, who: Actor, at: Annotated[str, Form(max_length=64)] = "",
             tz: Annotated[str, Form(max_length=64)] = "UTC",
             commit: Annotated[str, Form(max_length=64)] = "") -> Response:
    try:
        if not at.strip():
            raise ValueError("give the date and time the deploy should run at")
        when = parse_when(at, tz.strip() or None)  # a datetime-local input sends 2026-12-01T03:00
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            deploy = deploy_service.request(session, app, kind="deploy", commit=commit.strip() or None,
                                            actor=who.actor, run_at=when)
            when_text = f"{deploy.run_at:%Y-%m-%d %H:%M} UTC" if deploy.run_at else "now"
    except (SlipwayError, ValueError) as exc:
        message = exc.message if isinstance(exc, SlipwayError) else str(exc)
        return redirect(f"/apps/{name}#deploys", flash=message, kind="error")
    return redirect(f"/apps/{name}#deploys", flash=f"Deploy #{deploy.id} scheduled for {when_text}.")


@router.post("/apps/{name}/deploys/{deploy_id}/cancel")
def cancel(name: str, deploy_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            deploy_service.cancel(session, app, deploy_service.get(session, deploy_id, app), actor=who.actor)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}#deploys", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}#deploys", flash=f"Deploy #{deploy_id} cancelled: it will not run.")
