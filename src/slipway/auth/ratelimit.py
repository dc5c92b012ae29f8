"""A token bucket per API token, in this process.

Each control-plane process keeps its own buckets: behind a load balancer with N `slipway server`
processes a token gets up to N times the rate. That is deliberate (no write to the database on every
request); the limit is a guard against a runaway script, not a quota.
"""

from __future__ import annotations

import threading
import time


class Buckets:
    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._state: dict[int, tuple[float, float]] = {}  # token id → (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: int) -> float | None:
        """None when allowed; else the seconds until the next request would be."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._state[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._state[key] = (tokens - 1.0, now)
            if len(self._state) > 100_000:  # bounded: forget idle buckets (they are full again anyway)
                self._state = {k: v for k, v in self._state.items() if now - v[1] < 3600}
            return None
