"""Restart policy of the local supervisor: backoff, crash loops and how an exit is described.

Pure functions and small value objects, so they are unit-tested without processes.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RestartPolicy:
    backoff_initial: float = 1.0  # seconds before the first restart after a crash
    backoff_max: float = 60.0  # the doubling stops here
    reset_after: float = 30.0  # a process that ran this long is healthy again: backoff restarts at initial
    crashloop_crashes: int = 5  # this many crashes ...
    crashloop_window: float = 120.0  # ... within this many seconds is a crash loop

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RestartPolicy:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


def backoff_delay(consecutive_crashes: int, policy: RestartPolicy) -> float:
    """Seconds to wait before restarting after the n-th crash in a row (n >= 1): initial, doubling, capped."""
    if consecutive_crashes < 1:
        return 0.0
    # cap the exponent so a very long crash streak cannot overflow the float
    exponent = min(consecutive_crashes - 1, 62)
    return min(policy.backoff_initial * (2**exponent), policy.backoff_max)


class CrashHistory:
    """Remembers recent crashes to compute the next backoff and whether the instance is crash-looping."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.consecutive = 0
        self._times: deque[float] = deque()

    def record(self, now: float, ran_for: float) -> float:
        """Record a crash at monotonic time `now` of a process that ran `ran_for` s; return the delay."""
        if ran_for >= self.policy.reset_after:
            self.consecutive = 0  # it was healthy for a while: this is a fresh failure, not a streak
        self.consecutive += 1
        self._times.append(now)
        return backoff_delay(self.consecutive, self.policy)

    def in_crashloop(self, now: float) -> bool:
        while self._times and now - self._times[0] > self.policy.crashloop_window:
            self._times.popleft()
        return len(self._times) >= self.policy.crashloop_crashes


def describe_exit(returncode: int) -> str:
    """A human reason for a Popen return code (negative means killed by that signal)."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    signum = -returncode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"killed by signal {name} ({signum})"
