"""Requests per client address: a token bucket each (`rate` per second, up to `burst` at once).

Addresses are held in memory only, for as long as their bucket is not full again, and never
stored or logged. The table is bounded: past `max_clients` the full buckets are forgotten first.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_clients: int = 100_000):
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, when)
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        """Take one token for `client`; False when its bucket is empty (answer 429)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._forget(now)
            return allowed

    def _forget(self, now: float) -> None:
        refill = self.burst / self.rate
        for client, (_, then) in list(self._buckets.items()):
            if now - then >= refill:
                del self._buckets[client]
        while len(self._buckets) > self.max_clients:  # all busy: drop the oldest
            del self._buckets[next(iter(self._buckets))]
