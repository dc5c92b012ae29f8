from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class HookOut(BaseModel):
    app: str
    hook_id: str
    urls: dict[str, str] = Field(description="Payload URL per provider (Forgejo uses the gitea one).")
    secret: str | None = Field(description="Only with ?reveal=true.")
    revealed: bool
    branch_filter: str = Field(description="Branch names or globs that deploy (default: the app's branch).")
    deploy_tags: bool
    deploy_window: str | None
    rotated_at: dt.datetime | None


class HookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch_filter: str | None = Field(None, max_length=255, description="Comma-separated names or globs; '' resets.")
    deploy_tags: bool | None = None
    deploy_window: str | None = Field(None, max_length=128,
                                      description="e.g. 'Mon-Fri 09:00-17:00 Europe/Lisbon'; '' removes it.")


class DeliveryOut(BaseModel):
    id: int
    provider: str
    event: str
    delivery_id: str | None
    verified: bool
    outcome: str
    reason: str | None
    ref: str | None
    commit: str | None
    deploy_id: int | None
    received_at: dt.datetime
    headers: dict[str, str]
    body_kept: bool


class DeliveryDetail(DeliveryOut):
    body: str | None
