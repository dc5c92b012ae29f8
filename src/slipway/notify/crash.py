"""Crash detection: live instances the runtime reports crashing open an episode, one per app.

An episode emits app.crashed once when it opens and app.recovered once when the app has gone
`notify_crash_quiet` seconds without a crash: a flapping app notifies once, not at every restart.
Apps in the middle of a deploy are left alone (the pipeline watches those and reports its outcome).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from slipway import events
from slipway.apps.models import App
from slipway.db import transaction, utcnow
from slipway.instances.models import Instance
from slipway.notify.models import CrashEpisode
from slipway.platform import Platform

CRASHING = ("backoff", "crashloop")


def detect(platform: Platform) -> int:
    """One look at every live instance; return how many episodes opened."""
    with platform.sessions() as session:
        apps = {a.id: a.name for a in session.scalars(
            select(App).where(App.desired_state == "running", App.live_release_id.is_not(None),
                              App.deploy_lock.is_(None)))}
        rows = list(session.scalars(select(Instance).where(Instance.app_id.in_(apps),
                                                           Instance.status == "running")))
        open_episodes = set(session.scalars(select(CrashEpisode.app_id).where(CrashEpisode.closed_at.is_(None))))
    crashing: dict[int, list[dict[str, Any]]] = {}
    for row in rows:  # runtime calls outside any transaction: they may be slow (ssh, docker)
        state = platform.runtime.state(row.id)
        if state.status in CRASHING:
            crashing.setdefault(row.app_id, []).append(
                {"id": row.id, "process_type": row.process_type, "state": state.status,
                 "restarts": state.restarts, "last_exit": state.last_exit_reason,
                 "exit_code": state.last_exit_code})
    opened = 0
    for app_id in sorted(set(crashing) | (open_episodes & set(apps))):
        opened += _update(platform, app_id, crashing.get(app_id))
    return opened


def _update(platform: Platform, app_id: int, crashed: list[dict[str, Any]] | None) -> int:
    now = utcnow()
    with transaction(platform.sessions) as session:
        app = session.get(App, app_id, with_for_update=True)  # one detector at a time per app
        if app is None or app.deploy_lock is not None:
            return 0
        episode = session.scalar(select(CrashEpisode).where(CrashEpisode.app_id == app_id,
                                                            CrashEpisode.closed_at.is_(None)))
        if crashed:
            if episode is not None:
                episode.last_crash_at = now
                episode.detail = {"instances": crashed}
                return 0
            episode = CrashEpisode(app_id=app_id, opened_at=now, last_crash_at=now, detail={"instances": crashed})
            session.add(episode)
            session.flush()
            events.emit(session, "app.crashed", app_id=app_id, episode_id=episode.id, instances=crashed,
                        crashloop=any(i["state"] == "crashloop" for i in crashed),
                        reason=next((i["last_exit"] for i in crashed if i["last_exit"]), None))
            return 1
        quiet = platform.settings.notify_crash_quiet
        if episode is not None and (now - episode.last_crash_at).total_seconds() >= quiet:
            episode.closed_at = now
            events.emit(session, "app.recovered", app_id=app_id, episode_id=episode.id, quiet_seconds=quiet,
                        duration_seconds=(now - episode.opened_at).total_seconds())
        return 0
