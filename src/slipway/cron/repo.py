"""Jobs declared in the repository (`slipway.toml` `[cron.<name>]`), versioned with the release.

A build checks the tables and stores them in the release's config; when a release goes live (a deploy, a
rollback, a switch back after a failed deploy) its jobs replace the app's repository-declared jobs. Jobs
added through the API or CLI (source `api`) are left alone, unless the repository declares the same name:
then the repository's version wins.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from sqlalchemy.orm import Session

from slipway import errors, events
from slipway.apps.models import App
from slipway.cron import service
from slipway.cron.models import CronJob
from slipway.db import utcnow

log = logging.getLogger(__name__)
KEYS = {"schedule", "command", "tz", "timeout", "concurrency", "retries", "process_type", "catch_up"}
FIELDS = ("schedule", "command", "tz", "timeout", "concurrency", "retries", "process_type", "catch_up")


def parse_tables(tables: dict[str, Any], filename: str) -> dict[str, dict[str, Any]]:
    """[cron.<name>] tables → checked job fields (BuildError with the file's name and the reason)."""
    jobs: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        where = f"{filename}: [cron.{name}]"
        if not isinstance(table, dict):
            raise errors.BuildError(f"{where} must be a table")
        extra = sorted(set(table) - KEYS)
        if extra:
            raise errors.BuildError(f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(KEYS))}")
        command = table.get("command")
        if isinstance(command, str):
            try:
                command = shlex.split(command)  # words, as a shell would split them; never run by one
            except ValueError as exc:
                raise errors.BuildError(f"{where}: command: {exc}") from exc
        if not isinstance(command, list) or not all(isinstance(word, str) for word in command):
            raise errors.BuildError(f"{where}: command must be a string or a list of strings")
        fields: dict[str, Any] = {**{k: v for k, v in table.items() if k in KEYS}, "command": command}
        if not isinstance(fields.get("schedule"), str):
            raise errors.BuildError(f"{where}: schedule must be a string such as \"*/5 * * * *\"")
        try:
            service.validate(service.JobSpec(name=name, **fields))
        except (errors.Invalid, TypeError) as exc:
            raise errors.BuildError(f"{where}: {getattr(exc, 'message', exc)}") from exc
        jobs[name] = fields
    return jobs


def apply(session: Session, app: App, config: dict[str, Any], *, actor: str = "deploy") -> None:
    """Make the app's repository jobs those of a release's config, in the caller's transaction."""
    declared: dict[str, dict[str, Any]] = dict(config.get("cron") or {})
    existing = {job.name: job for job in service.jobs_of(session, app)}
    for name, job in existing.items():
        if job.source == "repo" and name not in declared:
            session.delete(job)
            events.emit(session, "cron.removed", app_id=app.id, actor=actor, job=name, source="repo")
    for name, fields in declared.items():
        try:  # checked at build time; a release that went live must never fail its switch over a job
            spec = service.JobSpec(name=name, **fields)
            sched = service.validate(spec)
        except (errors.Invalid, TypeError) as exc:
            log.warning("%s: slipway.toml job %s not applied: %s", app.name, name, exc)
            continue
        job = existing.get(name)
        if job is None:
            job = CronJob(app_id=app.id, name=name, paused=False)
            session.add(job)
        elif job.source == "repo" and all(getattr(job, k) == getattr(spec, k) for k in FIELDS):
            continue  # unchanged: keep its next time
        for key in FIELDS:
            setattr(job, key, getattr(spec, key))
        job.schedule, job.source, job.updated_at = sched.expression, "repo", utcnow()
        job.next_run_at = service.next_after(job, utcnow())
        events.emit(session, "cron.added", app_id=app.id, actor=actor, job=name, schedule=job.schedule, tz=job.tz,
                    command=job.command, source="repo")
    session.flush()
