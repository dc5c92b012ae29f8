"""Dashboard tab of an app's pull request previews: what previews get (on/off, shared production vars,
preview-only values, what forks get, how many), and the previews themselves with their links and removal.
The same service calls as /api/v1/apps/{name}/previews and …/preview-settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from slipway.apps import service as app_service
from slipway.bounds import PathId, digits
from slipway.crypto import mask
from slipway.db import transaction
from slipway.errors import Invalid, SlipwayError
from slipway.platform import Platform
from slipway.previews import service
from slipway.previews.api import preview_out
from slipway.web.deps import PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def _page(request: Request, platform: Platform, name: str) -> Response:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        config = service.get_config(session, app)
        previews = [preview_out(session, platform, app, p) for p in service.list_previews(session, app,
                                                                                          include_closed=True)]
        values = service.overrides(platform.box, config)
        settings = {"enabled": config.enabled, "forks": bool(config.forks),
                    "shared_keys": ", ".join(config.shared_keys),
                    "fork_safe_keys": ", ".join(config.fork_safe_keys), "max_previews": config.max_previews,
                    "default_max": platform.settings.preview_max_per_app,
                    "ttl_days": platform.settings.preview_ttl_days,
                    "overrides": [(k, mask(v)) for k, v in sorted(values.items())]}
        is_preview = app.environment == "preview"
    return render(request, "previews/previews.html", app={"name": name}, settings=settings, previews=previews,
                  is_preview=is_preview)


@router.get("/apps/{name}/previews")
def previews_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    return _page(request, platform, name)


@router.post("/apps/{name}/previews/settings")
def save_settings(name: str, platform: PlatformDep, who: Actor, enabled: Annotated[bool, Form()] = False,
                  forks: Annotated[bool, Form()] = False,
                  shared_keys: Annotated[str, Form(max_length=4096)] = "",
                  fork_safe_keys: Annotated[str, Form(max_length=4096)] = "",
                  max_previews: Annotated[str, Form(max_length=8)] = "") -> Response:
    try:
        limit = None
        if max_previews.strip():
            if not digits(max_previews.strip()) or int(max_previews) > 1000:
                raise Invalid("at most this many previews: a whole number from 0 to 1000, or empty for the default")
            limit = int(max_previews)
        with transaction(platform.sessions) as session:
            service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                              enabled=enabled, forks=forks, shared_keys=_keys(shared_keys),
                              fork_safe_keys=_keys(fork_safe_keys),
                              max_previews=limit, reset_max=limit is None)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/previews", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}/previews", flash="Saved: previews get these settings at their next deploy.")


@router.post("/apps/{name}/previews/overrides")
def set_overrides(name: str, platform: PlatformDep, who: Actor,
                  lines: Annotated[str, Form(max_length=65536)] = "") -> Response:
    values: dict[str, str] = {}
    for number, line in enumerate(lines.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return redirect(f"/apps/{name}/previews", flash=f"line {number}: expected KEY=VALUE", kind="error")
        values[key.strip()] = value
    try:
        with transaction(platform.sessions) as session:
            service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                              set_overrides=values)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/previews", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}/previews", flash=f"Set {len(values)} preview value(s).")


@router.post("/apps/{name}/previews/overrides/unset")
def unset_override(name: str, platform: PlatformDep, who: Actor,
                   key: Annotated[str, Form(max_length=256)] = "") -> Response:
    try:
        with transaction(platform.sessions) as session:
            service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                              unset_overrides=[key])
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/previews", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}/previews", flash=f"Removed {key}.")


@router.post("/apps/{name}/previews/{number}/remove")
def remove_preview(name: str, number: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            service.delete(session, platform, app_service.get(session, name), number, actor=who.actor)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/previews", flash=exc.message, kind="error")
    platform.wake_workers()
    return redirect(f"/apps/{name}/previews", flash=f"Preview #{number} is being removed (a new commit on the "
                                                    "pull request brings it back).")
