"""Where things live in the bucket (ARCHITECTURE.md §2): book folders, published books, the work area."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from .store import BucketObject

BOOKS_PREFIX = "books/"
BOOK_ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,63}$")


def book_id_problem(book_id: str) -> str | None:
    """Why ``book_id`` is not a valid book folder name, or None when it is."""
    if BOOK_ID_PATTERN.fullmatch(book_id):
        return None
    return (
        f"The book folder name {book_id!r} is not allowed: use 1 to 63 lowercase letters, digits, "
        "'-' or '_' (for example 'max-and-friends')."
    )


def book_prefix(book_id: str) -> str:
    return f"{BOOKS_PREFIX}{book_id}/"


def published_prefix(book_id: str) -> str:
    return f"published/{book_id}/"


def contents_fingerprint(objects: Iterable[BucketObject], prefix: str) -> str:
    """A short digest of what a book folder holds: each name with its content hash.

    Content, not write history: the same bytes uploaded again give the same fingerprint (nothing to
    rebuild), and any change of bytes gives another. Both backends list the hash without reading
    the objects (GCS: md5, or crc32c for composite objects; a local folder: its listing index), so
    the sensor and the inventory compute the same value. An object listed without a hash (a link,
    which is never read) counts by its size and generation.
    """
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        content = obj.content_hash or f"size={obj.size};generation={obj.generation}"
        digest.update(f"{obj.key[len(prefix):]}\t{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def contents_run_key(book_id: str, fingerprint: str, objects: Iterable[BucketObject]) -> str:
    """``<book_id>:<fingerprint>:<newest object>``: the same listing gives the same key (on a later tick,
    or to the other sensor), while contents that come back (A → B → A) arrive as a newer object and get
    a key Dagster has not spent, so the revert is built."""
    newest = max(((o.updated, o.key) for o in objects), default=(0.0, ""))
    change = hashlib.sha256(f"{newest[0]!r}\t{newest[1]}".encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{book_id}:{fingerprint}:{change}"
