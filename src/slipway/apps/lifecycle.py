"""App operations that reach beyond the database: deleting an app stops what it runs."""

from __future__ import annotations

import shutil

from slipway import events
from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.deploys.models import Deploy
from slipway.errors import Conflict
from slipway.gitpush import repos as push_repos
from slipway.instances import service as instance_service
from slipway.platform import Platform
from slipway.routing import service as routing


def delete(platform: Platform, name: str, *, actor: str) -> None:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        if app.deploy_lock is not None:
            holder = session.get(Deploy, app.deploy_lock)
            if holder is not None and holder.status == "running":
                raise Conflict(f"a deploy of {name} is running (#{holder.id}); wait for it to finish")
        app.desired_state = "stopped"  # the reconciler must not restart anything from now on
        app_id = app.id
        instances = [i.id for i in instance_service.active(session, app.id)]
    from slipway.previews.jobs import remove_all as remove_previews

    remove_previews(platform, app_id)  # its pull requests' previews go with it
    for instance_id in instances:
        instance_service.stop(platform, instance_id)
    instance_service.remove_all(platform, app_id)
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        events.emit(session, "app.deleted", actor=actor, name=name)
        session.delete(app)
    routing.apply(platform)
    shutil.rmtree(platform.settings.home / "artifacts" / name, ignore_errors=True)
    # what the app wrote and owns goes too: a later app of the same name must not inherit its home, its
    # dependency cache (a poisoned venv) or its system user
    shutil.rmtree(platform.settings.home / "homes" / name, ignore_errors=True)
    shutil.rmtree(platform.settings.home / "cache" / "apps" / name, ignore_errors=True)
    if platform.sandbox is not None:
        platform.sandbox.remove_user(name)
    push_repos.remove(platform.settings, name)
