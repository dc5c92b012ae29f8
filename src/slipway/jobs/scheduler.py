"""Periodic tasks in one background thread. Every task is idempotent: several processes may run them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Periodic:
    name: str
    every: float
    task: Callable[[], None]
    next_at: float = 0.0


class Scheduler:
    def __init__(self, tasks: list[Periodic], *, tick: float = 0.5) -> None:
        self.tasks = tasks
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="slipway-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def run_due(self) -> None:
        now = time.monotonic()
        for task in self.tasks:
            if now >= task.next_at:
                task.next_at = now + task.every
                try:
                    task.task()
                except Exception:
                    log.exception("periodic task %s failed", task.name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(self.tick)
