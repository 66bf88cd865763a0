"""Files derived from content-addressed inputs, kept in the work area under a digest of those inputs.

A rebuild that asks for the same derived file (a page image, a review thumbnail) under the same
inputs reads it back instead of making it again; a changed input gives a new digest, so nothing
stale is ever reused. The inputs must name everything that decides the bytes — print copies are
content-addressed keys, so naming one names its pixels — plus a format number the module bumps
when its drawing changes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .store import ObjectStore, read_if_stored

IO_THREADS = 8                 # cache reads and writes are independent (network-bound on GCS)


def input_digest(inputs: object) -> str:
    """sha256 of the inputs as canonical JSON (dataclasses passed through ``asdict`` first)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Derived:
    data: tuple[bytes, ...]    # one per key, in order
    reused: int                # read back from the work area
    made: int                  # made in this call (and stored for the next)


def read_or_make(store: ObjectStore, keys: Sequence[str], make: Callable[[list[int]], dict[int, bytes]],
                 *, content_type: str) -> Derived:
    """The bytes stored under each key, making (``make(missing indexes) → {index: bytes}``) and
    storing only those not stored yet."""
    with ThreadPoolExecutor(IO_THREADS, thread_name_prefix="derived") as io_pool:
        found = list(io_pool.map(lambda key: read_if_stored(store, key), keys))
        missing = [i for i, data in enumerate(found) if data is None]
        made = make(missing) if missing else {}
        list(io_pool.map(lambda i: store.write_bytes(keys[i], made[i], content_type=content_type), missing))
    data = tuple(found_data if found_data is not None else made[i] for i, found_data in enumerate(found))
    return Derived(data, reused=len(keys) - len(missing), made=len(missing))
