"""Keep the run process's memory to what its current step holds.

The run process holds one book step after another (in-process executor), and glibc keeps what
Python and numpy free in its heaps for reuse:
- after pairing a 1,000-image book the process kept ~200 MB it no longer used, and the next step's
  own peak came on top of it; ``malloc_trim`` returns those free pages (``release_freed_memory``);
- every thread that allocates gets a heap of its own (up to 8 per core), and what the validation
  and resampling threads free stays in theirs; two heaps for the whole process
  (``bound_heap_arenas``) took the cold 1,000-image build's peak from 978 to 858 MB, at no
  measurable cost in time.
Elsewhere than glibc (macOS, musl) both are no-ops.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

HEAP_ARENAS = 2                   # the main heap and one that every other thread shares
_M_ARENA_MAX = -8                 # mallopt's parameter number (glibc malloc.h)


@lru_cache(maxsize=1)
def _libc():
    """The C library, when it is glibc (it has ``malloc_trim``); else None."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt   # noqa: B018 - both present, or this is not glibc
    except (OSError, AttributeError):
        return None
    return libc


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; True when the C library could (glibc)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@lru_cache(maxsize=1)
def bound_heap_arenas() -> bool:
    """At most HEAP_ARENAS heaps for this process from now on (threads started later share them);
    True when the C library took the setting. Once per process."""
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, HEAP_ARENAS) == 1


KEPT_FREE_HEAP_BYTES = 64 * 1024 * 1024     # freed heap kept for reuse before any is given back
HEAP_ALLOCATION_MAX_BYTES = 32 * 1024 * 1024   # larger blocks still get (and give back) their own mapping
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_pages() -> bool:
    """For a worker process that makes and drops the same temporaries for every file (a decoded
    picture, the descriptor arrays): keep the freed pages for the next file. By default glibc gives
    blocks over 128 kB their own mapping and returns a freed heap top at once, so every file faulted
    ~16 MB of fresh zeroed pages in again (4,100 page faults a variation, the shape descriptors 3x
    slower than in a warm process). True when the C library took both settings."""
    libc = _libc()
    return (libc is not None and libc.mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_HEAP_BYTES) == 1
            and libc.mallopt(_M_MMAP_THRESHOLD, HEAP_ALLOCATION_MAX_BYTES) == 1)
