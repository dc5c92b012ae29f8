"""Log retention by age and size per app (SLIPWAY_LOG_RETENTION_DAYS, SLIPWAY_LOG_MAX_MB_PER_APP).

What may go: rotated instance logs (out.log.N), every log file of a stopped/failed instance, and the router's
rolled access logs (<app>-<time>.log). What never goes: the live out.log of an instance meant to run and the
live access log <app>.log (their writers hold them open). Files older than the age limit go first; then, while
an app's files (live ones included) exceed its size budget, the oldest deletable file goes. Stopped instances
themselves (their rows and directories) are removed by deploys/reconcile.prune_stopped_instances, which the
server runs with the same age limit.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from slipway.apps.models import App
from slipway.instances.models import Instance
from slipway.observability.logsearch import access_files, log_root
from slipway.platform import Platform

log = logging.getLogger(__name__)
LIVE = ("starting", "running", "stopping")


@dataclass(frozen=True)
class LogFile:
    path: Path
    size: int
    mtime: float
    deletable: bool


def _stat(path: Path, deletable: bool) -> LogFile | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return LogFile(path, st.st_size, st.st_mtime, deletable)


def app_files(platform: Platform, app_name: str, instances: list[tuple[str, str]]) -> list[LogFile]:
    """The app's log files: its instances' (id, status) out.log* and its router access logs."""
    root = log_root(platform)
    out: list[LogFile] = []
    for instance_id, status in instances:
        directory = root / instance_id
        if not directory.is_dir():
            continue
        for path in directory.glob("out.log*"):
            rotated = path.name != "out.log"
            entry = _stat(path, rotated or status not in LIVE)
            if entry:
                out.append(entry)
    access = access_files(platform.settings.home, app_name)
    for path in access:
        entry = _stat(path, path != access[-1])
        if entry:
            out.append(entry)
    return out


def plan(files: list[LogFile], *, max_age_s: float, max_bytes: float, now: float) -> list[LogFile]:
    """The files to delete: deletable ones older than max_age_s, then the oldest deletable ones while the
    total exceeds max_bytes."""
    doomed = [f for f in files if f.deletable and f.mtime < now - max_age_s]
    gone = {f.path for f in doomed}
    total = sum(f.size for f in files if f.path not in gone)
    for f in sorted((f for f in files if f.deletable and f.path not in gone), key=lambda f: f.mtime):
        if total <= max_bytes:
            break
        doomed.append(f)
        total -= f.size
    return doomed


def enforce(platform: Platform, *, now: float | None = None) -> int:
    """Apply the retention to every app; the number of files deleted."""
    settings = platform.settings
    now = time.time() if now is None else now
    with platform.sessions() as session:
        apps = {app_id: name for app_id, name in session.execute(select(App.id, App.name))}
        per_app: dict[int, list[tuple[str, str]]] = {app_id: [] for app_id in apps}
        for instance_id, app_id, status in session.execute(select(Instance.id, Instance.app_id, Instance.status)):
            per_app.setdefault(app_id, []).append((instance_id, status))
    deleted = 0
    for app_id, name in apps.items():
        files = app_files(platform, name, per_app.get(app_id, []))
        for f in plan(files, max_age_s=settings.log_retention_days * 86400,
                      max_bytes=settings.log_max_mb_per_app * 1024 * 1024, now=now):
            try:
                f.path.unlink()
                deleted += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not delete log file %s: %s", f.path, exc)
    return deleted
