from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class PreviewOut(BaseModel):
    number: int
    app: str = Field(description="The preview's own app name (`slipway logs` etc. work on it).")
    url: str
    state: str  # active | closing | closed | refused
    status: str  # new | deploying | running | failed | removed | refused
    reason: str | None
    head_ref: str
    head_commit: str | None
    live_commit: str | None
    fork: bool
    title: str
    pr_url: str | None
    created_at: dt.datetime
    last_activity_at: dt.datetime
    closed_at: dt.datetime | None


class PreviewSettingsOut(BaseModel):
    enabled: bool
    forks: bool = Field(description="Pull requests from forks get a preview (opt-in; never production's vars).")
    shared_keys: list[str] = Field(description="Production env vars previews receive (opt-in per variable).")
    overrides: dict[str, str] = Field(description="Preview-only values (masked unless ?reveal=true).")
    fork_safe_keys: list[str] = Field(description="Overrides that pull requests from forks receive.")
    max_previews: int | None
    effective_max_previews: int
    ttl_days: float
    revealed: bool = False


class PreviewSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    forks: bool | None = Field(None, description="Previews of pull requests from forks on or off.")
    shared_keys: list[str] | None = Field(None, description="Replaces the list.")
    fork_safe_keys: list[str] | None = Field(None, description="Replaces the list.")
    max_previews: int | None = Field(None, ge=0, le=1000)
    reset_max_previews: bool = Field(False, description="Back to SLIPWAY_PREVIEW_MAX_PER_APP.")
    set: dict[str, str] = Field(default_factory=dict, description="Preview overrides to set.")
    unset: list[str] = Field(default_factory=list, description="Preview overrides to remove.")
