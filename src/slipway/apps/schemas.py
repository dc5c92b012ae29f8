from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from slipway.runtimes.base import DEFAULT_PIDS
from slipway.runtimes.limits import MAX_CPUS, MAX_MEMORY, MAX_PIDS, MIN_PIDS

MAX_SCALE = 20  # instances of one process type (apps/service.py MAX_INSTANCES says why)


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, examples=["hello"])
    git_url: str = Field("", max_length=2048, examples=["https://github.com/acme/hello.git"])
    branch: str = Field("main", max_length=255)
    runtime: str = Field("local", max_length=32, description="Where instances run: local | docker.")
    image: str | None = Field(None, max_length=1024, description="docker: run this prebuilt image (no git).")
    project: str | None = Field(None, max_length=64, description="Project (and so team) of the app; default: "
                                "the default project, else the first one you may create apps in.")


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    git_url: str | None = Field(None, max_length=2048)
    branch: str | None = Field(None, max_length=255)
    runtime: str | None = Field(None, max_length=32, description="Applies at the next deploy.")
    image: str | None = Field(None, max_length=1024, description="docker: prebuilt image; \"\" goes back to git.")


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
    runtime: str = "local"
    oom_kills: int = 0


class AppOut(BaseModel):
    name: str
    git_url: str
    branch: str
    runtime: str
    image: str | None = None
    url: str
    status: str  # running | stopped | crashed | deploying | new
    desired_state: str
    live_release: int | None
    live_commit: str | None
    created_at: dt.datetime
    project: str | None = None


class AppDetail(AppOut):
    scale: dict[str, int]
    processes: dict[str, int] = Field(default_factory=dict, description=(
        "Process types of the live release and the instances each runs; {} before the first deploy and "
        "for a static site."))
    static: bool = Field(False, description="The live release is a static site, served by the router: "
                         "no process.")
    limits: dict[str, dict[str, Any]] = Field(default_factory=dict)
    docker_build: dict[str, Any] = Field(default_factory=dict)
    instances: list[InstanceOut]
    env_keys: list[str]
    git_remote: str = Field("", description="`git push` here deploys (after `slipway ssh-keys add`).")
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

    processes: dict[str, Annotated[int, Field(ge=0, le=MAX_SCALE)]] = Field(
        description="Instances per process type, e.g. {\"web\": 2}.")


class ScaleOut(BaseModel):
    scale: dict[str, int]
    deploy_id: int | None = None


class LimitsIn(BaseModel):
    """Limits of one process type; sizes like "256M" or bytes, CPUs in cores, processes. null/"" removes one."""

    model_config = ConfigDict(extra="forbid")

    memory: str | Annotated[int, Field(ge=0, le=MAX_MEMORY)] | None = Field(None, examples=["256M"])
    memory_reservation: str | Annotated[int, Field(ge=0, le=MAX_MEMORY)] | None = Field(None, examples=["128M"])
    cpus: float | None = Field(None, ge=0, le=MAX_CPUS, examples=[0.5])
    cpu_reservation: float | None = Field(None, ge=0, le=MAX_CPUS, examples=[0.25])
    # most processes and threads of one instance; unset: DEFAULT_PIDS (512), never unlimited
    pids: int | None = Field(None, ge=MIN_PIDS, le=MAX_PIDS, examples=[256])


class LimitsOut(BaseModel):
    limits: dict[str, dict[str, Any]]
    default_pids: int = DEFAULT_PIDS  # the process limit of every instance whose type sets no `pids`
    warnings: list[str] = Field(default_factory=list)
    deploy_id: int | None = None


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1, description="argv of the command, e.g. [\"python\", \"manage.py\"].")
    timeout: float = Field(3600.0, gt=0, le=86400)
