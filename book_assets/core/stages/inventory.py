"""Stage 1 (raw_images): one entry per object under ``books/<id>/``, with its role."""
from __future__ import annotations

from collections.abc import Sequence

from ..bucket_layout import book_prefix, contents_fingerprint
from ..contracts import Inventory, InventoryEntry
from ..inventory import classify, unreadable_object
from ..store import BucketObject, is_safe_key


def take_inventory(book_id: str, objects: Sequence[BucketObject], *, listing_ms: float = 0.0,
                   listed_at: float = 0.0) -> Inventory:
    """Every listed object with its role; objects the book must not open get role OTHER and a reason."""
    prefix = book_prefix(book_id)
    entries = []
    for obj in objects:
        relative = obj.key[len(prefix):]
        placement = (unreadable_object(relative, symlink=obj.symlink, unsafe_name=not is_safe_key(obj.key))
                     or classify(relative))
        entries.append(InventoryEntry(
            key=obj.key, relative_path=relative, role=placement.role, size=obj.size, updated=obj.updated,
            generation=obj.generation, content_hash=obj.content_hash, reason=placement.reason,
            message=placement.message))
    return Inventory(book_id=book_id, prefix=prefix, entries=tuple(entries),
                     fingerprint=contents_fingerprint(objects, prefix), listing_ms=listing_ms,
                     listed_at=listed_at)
