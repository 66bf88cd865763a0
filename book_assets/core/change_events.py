"""Which books changed, from Cloud Storage notifications instead of a listing — without Dagster.

For a big bucket, listing ``books/`` every tick costs one request per 1,000 objects; Cloud Storage
can instead publish one Pub/Sub message per object change (``OBJECT_FINALIZE``, ``OBJECT_DELETE``,
``OBJECT_METADATA_UPDATE``, format ``JSON_API_V1``). This module turns those messages into per-book
change state kept in the sensor's cursor, and decides which books have settled:

- a book is *pending* from its first event until it has been quiet for the quiet period (the same
  rule as ``change_detection``: a folder still being uploaded is not built half-way);
- a settled book is listed (its own folder only) and requested with the same run key as the listing
  sensor, ``<book_id>:<fingerprint>`` — a deletion changes the fingerprint, so it triggers a rebuild;
- Pub/Sub delivers at least once: a message id already absorbed is ignored, and a book whose
  fingerprint was already requested is not requested again;
- a message is acknowledged only on the tick *after* the cursor that absorbed it was stored, so a
  tick that dies before Dagster stores its cursor loses nothing: Pub/Sub redelivers the message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from .bucket_layout import BOOKS_PREFIX, book_id_problem
from .change_detection import read_cursor_json, settled_first
from .problems import Problem

CURSOR_VERSION = 1
REQUESTED_REMEMBERED_SECONDS = 7 * 24 * 3600   # after that, Dagster's own run-key check still holds
SEEN_KEPT = 5000    # message ids remembered against redelivery; a redelivery older than that only costs a
                    # listing of its book, never a run (the fingerprint was requested already)


class EventKind(StrEnum):
    """The Cloud Storage notification event types (the ``eventType`` attribute)."""

    FINALIZE = "OBJECT_FINALIZE"                # a new object, or a new generation of one
    DELETE = "OBJECT_DELETE"                    # deleted, or replaced by a new generation
    METADATA_UPDATE = "OBJECT_METADATA_UPDATE"
    ARCHIVE = "OBJECT_ARCHIVE"                  # versioned buckets: the live version became noncurrent


@dataclass(frozen=True)
class ObjectEvent:
    """One notification: what happened to which object, and when (epoch seconds)."""

    message_id: str
    kind: EventKind
    bucket: str
    name: str                   # the full object name in the bucket
    generation: str
    event_time: float


class NotificationError(ValueError):
    """A Pub/Sub message that is not a Cloud Storage notification we can read."""


def parse_notification(message_id: str, attributes: dict[str, str], publish_time: float) -> ObjectEvent:
    """The event in one message; only its attributes are needed (the JSON body repeats the object)."""
    try:
        kind = EventKind(attributes["eventType"])
        bucket, name = attributes["bucketId"], attributes["objectId"]
    except (KeyError, ValueError) as missing:
        raise NotificationError(f"message {message_id} is not a Cloud Storage notification "
                                f"(attributes {sorted(attributes)}): {missing}") from None
    when = attributes.get("eventTime")
    try:
        event_time = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp() if when else publish_time
    except ValueError:
        event_time = publish_time
    return ObjectEvent(message_id, kind, bucket, name, attributes.get("objectGeneration", ""), event_time)


@dataclass(frozen=True)
class PendingBook:
    """A book with changes not yet requested: when it last changed, and whether anything was deleted."""

    changed_at: float
    events: int = 0
    deleted: bool = False


@dataclass(frozen=True)
class EventCursor:
    """The sensor's state between ticks (JSON in the Dagster cursor)."""

    pending: dict[str, PendingBook] = field(default_factory=dict)
    requested: dict[str, tuple[str, float]] = field(default_factory=dict)   # book -> (fingerprint, when)
    to_ack: tuple[str, ...] = ()        # ack ids of messages this cursor holds; acked by the next tick
    seen: tuple[str, ...] = ()          # the last SEEN_KEPT message ids absorbed, oldest first

    def encode(self) -> str:
        return json.dumps({
            "v": CURSOR_VERSION,
            "pending": {b: [p.changed_at, p.events, p.deleted] for b, p in sorted(self.pending.items())},
            "requested": {b: list(r) for b, r in sorted(self.requested.items())},
            "to_ack": list(self.to_ack), "seen": list(self.seen),
        }, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> EventCursor:
        """The cursor stored in ``text``; a fresh one for no text (raises ValueError if unreadable)."""
        data = read_cursor_json(text, CURSOR_VERSION)
        if data is None:
            return cls()
        return cls(
            pending={str(b): PendingBook(float(t), int(n), bool(d)) for b, (t, n, d) in data["pending"].items()},
            requested={str(b): (str(f), float(t)) for b, (f, t) in data["requested"].items()},
            to_ack=tuple(map(str, data["to_ack"])), seen=tuple(map(str, data["seen"])),
        )


@dataclass
class Absorbed:
    """What one batch of messages did to the cursor."""

    cursor: EventCursor
    books_changed: list[str] = field(default_factory=list)      # valid book ids with a new event
    duplicates: int = 0                                          # message ids absorbed before
    ignored: int = 0                     # events outside books/ (published/, the work area) or another bucket
    problems: list[Problem] = field(default_factory=list)       # bad folder names, unreadable messages


def absorb(cursor: EventCursor, messages: list[tuple[str, ObjectEvent | NotificationError]],
           bucket: str, root: str = "") -> Absorbed:
    """Fold ``(ack_id, event or error)`` pairs into per-book pending state.

    ``root`` is the bucket prefix the book bucket lives under (``gs://bucket/root``). Every message
    — used, ignored, duplicate or unreadable — is put in ``to_ack``: the stored cursor is its
    record, and a message that can never be used must not be redelivered for ever.
    """
    seen_before = set(cursor.seen)
    seen_now: list[str] = []
    pending = dict(cursor.pending)
    result = Absorbed(cursor)
    books_prefix = root + BOOKS_PREFIX
    for _, event in messages:
        if isinstance(event, NotificationError):
            result.problems.append(Problem("unreadable_notification", str(event)))
            continue
        if event.message_id in seen_before or event.message_id in seen_now:
            result.duplicates += 1
            continue
        seen_now.append(event.message_id)
        if event.bucket != bucket or not event.name.startswith(books_prefix):
            result.ignored += 1
            continue
        folder, sep, _ = event.name[len(books_prefix):].partition("/")
        if not sep:
            result.ignored += 1             # directly under books/: belongs to no book (the listing sensor reports it)
            continue
        if problem := book_id_problem(folder):
            result.problems.append(Problem("invalid_book_folder", f"books/{folder}/ is skipped: {problem}"))
            continue
        before = pending.get(folder)
        pending[folder] = PendingBook(
            changed_at=max(event.event_time, before.changed_at if before else event.event_time),
            events=(before.events if before else 0) + 1,
            deleted=(before.deleted if before else False) or event.kind is EventKind.DELETE,
        )
        if folder not in result.books_changed:
            result.books_changed.append(folder)
    result.cursor = replace(cursor, pending=pending, to_ack=tuple(ack for ack, _ in messages),
                            seen=(*cursor.seen, *seen_now)[-SEEN_KEPT:])
    return result


@dataclass
class SettledPlan:
    """Which pending books are ready (settled, within this tick's cap), still settling, or wait for a later tick."""

    ready: list[str] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)


def plan_settled(cursor: EventCursor, now: float, quiet_period_seconds: float, max_books_per_tick: int) -> SettledPlan:
    """Settled books first in the order they changed, at most ``max_books_per_tick`` of them."""
    in_change_order = sorted(cursor.pending, key=lambda book_id: (cursor.pending[book_id].changed_at, book_id))
    quiet, ready, deferred = settled_first(in_change_order, lambda book_id: cursor.pending[book_id].changed_at,
                                           now, quiet_period_seconds, max_books_per_tick)
    return SettledPlan(ready=ready, quiet=quiet, deferred=deferred)


def settle(cursor: EventCursor, fingerprints: dict[str, str], requested: list[str], now: float) -> EventCursor:
    """The cursor after the ready books were listed: each leaves ``pending``; those requested are remembered.

    ``fingerprints`` holds the listed fingerprint of every ready book; ``requested`` the ones a run was
    requested for (the others were already built or requested from those contents, or are empty now).
    """
    pending = {b: s for b, s in cursor.pending.items() if b not in fingerprints}
    remembered = {b: r for b, r in cursor.requested.items() if r[1] > now - REQUESTED_REMEMBERED_SECONDS}
    remembered.update({b: (fingerprints[b], now) for b in requested})
    return replace(cursor, pending=pending, requested=remembered)


def already_requested(cursor: EventCursor, book_id: str, fingerprint: str) -> bool:
    return cursor.requested.get(book_id, ("", 0.0))[0] == fingerprint
