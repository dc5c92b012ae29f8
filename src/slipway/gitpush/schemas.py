from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slipway.deploys.schemas import DeployOut


class SshKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, examples=["laptop"])
    public_key: str = Field(max_length=16384, description="One line of an OpenSSH .pub file.",
                            examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop"])


class SshKeyOut(BaseModel):
    id: int
    name: str
    fingerprint: str
    type: str
    owner: str
    scope: str = Field(description="The cap of the credential that added it: deploy or admin.")
    team: str | None = Field(None, description="The team it is limited to (added with a token of that team).")
    disabled: str | None = Field(None, description="Why it cannot push (a key added with a host token).")
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class GitInfo(BaseModel):
    remote: str = Field(description="What to `git remote add slipway …`.")
    branch: str = Field(description="Pushes to this branch deploy.")


class GitOpened(BaseModel):
    repo: str
    branch: str


class GitPushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: str = Field(max_length=1024)
    old: str = Field(max_length=64)
    new: str = Field(max_length=64)


class GitPushOut(BaseModel):
    action: Literal["deploy", "store", "reject"]
    message: str
    deploy: DeployOut | None = None
