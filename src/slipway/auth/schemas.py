from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "developer", "admin", "owner"]
Scope = Literal["read", "deploy", "admin"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhoAmI(BaseModel):
    kind: str
    name: str
    scope: str | None = None
    team: str | None = None
    roles: list[dict[str, str | None]] = []


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=64)
    scope: Scope = "read"
    team: str | None = Field(None, max_length=64, description="Team it acts in (default: your first team).")
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scope: str
    team: str | None
    user: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The token in clear: shown this once.")


class TeamCreate(Strict):
    name: str = Field(min_length=1, max_length=63)
    owner: str | None = Field(None, max_length=64, description="Its first owner (default: you).")


class TeamPatch(Strict):
    require_2fa: bool | None = None


class TeamOut(BaseModel):
    name: str
    require_2fa: bool
    role: str | None = None
    projects: list[str] = []


class MemberOut(BaseModel):
    username: str
    role: str
    project: str | None
    two_factor: bool | None = Field(None, description="Members only (null for an invitation).")
    status: Literal["member", "invited"] = "member"
    invitation_id: int | None = Field(None, description="With status 'invited': the invitation they accept.")


class MemberPut(Strict):
    role: Role
    project: str | None = Field(None, max_length=64, description="Narrow the role to one project of the team.")


class ProjectCreate(Strict):
    name: str = Field(min_length=1, max_length=63)


class ProjectOut(BaseModel):
    name: str
    team: str


class InvitationCreate(Strict):
    role: Role = "developer"
    project: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=254)
    expires_in_hours: float = Field(168, ge=0.1, le=720)


class InvitationOut(BaseModel):
    id: int
    role: str
    project: str | None
    email: str | None
    created_by: str
    expires_at: dt.datetime
    username: str | None = Field(None, description="Addressed to this account (a member added by name).")
    url: str | None = None
    token: str | None = None


class MyInvitationOut(BaseModel):
    id: int
    team: str
    role: str
    project: str | None
    created_by: str
    expires_at: dt.datetime


class InvitationAccept(Strict):
    pass


class AuditOut(BaseModel):
    id: int
    ts: dt.datetime
    actor: str
    source: str
    ip: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    resource_name: str | None
    app_id: int | None
    project_id: int | None
    team_id: int | None
    status: int | None
    detail: dict
    changes: dict
