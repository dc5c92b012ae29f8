"""Apps and their env vars. Plain functions with an explicit session; the caller commits."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps import validation
from slipway.apps.models import App, EnvVar
from slipway.crypto import Box
from slipway.errors import Conflict, Invalid, NotFound
from slipway.git import service as git_service


def create(session: Session, *, name: str, git_url: str, branch: str = "main", actor: str = "system",
           check_remote: bool = True) -> App:
    validation.app_name(name)
    git_url = git_service.validate_url(git_url)
    branch = git_service.validate_branch(branch)
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        raise Conflict(f"an app named {name!r} already exists")
    if check_remote:  # fail now, with git's reason, rather than at the first deploy
        git_service.resolve_commit(url=git_url, branch=branch)
    app = App(name=name, git_url=git_url, branch=branch, scale={"web": 1})
    session.add(app)
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race with a concurrent create of the same name
        raise Conflict(f"an app named {name!r} already exists") from exc
    events.emit(session, "app.created", app_id=app.id, actor=actor, name=name, git_url=git_url,
                branch=branch)
    return app


def get(session: Session, name: str) -> App:
    app = session.scalar(select(App).where(App.name == name))
    if app is None:
        raise NotFound(f"no app named {name!r}")
    return app


def list_all(session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


def update(session: Session, app: App, *, git_url: str | None = None, branch: str | None = None,
           actor: str = "system") -> App:
    changes: dict[str, object] = {}
    if git_url is not None and git_url != app.git_url:
        changes["git_url"] = git_service.validate_url(git_url)
    if branch is not None and branch != app.branch:
        changes["branch"] = git_service.validate_branch(branch)
    for key, value in changes.items():
        setattr(app, key, value)
    if changes:
        events.emit(session, "app.updated", app_id=app.id, actor=actor, **changes)
    return app


MAX_INSTANCES = 20


def set_scale(session: Session, app: App, processes: dict[str, int], *, actor: str = "system") -> bool:
    """Instances per process type; True if it changed. Types a release lacks are simply not started."""
    for process_type, count in processes.items():
        validation.process_type(process_type)
        if not 0 <= count <= MAX_INSTANCES:
            raise Invalid(f"{process_type}={count}: a process type runs 0 to {MAX_INSTANCES} instances")
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
