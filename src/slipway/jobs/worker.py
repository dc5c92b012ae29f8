"""Worker threads that claim jobs and run their handlers, renewing the lease while they work."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slipway.db import transaction
from slipway.jobs import queue
from slipway.jobs.models import Job

if TYPE_CHECKING:
    from slipway.platform import Platform

log = logging.getLogger(__name__)


class Retry(Exception):
    """Raise from a handler for a transient failure: the job is queued again after `delay`."""

    def __init__(self, message: str, delay: float = 5.0, *, count: bool = True) -> None:
        super().__init__(message)
        self.delay = delay
        self.count = count  # False: waiting for a busy resource is not a failed attempt


@dataclass
class JobContext:
    platform: Platform
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int


Handler = Callable[[JobContext], None]


class Worker:
    def __init__(self, platform: Platform, handlers: Mapping[str, Handler], *, threads: int,
                 name: str | None = None, poll: float = 2.0) -> None:
        # jobs queued by this process wake the workers at once (wake()); the poll finds the others
        self.platform = platform
        self.handlers = dict(handlers)
        self.threads = threads
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.poll = poll
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if not self.threads:
            return
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(f"{self.name}#{i}",),
                                      name=f"slipway-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        poller = threading.Thread(target=self._poll, name="slipway-worker-poll", daemon=True)
        poller.start()
        self._threads.append(poller)

    def wake(self) -> None:
        """Look for work now (after an enqueue in this process) instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _poll(self) -> None:
        """One cheap read-only look per poll for the whole pool (idle cost stays flat with more threads)."""
        kinds = list(self.handlers)
        while not self._stop.is_set():
            try:
                if queue.has_work(self.platform.sessions, kinds=kinds):
                    self._wake.set()
            except Exception:  # the database went away for a moment: look again at the next poll
                log.exception("looking for jobs failed")
            self._stop.wait(self.poll)

    def _loop(self, worker_id: str) -> None:
        kinds = list(self.handlers)
        while not self._stop.is_set():
            self._wake.wait(self.poll * 5)
            if self._stop.is_set():
                return
            try:
                job = queue.claim(self.platform.sessions, worker=worker_id,
                                  lease=self.platform.settings.job_lease, kinds=kinds)
            except Exception:  # the database went away for a moment: wait and try again
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.clear()  # nothing left for us; the poller or wake() sets it again
                continue
            self.run(job, worker_id)

    def run(self, job: Job, worker_id: str) -> None:
        lease = self.platform.settings.job_lease
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(lease / 3):
                try:
                    if not queue.renew(self.platform.sessions, job_id=job.id, worker=worker_id, lease=lease):
                        log.warning("job %s: lease lost", job.id)
                        return
                except Exception:
                    log.exception("renewing the lease of job %s failed", job.id)

        beat = threading.Thread(target=heartbeat, name=f"lease-{job.id}", daemon=True)
        beat.start()
        error: str | None = None
        retry_in: float | None = None
        count = True
        try:
            self.handlers[job.kind](JobContext(self.platform, job.id, job.kind, dict(job.payload),
                                               job.attempts))
        except Retry as exc:
            error, retry_in, count = str(exc), exc.delay, exc.count
        except Exception as exc:
            log.error("job %s (%s) failed: %s", job.id, job.kind, traceback.format_exc())
            error = f"{type(exc).__name__}: {exc}"
        finally:
            done.set()
            beat.join()
        with transaction(self.platform.sessions) as session:
            queue.finish(session, job_id=job.id, worker=worker_id, error=error, retry_in=retry_in,
                         count=count)
