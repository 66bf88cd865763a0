"""Where books live: the ``Bucket`` resource and its local-folder implementation.

The bucket setting is URL-ish (``BOOK_BUCKET``): a folder path selects ``LocalBucket`` (the
embedded default, no account needed); ``gs://name[/prefix]`` selects ``GCSBucket`` (Google Cloud
Storage through dagster-gcp's ``GCSResource``). Object keys are untrusted input: every key is
checked before it touches the file system or the network, so no name can escape the bucket root.
Writes are atomic: a temporary file and a rename locally, a single-object upload with a generation
precondition on GCS, so a retried or interrupted run never leaves half an output behind.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import ipaddress
import mimetypes
import os
import random
import re
import shutil
import stat as stat_module
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import ClassVar, TypeVar

import dagster as dg
import pydantic

from ..core.listing_index import INDEX_FILE, FileIdentity, ListingIndex
from ..core.store import (  # noqa: F401 - part of this module's interface
    ABSENT, IO_THREADS_PER_WORKER, LOOKUP_THREADS, BucketObject, PreconditionConflict, UnsafeKeyError, check_key,
)
from ..paths import default_paths
from .retry_budget import RetryBudget

BUCKET_ENV_VAR = "BOOK_BUCKET"
HEDGE_THREADS = 64              # a GCSBucket's calls and their hedges run here (a stalled one holds a thread until its timeout)
_POOL_LOCK = threading.Lock()
T = TypeVar("T")


class Bucket(dg.ConfigurableResource, ABC):
    """The books bucket. ``work_prefix`` holds caches and intermediate files, never under ``books/``."""

    work_prefix: str = "_book_assets"
    # Files in flight per decoding process during validation (``ObjectStore.io_threads_per_worker``).
    io_threads_per_worker: ClassVar[int] = IO_THREADS_PER_WORKER
    lookup_threads: ClassVar[int] = LOOKUP_THREADS          # ``ObjectStore.lookup_threads``

    @abstractmethod
    def list_objects(self, prefix: str, *, with_hash: bool = True) -> list[BucketObject]:
        """Every object whose key starts with ``prefix``, sorted by key."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is no such object."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None, durable: bool = True) -> None:
        """Write an object atomically: readers see the old object or the whole new one. ``durable=False``
        lets a local folder skip the flush to disk: after a crash of the machine (not of the process)
        the object may then be short or empty, so only a caller that checks what it reads back asks
        for it (the validation cache records each print copy's size)."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """Bytes in the object, None when there is no such object (one metadata call, no download)."""

    @abstractmethod
    def write_file(self, key: str, path: Path, *, content_type: str | None = None, durable: bool = True) -> None:
        """``write_bytes`` from a local file, streamed: a large PDF is never held in memory to upload it."""

    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes | None, str]:
        """The object's bytes (None when absent) and a version token for ``write_bytes_if_version``
        (``ABSENT`` when there is no object)."""

    @abstractmethod
    def write_bytes_if_version(self, key: str, data: bytes, version: str, *, content_type: str | None = None) -> None:
        """Write ``key`` only if it is still at ``version`` (compare-and-swap); else raise PreconditionConflict.

        What makes a small pointer object (``published/<id>/current.json``) safe to switch from two
        runs at once: the loser re-reads and decides again instead of overwriting."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; an object already gone is not an error."""

    @abstractmethod
    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file holding the object for the duration of the context (downloaded if remote)."""

    @abstractmethod
    def url(self, key: str) -> str:
        """Where a person finds the object (a file path or a gs:// URL)."""

    def with_content_hashes(self, objects: list[BucketObject]) -> list[BucketObject]:
        """``objects`` (from a listing without hashes) with their content hashes. Object stores list
        them anyway (GCS's md5), so this is the identity there; a local folder reads its listing index."""
        return objects

    def work_key(self, *parts: str) -> str:
        return "/".join([self.work_prefix.strip("/"), *parts])

    @abstractmethod
    def check_reachable(self) -> None:
        """Raise, naming the cause, unless the bucket itself exists and answers (``doctor``): a
        listing of a missing folder or bucket would just be empty."""

    def folder_change_times(self, prefix: str) -> dict[str, float]:
        """For each folder directly under ``prefix``: when an entry was last added, renamed or removed in it.

        Only a real file system has folders with their own times; object stores return {}.
        """
        return {}


TEMP_PREFIX = ".book_assets-tmp-"     # a local bucket's files being written (and its lock): never listed


def _fill(tmp: Path, fill: Callable, *, sync: bool) -> None:
    """Create ``tmp`` (readable by everyone: published files are for people to open), write it with
    ``fill(handle)`` and flush it to disk unless ``sync`` is False."""
    with open(tmp, "xb") as handle:
        os.fchmod(handle.fileno(), 0o644)
        fill(handle)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


class LocalBucket(Bucket):
    """A folder on disk acting as the bucket (the embedded default)."""

    root: str
    # Warm validation of the 1,000-image scale book: 0.44 s with two threads a process, 0.77 s with eight.
    io_threads_per_worker: ClassVar[int] = 2
    # Cache look-ups of the same book, all hits: 0.29 s in the calling thread, 0.5-0.63 s in four threads.
    lookup_threads: ClassVar[int] = 1

    def _path(self, key: str) -> Path:
        """The file holding ``key``; UnsafeKeyError when a symbolic link on its way leads out of the bucket.

        ``check_key`` has refused ``..`` and absolute names, so only a link can lead out: each part of the
        name is ``lstat``-ed, and only a name passing through a link is resolved in full. (Resolving every
        whole name took ~70 us of pure Python a call, holding the GIL against the I/O threads; the bucket's
        own folder, resolved each call as before, and the walk take ~26.)"""
        check_key(key)
        root = os.path.realpath(self.root)
        path = root
        for part in key.split("/"):
            path = f"{path}/{part}"
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break                       # nothing further exists, so there is no link to follow
            if stat_module.S_ISLNK(mode):
                return self._resolved_inside(key, Path(root))
        return Path(root, key)

    @staticmethod
    def _resolved_inside(key: str, root: Path) -> Path:
        path = (root / key).resolve()
        if path != root and root not in path.parents:
            raise UnsafeKeyError(f"object name {key!r} resolves outside the bucket")
        return path

    def list_objects(self, prefix: str, *, with_hash: bool = True) -> list[BucketObject]:
        root = Path(self.root).resolve()
        base = root / prefix.rstrip("/") if prefix else root
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return []
        linked = _linked_folder(root, start)
        if linked:      # os.walk would follow a linked top folder: links are reported, never followed
            raise UnsafeKeyError(f"{linked} is a link to another folder, not a folder of the bucket; links "
                                 "are never followed. Copy the folder itself into the bucket.")
        found, files = [], []
        root_text = str(root)
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            linked = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
            for name in linked:        # a linked folder is reported as one link, never walked into
                dirnames.remove(name)
            # keys from strings, one lstat per file: Path objects and a second stat cost seconds per 100,000 files
            folder = os.path.relpath(dirpath, root_text).replace(os.sep, "/") if dirpath != root_text else ""
            for name in sorted(filenames + linked):
                key = _printable(f"{folder}/{name}" if folder else name)
                if not key.startswith(prefix) or name.startswith(TEMP_PREFIX):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    stat = os.lstat(path)
                except FileNotFoundError:     # deleted since the folder was read: the next listing will not list it
                    continue
                if stat_module.S_ISLNK(stat.st_mode):
                    found.append(BucketObject(key, 0, stat.st_mtime, str(stat.st_mtime_ns), "", symlink=True))
                    continue
                # When the file arrived here, like GCS's `updated`: the ctime, which the kernel sets.
                # A copy that keeps an old mtime (cp -p, rsync -t, file managers) still gets a new
                # ctime, and an mtime from a device with a wrong clock (even in the future) is ignored.
                arrived_ns = stat.st_ctime_ns
                found.append(BucketObject(key, stat.st_size, arrived_ns / 1e9, str(arrived_ns), ""))
                files.append((key, path, FileIdentity.of(stat)))
        if with_hash:
            # a folder prefix was walked whole; "books/b" would also match "books/bb/…", which was not walked
            whole = prefix if prefix == "" or prefix.endswith("/") else None
            found = self._hashed(found, files, complete_under=whole)
        return sorted(found, key=lambda o: o.key)

    def with_content_hashes(self, objects: list[BucketObject]) -> list[BucketObject]:
        """The listed objects' hashes. Keys are checked as names (no '..', no absolute paths) but not
        resolved one by one (resolving 100,000 paths costs seconds a tick): a listing's keys never pass
        through a linked folder, and a file that has become a link since is skipped by the ``lstat``."""
        root = Path(self.root).resolve()
        files = []
        for obj in objects:
            if obj.symlink or obj.content_hash:
                continue
            path = root / check_key(obj.key)
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                if stat_module.S_ISREG(stat.st_mode):
                    files.append((obj.key, path, FileIdentity.of(stat)))
        return self._hashed(objects, files)

    def listing_index(self) -> ListingIndex:
        return ListingIndex(Path(self.root).resolve() / self.work_prefix.strip("/") / INDEX_FILE)

    def _hashed(self, objects: list[BucketObject], files, *, complete_under: str | None = None) -> list[BucketObject]:
        """Hashes from the listing index: only files new or changed since the last listing are read;
        after a whole listing of a prefix (``complete_under``) its deleted files are forgotten."""
        hashes = self.listing_index().hashes(files, complete_under=complete_under)
        return [dataclasses.replace(o, content_hash="sha256:" + hashes[o.key]) if o.key in hashes else o
                for o in objects]

    def folder_change_times(self, prefix: str) -> dict[str, float]:
        """The newest ctime of any directory inside each folder: a folder moved in, or a file moved
        in or deleted, changes it even when every file keeps its old times."""
        base = Path(self.root).resolve() / prefix.rstrip("/")
        if not base.is_dir():
            return {}
        times = {}
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink()):
            newest = folder.stat().st_ctime_ns
            for dirpath, dirnames, _ in os.walk(folder):
                for name in dirnames:
                    with contextlib.suppress(FileNotFoundError):
                        newest = max(newest, os.stat(os.path.join(dirpath, name), follow_symlinks=False).st_ctime_ns)
            times[folder.name] = newest / 1e9
        return times

    def check_reachable(self) -> None:
        if not Path(self.root).is_dir():
            raise FileNotFoundError(f"{self.root} is not a folder (create it, or set {BUCKET_ENV_VAR})")
        os.listdir(self.root)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None, durable: bool = True) -> None:
        self._write_atomically(key, lambda handle: handle.write(data), sync=durable)

    def write_file(self, key: str, path: Path, *, content_type: str | None = None, durable: bool = True) -> None:
        """A file on the bucket's own file system is linked into place, not copied: a rebuild's 228 MB
        book.pdf or a spooled print copy is then written to disk once, not twice (the copy added as
        much again to the pages waiting to be written, and on this machine published 0.2-0.8 s
        slower). Callers never change a file once written; one elsewhere is copied."""
        with self._replacing(key) as tmp:
            try:
                os.link(path, tmp)
            except OSError:          # another file system, or links refused: copied
                with open(path, "rb") as source:
                    _fill(tmp, lambda handle: shutil.copyfileobj(source, handle, 1 << 20), sync=durable)
                return
            os.chmod(tmp, 0o644)     # published files are for people to open (a spooled copy is private)
            if durable:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())

    def _write_atomically(self, key: str, fill, *, sync: bool = True) -> None:
        """A temporary file beside the target, filled, synced (unless ``sync`` is False) and renamed over it."""
        with self._replacing(key) as tmp:
            _fill(tmp, fill, sync=sync)

    @contextlib.contextmanager
    def _replacing(self, key: str) -> Iterator[Path]:
        """A new temporary name beside ``key``'s file (never listed), renamed over the file when the block
        ends and removed when it fails: readers see the old object or the whole new one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def read_versioned(self, key: str) -> tuple[bytes | None, str]:
        """A local object's version is the sha256 of its bytes: it changes with every different write."""
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None, ABSENT
        return data, hashlib.sha256(data).hexdigest()

    def write_bytes_if_version(self, key: str, data: bytes, version: str, *, content_type: str | None = None) -> None:
        """Check and write under an exclusive lock on the bucket's lock file, so two processes (or
        threads) switching the same object take turns; the write itself is write-then-rename."""
        self._path(key)      # the key is checked before anything is locked
        with self._locked():
            _, now = self.read_versioned(key)
            if now != version:
                raise PreconditionConflict(f"{self.url(key)} changed while this run was deciding to write it "
                                           f"(expected version {version[:12]}, found {now[:12]}); not overwritten.")
            self.write_bytes(key, data, content_type=content_type)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive ``flock`` on ``<root>/.book_assets-tmp-lock`` (skipped by listings like temp files)."""
        import fcntl

        root = Path(self.root)
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f"{TEMP_PREFIX}lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            found = self._path(key).stat()
        except FileNotFoundError:
            return None
        return found.st_size if stat_module.S_ISREG(found.st_mode) else None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object {key!r} in {self.root}")
        yield path

    def url(self, key: str) -> str:
        return str(self._path(key))


def _linked_folder(root: Path, folder: Path) -> str | None:
    """The first folder between ``root`` and ``folder`` (inclusive) that is a symbolic link, as a key."""
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return current.relative_to(root).as_posix()
    return None


def _printable(key: str) -> str:
    """A file name that is not valid UTF-8 (Python keeps its bytes as surrogates) with those bytes
    written as \\xNN, so it can be reported; the backslash makes the key unsafe, so it is never read."""
    try:
        key.encode("utf-8")
        return key
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --- Google Cloud Storage -------------------------------------------------------------------------

class GCSNameError(ValueError):
    """A bucket or object name that Google Cloud Storage would refuse."""


_BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_GOOGLE_LOOKALIKE = re.compile(r"g[o0][o0]g[l1]e")


def check_bucket_name(name: str) -> str:
    """Return ``name`` if GCS accepts it as a bucket name; raise GCSNameError saying which rule fails."""
    def refuse(rule: str) -> GCSNameError:
        return GCSNameError(f"{name!r} is not a valid Cloud Storage bucket name: {rule}")

    if not _BUCKET_NAME_CHARS.fullmatch(name):
        raise refuse("use lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
    limit = 222 if "." in name else 63
    if not 3 <= len(name) <= limit:
        raise refuse(f"it must be 3 to {limit} characters long")
    if any(not 1 <= len(part) <= 63 for part in name.split(".")):
        raise refuse("each dot-separated part must be 1 to 63 characters long")
    if _is_ipv4(name):
        raise refuse("it must not look like an IP address")
    if name.startswith("goog") or _GOOGLE_LOOKALIKE.search(name):
        raise refuse("it must not start with 'goog' or contain 'google' or a look-alike")
    return name


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def check_object_name(name: str) -> str:
    """Return ``name`` if GCS accepts it as an object name; raise GCSNameError otherwise."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise GCSNameError(f"object name {name!r} is not valid Unicode") from None
    if not 1 <= size <= 1024:
        raise GCSNameError(f"object name {name!r} must be 1 to 1024 bytes of UTF-8, not {size}")
    if "\r" in name or "\n" in name:
        raise GCSNameError(f"object name {name!r} contains a carriage return or line feed")
    if name in (".", ".."):
        raise GCSNameError("object names '.' and '..' are not allowed")
    if name.startswith(".well-known/acme-challenge/"):
        raise GCSNameError(f"object name {name!r} is reserved (.well-known/acme-challenge/)")
    return name


def _listed_hash(md5_b64: str | None, crc32c_b64: str | None) -> str:
    """``md5:<hex>``; ``crc32c:<hex>`` for a composite object, which GCS lists without md5; "" for neither."""
    if md5_b64:
        return "md5:" + base64.b64decode(md5_b64).hex()
    return "crc32c:" + base64.b64decode(crc32c_b64).hex() if crc32c_b64 else ""


class GCSBucket(Bucket):
    """A Google Cloud Storage bucket (optionally a prefix inside it), through dagster-gcp's ``GCSResource``.

    Every request has a (connect, read) timeout sized to the call: a few seconds for metadata
    (``metadata_timeout_seconds``), more for data transfers, plus time per megabyte for an upload, so
    a stalled request is abandoned quickly — and a request still silent after a second or two is
    hedged (sent again, first answer wins), so a stall costs about that. Transient errors (429, 5xx,
    resets, timeouts) are retried with jittered exponential backoff (full jitter, 0.25 s doubling to
    4 s) within a deadline per call and a retry budget shared by all calls of this resource
    (``retry_budget.RetryBudget``); a dead bucket therefore ends in one error within the deadline. Uploads carry a generation
    precondition, which both makes them safe to retry and stops a slower run from overwriting an
    object that changed after it looked. ``STORAGE_EMULATOR_HOST`` points the client at an emulator
    (anonymous credentials) for local development and tests.
    """

    bucket: str
    prefix: str = ""
    project: str | None = None             # None: the client's default (GOOGLE_CLOUD_PROJECT / credentials)
    timeout_seconds: float = 10.0          # data transfers: longest silence while reading or uploading
    metadata_timeout_seconds: float = 3.0  # metadata, listing pages, deletes: small answers come fast
    connect_timeout_seconds: float = 5.0
    upload_seconds_per_mb: float = 2.0     # added to an upload's timeout per MB sent (the answer comes after)
    retry_deadline_seconds: float = 40.0   # all retries of one call together (with the call: under 60 s)
    retry_budget: int = 60                 # retries this resource may spend at once ...
    retry_refill_per_second: float = 1.0   # ... and how fast spent retries come back, plus ...
    retries_per_success: float = 1.0       # ... this many for every call that succeeds
    page_size: int = 1000                  # objects per listing request (the GCS maximum)
    # Hedging: a request that has not answered after this long is sent a second time and the first
    # answer wins, so a stalled request costs about this, not a whole timeout. Every request hedged is
    # safe to repeat: reads, deletes, and uploads with a generation precondition (only one can land).
    # A server answering with errors is not hedged, it is retried after a backoff. 0: off.
    hedge_metadata_seconds: float = 1.0    # metadata, listing pages, deletes
    hedge_transfer_seconds: float = 2.0    # downloads and uploads, plus ...
    hedge_seconds_per_mb: float = 0.5      # ... this per MB uploaded

    _clients: threading.local = pydantic.PrivateAttr(default_factory=threading.local)
    _budget: RetryBudget | None = pydantic.PrivateAttr(default=None)
    _pool: ThreadPoolExecutor | None = pydantic.PrivateAttr(default=None)

    # -- plumbing --------------------------------------------------------------------------------

    def _bucket(self):
        """The client's bucket handle, one client per thread (the HTTP session is not shared across threads)."""
        handle = getattr(self._clients, "bucket", None)
        if handle is None:
            check_bucket_name(self.bucket)
            # dagster-gcp's GCSResource builds the client (credentials, project, STORAGE_EMULATOR_HOST).
            # It is made here rather than nested as a field: Dagster's nested-resource setup calls a
            # deprecated API in 1.13.
            from dagster_gcp import GCSResource     # here, not at the top: it imports BigQuery, ~1 s of
                                                    # every process start, GCS bucket or not
            handle = self._clients.bucket = GCSResource(project=self.project).get_client().bucket(self.bucket)
        return handle

    @property
    def _timeout(self) -> tuple[float, float]:
        """For a data transfer: a stall longer than ``timeout_seconds`` without a byte is abandoned."""
        return (min(self.connect_timeout_seconds, self.timeout_seconds), self.timeout_seconds)

    @property
    def _meta_timeout(self) -> tuple[float, float]:
        """For a metadata call, a listing page or a delete: a small answer."""
        quick = min(self.metadata_timeout_seconds, self.timeout_seconds)
        return (min(self.connect_timeout_seconds, quick), quick)

    def _upload_timeout(self, size: int) -> tuple[float, float]:
        return (self._timeout[0], self.timeout_seconds + size / 1e6 * self.upload_seconds_per_mb)

    @property
    def budget(self) -> RetryBudget:
        """The retry budget every call of this resource draws from."""
        if self._budget is None:
            self._budget = RetryBudget(self.retry_budget, self.retry_refill_per_second)
        return self._budget

    def _call(self, request: Callable[[int], T], hedge_after: float) -> T:
        """One bucket call. Each try is one request, hedged (``_try``); a transient failure is tried
        again after a full-jitter backoff (0.25 s doubling to 4 s) within ``retry_deadline_seconds`` and
        while the retry budget lasts; a success earns the budget ``retries_per_success``."""
        from google.api_core.exceptions import RetryError

        deadline = time.monotonic() + self.retry_deadline_seconds
        ceiling = 0.25
        while True:
            try:
                answer = self._try(request, hedge_after)
            except Exception as error:
                if not is_transient(error):
                    raise
                pause = random.uniform(0.0, ceiling)
                if time.monotonic() + pause > deadline:
                    raise RetryError(f"Timeout of {self.retry_deadline_seconds}s exceeded, last exception: "
                                     f"{error}", error) from error
                if not self.budget.take():
                    raise
                time.sleep(pause)
                ceiling = min(ceiling * 2.0, 4.0)
                continue
            self.budget.deposit(self.retries_per_success)
            return answer

    def _try(self, request: Callable[[int], T], hedge_after: float) -> T:
        """``request(0)``; if it is still silent after ``hedge_after`` seconds, ``request(1)`` too. The first
        answer ends the try: a success is returned, an error raised (the other request is abandoned —
        every request sent this way is safe to repeat, and a late one changes nothing)."""
        if hedge_after <= 0:
            return request(0)
        with _POOL_LOCK:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=HEDGE_THREADS, thread_name_prefix="gcs")
        attempts = [self._pool.submit(request, 0)]
        if not wait(attempts, timeout=hedge_after).done:
            attempts.append(self._pool.submit(request, 1))
        done, _ = wait(attempts, return_when=FIRST_COMPLETED)
        succeeded = [attempt for attempt in done if attempt.exception() is None]
        return (succeeded[0] if succeeded else next(iter(done))).result()

    @property
    def object_root(self) -> str:
        """The object-name prefix of this bucket's keys (``prefix/`` or ``""``); notifications name full objects."""
        return self.prefix.strip("/") + "/" if self.prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return check_object_name(self.object_root + key)

    def _key(self, name: str) -> str:
        return name[len(self.object_root):]

    # -- the Bucket interface --------------------------------------------------------------------

    def list_objects(self, prefix: str, *, with_hash: bool = True) -> list[BucketObject]:
        """Every object under ``prefix``, page by page (each page hedged on its own); the content hash comes
        with the listing, so it is always given: md5, or crc32c for a composite object (which has no md5)."""
        def page(token: str | None, _attempt: int) -> tuple[list, str | None]:
            listing = self._bucket().client.list_blobs(
                self._bucket(), prefix=self.object_root + prefix, page_size=self.page_size,
                max_results=self.page_size, page_token=token,
                fields="items(name,size,updated,generation,md5Hash,crc32c),nextPageToken",
                timeout=self._meta_timeout, retry=None,
            )
            return list(listing), listing.next_page_token

        blobs, token = self._call(functools.partial(page, None), self.hedge_metadata_seconds)
        while token:
            more, token = self._call(functools.partial(page, token), self.hedge_metadata_seconds)
            blobs += more
        found = []
        for blob in blobs:
            if blob.name.endswith("/") and not blob.size:
                continue  # a "folder" placeholder made by the console, not a file
            found.append(BucketObject(
                key=self._key(blob.name), size=int(blob.size or 0),
                updated=blob.updated.timestamp() if blob.updated else 0.0,
                generation=str(blob.generation), content_hash=_listed_hash(blob.md5_hash, blob.crc32c),
            ))
        return sorted(found, key=lambda o: o.key)

    def check_reachable(self) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._call(lambda _: self._bucket().reload(timeout=self._meta_timeout, retry=None),
                         self.hedge_metadata_seconds)
        except NotFound:
            raise FileNotFoundError(f"there is no bucket gs://{self.bucket}") from None

    def read_bytes(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound

        name = self._name(key)
        try:
            return self._call(lambda _: self._bucket().blob(name).download_as_bytes(
                timeout=self._timeout, retry=None), self.hedge_transfer_seconds)
        except NotFound:
            raise FileNotFoundError(f"no object {self.url(key)}") from None

    def _get_blob(self, name: str):
        """The object's metadata (None when there is none), hedged."""
        return self._call(lambda _: self._bucket().get_blob(name, timeout=self._meta_timeout, retry=None),
                            self.hedge_metadata_seconds)

    def _upload_hedge(self, size: int) -> float:
        """The hedge delay of an upload of ``size`` bytes; 0 (off) whenever transfer hedging is off."""
        if self.hedge_transfer_seconds <= 0:
            return 0.0
        return self.hedge_transfer_seconds + size / 1e6 * self.hedge_seconds_per_mb

    def generation(self, key: str) -> int:
        """The live generation of ``key``, or 0 when there is no such object (what ``ifGenerationMatch`` expects)."""
        blob = self._get_blob(self._name(key))
        return int(blob.generation) if blob is not None else 0

    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None, durable: bool = True) -> None:
        """Write the object; one that changed meanwhile is never overwritten. (Every finished upload is
        durable, so ``durable`` changes nothing here.)

        Most writes make a new object (an edition's file, a run's manifest, a cache entry), so the
        upload is first tried create-only (``ifGenerationMatch=0``): one request. An object that is
        there already is left alone when it holds these bytes, else replaced on condition that it is
        still the generation just read (``write_bytes_if_generation``)."""
        self._write_new_or_replace(key, lambda generation: self.write_bytes_if_generation(
            key, data, generation, content_type=content_type))

    def write_file(self, key: str, path: Path, *, content_type: str | None = None, durable: bool = True) -> None:
        """Like ``write_bytes``, uploading straight from the file (the client streams it in chunks)."""
        name = self._name(check_key(key))
        kind = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        size, local_md5 = path.stat().st_size, _md5_b64_file(path)

        def upload(generation: int) -> None:
            self._upload_if_generation(key, generation, local_md5, self._upload_hedge(size), lambda: (
                self._bucket().blob(name).upload_from_filename(
                    str(path), content_type=kind, if_generation_match=generation, checksum="md5",
                    timeout=self._upload_timeout(size), retry=None)))

        self._write_new_or_replace(key, upload)

    def _write_new_or_replace(self, key: str, upload: Callable[[int], None]) -> None:
        """``upload(0)`` (create-only); when the object exists with other bytes, ``upload(its generation)``."""
        try:
            upload(0)
        except PreconditionConflict:
            current = self._get_blob(self._name(key))
            upload(int(current.generation) if current is not None else 0)

    def _upload_if_generation(self, key: str, generation: int, md5_b64: str, hedge_after: float,
                              send: Callable[[], None]) -> None:
        """``send()`` uploads with ``ifGenerationMatch=generation`` (hedged, retried); a refused precondition
        is success when the live object holds our bytes (our own attempt, a retry or a hedge, landed),
        else PreconditionConflict."""
        from google.api_core.exceptions import PreconditionFailed

        try:
            self._call(lambda _: send(), hedge_after)
        except PreconditionFailed:
            now = self._get_blob(self._name(key))
            if now is not None and now.md5_hash == md5_b64:
                return
            raise self._conflict(key, generation, now) from None

    def read_versioned(self, key: str) -> tuple[bytes | None, str]:
        """The bytes of the live generation and that generation (read with ifGenerationMatch, so the
        two always belong together)."""
        from google.api_core.exceptions import NotFound, PreconditionFailed

        for _ in range(3):
            blob = self._get_blob(self._name(key))
            if blob is None:
                return None, ABSENT
            generation = blob.generation     # read first: a download may reset it from its response headers
            try:
                # a fresh handle: the listed one carries a mediaLink that names the server directly
                return self._call(lambda _: self._bucket().blob(blob.name).download_as_bytes(
                    if_generation_match=generation, timeout=self._timeout, retry=None),
                    self.hedge_transfer_seconds), str(generation)
            except (NotFound, PreconditionFailed):
                continue      # replaced or deleted between the two requests: look again
        raise PreconditionConflict(f"{self.url(key)} kept changing while it was read")

    def write_bytes_if_version(self, key: str, data: bytes, version: str, *, content_type: str | None = None) -> None:
        self.write_bytes_if_generation(key, data, int(version), content_type=content_type)

    def write_bytes_if_generation(self, key: str, data: bytes, generation: int, *,
                                  content_type: str | None = None) -> None:
        """Upload ``data`` only if the live generation of ``key`` is ``generation`` (0: the object must not exist).

        The upload is verified against its md5 and GCS shows an object only once it is complete,
        so readers see the old object or the whole new one. The precondition makes the client's
        retries safe: if an earlier attempt did land, the object already holds our bytes and that
        counts as done. Anything else that moved the generation raises PreconditionConflict.
        """
        name = self._name(check_key(key))
        kind = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        self._upload_if_generation(key, generation, _md5_b64(data), self._upload_hedge(len(data)), lambda: (
            self._bucket().blob(name).upload_from_string(
                data, content_type=kind, if_generation_match=generation, checksum="md5",
                timeout=self._upload_timeout(len(data)), retry=None)))

    def _conflict(self, key: str, generation: int, now) -> PreconditionConflict:
        found = f"generation {now.generation}" if now is not None else "no object (deleted)"
        return PreconditionConflict(
            f"{self.url(key)} changed while this run was writing it: expected generation {generation}, "
            f"found {found}. It was not overwritten; build the book again to publish the newest version.")

    def exists(self, key: str) -> bool:
        name = self._name(key)
        return self._call(lambda _: self._bucket().blob(name).exists(timeout=self._meta_timeout, retry=None),
                            self.hedge_metadata_seconds)

    def size(self, key: str) -> int | None:
        blob = self._get_blob(self._name(key))
        return None if blob is None else int(blob.size or 0)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        name = self._name(check_key(key))

        def delete(_attempt: int) -> None:
            with contextlib.suppress(NotFound):     # gone already (perhaps by the other attempt): done
                self._bucket().blob(name).delete(timeout=self._meta_timeout, retry=None)

        self._call(delete, self.hedge_metadata_seconds)

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        from google.api_core.exceptions import NotFound

        suffix = Path(key).suffix if len(Path(key).suffix) <= 10 else ""
        name = self._name(key)
        with tempfile.TemporaryDirectory(prefix="book_assets-gcs-") as tmp:
            def download(attempt: int) -> Path:
                path = Path(tmp) / f"object-{attempt}{suffix}"      # each attempt its own file
                self._bucket().blob(name).download_to_filename(str(path), timeout=self._timeout, retry=None)
                return path
            try:
                path = self._call(download, self.hedge_transfer_seconds)
            except NotFound:
                raise FileNotFoundError(f"no object {self.url(key)}") from None
            yield path

    def url(self, key: str) -> str:
        return f"gs://{self.bucket}/{self.object_root}{key}"


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _md5_b64_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def parse_gcs_setting(setting: str) -> tuple[str, str]:
    """``gs://name[/prefix]`` → (bucket name, prefix), both checked against GCS's naming rules."""
    rest = setting[len("gs://"):]
    name, _, prefix = rest.partition("/")
    check_bucket_name(name)
    prefix = prefix.strip("/")
    if prefix:
        check_object_name(prefix + "/")
        check_key(prefix)
    return name, prefix


def bucket_setting() -> str:
    """The configured bucket: ``BOOK_BUCKET`` or the default folder (``paths.default_paths``)."""
    return os.environ.get(BUCKET_ENV_VAR) or str(default_paths().local_bucket)


def bucket_from_setting(setting: str | None = None, *, retry_deadline_seconds: float | None = None) -> Bucket:
    """Pick the implementation from the setting's form: ``gs://`` → GCS, anything else → a folder.
    ``retry_deadline_seconds`` shortens GCS's per-call retries (the doctor answers sooner than a build waits)."""
    setting = setting or bucket_setting()
    if setting.startswith("gs://"):
        try:
            name, prefix = parse_gcs_setting(setting)
        except (GCSNameError, UnsafeKeyError) as problem:
            raise ValueError(f"{BUCKET_ENV_VAR}={setting!r}: {problem}") from None
        deadline = {} if retry_deadline_seconds is None else {"retry_deadline_seconds": retry_deadline_seconds}
        return GCSBucket(bucket=name, prefix=prefix, project=os.environ.get("GOOGLE_CLOUD_PROJECT"), **deadline)
    if "://" in setting:
        raise ValueError(f"{BUCKET_ENV_VAR}={setting!r}: use a folder path or gs://bucket[/prefix]")
    return LocalBucket(root=str(Path(setting).expanduser().resolve()))


# --- which failures are worth a retry -----------------------------------------------------------

# Each bucket call already retries transient errors itself (GCS: the client's retry with the deadline
# above); a step is retried on top of that (RetryPolicy in defs/assets/common.py) only for these.
TRANSIENT_HTTP_CODES = {408, 429, 500, 502, 503, 504}


def is_transient(error: BaseException) -> bool:
    """True for failures that may pass on a second try — network trouble, timeouts, throttling and
    server errors; False for everything deterministic (a bug, bad data, a refused precondition)."""
    import http.client

    import urllib3
    from google.api_core import exceptions as google_errors
    from google.auth.exceptions import TransportError
    from google.cloud.storage.exceptions import InvalidResponse

    if isinstance(error, PreconditionConflict):
        return False
    if isinstance(error, (TimeoutError, ConnectionError, google_errors.RetryError, http.client.HTTPException,
                          urllib3.exceptions.ProtocolError, urllib3.exceptions.TimeoutError)):
        return True
    if isinstance(error, google_errors.GoogleAPICallError):
        return getattr(error, "code", None) in TRANSIENT_HTTP_CODES
    if isinstance(error, InvalidResponse):       # an upload or download answered with an error status
        return getattr(error.response, "status_code", None) in TRANSIENT_HTTP_CODES
    if isinstance(error, TransportError) and error.args and isinstance(error.args[0], BaseException):
        return is_transient(error.args[0])
    try:
        import requests

        if isinstance(error, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover - requests comes with google-cloud-storage
        pass
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and is_transient(cause)


def link(url: str) -> dg.MetadataValue:
    """A bucket URL as UI metadata: a link for ``gs://``, a path for a local file."""
    return dg.MetadataValue.url(url) if "://" in url else dg.MetadataValue.path(url)


@dg.definitions
def resources() -> dg.Definitions:
    """The bucket (from BOOK_BUCKET), stage manifests stored in it, and the in-process executor:
    on a small machine the multiprocess executor costs seconds per step for no gain; a production
    deployment swaps the executor here, not the asset code."""
    return dg.Definitions(resources=book_resources(bucket_from_setting()), executor=dg.in_process_executor)


def book_resources(bucket: Bucket) -> dict:
    """The resources every book run needs, for a given bucket (the CLI, the benchmark and the tests)."""
    from .io_manager import bucket_manifest_io_manager

    return {"bucket": bucket, "io_manager": bucket_manifest_io_manager}
