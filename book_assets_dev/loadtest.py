"""``book-assets loadtest``: many small books uploaded at once, noticed by the sensors and built by a real queue.

For each backend — the local folder bucket, and Cloud Storage emulated by fake-gcs-server publishing its
notifications into Google's Pub/Sub emulator — it:

1. uploads N small books at once (16 threads);
2. times sensor ticks in this process with ``build_sensor_context`` on a throwaway instance: the listing
   sensor over the whole bucket (first tick, then a steady tick with nothing new) and, on GCS, the
   Pub/Sub sensor on a subscription of its own until the notifications are drained;
3. starts ``dagster-daemon run`` on a fresh ``DAGSTER_HOME`` holding the repo's ``dagster.yaml`` (the
   local tier: QueuedRunCoordinator, at most two runs, one per book) with the sensors on — books_sensor
   on the folder, books_pubsub_sensor with the listing as reconciliation on GCS — and waits until every
   book has a finished run;
4. reads the instance: books per minute, queue wait (run created → started), run time, runs per book and
   ``book`` materializations per book (duplicates: anything beyond one), and checks every book has a
   current edition (``published/<id>/current.json``).

Then it times the listing sensor over a big local bucket (default 100,000 objects in 2,000 books), where
listing is what costs (``--books 0`` times only that). Exit 1 when a book was not published exactly once.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from book_assets.core.editions import pointer_key
from book_assets.defs.jobs import build_book_job
from book_assets.defs.pubsub_sensor import BookNotifications, build_pubsub_sensor
from book_assets.defs.resources import Bucket, GCSBucket, LocalBucket
from book_assets.defs.sensors import BOOK, build_books_sensor

from .notification_stack import NotificationStack, environment, running_notification_stack, stop_process_group
from .samples import SampleDrawing, sample_book_files, upload_book

PROJECT = Path(__file__).resolve().parent.parent
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass
class Tick:
    sensor: str
    objects: int
    books: int
    seconds: float
    requested: int
    messages: int | None = None         # Pub/Sub ticks: notifications pulled


@dataclass
class BackendFigures:
    backend: str
    books: int
    objects: int
    upload_seconds: float
    ticks: list[Tick] = field(default_factory=list)
    wall_seconds: float = 0.0           # first run created → last run finished
    queue_waits: list[float] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)
    runs_per_book: Counter = field(default_factory=Counter)
    materializations_per_book: Counter = field(default_factory=Counter)
    published: int = 0
    failed_runs: int = 0

    @property
    def duplicates(self) -> int:
        """Runs and ``book`` materializations beyond one per book."""
        extra_runs = sum(n - 1 for n in self.runs_per_book.values() if n > 1)
        extra_books = sum(n - 1 for n in self.materializations_per_book.values() if n > 1)
        return extra_runs + extra_books

    @property
    def books_per_minute(self) -> float:
        done = sum(1 for n in self.materializations_per_book.values() if n)
        return done / (self.wall_seconds / 60) if self.wall_seconds else 0.0


def small_book() -> dict[str, bytes]:
    """One drawing with two variations, big enough to print (the same bytes in every book)."""
    return sample_book_files((SampleDrawing("max", "monster", 2, "helpful"),), include_bad=False, include_config=False)


def upload_at_once(bucket: Bucket, book_ids: list[str], files: dict[str, bytes]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda book_id: upload_book(bucket, book_id, files), book_ids))
    return time.perf_counter() - started


def _evaluate(sensor, instance, resources: dict, cursor: str | None) -> tuple[dg.SensorResult, float]:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        started = time.perf_counter()
        result = sensor(context)
        seconds = time.perf_counter() - started
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result, seconds


def time_listing_ticks(bucket: Bucket, objects: int, books: int, label: str) -> list[Tick]:
    """The listing sensor's first tick (every book new; at most 25 requested), one tick that takes in every
    book (the cap lifted, so the cursor passes them all), and a steady tick with nothing new."""
    capped = build_books_sensor(build_book_job, quiet_period_seconds=0)
    uncapped = build_books_sensor(build_book_job, quiet_period_seconds=0, max_books_per_tick=max(books, 1))
    resources = {"bucket": bucket}
    with dg.instance_for_test() as instance:
        first, first_s = _evaluate(capped, instance, resources, None)
    with dg.instance_for_test() as instance:
        every, every_s = _evaluate(uncapped, instance, resources, None)
        _, steady_s = _evaluate(capped, instance, resources, every.cursor)
    return [Tick(f"books_sensor first ({label})", objects, books, first_s, len(first.run_requests or [])),
            Tick(f"books_sensor all books in one tick ({label})", objects, books, every_s, len(every.run_requests or [])),
            Tick(f"books_sensor steady ({label})", objects, books, steady_s, 0)]


def time_pubsub_ticks(bucket: GCSBucket, subscription: str, objects: int, books: int) -> list[Tick]:
    """The Pub/Sub sensor draining the upload's notifications, tick by tick, on a scratch instance."""
    sensor = build_pubsub_sensor(build_book_job, quiet_period_seconds=0, max_books_per_tick=books)
    resources = {"bucket": bucket, "notifications": BookNotifications(subscription=subscription, timeout_seconds=2.0)}
    ticks, cursor = [], None
    with dg.instance_for_test() as instance:
        while True:
            result, seconds = _evaluate(sensor, instance, resources, cursor)
            cursor = result.cursor
            messages = _messages_pulled(result)
            ticks.append(Tick("books_pubsub_sensor", objects, books, seconds, len(result.run_requests or []), messages))
            if messages == 0 or len(ticks) > 50:
                break
    return ticks


def _messages_pulled(result: dg.SensorResult) -> int:
    from book_assets.core.change_events import EventCursor

    return len(EventCursor.decode(result.cursor).to_ack)


@contextmanager
def running_daemon(home: Path, env: dict[str, str]):
    """``dagster-daemon run`` on the instance in ``home`` (job control: its own process group)."""
    log = (home / "daemon.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(PROJECT / "workspace.yaml")],
        cwd=PROJECT, env={**os.environ, **env, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        yield process
    finally:
        stop_process_group(process, timeout=60)
        log.close()


def build_with_daemon(figures: BackendFigures, bucket: Bucket, book_ids: list[str], home: Path, env: dict[str, str],
                      timeout: float, say) -> None:
    """Let the daemon's sensors request the books and its queue build them; then read the instance."""
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    wanted = set(book_ids)
    # The instance's SQLite databases are created here, before the daemon starts: two processes creating
    # them at once race (one fails on "table alembic_version already exists").
    with (environment({"DAGSTER_HOME": str(home)}), dg.DagsterInstance.from_config(str(home)) as instance,
          running_daemon(home, env) as daemon):
        deadline = time.monotonic() + timeout
        last_said = 0.0
        while True:
            if daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited: {(home / 'daemon.log').read_text()[-3000:]}")
            records = instance.get_run_records(dg.RunsFilter(job_name="build_book"))
            finished = {r.dagster_run.tags.get("dagster/partition") for r in records
                        if r.dagster_run.status in FINISHED}
            live = [r for r in records if r.dagster_run.status not in FINISHED]
            if wanted <= finished and not live:
                break
            if time.monotonic() - last_said > 60:
                say(f"[{figures.backend}] {len(finished & wanted)}/{len(wanted)} books finished, {len(live)} runs queued "
                    f"or running")
                last_said = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(wanted - finished)} books not built after {timeout:.0f} s")
            time.sleep(3)
        for record in records:
            run = record.dagster_run
            book_id = run.tags.get("dagster/partition")
            figures.runs_per_book[book_id] += 1
            figures.failed_runs += run.status is not dg.DagsterRunStatus.SUCCESS
            if record.start_time:
                figures.queue_waits.append(record.start_time - record.create_timestamp.timestamp())
            if record.start_time and record.end_time:
                figures.run_seconds.append(record.end_time - record.start_time)
        figures.wall_seconds = (max(r.end_time for r in records if r.end_time)
                                - min(r.create_timestamp.timestamp() for r in records))
        for book_id in book_ids:
            figures.materializations_per_book[book_id] = len(instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=BOOK, asset_partitions=[book_id]), limit=10).records)
            figures.published += bucket.exists(pointer_key(book_id))     # current.json names its edition


def run_backend(backend: str, books: int, quiet: float, timeout: float, work: Path, say,
                build: bool = True) -> BackendFigures:
    files = small_book()
    book_ids = [f"load-{i:04d}" for i in range(books)]
    env = {"BOOK_SENSOR_DEFAULT_STATUS": "running", "BOOK_SENSOR_QUIET_SECONDS": str(quiet)}
    with ExitStack() as stack:
        if backend == "local":
            bucket: Bucket = LocalBucket(root=str(work / "bucket"))
        else:
            stack_ = stack.enter_context(running_notification_stack(log_dir=work))
            bucket = _emulated_bucket(stack, stack_)
            measure = _subscription(stack_, "loadtest-measure")
            env.update({**stack_.environment(), "BOOK_PUBSUB_SUBSCRIPTION": _subscription(stack_, "loadtest-daemon")})
        env["BOOK_BUCKET"] = bucket.url("").rstrip("/") if backend == "gcs" else bucket.root
        figures = BackendFigures(backend, books, books * len(files), upload_at_once(bucket, book_ids, files))
        say(f"[{backend}] uploaded {figures.objects} objects ({books} books) in {figures.upload_seconds:.1f} s")
        figures.ticks += time_listing_ticks(bucket, figures.objects, books, backend)
        if backend == "gcs":
            figures.ticks += time_pubsub_ticks(bucket, measure, figures.objects, books)
        if build:
            time.sleep(quiet)
            build_with_daemon(figures, bucket, book_ids, work / "home", env, timeout, say)
    return figures


def _emulated_bucket(stack: ExitStack, notify: NotificationStack) -> GCSBucket:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    stack.enter_context(environment(notify.environment()))
    storage.Client(project=notify.project, credentials=AnonymousCredentials()).create_bucket("loadtest-books")
    return GCSBucket(bucket="loadtest-books", timeout_seconds=30.0, retry_deadline_seconds=60.0)


def _subscription(notify: NotificationStack, name: str) -> str:
    from google.cloud import pubsub_v1

    path = f"projects/{notify.project}/subscriptions/{name}"
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(name=path, topic=notify.topic, ack_deadline_seconds=600)
    return path


def big_bucket_ticks(objects: int, books: int, work: Path) -> list[Tick]:
    """The listing sensor over a big local bucket (tiny files written straight to disk: set-up, not the test)."""
    root = work / "big-bucket"
    per_book = max(1, objects // books)
    for b in range(books):
        folder = root / "books" / f"big-{b:05d}" / "generated"
        folder.mkdir(parents=True)
        for o in range(per_book):
            (folder / f"v{o:04d}.png").write_bytes(b"x")
    return time_listing_ticks(LocalBucket(root=str(root)), per_book * books, books, "local, big")


@dataclass
class LoadReport:
    backends: list[BackendFigures]
    big: list[Tick]
    built: bool = True              # False: uploads and sensor ticks only (--no-build)

    @property
    def ok(self) -> bool:
        return not self.built or all(f.duplicates == 0 and f.published == f.books and not f.failed_runs
                   and all(f.materializations_per_book[b] == 1 for b in f.materializations_per_book)
                   for f in self.backends)


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, max {ordered[-1]:.1f} s"


def format_report(report: LoadReport) -> list[str]:
    lines = ["Queue: the repo's dagster.yaml (QueuedRunCoordinator; concurrency: 2 runs, 1 per book) drained by "
             "dagster-daemon; runs launched as subprocesses (DefaultRunLauncher)."]
    for f in report.backends:
        lines.append(f"[{f.backend}] {f.books} books, {f.objects} objects uploaded at once in {f.upload_seconds:.1f} s")
        for t in f.ticks:
            extra = f", {t.messages} notifications" if t.messages is not None else ""
            lines.append(f"[{f.backend}]   tick {t.sensor}: {t.seconds * 1000:.0f} ms over {t.objects} objects / "
                         f"{t.books} books{extra}, {t.requested} runs requested")
        if not report.built:
            continue
        lines.append(f"[{f.backend}] built {sum(1 for n in f.materializations_per_book.values() if n)}/{f.books} books "
                     f"in {f.wall_seconds / 60:.1f} min: {f.books_per_minute:.1f} books/min")
        lines.append(f"[{f.backend}] queue wait {_spread(f.queue_waits)}; run time {_spread(f.run_seconds)}")
        lines.append(f"[{f.backend}] published {f.published}/{f.books}; failed runs {f.failed_runs}; "
                     f"duplicates {f.duplicates}")
    for t in report.big:
        lines.append(f"[big] tick {t.sensor}: {t.seconds:.2f} s over {t.objects:,} objects in {t.books:,} books, "
                     f"{t.requested} runs requested")
    if not report.built:
        lines.append("Not built (--no-build): uploads and sensor ticks only.")
        return lines
    lines.append("OK: every book published exactly once." if report.ok else
                 "FAILED: a book was not published exactly once (see the lines above).")
    return lines


def run_loadtest(books: int = 200, backends: tuple[str, ...] = ("local", "gcs"), big_objects: int = 100_000,
                 big_books: int = 2000, quiet: float = 5.0, timeout: float = 7200.0, say=print,
                 build: bool = True) -> LoadReport:
    with tempfile.TemporaryDirectory(prefix="book-loadtest-") as scratch:
        work = Path(scratch)
        figures = []
        for backend in backends if books else ():
            (work / backend).mkdir()
            (work / backend / "home").mkdir()
            figures.append(run_backend(backend, books, quiet, timeout, work / backend, say, build))
        big = big_bucket_ticks(big_objects, big_books, work) if big_objects else []
    return LoadReport(figures, big, build)


def loadtest(books: int, backends: tuple[str, ...], big_objects: int, big_books: int, *, build: bool = True,
             out=None) -> int:
    out = out or sys.stdout
    report = run_loadtest(books, backends, big_objects, big_books,
                          say=lambda line: print(line, file=sys.stderr, flush=True), build=build)
    for line in format_report(report):
        print(line, file=out)
    return 0 if report.ok else 1
