"""What the core needs from a bucket: listed objects, safe object names and a small read/write interface.

The Dagster layer's ``Bucket`` resources (a local folder, Google Cloud Storage) satisfy
``ObjectStore``; the core stages take any ``ObjectStore``, so they run and test without Dagster.
Object names are untrusted input: ``check_key`` refuses any name that could escape the bucket.
"""
from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class UnsafeKeyError(ValueError):
    """An object key that could escape the bucket root or is not a plain relative name."""


class PreconditionConflict(RuntimeError):
    """An upload lost a race: the object changed after we looked, so it was not overwritten."""


ABSENT = "0"    # the version of an object that does not exist (GCS's ifGenerationMatch=0)


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")    # searched in C: every bucket call checks its key


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe, relative, forward-slash object name; raise UnsafeKeyError otherwise."""
    if not key or len(key.encode("utf-8")) > 1024:
        raise UnsafeKeyError(f"object name {key!r} is empty or longer than 1024 bytes")
    if _CONTROL_CHARACTER.search(key):
        raise UnsafeKeyError(f"object name {key!r} contains control characters")
    if "\\" in key:
        raise UnsafeKeyError(f"object name {key!r} contains a backslash")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise UnsafeKeyError(f"object name {key!r} is absolute")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeKeyError(f"object name {key!r} has an empty, '.' or '..' part")
    return key


def is_safe_key(key: str) -> bool:
    try:
        check_key(key)
    except UnsafeKeyError:
        return False
    return True


@dataclass(frozen=True)
class BucketObject:
    """One listed object: what the pipeline needs to know without reading it."""

    key: str
    size: int
    updated: float          # seconds since the epoch: when it was written into the bucket (GCS `updated`;
                            # locally the ctime, so copies keeping old mtimes count and future mtimes don't)
    generation: str         # that time in ns locally, the object generation on GCS
    content_hash: str       # "sha256:<hex>" locally, "md5:<hex>" on GCS (free there, so always given); "" when not asked for
    symlink: bool = False   # a link in a local folder: listed (so it is reported), never followed or read


class ObjectStore(Protocol):
    """The bucket operations the core stages use (implemented by the Dagster layer's Bucket resources)."""

    def list_objects(self, prefix: str, *, with_hash: bool = True) -> list[BucketObject]: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None,
                    durable: bool = True) -> None: ...
    def write_file(self, key: str, path: Path, *, content_type: str | None = None,
                   durable: bool = True) -> None: ...
    def read_versioned(self, key: str) -> tuple[bytes | None, str]: ...
    def write_bytes_if_version(self, key: str, data: bytes, version: str, *,
                               content_type: str | None = None) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...
    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]: ...
    def url(self, key: str) -> str: ...
    def work_key(self, *parts: str) -> str: ...

    # Files worth having in flight per decoding process (validation): IO_THREADS_PER_WORKER for a remote
    # bucket; a local folder answers in microseconds, and more threads only contend for the GIL.
    io_threads_per_worker: int
    # Cache look-ups in flight (validation's first pass): LOOKUP_THREADS for a remote bucket; one for a
    # local folder, whose look-up is ~0.3 ms of Python that threads only pass around under the GIL.
    lookup_threads: int


FETCH_THREADS = 8     # independent reads: on a flaky bucket their stalls overlap, not add up

LOOKUP_THREADS = 16    # a remote bucket's cache look-ups (two small reads each) overlap their round trips

IO_THREADS_PER_WORKER = 8
"""Files in flight per decoding process on a remote bucket (a store says its own:
``ObjectStore.io_threads_per_worker``). A file holds its thread through the cache look-up, the download
(on GCS), the decode and two uploads; on GCS the bucket calls take several times the ~40 ms a decode
does, so with fewer threads the decoding processes wait on the network. On a local folder two a process
keep the decoders busy, and more only contend for the GIL. Memory: a thread holds features (~100 kB),
its print copy waits as a spooled file. With 50 ms a bucket call, 200 bench images took 14.0 s with two
threads per process and 7.3 s with eight."""


def read_if_stored(store: ObjectStore, key: str) -> bytes | None:
    """The object's bytes, None when there is none: one bucket call, not an existence check and a read
    (every bucket says FileNotFoundError for a missing object)."""
    try:
        return store.read_bytes(key)
    except FileNotFoundError:
        return None


class LocalCopies:
    """Objects (print copies, PDF parts) fetched from the store to local files, each once, kept open in
    ``files`` until it closes. ``prefetch`` fetches many in parallel; calling it with one key fetches
    that one if it is not here yet. Safe to call from several threads (the PDF's resampling calls it
    from a pool)."""

    def __init__(self, store: ObjectStore, files: contextlib.ExitStack):
        self._store, self._files = store, files
        self._local: dict[str, str] = {}
        self._lock = threading.Lock()

    def _fetch(self, key: str) -> tuple[str, contextlib.ExitStack]:
        held = contextlib.ExitStack()
        try:
            return str(held.enter_context(self._store.local_path(key))), held
        except BaseException:
            held.close()
            raise

    def _keep(self, key: str, path: str, held: contextlib.ExitStack) -> str:
        with self._lock:
            self._files.enter_context(held)      # closed with the others, even if another fetch failed
            return self._local.setdefault(key, path)

    def prefetch(self, keys: Iterable[str]) -> None:
        missing = sorted(set(keys) - self._local.keys())
        if not missing:
            return
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(missing)), thread_name_prefix="fetch") as pool:
            fetches = [(key, pool.submit(self._fetch, key)) for key in missing]
        for key, done in fetches:
            if done.exception() is None:
                self._keep(key, *done.result())
        for _, done in fetches:
            if done.exception() is not None:
                raise done.exception()

    def __call__(self, key: str) -> str:
        with self._lock:
            if key in self._local:
                return self._local[key]
        return self._keep(key, *self._fetch(key))
