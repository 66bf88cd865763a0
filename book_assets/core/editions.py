"""Published editions: a book is switched as a set, by one small pointer written last.

::

    published/<id>/
      current.json            the pointer: which edition is current, and the keys of its files
      status.json             whether the newest upload is in the current edition (every build writes it)
      editions/<edition>/     book.pdf cover.pdf preview.html report.json pages/page-NNN.png

A build uploads its whole edition into a folder of its own, then makes it current by replacing
``current.json`` with a compare-and-swap (GCS ``ifGenerationMatch``; locally a write-then-rename under
a lock). A reader opens ``current.json`` and follows it, so it sees one edition, never a mix: a crash
before the switch leaves the previous edition current and complete.

"Newer" means *the sources were listed later* (``Inventory.listed_at``): an edition shows the book
folder as it was when its run listed it, and a later listing sees every upload an earlier one saw.
Run start times would mislead: a re-executed old run starts late but reuses its old listing. So an
older run that finishes last never replaces a newer edition, and its files are removed at once.
Editions that are no longer current are pruned after a grace period, so a reader who has just
read the pointer can still fetch the files it names.
"""
from __future__ import annotations

import enum
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from .bucket_layout import published_prefix
from .store import ObjectStore, PreconditionConflict

POINTER_NAME = "current.json"
STATUS_NAME = "status.json"
EDITION_GRACE_SECONDS = 3600.0     # a replaced edition stays readable this long after the switch
SWITCH_ATTEMPTS = 8                # compare-and-swap tries before giving up (each loss means another run moved)


class Switch(enum.Enum):
    """What happened when a document guarded by ``sources_listed_at`` was to be replaced."""

    WRITTEN = "written"            # ours is now the live document
    NEWER_KEPT = "newer_kept"      # the live one came from a later listing, so it was left as it is


def pointer_key(book_id: str) -> str:
    return published_prefix(book_id) + POINTER_NAME


def status_key(book_id: str) -> str:
    return published_prefix(book_id) + STATUS_NAME


def editions_prefix(book_id: str) -> str:
    return published_prefix(book_id) + "editions/"


def edition_id(sources_listed_at: float, run_id: str) -> str:
    """``20261201T213015123Z-1a2b3c4d``: sorts by listing time; the run id keeps two runs apart."""
    stamp = datetime.fromtimestamp(sources_listed_at, timezone.utc)
    return f"{stamp:%Y%m%dT%H%M%S}{stamp.microsecond // 1000:03d}Z-{run_id[:8]}"


def edition_prefix(book_id: str, edition: str) -> str:
    return f"{editions_prefix(book_id)}{edition}/"


def edition_files(book_id: str, edition: str, pages: int) -> dict[str, str]:
    """The files of one edition, by name, as full bucket keys."""
    out = edition_prefix(book_id, edition)
    names = ["book.pdf", "cover.pdf", "preview.html", "report.json",
             *(f"pages/page-{number:03d}.png" for number in range(1, pages + 1))]
    return {name: out + name for name in names}


@dataclass(frozen=True)
class Edition:
    """What ``current.json`` holds: the edition a reader should open, and where its files are."""

    book_id: str
    edition: str
    run_id: str
    source_fingerprint: str
    sources_listed_at: float           # when the run listed the book folder (what "newer" compares)
    files: dict[str, str] = field(default_factory=dict)   # name → bucket key, e.g. "book.pdf" → published/…/book.pdf
    made_current_at: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Edition | None:
        """The pointer's edition, or None for a document that is not one (then it is simply replaced)."""
        try:
            document = json.loads(data)
            return cls(**{name: document[name] for name in cls.__dataclass_fields__ if name in document})
        except (ValueError, TypeError, KeyError):
            return None


def read_current(store: ObjectStore, book_id: str) -> Edition | None:
    """The current edition of ``book_id``, or None when nothing was ever published."""
    data, _ = store.read_versioned(pointer_key(book_id))
    return Edition.from_json(data) if data is not None else None


def write_unless_newer(store: ObjectStore, key: str, document: dict, *, content_type: str = "application/json") -> Switch:
    """Replace the JSON document at ``key`` unless the live one records a later ``sources_listed_at``.

    A compare-and-swap loop: when another run replaced the document between our read and our
    write, read again and decide again, so the newest listing always wins whichever run ends last.
    """
    ours = float(document["sources_listed_at"])
    data = json.dumps(document, indent=2).encode()
    for _ in range(SWITCH_ATTEMPTS):
        live, version = store.read_versioned(key)
        if live is not None and _listed_at(live) > ours:
            return Switch.NEWER_KEPT
        try:
            store.write_bytes_if_version(key, data, version, content_type=content_type)
            return Switch.WRITTEN
        except PreconditionConflict:
            continue
    raise PreconditionConflict(f"{store.url(key)} kept changing: {SWITCH_ATTEMPTS} other writes in a row")


def make_current(store: ObjectStore, edition: Edition) -> Switch:
    """Point ``current.json`` at ``edition`` — the last write of a publication — unless a newer edition is current."""
    stamped = Edition(**{**asdict(edition),
                         "made_current_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return write_unless_newer(store, pointer_key(edition.book_id), json.loads(stamped.to_json()))


def remove_edition(store: ObjectStore, book_id: str, edition: str) -> int:
    """Delete every object of one edition; how many there were."""
    keys = [o.key for o in store.list_objects(edition_prefix(book_id, edition), with_hash=False)]
    for key in keys:
        store.delete(key)
    return len(keys)


def prune_editions(store: ObjectStore, book_id: str, *, grace_seconds: float = EDITION_GRACE_SECONDS,
                   now: float | None = None) -> list[str]:
    """Remove editions that are not current and whose newest file is older than the grace period
    (replaced editions, and the partial ones of crashed runs); the editions removed."""
    current = read_current(store, book_id)
    keep = current.edition if current else None
    now = time.time() if now is None else now
    newest: dict[str, float] = defaultdict(float)
    root = editions_prefix(book_id)
    objects = store.list_objects(root, with_hash=False)
    for obj in objects:
        name = obj.key[len(root):].split("/", 1)[0]
        newest[name] = max(newest[name], obj.updated)
    old = sorted(name for name, updated in newest.items() if name != keep and now - updated >= grace_seconds)
    for obj in objects:
        if obj.key[len(root):].split("/", 1)[0] in old:
            store.delete(obj.key)
    return old


def _listed_at(data: bytes) -> float:
    """``sources_listed_at`` of a stored document; 0 (older than anything) when it has none."""
    try:
        return float(json.loads(data).get("sources_listed_at") or 0.0)
    except (ValueError, TypeError, AttributeError):
        return 0.0
