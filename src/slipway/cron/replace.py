"""`--concurrency replace`: the worker running an older run stops its one-off when a newer run marks it.

The mark is in the database (cron_runs.status = replacing), so it reaches the worker that runs the old
one-off whatever process it is in; that worker stops what it started, on the runtime it started it on.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

import psutil
from sqlalchemy import select

from slipway.cron.models import CronRun
from slipway.errors import SlipwayError
from slipway.platform import Platform

log = logging.getLogger(__name__)
POLL = 1.0


def stop_one_off(platform: Platform, runtime: str, instance_id: str) -> None:
    if runtime != "local":  # a container one-off is named after its instance id
        platform.runtime_for(runtime).stop(instance_id, 5.0)
        return
    # a local one-off is a process group of its own (proc.run starts a new session) whose leader carries
    # SLIPWAY_INSTANCE in its environment: kill that group, never ours
    ours = os.getpgid(0)
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("SLIPWAY_INSTANCE") != instance_id:
                continue
            group = os.getpgid(proc.pid)
        except (psutil.Error, ProcessLookupError):
            continue
        if group != ours:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Watch:
    """A thread that looks at the run's row while it runs, and stops the one-off once it is marked."""

    def __init__(self, platform: Platform, *, run_id: int, instance_id: str, runtime: str) -> None:
        self.platform, self.run_id, self.instance_id, self.runtime = platform, run_id, instance_id, runtime
        self.replaced = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cron-watch-{run_id}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(POLL):
            try:
                with self.platform.sessions() as session:
                    status = session.scalar(select(CronRun.status).where(CronRun.id == self.run_id))
                if status == "replacing":
                    self.replaced = True
                    stop_one_off(self.platform, self.runtime, self.instance_id)
                    return
            except (SlipwayError, OSError, psutil.Error):
                log.exception("cron run %s: could not stop the replaced one-off", self.run_id)
            except Exception:  # the database went away for a moment: look again
                log.exception("cron run %s: watching for a replacement failed", self.run_id)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)
