"""Dashboard page of an app's webhooks: payload URL per forge, the secret (shown only on an explicit
POST), rotate, what a push deploys (branches, tags, deploy window), and the delivery log with replay.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from slipway.apps import service as app_service
from slipway.bounds import PathId
from slipway.crypto import mask
from slipway.db import transaction
from slipway.errors import SlipwayError
from slipway.hooks import service as hook_service
from slipway.platform import Platform
from slipway.web.deps import PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PROVIDERS = (("github", "GitHub"), ("gitlab", "GitLab"), ("gitea", "Gitea / Forgejo"), ("bitbucket", "Bitbucket"))


def _page(request: Request, platform: Platform, name: str, *, reveal: bool, error: str | None = None,
          form: dict[str, Any] | None = None, status: int = 200) -> Response:
    with transaction(platform.sessions) as session:  # the hook is created on first look (as the API does)
        app = app_service.get(session, name)
        hook = hook_service.ensure(session, platform.box, app)
        secret = hook_service.secret(platform.box, hook)
        urls = hook_service.urls(platform.settings, hook)
        settings = form or {"branch_filter": hook.branch_filter or "", "deploy_tags": hook.deploy_tags,
                            "deploy_window": hook.deploy_window or ""}
        deliveries = hook_service.deliveries(session, app, limit=50)
        rotated_at, branch = hook.rotated_at, app.branch
    headers = {"Cache-Control": "no-store"}
    return render(request, "hooks/webhooks.html", status, headers=headers, app={"name": name, "branch": branch},
                  urls=[(key, label, urls[key]) for key, label in PROVIDERS if key in urls],
                  secret=secret if reveal else mask(secret), revealed=reveal, rotated_at=rotated_at,
                  settings=settings, deliveries=deliveries, error=error)


@router.get("/apps/{name}/webhooks")
def webhooks_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    return _page(request, platform, name, reveal=False)


@router.post("/apps/{name}/webhooks/reveal")
def reveal_secret(name: str, request: Request, platform: PlatformDep, _: Actor) -> Response:
    """The secret in clear, only on this explicit (CSRF-checked) request; never cached."""
    return _page(request, platform, name, reveal=True)


@router.post("/apps/{name}/webhooks/rotate")
def rotate_secret(name: str, request: Request, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        hook_service.rotate(session, platform.box, app_service.get(session, name), actor=who.actor)
    # shown once, right away: the forge needs the new one
    return _page(request, platform, name, reveal=True)


@router.post("/apps/{name}/webhooks/settings")
def save_settings(name: str, request: Request, platform: PlatformDep, who: Actor,
                  branch_filter: Annotated[str, Form(max_length=255)] = "",
                  deploy_tags: Annotated[bool, Form()] = False,
                  deploy_window: Annotated[str, Form(max_length=128)] = "") -> Response:
    form = {"branch_filter": branch_filter, "deploy_tags": deploy_tags, "deploy_window": deploy_window}
    try:
        with transaction(platform.sessions) as session:
            hook_service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                                   branch_filter=branch_filter, deploy_tags=deploy_tags, deploy_window=deploy_window)
    except SlipwayError as exc:
        message = exc.message + (f": {exc.detail}" if isinstance(exc.detail, str) and exc.detail else "")
        return _page(request, platform, name, reveal=False, error=message, form=form, status=422)
    return redirect(f"/apps/{name}/webhooks", flash="Saved the webhook settings.")


@router.post("/apps/{name}/webhooks/deliveries/{delivery_id}/replay")
def replay(name: str, delivery_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            deploy = hook_service.replay(session, app_service.get(session, name), delivery_id, actor=who.actor)
            deploy_id = deploy.id
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/webhooks#deliveries", flash=exc.message, kind="error")
    platform.wake_workers()
    return redirect(f"/apps/{name}/deploys/{deploy_id}", flash=f"Replayed delivery {delivery_id}.")
