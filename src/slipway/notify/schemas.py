"""Request and response bodies of the notification API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from slipway.bounds import BodyId


class ChannelTypeOut(BaseModel):
    type: str
    label: str
    config_schema: dict[str, Any]  # JSON schema; secret fields carry "secret": true
    secret_fields: list[str]


class ChannelCreate(BaseModel):
    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ChannelUpdate(BaseModel):
    name: str | None = None
    config: dict[str, Any] | None = None  # merged into the current one; masked secrets are kept as they are
    enabled: bool | None = None


class ChannelOut(BaseModel):
    id: int
    name: str
    type: str
    config: dict[str, Any]  # secrets masked
    enabled: bool
    failing: bool  # flagged: failing for long (see SLIPWAY_NOTIFY_FLAG_*)
    consecutive_failures: int
    failing_since: dt.datetime | None
    last_error: str | None
    last_success_at: dt.datetime | None
    created_at: dt.datetime


class RuleIn(BaseModel):
    event: str = Field(description="An event kind (deploy.failed), a group (deploy.*) or * for every event.")
    app: str | None = Field(None, description="Only this app's events; omitted: every app.")
    channels: list[BodyId | str] = Field(min_length=1, max_length=100, description="Channel ids or names.")
    enabled: bool = True


class RuleUpdate(BaseModel):
    event: str | None = None
    app: str | None = None
    all_apps: bool = False
    channels: list[BodyId | str] | None = Field(None, max_length=100)
    enabled: bool | None = None


class RuleOut(BaseModel):
    id: int
    event: str
    app: str | None
    channels: list[str]
    channel_ids: list[int]
    enabled: bool
    created_at: dt.datetime


class AttemptOut(BaseModel):
    number: int
    ok: bool
    error: str | None
    duration_ms: int
    at: dt.datetime


class DeliveryOut(BaseModel):
    id: int
    channel_id: int
    channel: str | None
    event_id: int | None
    rule_id: int | None
    app: str | None
    kind: str
    title: str
    status: str  # queued | retrying | sent | failed | skipped
    attempts: int
    error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attempt_log: list[AttemptOut] | None = None


class NotificationOut(BaseModel):
    id: int
    kind: str
    severity: str
    app: str | None
    title: str
    body: str
    url: str | None
    created_at: dt.datetime
    read: bool


class NotificationPage(BaseModel):
    unread: int
    items: list[NotificationOut]


class MarkRead(BaseModel):
    ids: list[BodyId] = Field(default_factory=list, max_length=10_000)
    all: bool = False


DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,9})?)\s*([smhdw])")
MAX_DURATION = 366 * 86400  # seconds: a year (past ten thousand years, a datetime overflows: a 500)
MAX_MINUTES = MAX_DURATION / 60
MAX_THRESHOLD = 1e15  # finite: NaN and infinities compare as nothing
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected a duration like 30m, 2h or 1d, got {text!r}")
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than a year")
    return dt.timedelta(seconds=seconds)


class MuteIn(BaseModel):
    until: dt.datetime | None = Field(None, description="When notifications resume (with a time zone).")
    duration: str | None = Field(None, alias="for", description="Or how long from now: 30m, 2h, 1d.")
    reason: str = ""

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _one(self) -> MuteIn:
        if (self.until is None) == (self.duration is None):
            raise ValueError("give either 'until' or 'for'")
        if self.duration is not None:
            self.until = dt.datetime.now(dt.UTC) + parse_duration(self.duration)
        return self


class MuteOut(BaseModel):
    app: str
    muted: bool
    until: dt.datetime | None = None
    reason: str = ""
    actor: str | None = None


# ---- alerts ------------------------------------------------------------------------------------


def _seconds(value: str | float | int | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    return parse_duration(value).total_seconds()


def _check_duration(value: str | float | None) -> str | float | None:
    """A duration that does not parse is a 422 here; read later, in the route, it was a 500."""
    if isinstance(value, str):
        parse_duration(value)
    return value


class AlertRuleIn(BaseModel):
    metric: str = Field(description="cpu (% of one core), memory (MiB), restarts (increase over the window), "
                                    "response_time (ms, health checks), disk (% used, host), "
                                    "error_rate (% of requests answered 5xx, per minute, access log).")
    operator: str = Field(">", description="> >= < <=")
    threshold: float = Field(ge=-MAX_THRESHOLD, le=MAX_THRESHOLD)
    duration: str | Annotated[float, Field(ge=0, le=MAX_DURATION)] = Field(
        0, alias="for", description="How long every sample must breach: 5m, 30s, or seconds. 0: the newest sample.")
    app: str | None = Field(None, description="One app; omitted: every app (disk: the host).")
    severity: str = "warning"
    channels: list[BodyId | str] = Field(min_length=1, max_length=100, description="Channel ids or names.")
    escalation_channels: list[BodyId | str] = Field(default_factory=list, max_length=100)
    escalation_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES,
                                             description="Unacknowledged this long → escalate.")
    reminder_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES,
                                           description="Re-notify a firing alert this often.")
    name: str | None = None
    enabled: bool = True

    model_config = {"populate_by_name": True}

    @property
    def seconds(self) -> float:
        return _seconds(self.duration) or 0.0

    @field_validator("duration")
    @classmethod
    def _duration_parses(cls, value: str | float | None) -> str | float | None:
        return _check_duration(value)


class AlertRuleUpdate(BaseModel):
    metric: str | None = None
    operator: str | None = None
    threshold: float | None = Field(None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD)
    duration: str | Annotated[float, Field(ge=0, le=MAX_DURATION)] | None = Field(None, alias="for")
    app: str | None = None
    all_apps: bool = False
    severity: str | None = None
    channels: list[BodyId | str] | None = Field(None, max_length=100)
    escalation_channels: list[BodyId | str] | None = Field(None, max_length=100)
    escalation_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES)
    reminder_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES)
    name: str | None = None
    enabled: bool | None = None

    @field_validator("duration")
    @classmethod
    def _duration_parses(cls, value: str | float | None) -> str | float | None:
        return _check_duration(value)

    model_config = {"populate_by_name": True}


class AlertRuleOut(BaseModel):
    id: int
    name: str
    condition: str
    metric: str
    operator: str
    threshold: float
    duration: float
    app: str | None
    severity: str
    channels: list[str]
    escalation_channels: list[str]
    escalation_minutes: float | None
    reminder_minutes: float | None
    enabled: bool
    created_at: dt.datetime


class AlertDeliveryOut(BaseModel):
    channel: str | None
    status: str
    attempts: int
    error: str | None


class AlertEventOut(BaseModel):
    kind: str  # fired | reminder | escalated | acknowledged | resolved
    at: dt.datetime
    actor: str
    value: float | None
    event_id: int | None
    deliveries: list[AlertDeliveryOut] = Field(default_factory=list)


class AlertOut(BaseModel):
    id: int
    rule_id: int
    rule: str
    condition: str
    severity: str
    app: str | None
    target: str
    state: str  # firing | acknowledged | resolved
    started_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    escalated_at: dt.datetime | None
    resolved_at: dt.datetime | None
    last_value: float | None
    unit: str = Field("", description="The unit of last_value and of the timeline's values (%, MiB, ms, "
                      "restarts).")
    timeline: list[AlertEventOut] | None = None
