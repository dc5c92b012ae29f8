"""Preview environments: one per open pull/merge request, served at `pr-<n>.<app>.<base domain>`.

The model. A preview is an app row of its own, named `<app>--pr-<n>`, with `environment="preview"` and
`parent_app_id` pointing at the production app, plus a `previews` row holding what the pull request said
(number, head commit, fork or not, the forge comment's id). Reusing the app row means a preview gets the
whole pipeline — build, releases, instances, health gate, routes, logs, rollback, `slipway logs
hello--pr-7` — with no second code path; the production app's API is unchanged because previews are
filtered out of app lists (apps.service.list_all) and routed at their own host (routing.host_for). A
separate environments table would have meant teaching every service which of two owners a release or
instance has; the cost of the row-per-preview model is a name convention, guarded by its
`environment` column (a production app that happens to be called `x--pr-1` stays production).

Secrets. A preview's env vars are computed at each of its deploys and written to its app row, which the
pipeline then snapshots like any app's:
  same-repository PR: the production vars the app shares with previews (`shared_keys`, none by default)
                      + the preview overrides (e.g. a different DATABASE_URL)
  PR from a fork:     only the overrides marked fork-safe (none by default) — never production's vars
so a preview never holds a production secret the app did not opt in per variable, and fork code never
runs with one.

Lifecycle. Opened/reopened → created (unless the app's cap on open previews is reached: then refused,
with the reason in the delivery log and at the forge) and deployed from the PR's head commit; new
commits → redeployed (bursts coalesce like pushes); closed/merged → a `preview.teardown` job removes
routes, instances, releases and artifacts; previews without PR activity for SLIPWAY_PREVIEW_TTL_DAYS go
the same way (a periodic sweep).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps import service as app_service
from slipway.apps import validation
from slipway.apps.models import App
from slipway.crypto import Box
from slipway.db import transaction, utcnow
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.errors import Conflict, Invalid, NotFound
from slipway.forge import clients as forge_clients
from slipway.forge import service as forge_service
from slipway.git import service as git_service
from slipway.hooks.providers import PullRequest
from slipway.jobs import queue
from slipway.platform import Platform
from slipway.previews.models import Preview, PreviewConfig

TEARDOWN = "preview.teardown"
MAX_NAME = 63


def preview_name(app_name: str, number: int) -> str:
    return f"{app_name}--pr-{number}"


def preview_url(platform: Platform, app_name: str, number: int) -> str:
    settings = platform.settings
    return f"http://pr-{number}.{app_name}.{settings.base_domain}:{settings.http_port}/"


# ---- settings: what previews get ---------------------------------------------------------------------


def get_config(session: Session, app: App) -> PreviewConfig:
    """The app's preview settings (defaults when never set: enabled, nothing shared, no overrides)."""
    config = session.get(PreviewConfig, app.id)
    return config if config is not None else PreviewConfig(app_id=app.id, enabled=True, shared_keys=[],
                                                           fork_safe_keys=[], max_previews=None, forks=False)


def overrides(box: Box, config: PreviewConfig) -> dict[str, str]:
    return json.loads(box.decrypt(config.overrides_enc)) if config.overrides_enc else {}


def configure(session: Session, box: Box, app: App, *, actor: str, enabled: bool | None = None,
              shared_keys: list[str] | None = None, fork_safe_keys: list[str] | None = None,
              max_previews: int | None = None, reset_max: bool = False, set_overrides: dict[str, str] | None = None,
              unset_overrides: list[str] | None = None, forks: bool | None = None) -> PreviewConfig:
    if app.environment == "preview":
        raise Invalid(f"{app.name} is a preview: preview settings belong to its app")
    config = session.get(PreviewConfig, app.id)
    if config is None:
        config = PreviewConfig(app_id=app.id, enabled=True, shared_keys=[], fork_safe_keys=[], forks=False)
        session.add(config)
    values = overrides(box, config)
    for key, value in (set_overrides or {}).items():
        validation.env_key(key)
        validation.env_value(key, value)
        values[key] = value
    missing = sorted(set(unset_overrides or []) - set(values))
    if missing:
        raise NotFound(f"{app.name} has no preview override {', '.join(missing)}")
    for key in unset_overrides or []:
        values.pop(key)
    for keys in (shared_keys, fork_safe_keys):
        for key in keys or []:
            validation.env_key(key)
    if enabled is not None:
        config.enabled = enabled
    if forks is not None:
        config.forks = forks
    if shared_keys is not None:
        config.shared_keys = sorted(set(shared_keys))
    if fork_safe_keys is not None:
        config.fork_safe_keys = sorted(set(fork_safe_keys))
    if max_previews is not None:
        if max_previews < 0:
            raise Invalid("max_previews must be 0 or more")
        config.max_previews = max_previews
    elif reset_max:
        config.max_previews = None
    config.overrides_enc = box.encrypt(json.dumps(values, sort_keys=True)) if values else None
    session.flush()
    events.emit(session, "preview.configured", app_id=app.id, actor=actor, enabled=config.enabled,
                forks=config.forks, shared_keys=config.shared_keys, fork_safe_keys=config.fork_safe_keys,
                override_keys=sorted(values), max_previews=config.max_previews)
    return config


def preview_env(session: Session, box: Box, parent: App, config: PreviewConfig, *, fork: bool) -> dict[str, str]:
    """What a preview's instances get (see the module docstring)."""
    extra = overrides(box, config)
    if fork:
        return {k: v for k, v in extra.items() if k in set(config.fork_safe_keys)}
    production = app_service.env_plain(session, box, parent)
    return {**{k: production[k] for k in config.shared_keys if k in production}, **extra}


def max_previews(platform: Platform, config: PreviewConfig) -> int:
    return config.max_previews if config.max_previews is not None else platform.settings.preview_max_per_app


# ---- pull request events -----------------------------------------------------------------------------


@dataclass
class Outcome:
    outcome: str  # queued | teardown | refused | ignored
    reason: str | None = None
    deploy_id: int | None = None
    commit: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


def handle_pull(session: Session, platform: Platform, *, parent: App, provider: str, repo: str | None,
                pull: PullRequest, actor: str) -> Outcome:
    """A pull request event of `parent`'s repository, in the webhook delivery's transaction."""
    if parent.environment == "preview":
        return Outcome("ignored", "this webhook belongs to a preview")
    config = get_config(session, parent)
    # closing still tears down a preview made while previews were on: turning them off stops new ones only
    if not config.enabled and pull.action != "close":
        return Outcome("ignored", f"previews are turned off for {parent.name}")
    session.execute(select(App.id).where(App.id == parent.id).with_for_update())  # one PR event at a time
    preview = session.scalar(select(Preview).where(Preview.parent_app_id == parent.id,
                                                   Preview.number == pull.number))
    name = preview_name(parent.name, pull.number)
    if pull.action == "close":
        if preview is None or preview.state != "active":
            return Outcome("ignored", f"no preview is up for pull request #{pull.number}")
        why = "merged" if pull.merged else "closed"
        request_teardown(session, platform, preview, reason=f"pull request {why}", actor=actor)
        return Outcome("teardown", f"pull request #{pull.number} {why}: {name} is being removed",
                       body={"preview": name})
    if preview is not None and preview.state == "closing":
        return Outcome("ignored", f"{name} is still being removed: redeliver this event in a minute")
    link = _link(session, parent, provider)
    if preview is None:
        preview = Preview(parent_app_id=parent.id, number=pull.number, provider=provider, state="new")
        session.add(preview)
    preview.provider, preview.repo = provider, repo
    preview.head_ref, preview.head_repo, preview.fork = pull.head_ref[:255], pull.head_repo, pull.fork
    preview.head_commit, preview.title, preview.url = pull.head_commit, pull.title, pull.url
    preview.last_activity_at = utcnow()
    fork_problem = fork_refusal(parent, config, provider, pull)
    if fork_problem is not None and preview.state == "active":  # e.g. fork previews turned off meanwhile
        request_teardown(session, platform, preview, reason=fork_problem, actor=actor)
        events.emit(session, "preview.refused", app_id=parent.id, actor=actor, number=pull.number,
                    reason=fork_problem)
        return Outcome("refused", fork_problem, commit=pull.head_commit, body={"preview": name})
    if preview.state != "active":
        problem = fork_problem or _refusal(session, platform, parent, config, pull, name)
        if problem is not None:
            preview.state, preview.reason = "refused", problem
            session.flush()
            events.emit(session, "preview.refused", app_id=parent.id, actor=actor, number=pull.number,
                        reason=problem)
            _report_refusal(session, platform, parent, preview, link, repo, pull, problem)
            return Outcome("refused", problem, commit=pull.head_commit, body={"preview": name})
        app = _create_app(session, parent, pull, name)
        preview.app_id, preview.state, preview.reason, preview.closed_at = app.id, "active", None, None
        session.flush()
        events.emit(session, "preview.created", app_id=parent.id, actor=actor, number=pull.number, name=name,
                    fork=pull.fork)
    else:
        app = session.get(App, preview.app_id)
        if app is None:  # removed by hand (`slipway apps delete`): bring it back
            app = _create_app(session, parent, pull, name)
            preview.app_id = app.id
    env = preview_env(session, platform.box, parent, config, fork=pull.fork)
    app_service.restore_env(session, platform.box, app, platform.box.encrypt(json.dumps(env)))
    deploy = deploy_service.request(session, app, kind="deploy", commit=pull.head_commit, actor=actor,
                                    coalesce=True)
    if link is not None and (link.repo or repo) and pull.head_commit:
        forge_service.record_target(session, app_id=parent.id, deploy_id=deploy.id, repo=link.repo or repo or "",
                                    sha=pull.head_commit, ctx=forge_service.context(parent.name, preview=True),
                                    preview_id=preview.id)
    url = preview_url(platform, parent.name, pull.number)
    return Outcome("queued", deploy_id=deploy.id, commit=pull.head_commit,
                   body={"preview": name, "url": url, "fork": pull.fork})


def _link(session: Session, parent: App, provider: str) -> Any:
    link = forge_service.get_link(session, parent)
    return link if link is not None and link.provider == forge_clients.forge_of_hook(provider) else None


# Where each forge serves a pull request's head commit in the BASE repository. A fork's preview fetches
# exactly that ref (its branch name means nothing in the base repository: a same-named branch there is other
# code). Bitbucket has no such ref: fork previews are refused there.
PULL_REFS = {"github": "refs/pull/{n}/head", "gitea": "refs/pull/{n}/head", "forgejo": "refs/pull/{n}/head",
             "gitlab": "refs/merge-requests/{n}/head"}


def pull_ref(provider: str, number: int) -> str | None:
    template = PULL_REFS.get(provider)
    return template.format(n=int(number)) if template else None


def fork_refusal(parent: App, config: PreviewConfig, provider: str, pull: PullRequest) -> str | None:
    """Why a pull request from a fork gets no preview (None: it may have one, or it is no fork)."""
    if not pull.fork:
        return None
    if not config.forks:
        return (f"pull requests from forks get no preview on {parent.name}: fork previews are opt-in "
                f"(`slipway preview settings {parent.name} --forks`; they never get production's env vars)")
    if pull_ref(provider, pull.number) is None:
        return (f"{provider} serves no pull request ref in the base repository, so a fork's exact head commit "
                "cannot be fetched: fork previews are not supported there")
    if pull.head_commit is None:
        return "the pull request comes from a fork and names no full commit: it cannot be fetched"
    return None


def _refusal(session: Session, platform: Platform, parent: App, config: PreviewConfig, pull: PullRequest,
             name: str) -> str | None:
    cap = max_previews(platform, config)
    active = session.scalar(select(func.count(Preview.id)).where(Preview.parent_app_id == parent.id,
                                                                  Preview.state == "active")) or 0
    if active >= cap:
        return (f"preview limit reached: {parent.name} has {active} open preview(s), the limit is {cap} "
                "(close a pull request, or raise it with `slipway preview settings --max`)")
    if len(name) > MAX_NAME:
        return f"the preview's name {name!r} would be longer than {MAX_NAME} characters"
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        return f"an app named {name!r} already exists"
    isolation = platform.isolation
    if pull.fork and not isolation.isolated:
        # a fork's code is a stranger's: it runs only inside the sandbox, never with the platform in reach
        return (f"pull requests from forks are not previewed: Slipway runs unisolated on this host "
                f"({isolation.reason}); install bubblewrap and restart Slipway to preview them")
    return None


def _create_app(session: Session, parent: App, pull: PullRequest, name: str) -> App:
    try:
        branch = git_service.validate_branch(pull.head_ref) if pull.head_ref else parent.branch
    except Invalid:
        branch = parent.branch
    app = App(name=name, git_url=parent.git_url, branch=branch, runtime=parent.runtime, image=parent.image,
              docker_build=dict(parent.docker_build or {}), limits=dict(parent.limits or {}), scale={"web": 1},
              project_id=parent.project_id, environment="preview", parent_app_id=parent.id)
    session.add(app)
    session.flush()
    return app


def _report_refusal(session: Session, platform: Platform, parent: App, preview: Preview, link: Any,
                    repo: str | None, pull: PullRequest, problem: str) -> None:
    if link is None or not (link.repo or repo):
        return
    attempts = platform.settings.forge_max_attempts
    if pull.head_commit:
        target_id = forge_service.record_target(
            session, app_id=parent.id, deploy_id=None, repo=link.repo or repo or "", sha=pull.head_commit,
            ctx=forge_service.context(parent.name, preview=True), preview_id=preview.id, state="error",
            description=f"Preview refused: {problem}"[:140])
        forge_service.queue_status(session, target_id, max_attempts=attempts)
    forge_service.queue_comment(session, preview.id, max_attempts=attempts)


# ---- teardown ----------------------------------------------------------------------------------------


def request_teardown(session: Session, platform: Platform, preview: Preview, *, reason: str, actor: str) -> None:
    """Mark the preview closing, cancel its waiting deploys and queue its removal (a job, done in seconds)."""
    preview.state, preview.reason = "closing", reason
    app = session.get(App, preview.app_id) if preview.app_id else None
    if app is not None:
        for deploy in session.scalars(select(Deploy).where(Deploy.app_id == app.id,
                                                           Deploy.status.in_(("queued", "scheduled")))):
            deploy_service.cancel(session, app, deploy, actor=actor)
    queue.enqueue(session, TEARDOWN, {"preview_id": preview.id}, max_attempts=5)
    events.emit(session, "preview.closing", app_id=preview.parent_app_id, actor=actor, number=preview.number,
                reason=reason)


def delete(session: Session, platform: Platform, parent: App, number: int, *, actor: str) -> Preview:
    preview = session.scalar(select(Preview).where(Preview.parent_app_id == parent.id, Preview.number == number))
    if preview is None:
        raise NotFound(f"{parent.name} has no preview for pull request #{number}")
    if preview.state != "active":
        raise Conflict(f"the preview of #{number} is {preview.state}: nothing to remove")
    request_teardown(session, platform, preview, reason=f"removed by {actor}", actor=actor)
    return preview


def list_previews(session: Session, parent: App, *, include_closed: bool = False) -> list[Preview]:
    query = select(Preview).where(Preview.parent_app_id == parent.id)
    if not include_closed:
        query = query.where(Preview.state != "closed")
    return list(session.scalars(query.order_by(Preview.number)))


def sweep_idle(platform: Platform) -> int:
    """Queue the removal of previews without pull request activity for SLIPWAY_PREVIEW_TTL_DAYS."""
    import datetime as dt

    ttl = platform.settings.preview_ttl_days
    cutoff = utcnow() - dt.timedelta(days=ttl)
    with transaction(platform.sessions) as session:
        idle = list(session.scalars(select(Preview).where(Preview.state == "active",
                                                          Preview.last_activity_at < cutoff)))
        for preview in idle:
            request_teardown(session, platform, preview, reason=f"idle for {ttl:g} days", actor="preview-ttl")
    if idle:
        platform.wake_workers()
    return len(idle)
