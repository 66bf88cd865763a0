"""``books_sensor``: notice new and changed book folders in the bucket and build each book once per content.

Each tick lists ``books/`` only (never ``published/`` or the work area), so the pipeline's own
outputs cannot trigger it. The cursor is a watermark on (updated time, object name): everything at
or below it has been handled. Comparing values instead of looking up a remembered object means a
deleted or rewritten object can neither stall the sensor nor make it replay the whole bucket; a
rewritten object gets a newer updated time and is seen as a change.

A book is requested once its newest object is older than the quiet period (so a folder still being
uploaded is not built half-way) with ``run_key = <book_id>:<fingerprint of its contents>``, so the
same contents never build twice. The watermark never passes a change that is still waiting (quiet
period, or beyond the per-tick cap), so nothing is lost between ticks. On a local folder the
directories' change times count too (moves keep file times; deletions show only there); on GCS
a deletion alone moves no updated time and does not trigger a rebuild (see the README).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import dagster as dg

from .partitions import book_id_problem, books_partitions
from .resources import Bucket, BucketObject

BOOKS_PREFIX = "books/"
DEFAULT_QUIET_PERIOD_SECONDS = 60.0     # a book must have been still this long before it is built
DEFAULT_MAX_BOOKS_PER_TICK = 25         # more changed books wait for the next ticks, in change order
DEFAULT_INTERVAL_SECONDS = 30
QUIET_PERIOD_ENV_VAR = "BOOK_SENSOR_QUIET_SECONDS"
DEFAULT_STATUS_ENV_VAR = "BOOK_SENSOR_DEFAULT_STATUS"
CURSOR_VERSION = 1

Watermark = tuple[float, str]           # (updated time in epoch seconds, object key)
START: Watermark = (float("-inf"), "")


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
        if not text:
            return cls()
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown cursor format {text[:80]!r}")
        updated = START[0] if data["updated"] is None else float(data["updated"])
        return cls((updated, str(data["key"])), {str(k): str(v) for k, v in data.get("requested", {}).items()})


def fingerprint(objects: list[BucketObject], prefix: str) -> str:
    """A short digest of a book's contents: names plus content hashes (size and generation when no hash)."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        identity = obj.content_hash or f"size={obj.size};generation={obj.generation}"
        digest.update(f"{obj.key[len(prefix):]}\t{identity}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


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
              folder_times: dict[str, float] | None = None) -> TickPlan:
    """Group the listing into books, pick the changed and settled ones, and move the watermark.

    ``folder_times`` (local folders only) count as changes named ``books/<id>/``: they catch a
    folder or file moved in with old times, and deletions.
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

    changed = []
    for book_id, book_objects in by_book.items():
        prefix = f"{BOOKS_PREFIX}{book_id}/"
        times = [(o.updated, o.key) for o in book_objects]
        if book_id in folder_times:
            times.append((folder_times[book_id], prefix))
        changes = [t for t in times if t > watermark]
        if changes:
            digest = fingerprint(book_objects, prefix)
            changed.append(BookState(book_id, book_objects, changes, max(t for t, _ in times), digest))
    for state in sorted(changed, key=lambda s: s.first_change):
        if cursor.requested.get(state.book_id) == state.fingerprint:
            plan.already.append(state)
        elif state.newest_update > now - quiet_period_seconds:
            plan.quiet.append(state)
        elif len(plan.ready) < max_books_per_tick:
            plan.ready.append(state)
        else:
            plan.deferred.append(state)

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


def default_sensor_status() -> dg.DefaultSensorStatus:
    """STOPPED unless ``BOOK_SENSOR_DEFAULT_STATUS=running`` (``make dev-gcs`` sets it)."""
    wanted = os.environ.get(DEFAULT_STATUS_ENV_VAR, "stopped").strip().lower()
    return dg.DefaultSensorStatus.RUNNING if wanted == "running" else dg.DefaultSensorStatus.STOPPED


def quiet_period_setting() -> float:
    value = os.environ.get(QUIET_PERIOD_ENV_VAR)
    return float(value) if value else DEFAULT_QUIET_PERIOD_SECONDS


def _some(names, limit: int = 10) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "") or "none"


def _problems(plan: TickPlan, limit: int = 10) -> list[str]:
    """Plain sentences about what the tick skipped: bad folder names, files outside any book folder."""
    problems = [
        f"books/{folder}/ ({count} object{'s' if count != 1 else ''}) is skipped: {book_id_problem(folder)}"
        for folder, count in list(plan.invalid_folders.items())[:limit]
    ]
    if len(plan.invalid_folders) > limit:
        problems.append(f"… and {len(plan.invalid_folders) - limit} more folders with names that are not allowed")
    if plan.loose_objects:
        problems.append(f"{len(plan.loose_objects)} object(s) directly under books/ belong to no book "
                        f"and are skipped: {_some(plan.loose_objects, 5)}")
    return problems


def build_books_sensor(job, *, name: str = "books_sensor", quiet_period_seconds: float | None = None,
                       max_books_per_tick: int = DEFAULT_MAX_BOOKS_PER_TICK,
                       minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
                       default_status: dg.DefaultSensorStatus | None = None) -> dg.SensorDefinition:
    """The bucket sensor for ``job`` (the build_book job); settings default to the environment's."""
    quiet = quiet_period_setting() if quiet_period_seconds is None else quiet_period_seconds
    max_runtime = (job.tags or {}).get("dagster/max_runtime")

    @dg.sensor(
        name=name, job=job, minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or default_sensor_status(),
        description=(f"Lists books/ in the bucket; registers new book folders as partitions and builds each "
                     f"book whose contents changed once it has been quiet for {quiet:g} s "
                     f"(at most {max_books_per_tick} books per tick)."),
    )
    def books_sensor(context: dg.SensorEvaluationContext, bucket: Bucket):
        try:
            cursor = Cursor.decode(context.cursor)
        except (ValueError, KeyError, TypeError) as problem:
            context.log.warning(f"Unreadable cursor ({problem}); starting from the beginning of the bucket. "
                                "Run keys keep books that were already built from building again.")
            cursor = Cursor()
        started = time.perf_counter()
        objects = bucket.list_objects(BOOKS_PREFIX, with_hash=False)
        folder_times = bucket.folder_change_times(BOOKS_PREFIX)
        listing_ms = (time.perf_counter() - started) * 1000.0
        plan = plan_tick(objects, cursor, time.time(), quiet, max_books_per_tick, folder_times)

        known = set(context.instance.get_dynamic_partitions(books_partitions.name))
        new_books = [b for b in plan.book_ids if b not in known]
        partition_requests = [books_partitions.build_add_request(new_books)] if new_books else []

        run_requests = []
        for state in plan.ready:
            digest = state.fingerprint
            tags = {"book_assets/fingerprint": digest, "book_assets/objects": str(len(state.objects))}
            if max_runtime:
                tags["dagster/max_runtime"] = str(max_runtime)
            run_requests.append(dg.RunRequest(run_key=f"{state.book_id}:{digest}",
                                              partition_key=state.book_id, tags=tags))

        problems = _problems(plan)
        for problem in problems:
            context.log.warning(problem)
        summary = (f"Listed {len(objects)} objects in {len(plan.book_ids)} books ({listing_ms:.0f} ms); "
                   f"requested {len(run_requests)} ({_some(s.book_id for s in plan.ready)}); "
                   f"new partitions {len(new_books)}; waiting for quiet {len(plan.quiet)}; "
                   f"deferred to the next tick {len(plan.deferred)}.")
        context.log.info(summary)

        skip_reason = None
        if not run_requests:
            reasons = []
            if plan.quiet:
                reasons.append(f"{len(plan.quiet)} book(s) changed less than {quiet:g} s ago and are still "
                               f"settling: {_some(s.book_id for s in plan.quiet)}")
            reasons.append(f"no other book changed ({len(objects)} objects, {len(plan.book_ids)} books listed)")
            skip_reason = "; ".join(reasons + problems)
        return dg.SensorResult(
            run_requests=run_requests, dynamic_partitions_requests=partition_requests,
            cursor=plan.cursor.encode(), skip_reason=skip_reason,
        )

    return books_sensor
