"""``books_sensor``: notice new and changed book folders in the bucket and build each book once per content.

Each tick lists ``books/``, hands the listing to ``core.change_detection.plan_tick`` (which books
changed, which have settled, where the cursor moves; see its docstring), registers new book
folders as partitions, and requests one run per settled book (``contents_run_key``: the book, the
content fingerprint, its newest object) — unless the newest ``book`` was already made from those
contents (a build from the UI, or the same bytes uploaded again). Each book whose folder changed since its published book
gets a failed ``book_is_current`` check at once, so the UI shows it is behind.
"""

import os
import time

import dagster as dg

from ..core.bucket_layout import BOOKS_PREFIX, book_id_problem, contents_run_key
from ..core.change_detection import Cursor, TickPlan, plan_tick
from . import jobs
from .assets.common import fields
from .checks import book_is_current_evaluation
from .partitions import books_partitions
from .resources import Bucket

BOOK = dg.AssetKey("book")
PARTITION_TAG = "dagster/partition"     # every run of a book carries it; dagster.yaml's one-run-per-book limit keys on it

DEFAULT_QUIET_PERIOD_SECONDS = 60.0     # a book must have been still this long before it is built
DEFAULT_MAX_BOOKS_PER_TICK = 25         # more changed books wait for the next ticks, in change order
DEFAULT_INTERVAL_SECONDS = 30
QUIET_PERIOD_ENV_VAR = "BOOK_SENSOR_QUIET_SECONDS"
DEFAULT_STATUS_ENV_VAR = "BOOK_SENSOR_DEFAULT_STATUS"
# Big buckets: Cloud Storage notifications drive books_pubsub_sensor (defs/pubsub_sensor.py) when this names a
# subscription, and the listing becomes a periodic reconciliation (every RECONCILE_INTERVAL_SECONDS).
SUBSCRIPTION_ENV_VAR = "BOOK_PUBSUB_SUBSCRIPTION"
RECONCILE_INTERVAL_ENV_VAR = "BOOK_SENSOR_RECONCILE_SECONDS"
DEFAULT_RECONCILE_INTERVAL_SECONDS = 900


def default_sensor_status() -> dg.DefaultSensorStatus:
    """STOPPED unless ``BOOK_SENSOR_DEFAULT_STATUS=running`` (``make dev-gcs`` sets it)."""
    wanted = os.environ.get(DEFAULT_STATUS_ENV_VAR, "stopped").strip().lower()
    return dg.DefaultSensorStatus.RUNNING if wanted == "running" else dg.DefaultSensorStatus.STOPPED


def quiet_period_setting(given: float | None = None) -> float:
    """``given`` when a sensor builder was handed one, else the environment's setting or the default."""
    if given is not None:
        return given
    value = os.environ.get(QUIET_PERIOD_ENV_VAR)
    return float(value) if value else DEFAULT_QUIET_PERIOD_SECONDS


def settling_reason(book_ids, quiet: float) -> str:
    """The skip-reason clause both sensors give for books still inside the quiet period."""
    book_ids = list(book_ids)
    return f"{len(book_ids)} book(s) changed less than {quiet:g} s ago and are still settling: {some_names(book_ids)}"


def subscription_setting() -> str | None:
    """``projects/<project>/subscriptions/<name>`` when notifications drive the sensor, else None (listing only)."""
    return os.environ.get(SUBSCRIPTION_ENV_VAR, "").strip() or None


def listing_interval_setting() -> int:
    """Every 30 s when the listing is the only sensor; a reconciliation every 15 min beside Pub/Sub."""
    if subscription_setting() is None:
        return DEFAULT_INTERVAL_SECONDS
    return int(os.environ.get(RECONCILE_INTERVAL_ENV_VAR) or DEFAULT_RECONCILE_INTERVAL_SECONDS)


def some_names(names, limit: int = 10) -> str:
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
                        f"and are skipped: {some_names(plan.loose_objects, 5)}")
    return problems


def book_sensor(job, name: str, minimum_interval_seconds: int, default_status: dg.DefaultSensorStatus | None,
                description: str):
    """The ``@dg.sensor`` decorator both book sensors (listing and Pub/Sub) are made with."""
    return dg.sensor(name=name, job=job, minimum_interval_seconds=minimum_interval_seconds,
                     default_status=default_status or default_sensor_status(), description=description)


def build_books_sensor(job, *, name: str = "books_sensor", quiet_period_seconds: float | None = None,
                       max_books_per_tick: int = DEFAULT_MAX_BOOKS_PER_TICK,
                       minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
                       default_status: dg.DefaultSensorStatus | None = None) -> dg.SensorDefinition:
    """The bucket sensor for ``job`` (the build_book job); settings default to the environment's."""
    quiet = quiet_period_setting(quiet_period_seconds)

    @book_sensor(job, name, minimum_interval_seconds, default_status,
                 f"Lists books/ in the bucket; registers new book folders as partitions and builds each book "
                 f"whose contents changed once it has been quiet for {quiet:g} s (at most {max_books_per_tick} "
                 f"books per tick).")
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
        plan = plan_tick(objects, cursor, time.time(), quiet, max_books_per_tick, folder_times,
                         with_hashes=bucket.with_content_hashes)

        known = set(context.instance.get_dynamic_partitions(books_partitions.name))
        new_books = [b for b in plan.book_ids if b not in known]
        partition_requests = [books_partitions.build_add_request(new_books)] if new_books else []

        built_from = latest_book_fingerprints(context.instance,
                                              [state.book_id for state in (*plan.ready, *plan.quiet, *plan.deferred)])
        in_flight = live_contents(context.instance) if plan.ready else set()
        run_requests, up_to_date = [], []
        for state in plan.ready:
            if (built_from[state.book_id] == state.fingerprint
                    or (state.book_id, state.fingerprint) in in_flight):
                up_to_date.append(state.book_id)     # built, queued or running for these contents already
                continue
            run_requests.append(book_run_request(job, state.book_id, state.fingerprint, state.objects))
        behind = [book_is_current_event(state.book_id, built_from[state.book_id], state.fingerprint,
                                        "waiting for the upload to settle" if state in plan.quiet else
                                        "a build is queued" if state in plan.ready else "waiting for a later tick")
                  for state in (*plan.ready, *plan.quiet, *plan.deferred)
                  if built_from[state.book_id] != state.fingerprint]

        problems = _problems(plan)
        for problem in problems:
            context.log.warning(problem)
        context.log.info(fields("tick", objects=len(objects), books=len(plan.book_ids), listing_ms=round(listing_ms, 1),
                                requested=len(run_requests), new_partitions=len(new_books), settling=len(plan.quiet),
                                deferred=len(plan.deferred), already_built=len(up_to_date), behind=len(behind),
                                requested_books=some_names(r.partition_key for r in run_requests)))

        skip_reason = None
        if not run_requests:
            reasons = []
            if plan.quiet:
                reasons.append(settling_reason((s.book_id for s in plan.quiet), quiet))
            reasons.append(f"no other book changed ({len(objects)} objects, {len(plan.book_ids)} books listed)")
            skip_reason = "; ".join(reasons + problems)
        return dg.SensorResult(
            run_requests=run_requests, dynamic_partitions_requests=partition_requests,
            cursor=plan.cursor.encode(), skip_reason=skip_reason, asset_events=behind,
        )

    return books_sensor


def book_run_request(job, book_id: str, fingerprint: str, objects: list) -> dg.RunRequest:
    """One build of one book's contents by ``job``, keyed by ``contents_run_key`` (both sensors make their
    requests here, so their run keys agree); the job's max runtime goes on the run."""
    tags = {"book_assets/fingerprint": fingerprint, "book_assets/objects": str(len(objects))}
    max_runtime = (job.tags or {}).get("dagster/max_runtime")
    if max_runtime:
        tags["dagster/max_runtime"] = str(max_runtime)
    return dg.RunRequest(run_key=contents_run_key(book_id, fingerprint, objects), partition_key=book_id, tags=tags)


# A run in one of these states means the contents it carries need no other run. A run that succeeded
# does not count here: the book it made is the newest one only if the newest ``book`` materialization
# says so (``latest_book_fingerprint``), and contents that come back after another edition (A → B → A)
# must build again.
_LIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
         dg.DagsterRunStatus.STARTED]


def run_for_contents(instance: dg.DagsterInstance, book_id: str, fingerprint: str) -> bool:
    """Whether a run of these contents of the book is queued or running — whoever asked for it.

    Dagster's run keys are per sensor: they stop a sensor repeating itself, not the listing sensor and
    the Pub/Sub sensor (or a person) from asking for the same contents.
    """
    return instance.get_runs_count(dg.RunsFilter(
        tags={PARTITION_TAG: book_id, "book_assets/fingerprint": fingerprint}, statuses=_LIVE)) > 0


def live_runs_of_book(instance: dg.DagsterInstance, book_id: str) -> list[dg.DagsterRun]:
    """The book's runs that are queued or running, whatever started them (the queue's per-book limit
    keys on the same ``dagster/partition`` tag)."""
    return list(instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: book_id}, statuses=_LIVE)))


def live_contents(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(book, contents fingerprint) of every queued or running run: ``run_for_contents`` for all books
    with one query (a tick over 2,000 books asked 2,000 times)."""
    return {(run.tags["dagster/partition"], run.tags["book_assets/fingerprint"])
            for run in instance.get_runs(dg.RunsFilter(statuses=_LIVE))
            if "dagster/partition" in run.tags and "book_assets/fingerprint" in run.tags}


FINGERPRINT_QUERY_BOOKS = 500     # books per query (the partitions go into one SQL IN list)
FINGERPRINT_QUERY_ROWS = 1000     # materializations per page, newest first


def latest_book_fingerprints(instance: dg.DagsterInstance, book_ids: list[str]) -> dict[str, str | None]:
    """For each book, the contents fingerprint its newest ``book`` materialization was made from
    (None: never built). A few books per query, paged newest first until each book's newest is seen,
    instead of one query per book."""
    newest: dict[str, str | None] = {book_id: None for book_id in book_ids}
    wanted = sorted(newest)
    for start in range(0, len(wanted), FINGERPRINT_QUERY_BOOKS):
        unseen = set(wanted[start:start + FINGERPRINT_QUERY_BOOKS])
        records_filter = dg.AssetRecordsFilter(asset_key=BOOK, asset_partitions=sorted(unseen))
        cursor, more = None, True
        while unseen and more:
            page = instance.fetch_materializations(records_filter, limit=FINGERPRINT_QUERY_ROWS, cursor=cursor)
            for record in page.records:
                if record.partition_key in unseen:
                    unseen.discard(record.partition_key)
                    entry = record.asset_materialization.metadata.get("source_fingerprint")
                    newest[record.partition_key] = str(entry.value) if entry is not None else None
            cursor, more = page.cursor, page.has_more
    return newest


def latest_book_fingerprint(instance: dg.DagsterInstance, book_id: str) -> str | None:
    """The contents fingerprint the newest ``book`` materialization of this book was made from."""
    return latest_book_fingerprints(instance, [book_id])[book_id]


def book_is_current_event(book_id: str, built_from: str | None, folder_now: str, waiting: str) -> dg.AssetCheckEvaluation:
    """A failed ``book_is_current`` for one book, reported by the sensor the moment its folder changes."""
    passed, metadata = book_is_current_evaluation(
        published_fingerprint=built_from, current_fingerprint=folder_now, published=built_from is not None,
        reason=f"The book folder changed after the published book was made; {waiting}.")
    return dg.AssetCheckEvaluation(asset_key=BOOK, check_name="book_is_current", passed=passed, partition=book_id,
                                   severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                                   description=metadata["why"])



books_sensor = build_books_sensor(jobs.build_book_job, minimum_interval_seconds=listing_interval_setting())
