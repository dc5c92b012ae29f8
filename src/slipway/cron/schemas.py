from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from slipway.cron import service


class CronJobIn(BaseModel):
    name: str = Field(max_length=63)
    schedule: str = Field(max_length=service.schedules.MAX_SCHEDULE_LENGTH)
    command: list[str] = Field(min_length=1, max_length=service.MAX_ARGV, description="argv, never run by a shell")
    tz: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Lisbon")
    timeout: int = Field(600, ge=1, le=service.MAX_TIMEOUT, description="seconds")
    concurrency: Literal["forbid", "allow", "replace"] = "forbid"
    retries: int = Field(0, ge=0, le=service.MAX_RETRIES)
    process_type: str = Field("worker", max_length=63)
    catch_up: Literal["once", "none"] = "once"


class CronRunOut(BaseModel):
    id: int
    scheduled_at: dt.datetime
    trigger: str
    status: str
    attempts: int
    exit_code: int | None
    release: int | None
    instance: str | None = Field(description="the instance id to search its output in the app's logs")
    reason: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration: float | None = Field(description="seconds")


class CronJobOut(BaseModel):
    name: str
    schedule: str
    description: str = Field(description="the schedule in words")
    tz: str
    command: list[str]
    timeout: int
    concurrency: str
    retries: int
    process_type: str
    catch_up: str
    paused: bool
    source: str = Field(description="api, or repo: declared in the live release's slipway.toml")
    next_runs: list[str] = Field(description="the next 3 times, ISO 8601 in the job's time zone")
    last_run: CronRunOut | None


class PreviewOut(BaseModel):
    schedule: str
    tz: str
    description: str
    runs: list[str]
