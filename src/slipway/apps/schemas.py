from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, examples=["hello"])
    git_url: str = Field(max_length=2048, examples=["https://github.com/acme/hello.git"])
    branch: str = Field("main", max_length=255)


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    git_url: str | None = Field(None, max_length=2048)
    branch: str | None = Field(None, max_length=255)


class InstanceOut(BaseModel):
    id: str
    process_type: str
    release: int
    port: int | None
    status: str  # Slipway's view: starting | running | stopping
    state: str  # the runtime's view: running | backoff | crashloop | stopped | missing
    pid: int | None
    restarts: int
    last_exit: str | None
    started_at: dt.datetime | None


class AppOut(BaseModel):
    name: str
    git_url: str
    branch: str
    runtime: str
    url: str
    status: str  # running | stopped | crashed | deploying | new
    desired_state: str
    live_release: int | None
    live_commit: str | None
    created_at: dt.datetime


class AppDetail(AppOut):
    scale: dict[str, int]
    instances: list[InstanceOut]
    env_keys: list[str]
    last_deploy: dict[str, object] | None


class EnvPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    deploy: bool = Field(True, description="Roll the change out at once (a new release, zero downtime).")


class EnvOut(BaseModel):
    env: dict[str, str]
    revealed: bool
    deploy_id: int | None = None


class ScaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    processes: dict[str, int] = Field(description="Instances per process type, e.g. {\"web\": 2}.")


class ScaleOut(BaseModel):
    scale: dict[str, int]
    deploy_id: int | None = None
