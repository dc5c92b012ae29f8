"""Status back to the forge: an app's forge link, and the commit statuses its deploys report.

A webhook delivery that queues a deploy of a linked app records a ForgeTarget (repository, commit,
context) in its own transaction. The dispatcher (forge/jobs.py) follows the deploy's events in the
outbox and moves the target through pending → success | failure, queueing a `forge.status` job each
time: the webhook answer never waits for the forge, and a forge that is down gets retries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.crypto import Box
from slipway.db import utcnow
from slipway.egress import Policy, url_target
from slipway.errors import Invalid, NotFound
from slipway.forge.clients import DEFAULT_API, PROVIDERS
from slipway.forge.models import ForgeLink, ForgeTarget
from slipway.jobs.models import Job

STATUS_JOB, COMMENT_JOB = "forge.status", "forge.comment"
_TARGETS, _JOBS = ForgeTarget.__table__, Job.__table__


def get_link(session: Session, app: App) -> ForgeLink | None:
    return session.get(ForgeLink, app.id)


def configure(session: Session, box: Box, app: App, *, actor: str, policy: Policy, provider: str | None = None,
              api_url: str | None = None, token: str | None = None, repo: str | None = None,
              comments: bool | None = None) -> ForgeLink:
    link = get_link(session, app)
    if link is None:
        if provider is None or not token:
            raise Invalid("linking a forge needs a provider (github, gitlab, gitea) and an API token")
        link = ForgeLink(app_id=app.id, provider="", api_url="", token_enc="")
        session.add(link)
    if provider is not None:
        if provider not in PROVIDERS:
            raise Invalid(f"unknown forge {provider!r}: use {', '.join(PROVIDERS)}")
        link.provider = provider
    if api_url is not None or not link.api_url:
        url = (api_url or DEFAULT_API.get(link.provider, "")).rstrip("/")
        try:
            url_target(url)  # Invalid for what urlsplit cannot parse too ("http://[::1", a bad port)
        except Invalid:
            raise Invalid(f"the forge API URL must be http(s)://host[/path], got {url!r}"
                          + (" (Gitea has no default: give its /api/v1 URL)" if link.provider == "gitea" else "")
                          ) from None
        if api_url:  # the token goes there: never to Slipway itself or the private network
            policy.check_url(url)
        link.api_url = url
    if token:
        link.token_enc = box.encrypt(token)
    if repo is not None:
        link.repo = repo.strip() or None
    if comments is not None:
        link.comments = comments
    session.flush()
    events.emit(session, "forge.configured", app_id=app.id, actor=actor, provider=link.provider,
                api_url=link.api_url)
    return link


def remove(session: Session, app: App, *, actor: str) -> None:
    link = get_link(session, app)
    if link is None:
        raise NotFound(f"{app.name} has no forge link")
    session.delete(link)
    events.emit(session, "forge.removed", app_id=app.id, actor=actor)


def context(app_name: str, *, preview: bool) -> str:
    return f"slipway/{app_name}" + ("/preview" if preview else "")


# ---- targets (Core statements: they run inside the webhook intake's transaction) -------------------


def record_target(conn: Any, *, app_id: int, deploy_id: int | None, repo: str, sha: str, ctx: str,
                  preview_id: int | None = None, state: str = "pending", description: str = "Queued",
                  target_url: str | None = None) -> int:
    """The deploy's target (one per deploy: a coalesced push moves it to the newer commit)."""
    if deploy_id is not None:
        row = conn.execute(select(_TARGETS.c.id, _TARGETS.c.sha).where(_TARGETS.c.deploy_id == deploy_id)
                           .order_by(_TARGETS.c.id.desc()).limit(1)).first()
        if row is not None:
            if row.sha != sha:  # the older commit will not be deployed: say so at the forge
                superseded(conn, app_id=app_id, repo=repo, sha=row.sha, ctx=ctx, newer=sha, preview_id=preview_id)
            conn.execute(update(_TARGETS).where(_TARGETS.c.id == row.id)
                         .values(sha=sha, state=state, description=description, updated_at=utcnow()))
            return int(row.id)
    target_id = conn.execute(insert(_TARGETS).values(
        app_id=app_id, deploy_id=deploy_id, preview_id=preview_id, repo=repo, sha=sha, context=ctx,
        state=state, description=description[:140], target_url=target_url)).inserted_primary_key[0]
    return int(target_id)


def superseded(conn: Any, *, app_id: int, repo: str, sha: str, ctx: str, newer: str,
               preview_id: int | None) -> None:
    target_id = record_target(conn, app_id=app_id, deploy_id=None, repo=repo, sha=sha, ctx=ctx,
                              preview_id=preview_id, state="error",
                              description=f"Not deployed: superseded by {newer[:12]}")
    queue_status(conn, target_id)


def queue_status(conn: Any, target_id: int, *, max_attempts: int = 8) -> None:
    conn.execute(insert(_JOBS).values(kind=STATUS_JOB, payload={"target_id": target_id}, max_attempts=max_attempts))


def queue_comment(conn: Any, preview_id: int, *, max_attempts: int = 8) -> None:
    conn.execute(insert(_JOBS).values(kind=COMMENT_JOB, payload={"preview_id": preview_id},
                                      max_attempts=max_attempts))
