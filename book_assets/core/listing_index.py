"""Content hashes of a local bucket's files without reading every byte on every listing.

A small SQLite table remembers, per object key, the file's identity when it was last hashed —
size, mtime, inode and ctime — and its sha256. A listing hashes a file again only when one of them
changed: a new file, a rewrite, a copy over it, a move in. ctime is part of it because no user tool
can set it: a rewrite in place that keeps the size and restores the mtime (``cp -p`` over the file)
still moves the ctime, so a changed file is never taken for the old one.

The table lives in the bucket's working prefix (``<root>/_book_assets/listing-index.sqlite``), not
in DAGSTER_HOME: it describes this bucket's files, so every process that lists the bucket (the
sensor under ``dagster dev``, ``book-assets build`` with its own DAGSTER_HOME, a second instance)
shares one index, and another bucket can never see its entries. SQLite takes care of two
processes listing at once. Losing the file costs one full re-hash, nothing else.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

INDEX_FILE = "listing-index.sqlite"
SCHEMA = ("CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
          "inode INTEGER, ctime_ns INTEGER, sha256 TEXT)")


@dataclass(frozen=True)
class FileIdentity:
    """What tells a file from the one hashed last time, without reading it."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileIdentity:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)


def sha256_file(path: str | os.PathLike, size_hint: int = 0) -> str:
    """sha256 hex of a file, read with plain ``os.read`` calls (a file no larger than ``size_hint``
    in one); no buffered file object, which costs more than the hashing for a small file."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        step = size_hint + 1 if 0 < size_hint < READ_CHUNK else READ_CHUNK
        while chunk := os.read(fd, step):
            digest.update(chunk)
            step = READ_CHUNK
    finally:
        os.close(fd)
    return digest.hexdigest()


READ_CHUNK = 1 << 20
HASH_THREADS = 4               # large files: hashlib and the reads release the GIL, so threads overlap them
THREADED_FROM = 256 * 1024     # files at least this large go to the threads; smaller ones are hashed in the
                               # calling thread, where 100,000 of them take ~0.7 s against ~6 s in 8 threads
                               # (per-file Python work holds the GIL; threads only add contention)


def _hash_or_none(path: str | os.PathLike, size: int) -> str | None:
    try:
        return sha256_file(path, size)
    except FileNotFoundError:
        return None


def _hash_all(files: list[tuple[str | os.PathLike, int]]) -> list[str | None]:
    """sha256 of each (path, size) (None for one deleted meanwhile), in order: small files here, large
    ones in HASH_THREADS threads."""
    large = [i for i, (_, size) in enumerate(files) if size >= THREADED_FROM]
    digests: list[str | None] = [None] * len(files)
    if len(large) > 1:
        with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hash") as pool:
            pending = {i: pool.submit(_hash_or_none, *files[i]) for i in large}
            for i, (path, size) in enumerate(files):
                if i not in pending:
                    digests[i] = _hash_or_none(path, size)
            for i, future in pending.items():
                digests[i] = future.result()
        return digests
    return [_hash_or_none(path, size) for path, size in files]


class ListingIndex:
    """The remembered hashes of one bucket folder (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.hashed = 0          # files read and hashed by this index object (the rest came from the table)

    def hashes(self, files: Iterable[tuple[str, Path, FileIdentity]], *, complete_under: str | None = None) -> dict[str, str]:
        """``key → sha256 hex`` for each (key, path, identity); only files whose identity changed are read.
        ``complete_under``: ``files`` are every file under that key prefix, so the rows of files no
        longer there are dropped (the index does not grow with every upload ever deleted)."""
        files = list(files)
        if not files and complete_under is None:
            return {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(self.path, timeout=60.0)) as db:
            db.execute(SCHEMA)
            if complete_under is not None:
                self._forget_missing(db, complete_under, {key for key, _, _ in files})
            if not files:
                return {}
            known = self._known(db, [key for key, _, _ in files])
            found, to_hash = {}, []
            for key, path, identity in files:
                entry = known.get(key)
                if entry is not None and entry[0] == identity:
                    found[key] = entry[1]
                else:
                    to_hash.append((key, path, identity))
            changed = []
            for (key, _, identity), digest in zip(to_hash, _hash_all([(path, identity.size) for _, path, identity in to_hash])):
                if digest is None:          # deleted between the walk and now: the next listing will not list it
                    continue
                self.hashed += 1
                found[key] = digest
                changed.append((key, identity.size, identity.mtime_ns, identity.inode, identity.ctime_ns, digest))
            if changed:
                with db:
                    db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", changed)
        return found

    @staticmethod
    def _forget_missing(db: sqlite3.Connection, prefix: str, present: set[str]) -> None:
        rows = db.execute("SELECT key FROM files WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff"))
        gone = [(key,) for (key,) in rows if key not in present]
        if gone:
            with db:
                db.executemany("DELETE FROM files WHERE key = ?", gone)

    def rows(self) -> int:
        """How many files the index remembers."""
        if not self.path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(self.path, timeout=60.0)) as db:
            db.execute(SCHEMA)
            return db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    @staticmethod
    def _known(db: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[FileIdentity, str]]:
        """The stored rows for ``keys``: all rows at once when most are wanted (a whole-bucket listing)."""
        wanted = set(keys)
        lo, hi = min(keys), max(keys)
        rows = db.execute("SELECT key, size, mtime_ns, inode, ctime_ns, sha256 FROM files WHERE key >= ? AND key <= ?",
                          (lo, hi))
        return {key: (FileIdentity(size, mtime, inode, ctime), digest)
                for key, size, mtime, inode, ctime, digest in rows if key in wanted}
