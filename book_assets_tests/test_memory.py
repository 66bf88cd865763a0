"""The run process gives back what a finished step freed (core/memory.py), measured in RSS."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from book_assets.core.memory import release_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(row for row in status if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc are Linux's")
def test_freed_memory_between_live_objects_goes_back_to_the_system():
    # what a step leaves: many mid-sized arrays (features: 25-55 KB each, under glibc's mmap threshold)
    # freed, with small objects that outlive them in between, so the heap cannot simply shrink at its top
    arrays, keepers = [], []
    for index in range(4000):
        arrays.append(np.full(6000, index, dtype=np.float64))          # 48 KB each, ~190 MB in all
        keepers.append(bytes(64) + index.to_bytes(4, "little"))
    del arrays
    held = _rss_mb()
    assert release_freed_memory() is True
    assert held - _rss_mb() > 100, "the freed arrays' pages were not returned"
    assert len(keepers) == 4000
