"""Pydantic models of the observability API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["http", "tcp", "json"]
# Checks only observe: see health.SAFE_METHODS.
Method = Literal["GET", "HEAD"]


class _CheckFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = "GET"
    expected_status: int | None = Field(None, ge=100, le=599, description="None: any 2xx or 3xx.")
    body_contains: str | None = Field(None, max_length=1024)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    interval: float = Field(60.0, ge=5, le=86400, description="Seconds between runs.")
    timeout: float = Field(5.0, gt=0, le=60)
    retries: int = Field(3, ge=1, le=20, description="Consecutive failures before the check is down.")
    enabled: bool = True
    monitor: bool = Field(True, description="Run every `interval` (false: a smoke check only).")
    smoke: bool = Field(False, description="Also run after every deploy's switch; a failure rolls back.")
    status_page: bool = Field(False, description="Show on the public status page (the app, or the monitor).")

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> _CheckFields:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be shorter than interval")
        return self


class CheckIn(_CheckFields):
    name: str = Field(min_length=1, max_length=100, examples=["homepage"])
    kind: Kind = "http"
    target: str = Field(
        min_length=1, max_length=2048,
        description="http/json: a URL, or (app checks) a path such as /health probed on each live web "
                    "instance; tcp: host:port, or (app checks) empty/':port'.",
        examples=["/health"],
    )

    @field_validator("target")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class CheckPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    target: str | None = Field(None, min_length=1, max_length=2048)
    method: Method | None = None
    expected_status: int | None = Field(None, ge=100, le=599)
    body_contains: str | None = Field(None, max_length=1024)
    headers: dict[str, str] | None = Field(None, max_length=20)
    interval: float | None = Field(None, ge=5, le=86400)
    timeout: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=1, le=20)
    enabled: bool | None = None
    monitor: bool | None = None
    smoke: bool | None = None
    status_page: bool | None = None

    @model_validator(mode="after")
    def _null_only_where_it_means_something(self) -> CheckPatch:
        # null clears expected_status and body_contains; on any other field it was stored, then compared: a 500
        nulls = sorted(k for k in self.model_fields_set
                       if getattr(self, k) is None and k not in ("expected_status", "body_contains"))
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: null is not a value here (leave the field out to keep it)")
        return self


class CheckOut(BaseModel):
    id: int
    app: str | None
    name: str
    kind: str
    target: str
    method: str
    expected_status: int | None
    body_contains: str | None
    headers: dict[str, str]
    interval: float
    timeout: float
    retries: int
    enabled: bool
    monitor: bool
    smoke: bool
    status_page: bool
    state: str
    failures: int
    last_run_at: dt.datetime | None
    last_response_ms: float | None
    last_output: str | None
    created_at: dt.datetime
    uptime: dict[str, float | None] | None = None


class CheckResultOut(BaseModel):
    ts: dt.datetime
    status: str
    response_ms: float | None
    output: str | None


class IncidentOut(BaseModel):
    id: int
    check_id: int
    check: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration: float | None = Field(description="Seconds; null while the incident is open.")
    cause: str
    output: str | None


class UptimeOut(BaseModel):
    app: str
    state: str
    uptime: dict[str, float | None] = Field(description="Percent per window (24h, 7d, 30d, 90d); null: no data.")
    open_incidents: int


class StatusPagePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    display_name: str | None = Field(None, max_length=100)


class StatusPageOut(BaseModel):
    app: str
    enabled: bool
    display_name: str | None
