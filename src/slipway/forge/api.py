"""/api/v1/apps/{name}/forge: where statuses and the preview comment go (token stored encrypted, masked)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from slipway.apps import service as app_service
from slipway.crypto import mask
from slipway.db import transaction
from slipway.errors import NotFound
from slipway.forge import service
from slipway.forge.models import ForgeLink
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1/apps/{name}", tags=["forge"])


class ForgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, description="github | gitlab | gitea")
    api_url: str | None = Field(None, max_length=1024, description="Default: https://api.github.com, "
                                "https://gitlab.com/api/v4; Gitea: its /api/v1 URL.")
    token: str | None = Field(None, max_length=4096, description="An API token allowed to set commit statuses "
                              "and comment on pull requests.")
    repo: str | None = Field(None, max_length=255, description="owner/name (GitLab: project id or path); "
                             "default: what the webhooks say. '' resets.")
    comments: bool | None = None


class ForgeOut(BaseModel):
    provider: str
    api_url: str
    token: str
    repo: str | None
    comments: bool


def forge_out(link: ForgeLink) -> ForgeOut:
    return ForgeOut(provider=link.provider, api_url=link.api_url, token=mask(link.token_enc), repo=link.repo,
                    comments=link.comments)


@router.get("/forge", response_model=ForgeOut)
def show_forge(name: str, platform: PlatformDep, _: CurrentPrincipal) -> ForgeOut:
    with platform.sessions() as session:
        link = service.get_link(session, app_service.get(session, name))
        if link is None:
            raise NotFound(f"{name} has no forge link: set one with `slipway hooks forge {name} --provider … "
                           "--token …`")
        return forge_out(link)


@router.put("/forge", response_model=ForgeOut)
def set_forge(name: str, body: ForgeIn, platform: PlatformDep, who: CurrentPrincipal) -> ForgeOut:
    with transaction(platform.sessions) as session:
        link = service.configure(session, platform.box, app_service.get(session, name), actor=who.actor,
                                 policy=platform.egress, provider=body.provider, api_url=body.api_url,
                                 token=body.token, repo=body.repo, comments=body.comments)
        return forge_out(link)


@router.delete("/forge", status_code=204)
def remove_forge(name: str, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    with transaction(platform.sessions) as session:
        service.remove(session, app_service.get(session, name), actor=who.actor)
    return Response(status_code=204)
