"""A retry budget: how many retries one bucket resource may spend, so a sick bucket fails fast.

Per-call retries alone multiply: a step with hundreds of calls, each allowed a 40 s retry deadline,
could wait for hours on a bucket that answers one request in three. The budget is a token bucket
shared by every call of one ``GCSBucket`` (one per run with the in-process executor, one per step
process otherwise): each retry takes a token, tokens come back at a steady rate and with every call
that succeeds (``deposit``), and when they are gone a transient error is raised at once — the step
then fails (or Dagster's RetryPolicy tries it again later) instead of stalling. So a bucket that
mostly answers (even one request in two failing) earns its retries, and one that never answers
(nothing succeeds) runs dry within a minute.
"""
from __future__ import annotations

import threading
import time


class RetryBudget:
    """``capacity`` retries at once, refilled at ``refill_per_second``; thread-safe."""

    def __init__(self, capacity: float, refill_per_second: float):
        self.capacity, self.refill_per_second = float(capacity), float(refill_per_second)
        self._tokens, self._at = float(capacity), time.monotonic()
        self._lock = threading.Lock()
        self.spent = 0            # retries granted so far (for figures and tests)
        self.refused = 0          # retries refused because the budget was empty

    def deposit(self, tokens: float) -> None:
        """A call succeeded: it earns ``tokens`` retries (up to the capacity)."""
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + tokens)

    def take(self) -> bool:
        """Spend one retry if there is one left; False when the budget is exhausted."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.refill_per_second)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.spent += 1
                return True
            self.refused += 1
            return False
