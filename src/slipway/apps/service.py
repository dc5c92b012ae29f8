"""Apps and their env vars. Plain functions with an explicit session; the caller commits."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps import validation
from slipway.apps.models import App, EnvVar
from slipway.crypto import Box
from slipway.errors import Conflict, Invalid, NotFound
from slipway.git import service as git_service

SourcePolicy = Callable[[str], None]  # raises when the caller may not use this git source


def create(session: Session, *, name: str, git_url: str, branch: str = "main", actor: str = "system",
           check_remote: bool = True, runtime: str = "local", image: str | None = None,
           project_id: int | None = None, source_policy: SourcePolicy | None = None) -> App:
    """source_policy: the caller's check of a git source it sets (git/local.py: local paths); every route
    that takes a git URL from a user passes one."""
    validation.app_name(name)
    image = _image(runtime, image)
    if git_url:  # none: the app is fed by `git push` (or runs a prebuilt image)
        git_url = git_service.validate_url(git_url)
        if source_policy is not None:
            source_policy(git_url)
    branch = git_service.validate_branch(branch)
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        raise Conflict(f"an app named {name!r} already exists")
    if check_remote and git_url:  # fail now, with git's reason, rather than at the first deploy
        git_service.resolve_commit(url=git_url, branch=branch)
    if project_id is None:  # every app belongs to a project: the default one unless told otherwise
        from slipway.auth.teams import default_project

        project_id = default_project(session).id
    app = App(name=name, git_url=git_url, branch=branch, scale={"web": 1}, runtime=runtime, image=image,
              project_id=project_id)
    session.add(app)
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race with a concurrent create of the same name
        raise Conflict(f"an app named {name!r} already exists") from exc
    events.emit(session, "app.created", app_id=app.id, actor=actor, name=name, git_url=git_url,
                branch=branch, runtime=runtime, **({"image": image} if image else {}))
    return app


def _image(runtime: str, image: str | None) -> str | None:
    if not image:
        return None
    if runtime != "docker":
        raise Invalid("a prebuilt image runs on the docker runtime: add --runtime docker")
    if any(c.isspace() for c in image) or image.startswith("-"):
        raise Invalid(f"invalid image reference {image!r}")
    return image


def get(session: Session, name: str) -> App:
    app = session.scalar(select(App).where(App.name == name))
    if app is None:
        raise NotFound(f"no app named {name!r}")
    return app


def list_all(session: Session) -> list[App]:
    """Every app; during a request, only those the principal may see (set by web/deps.authorize), so
    every list built on this one — API, dashboard, overview — is filtered the same way."""
    from slipway.audit.context import current

    # a pull request's preview is listed under its app (slipway/previews), not as an app of its own
    apps = list(session.scalars(select(App).where(App.parent_app_id.is_(None)).order_by(App.name)))
    ctx = current.get()
    if ctx is not None and ctx.visible_projects is not None:
        apps = [a for a in apps if (a.project_id or ctx.default_project_id) in ctx.visible_projects]
    return apps


def update(session: Session, app: App, *, git_url: str | None = None, branch: str | None = None,
           runtime: str | None = None, image: str | None = None, actor: str = "system",
           source_policy: SourcePolicy | None = None) -> App:
    """Source and runtime changes apply at the next deploy (a release keeps running where it was made)."""
    changes: dict[str, object] = {}
    if git_url is not None and git_url != app.git_url:
        changes["git_url"] = git_service.validate_url(git_url) if git_url else ""  # "": fed by `git push`
        if git_url and source_policy is not None:
            source_policy(git_url)
    if branch is not None and branch != app.branch:
        changes["branch"] = git_service.validate_branch(branch)
    if runtime is not None and runtime != app.runtime:
        changes["runtime"] = runtime
    if image is not None and (image or None) != app.image:
        changes["image"] = _image(runtime or app.runtime, image)  # "" → None: back to building from git
    elif runtime is not None and runtime != "docker" and app.image:
        raise Invalid(f"{app.name} runs the prebuilt image {app.image}: clear it (image \"\") to leave docker")
    for key, value in changes.items():
        setattr(app, key, value)
    if changes:
        events.emit(session, "app.updated", app_id=app.id, actor=actor, **changes)
    return app


MAX_INSTANCES = 20


def set_scale(session: Session, app: App, processes: dict[str, int], *, actor: str = "system",
              declared: Collection[str] | None = None, static: bool = False) -> bool:
    """Instances per process type; True if it changed.

    `declared`: the process types of the release that runs (its Procfile or detected ones); a type it lacks
    is refused (a typo would otherwise be stored and do nothing), except at 0. None: nothing deployed yet,
    any type is kept for later. `static`: a static site, served by the router: nothing to scale."""
    for process_type, count in processes.items():
        validation.process_type(process_type)
        if not 0 <= count <= MAX_INSTANCES:
            raise Invalid(f"{process_type}={count}: a process type runs 0 to {MAX_INSTANCES} instances")
    if static:
        raise Invalid(f"{app.name} is a static site served by the router: it has no processes to scale")
    if declared is not None:
        unknown = sorted(t for t, count in processes.items() if count > 0 and t not in declared)
        if unknown:
            types = ", ".join(declared) or "none"
            raise Invalid(f"{app.name} has no {', '.join(unknown)} process: its process types are {types}")
    scale = {**app.scale, **processes}
    if scale == app.scale:
        return False
    app.scale = scale
    events.emit(session, "app.scaled", app_id=app.id, actor=actor, scale=scale)
    return True


# ---- env vars ----------------------------------------------------------------------------------


def env_plain(session: Session, box: Box, app: App) -> dict[str, str]:
    rows = session.scalars(select(EnvVar).where(EnvVar.app_id == app.id).order_by(EnvVar.key))
    return {row.key: box.decrypt(row.value_enc) for row in rows}


def env_keys(session: Session, app: App) -> list[str]:
    return list(session.scalars(select(EnvVar.key).where(EnvVar.app_id == app.id).order_by(EnvVar.key)))


def set_env(session: Session, box: Box, app: App, values: dict[str, str], *, actor: str = "system") -> bool:
    """Set several vars at once (all validated first, so a bad one changes nothing). True if changed."""
    for key, value in values.items():
        validation.env_key(key)
        validation.env_value(key, value)
    current = {row.key: row for row in session.scalars(select(EnvVar).where(EnvVar.app_id == app.id))}
    changed = []
    for key, value in values.items():
        row = current.get(key)
        if row is None:
            session.add(EnvVar(app_id=app.id, key=key, value_enc=box.encrypt(value)))
            changed.append(key)
        elif box.decrypt(row.value_enc) != value:
            row.value_enc = box.encrypt(value)
            changed.append(key)
    if changed:
        events.emit(session, "env.set", app_id=app.id, actor=actor, keys=changed)
    return bool(changed)


def unset_env(session: Session, app: App, keys: list[str], *, actor: str = "system") -> bool:
    rows = session.scalars(select(EnvVar).where(EnvVar.app_id == app.id, EnvVar.key.in_(keys))).all()
    missing = sorted(set(keys) - {row.key for row in rows})
    if missing:
        raise NotFound(f"{app.name} has no env var {', '.join(missing)}")
    for row in rows:
        session.delete(row)
    if rows:
        events.emit(session, "env.unset", app_id=app.id, actor=actor, keys=sorted(keys))
    return bool(rows)


def restore_env(session: Session, box: Box, app: App, env_enc: str) -> None:
    """Make the stored env vars exactly those of a release snapshot (after a rollback)."""
    wanted: dict[str, str] = json.loads(box.decrypt(env_enc))
    rows = {row.key: row for row in session.scalars(select(EnvVar).where(EnvVar.app_id == app.id))}
    for key, row in rows.items():
        if key not in wanted:
            session.delete(row)
        elif box.decrypt(row.value_enc) != wanted[key]:
            row.value_enc = box.encrypt(wanted[key])
    for key, value in wanted.items():
        if key not in rows:
            session.add(EnvVar(app_id=app.id, key=key, value_enc=box.encrypt(value)))
    events.emit(session, "env.restored", app_id=app.id, keys=sorted(wanted))


def env_snapshot(session: Session, box: Box, app: App) -> str:
    """The app's env as one encrypted blob, for an immutable release."""
    return box.encrypt(json.dumps(env_plain(session, box, app), sort_keys=True))


# ---- resource limits and docker build config ---------------------------------------------------


def set_limits(session: Session, app: App, process_type: str, values: dict[str, object], *,
               actor: str = "system") -> dict[str, dict[str, object]]:
    """Merge limits of one process type (None/"" removes a key); they apply at the next deploy or restart."""
    from slipway.runtimes.limits import normalize

    validation.process_type(process_type)
    current = dict((app.limits or {}).get(process_type) or {})
    current.update(values)
    cleaned = normalize({k: v for k, v in current.items() if v not in (None, "")})
    limits = {**(app.limits or {}), process_type: cleaned}
    if not cleaned:
        limits.pop(process_type)
    if limits != (app.limits or {}):
        app.limits = limits
        events.emit(session, "app.limits_changed", app_id=app.id, actor=actor, process_type=process_type,
                    limits=cleaned)
    return limits


def set_docker_build(session: Session, app: App, values: dict[str, object], *,
                     actor: str = "system") -> dict[str, object]:
    """Merge docker build config (None removes a key: slipway.toml's value or the default applies again)."""
    from slipway.builds.docker import validate

    merged = {**(app.docker_build or {}), **values}
    config = validate({k: v for k, v in merged.items() if v is not None})
    if config != (app.docker_build or {}):
        app.docker_build = config
        events.emit(session, "app.build_config_changed", app_id=app.id, actor=actor, keys=sorted(values))
    return config
