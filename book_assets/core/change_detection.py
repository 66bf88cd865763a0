"""Which book folders changed since the last look, and which are ready to build — without Dagster.

Each tick lists ``books/`` only (never ``published/`` or the work area), so the pipeline's own
outputs cannot trigger it. The cursor is a watermark on (updated time, object name): everything at
or below it has been handled. Comparing values instead of looking up a remembered object means a
deleted or rewritten object can neither stall the sensor nor make it replay the whole bucket; a
rewritten object gets a newer updated time and is seen as a change.

A book is requested once its newest object is older than the quiet period (so a folder still being
uploaded is not built half-way) with ``run_key = <book_id>:<fingerprint of its contents>:<its newest
object>`` (``bucket_layout.contents_run_key``); the fingerprint is made from content hashes, so the same bytes
uploaded again are not built again (the sensor compares with what the newest book was made from),
while contents that come back (A → B → A) are. The watermark never passes a change that is still waiting (quiet
period, or beyond the per-tick cap), so nothing is lost between ticks. On a local folder the
directories' change times count too (moves keep file times; deletions show only there); on GCS
a deletion alone moves no updated time and does not trigger a rebuild (see the README).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .bucket_layout import BOOKS_PREFIX, book_id_problem, contents_fingerprint
from .store import BucketObject

CURSOR_VERSION = 1

Watermark = tuple[float, str]           # (updated time in epoch seconds, object key)
START: Watermark = (float("-inf"), "")


def read_cursor_json(text: str | None, version: int) -> dict | None:
    """A sensor cursor's JSON object, None for no cursor yet; ValueError when it is not one of ``version``."""
    if not text:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("v") != version:
        raise ValueError(f"unknown cursor format {text[:80]!r}")
    return data


@dataclass(frozen=True)
class Cursor:
    """The watermark, plus the books already requested whose changes lie above it.

    ``requested`` stays small: a book leaves it as soon as the watermark passes its changes, which
    happens once no book that changed earlier is still waiting.
    """

    watermark: Watermark = START
    requested: dict[str, str] = field(default_factory=dict)     # book id -> fingerprint requested

    def encode(self) -> str:
        updated = None if self.watermark == START else self.watermark[0]
        return json.dumps({"v": CURSOR_VERSION, "updated": updated, "key": self.watermark[1],
                           "requested": self.requested}, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        """The cursor stored in ``text``; a fresh one for no text (raises ValueError if unreadable)."""
        data = read_cursor_json(text, CURSOR_VERSION)
        if data is None:
            return cls()
        updated = START[0] if data["updated"] is None else float(data["updated"])
        return cls((updated, str(data["key"])), {str(k): str(v) for k, v in data.get("requested", {}).items()})


@dataclass
class BookState:
    book_id: str
    objects: list[BucketObject]
    changes: list[Watermark]            # (updated, key) of objects past the watermark
    newest_update: float
    fingerprint: str

    @property
    def first_change(self) -> Watermark:
        return min(self.changes)


Waiting = TypeVar("Waiting")


def settled_first(in_change_order: Sequence[Waiting], last_change: Callable[[Waiting], float], now: float,
                  quiet_period_seconds: float, max_ready: int) -> tuple[list[Waiting], list[Waiting], list[Waiting]]:
    """(quiet, ready, deferred): books changed within the quiet period wait; of the settled ones the first
    ``max_ready`` in change order are built this tick and the rest wait for the next. Both sensors
    (listing and Pub/Sub) decide with it."""
    quiet, ready, deferred = [], [], []
    for item in in_change_order:
        if last_change(item) > now - quiet_period_seconds:
            quiet.append(item)
        elif len(ready) < max_ready:
            ready.append(item)
        else:
            deferred.append(item)
    return quiet, ready, deferred


@dataclass
class TickPlan:
    """What one tick decided, computed without Dagster from a listing, the watermark and the clock."""

    ready: list[BookState] = field(default_factory=list)          # settled and changed: request a run
    already: list[BookState] = field(default_factory=list)        # requested on an earlier tick, unchanged since
    quiet: list[BookState] = field(default_factory=list)          # changed, but uploaded too recently
    deferred: list[BookState] = field(default_factory=list)       # settled, beyond this tick's cap
    book_ids: list[str] = field(default_factory=list)             # every valid book folder seen
    invalid_folders: dict[str, int] = field(default_factory=dict)  # bad folder name -> object count
    loose_objects: list[str] = field(default_factory=list)        # objects directly under books/
    cursor: Cursor = field(default_factory=Cursor)


def plan_tick(objects: list[BucketObject], cursor: Cursor, now: float,
              quiet_period_seconds: float, max_books_per_tick: int,
              folder_times: dict[str, float] | None = None,
              with_hashes: Callable[[list[BucketObject]], list[BucketObject]] | None = None) -> TickPlan:
    """Group the listing into books, pick the changed and settled ones, and move the watermark.

    ``folder_times`` (local folders only) count as changes named ``books/<id>/``: they catch a
    folder or file moved in with old times, and deletions. ``with_hashes`` gives a changed book's
    objects their content hashes (a local folder hashes only what changed, and only for the
    books that changed); the listing's own hashes are used without it.
    """
    folder_times = folder_times or {}
    watermark = cursor.watermark
    plan = TickPlan()
    by_book: dict[str, list[BucketObject]] = defaultdict(list)
    invalid: dict[str, int] = defaultdict(int)
    for obj in objects:
        folder, sep, _ = obj.key[len(BOOKS_PREFIX):].partition("/")
        if not sep:
            plan.loose_objects.append(obj.key)
        elif book_id_problem(folder):
            invalid[folder] += 1
        else:
            by_book[folder].append(obj)
    plan.invalid_folders = dict(sorted(invalid.items()))
    plan.book_ids = sorted(by_book)

    changed_books = []
    for book_id, book_objects in by_book.items():
        prefix = f"{BOOKS_PREFIX}{book_id}/"
        times = [(o.updated, o.key) for o in book_objects]
        if book_id in folder_times:
            times.append((folder_times[book_id], prefix))
        changes = [t for t in times if t > watermark]
        if changes:
            changed_books.append((book_id, book_objects, changes, max(t for t, _ in times)))
    if with_hashes is not None and changed_books:     # one call for every changed book's objects
        hashed = {o.key: o for o in with_hashes([o for _, objs, _, _ in changed_books for o in objs])}
        changed_books = [(b, [hashed.get(o.key, o) for o in objs], c, n) for b, objs, c, n in changed_books]
    changed = [BookState(book_id, objs, changes, newest, contents_fingerprint(objs, f"{BOOKS_PREFIX}{book_id}/"))
               for book_id, objs, changes, newest in changed_books]
    in_change_order = sorted(changed, key=lambda s: s.first_change)
    plan.already = [s for s in in_change_order if cursor.requested.get(s.book_id) == s.fingerprint]
    plan.quiet, plan.ready, plan.deferred = settled_first(
        [s for s in in_change_order if cursor.requested.get(s.book_id) != s.fingerprint],
        lambda s: s.newest_update, now, quiet_period_seconds, max_books_per_tick)

    # Advance over changes in time order, stopping before the first one that still waits.
    waiting = {s.book_id for s in plan.quiet + plan.deferred}
    book_of = {change: s.book_id for s in changed for change in s.changes}
    for change in sorted(book_of):
        if book_of[change] in waiting:
            break
        watermark = change
    requested = {**cursor.requested, **{s.book_id: s.fingerprint for s in plan.ready}}
    still_above = {s.book_id for s in changed if max(s.changes) > watermark}
    plan.cursor = Cursor(watermark, {b: f for b, f in sorted(requested.items()) if b in still_above})
    return plan


