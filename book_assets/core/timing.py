"""Milliseconds, measured the same way by every stage (the figures the UI plots)."""
from __future__ import annotations

import time


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000.0, 1)
