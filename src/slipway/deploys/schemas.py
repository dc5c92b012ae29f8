from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from slipway.bounds import INT32_MAX


class DeployCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit: str | None = Field(None, max_length=64, description="Deploy this commit instead of the branch head.")
    at: str | None = Field(None, max_length=64, description="Run at this time ('YYYY-MM-DD HH:MM'), not now.")
    tz: str | None = Field(None, max_length=64, description="IANA time zone of `at` (default UTC).")


class RollbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, le=INT32_MAX,
                                description="Release to go back to; default: the previous one.")


class DeployOut(BaseModel):
    id: int
    app: str
    kind: str
    status: str
    step: str
    commit: str | None
    source: str | None = Field(None, description="'push': a commit pushed with `git push`; null: the app's git URL")
    release: int | None
    reason: str | None = Field(None, description="Why it failed or was rolled back: one line (at most 200 "
                               "characters) naming the cause and the fix")
    log_tail: str | None = Field(None, description="The output that explains a failure (the app's or the "
                                 "build's last lines), apart from the one-line reason")
    run_at: dt.datetime | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    live_at: dt.datetime | None = Field(None, description="When traffic switched to the new release.")
    watch_until: dt.datetime | None = Field(None, description="When the crash watch after the switch ends "
                                            "(null: nothing to watch, e.g. a static site).")


class ReleaseOut(BaseModel):
    version: int
    kind: str
    commit: str
    build_kind: str
    description: str
    processes: dict[str, str]
    live: bool
    pruned: bool
    failed: bool
    created_at: dt.datetime


class LogLine(BaseModel):
    id: int
    ts: dt.datetime
    line: str


class DeployLog(BaseModel):
    deploy: DeployOut
    lines: list[LogLine]
    next_after: int
