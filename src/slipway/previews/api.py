"""/api/v1/apps/{name}/previews (list, remove) and /api/v1/apps/{name}/preview-settings."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.bounds import PathId
from slipway.crypto import mask
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Release
from slipway.platform import Platform
from slipway.previews import service
from slipway.previews.models import Preview, PreviewConfig
from slipway.previews.schemas import PreviewOut, PreviewSettingsOut, PreviewSettingsPatch
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1/apps/{name}", tags=["previews"])


def preview_out(session: Session, platform: Platform, parent: App, preview: Preview) -> PreviewOut:
    app = session.get(App, preview.app_id) if preview.app_id else None
    live = session.get(Release, app.live_release_id) if app and app.live_release_id else None
    if preview.state == "refused":
        status = "refused"
    elif app is None:
        status = "removed"
    else:
        last = deploy_service.deploys(session, app, limit=1)
        status = ("deploying" if last and last[0].status in ("queued", "running", "scheduled") else
                  "failed" if last and last[0].status in ("failed", "rolled_back") and live is None else
                  "running" if live else "new")
    return PreviewOut(number=preview.number, app=service.preview_name(parent.name, preview.number),
                      url=service.preview_url(platform, parent.name, preview.number), state=preview.state,
                      status=status, reason=preview.reason, head_ref=preview.head_ref,
                      head_commit=preview.head_commit, live_commit=live.commit if live else None, fork=preview.fork,
                      title=preview.title, pr_url=preview.url, created_at=preview.created_at,
                      last_activity_at=preview.last_activity_at, closed_at=preview.closed_at)


@router.get("/previews", response_model=list[PreviewOut])
def list_previews(name: str, platform: PlatformDep, _: CurrentPrincipal,
                  all: bool = Query(False, description="Include removed previews.")) -> list[PreviewOut]:
    with platform.sessions() as session:
        parent = app_service.get(session, name)
        return [preview_out(session, platform, parent, p)
                for p in service.list_previews(session, parent, include_closed=all)]


@router.delete("/previews/{number}", status_code=202, response_model=PreviewOut)
def delete_preview(name: str, number: PathId, platform: PlatformDep, who: CurrentPrincipal) -> PreviewOut:
    """Remove a preview now (it comes back at the pull request's next commit)."""
    with transaction(platform.sessions) as session:
        parent = app_service.get(session, name)
        preview = service.delete(session, platform, parent, number, actor=who.actor)
        out = preview_out(session, platform, parent, preview)
    platform.wake_workers()
    return out


def settings_out(platform: Platform, config: PreviewConfig, *, reveal: bool) -> PreviewSettingsOut:
    values = service.overrides(platform.box, config)
    return PreviewSettingsOut(enabled=config.enabled, forks=bool(config.forks), shared_keys=list(config.shared_keys),
                              overrides=values if reveal else {k: mask(v) for k, v in values.items()},
                              fork_safe_keys=list(config.fork_safe_keys), max_previews=config.max_previews,
                              effective_max_previews=service.max_previews(platform, config),
                              ttl_days=platform.settings.preview_ttl_days, revealed=reveal)


@router.get("/preview-settings", response_model=PreviewSettingsOut)
def show_settings(name: str, platform: PlatformDep, _: CurrentPrincipal,
                  reveal: bool = Query(False, description="Overrides in clear.")) -> PreviewSettingsOut:
    with platform.sessions() as session:
        return settings_out(platform, service.get_config(session, app_service.get(session, name)), reveal=reveal)


@router.patch("/preview-settings", response_model=PreviewSettingsOut)
def patch_settings(name: str, body: PreviewSettingsPatch, platform: PlatformDep,
                   who: CurrentPrincipal) -> PreviewSettingsOut:
    """They apply at each preview's next deploy."""
    with transaction(platform.sessions) as session:
        config = service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                                   enabled=body.enabled, forks=body.forks, shared_keys=body.shared_keys,
                                   fork_safe_keys=body.fork_safe_keys, max_previews=body.max_previews,
                                   reset_max=body.reset_max_previews, set_overrides=body.set,
                                   unset_overrides=body.unset)
        return settings_out(platform, config, reveal=False)

