"""The run process gives back what a finished step freed (core/memory.py), measured in RSS."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Run in a fresh interpreter: how much a free returns depends on the heap's history, which in the
# test process is every earlier test's.
_STEP_LEFTOVERS = """
import json, numpy as np
from book_assets.core.memory import release_freed_memory

def rss_mb():
    with open("/proc/self/status") as status:
        return int(next(row for row in status if row.startswith("VmRSS:")).split()[1]) / 1024

# what a step leaves: many mid-sized arrays (features: 25-55 KB each, under glibc's mmap threshold)
arrays, keepers = [], []
for index in range(4000):
    arrays.append(np.full(6000, index, dtype=np.float64))          # 48 KB each, ~190 MB in all
    keepers.append(np.full(8, index))                              # small objects that outlive them
before = rss_mb()
del arrays
freed = rss_mb()
released = release_freed_memory()
print(json.dumps({"before": before, "freed": freed, "trimmed": rss_mb(), "released": released,
                  "kept": len(keepers)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc are Linux's")
def test_freed_memory_between_live_objects_goes_back_to_the_system():
    done = subprocess.run([sys.executable, "-c", _STEP_LEFTOVERS], capture_output=True, text=True, check=True,
                          timeout=120)
    figures = json.loads(done.stdout)
    assert figures["released"] is True and figures["kept"] == 4000
    assert figures["before"] - figures["freed"] < 60, "glibc gave the freed arrays back by itself"
    assert figures["freed"] - figures["trimmed"] > 100, "the freed arrays' pages were not returned"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_the_heap_arena_bound_is_taken_by_the_c_library():
    done = subprocess.run([sys.executable, "-c", "from book_assets.core.memory import bound_heap_arenas as b; "
                           "print(b(), b())"], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split() == ["True", "True"]


_FILES_ANALYSED = """
import json, resource, sys
from pathlib import Path
from book_assets.core.imaging import ImageLimits
from book_assets.core.memory import keep_freed_pages
from book_assets.core.stages.validation import analyse_file

kept = keep_freed_pages() if sys.argv[1] == "keep" else None
paths = sorted(Path(sys.argv[2]).glob("*.png"))
analyse_file(paths[0], ImageLimits())       # the first file sets the heap up either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for path in paths[1:]:                      # each read from its file, as a worker does
    analyse_file(path, ImageLimits())
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (len(paths) - 1)
print(json.dumps({"kept": kept, "faults_per_file": faults}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_a_decoding_worker_keeps_its_freed_pages_for_the_next_file(tmp_path):
    """Counted page faults per analysed file, in fresh interpreters like a worker (the files are made
    here: making them in the measuring process would change its heap)."""
    from book_assets_dev.scale_bench import _variation_png

    for index in range(6):                  # the scale benchmark's variations
        (tmp_path / f"{index}.png").write_bytes(_variation_png(index % 3, index, 11))

    def faults(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _FILES_ANALYSED, mode, str(tmp_path)], capture_output=True,
                              text=True, check=True, timeout=120)
        return json.loads(done.stdout)

    default, kept = faults("default"), faults("keep")
    assert kept["kept"] is True
    assert kept["faults_per_file"] * 4 < default["faults_per_file"], (kept, default)
