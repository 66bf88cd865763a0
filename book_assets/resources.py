"""Where books live: the ``Bucket`` resource and its local-folder implementation.

The bucket setting is URL-ish (``BOOK_BUCKET``): a folder path selects ``LocalBucket`` (the
embedded default, no account needed); ``gs://name[/prefix]`` selects Google Cloud Storage.
Object keys are untrusted input: every key is checked before it touches the file system, so no
name can escape the bucket root. Writes are atomic (write to a temporary file, then rename), so
a retried or interrupted run never leaves half an output behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL_BUCKET = PROJECT_ROOT / "local_bucket"
BUCKET_ENV_VAR = "BOOK_BUCKET"


class UnsafeKeyError(ValueError):
    """An object key that could escape the bucket root or is not a plain relative name."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe, relative, forward-slash object name; raise UnsafeKeyError otherwise."""
    if not key or len(key.encode("utf-8")) > 1024:
        raise UnsafeKeyError(f"object name {key!r} is empty or longer than 1024 bytes")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise UnsafeKeyError(f"object name {key!r} contains control characters")
    if "\\" in key:
        raise UnsafeKeyError(f"object name {key!r} contains a backslash")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise UnsafeKeyError(f"object name {key!r} is absolute")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeKeyError(f"object name {key!r} has an empty, '.' or '..' part")
    return key


@dataclass(frozen=True)
class BucketObject:
    """One listed object: what the pipeline needs to know without reading it."""

    key: str
    size: int
    updated: float          # seconds since the epoch (mtime locally, `updated` on GCS)
    generation: str         # mtime_ns locally, object generation on GCS
    content_hash: str       # "sha256:<hex>" locally, "md5:<hex>" on GCS; "" when not asked for


class Bucket(dg.ConfigurableResource, ABC):
    """The books bucket. ``work_prefix`` holds caches and intermediate files, never under ``books/``."""

    work_prefix: str = "_book_assets"

    @abstractmethod
    def list_objects(self, prefix: str, *, with_hash: bool = True) -> list[BucketObject]:
        """Every object whose key starts with ``prefix``, sorted by key."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write an object atomically: readers see the old object or the whole new one."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file holding the object for the duration of the context (downloaded if remote)."""

    @abstractmethod
    def url(self, key: str) -> str:
        """Where a person finds the object (a file path or a gs:// URL)."""

    def work_key(self, *parts: str) -> str:
        return "/".join([self.work_prefix.strip("/"), *parts])


class LocalBucket(Bucket):
    """A folder on disk acting as the bucket (the embedded default)."""

    root: str

    def _path(self, key: str) -> Path:
        check_key(key)
        root = Path(self.root).resolve()
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
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                key = path.relative_to(root).as_posix()
                if not key.startswith(prefix) or path.is_symlink() or name.startswith(".book_assets-tmp"):
                    continue
                stat = path.stat()
                digest = "sha256:" + _sha256_file(path) if with_hash else ""
                found.append(BucketObject(key, stat.st_size, stat.st_mtime, str(stat.st_mtime_ns), digest))
        return sorted(found, key=lambda o: o.key)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".book_assets-tmp-")
        try:
            os.fchmod(fd, 0o644)   # published files are for people to open, not private temp files
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object {key!r} in {self.root}")
        yield path

    def url(self, key: str) -> str:
        return str(self._path(key))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bucket_setting() -> str:
    """The configured bucket: ``BOOK_BUCKET`` or the project's git-ignored ``local_bucket/`` folder."""
    return os.environ.get(BUCKET_ENV_VAR) or str(DEFAULT_LOCAL_BUCKET)


def bucket_from_setting(setting: str | None = None) -> Bucket:
    """Pick the implementation from the setting's form: ``gs://`` → GCS, anything else → a folder."""
    setting = setting or bucket_setting()
    if setting.startswith("gs://"):
        raise ValueError(
            f"{BUCKET_ENV_VAR}={setting!r}: Google Cloud Storage buckets are not supported yet; "
            "use a local folder path for now."
        )
    if "://" in setting:
        raise ValueError(f"{BUCKET_ENV_VAR}={setting!r}: use a folder path or gs://bucket[/prefix]")
    return LocalBucket(root=str(Path(setting).expanduser().resolve()))
