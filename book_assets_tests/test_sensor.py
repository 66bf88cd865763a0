"""books_sensor, evaluated for real against the emulated GCS bucket and the local bucket."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from pypdf import PdfReader

from book_assets.defs.jobs import BOOK_ASSETS
from book_assets.defs.jobs import MAX_RUNTIME_SECONDS, build_book_job
from book_assets.definitions import book_definitions
from book_assets.defs.resources import GCSBucket, LocalBucket, book_resources
from book_assets.defs.partitions import books_partitions
from book_assets.core.change_detection import Cursor
from book_assets.defs.sensors import build_books_sensor
from book_assets_dev.gcs_emulator import REQUEST_LOG, free_port

from .support import published, upload

pytestmark = pytest.mark.integration

BACKENDS = ["gcs_bucket", "bucket"]       # emulated Cloud Storage, local folder


def settled_sensor(**kwargs) -> dg.SensorDefinition:
    return build_books_sensor(build_book_job, quiet_period_seconds=kwargs.pop("quiet_period_seconds", 0), **kwargs)


def tick(sensor, instance, bucket, cursor: str | None) -> dg.SensorResult:
    """One evaluation, then apply its partition requests to the instance as the sensor daemon does."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"bucket": bucket}) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def requested(result: dg.SensorResult) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


@pytest.fixture(params=BACKENDS)
def any_bucket(request):
    return request.getfixturevalue(request.param)


def test_defined_sensor_is_registered_stopped_by_default():
    sensor = book_definitions().resolve_sensor_def("books_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "build_book" and sensor.minimum_interval_seconds == 30


def test_upload_tick_build_publishes_into_the_emulated_bucket(gcs_bucket, instance, small_book_files):
    """Upload a book → one tick → partition + one run → the run publishes the PDF and report in GCS."""
    started = time.perf_counter()
    upload(gcs_bucket, "max-gcs", small_book_files)
    result = tick(settled_sensor(), instance, gcs_bucket, None)

    [added] = result.dynamic_partitions_requests
    assert list(added.partition_keys) == ["max-gcs"]
    [run] = result.run_requests
    digest = run.tags["book_assets/fingerprint"]
    assert run.partition_key == "max-gcs" and run.run_key.startswith(f"max-gcs:{digest}:")
    assert run.tags["dagster/max_runtime"] == str(MAX_RUNTIME_SECONDS)

    job = dg.Definitions(assets=BOOK_ASSETS, jobs=[build_book_job], resources=book_resources(gcs_bucket),
                         executor=dg.in_process_executor).resolve_job_def("build_book")
    outcome = job.execute_in_process(instance=instance, partition_key=run.partition_key, tags=run.tags)
    assert outcome.success
    elapsed = time.perf_counter() - started
    print(f"\nupload → tick → published PDF on the emulated bucket: {elapsed:.1f} s")

    pdf = gcs_bucket.read_bytes(published(gcs_bucket, "max-gcs", "book.pdf"))
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 4
    report = json.loads(gcs_bucket.read_bytes(published(gcs_bucket, "max-gcs", "report.json")))
    assert report["book_id"] == "max-gcs" and report["rejected"] == []
    assert gcs_bucket.list_objects("_book_assets/")                  # the cache lives in the same bucket

    # The run wrote published/ and _book_assets/: none of it triggers the sensor.
    again = tick(settled_sensor(), instance, gcs_bucket, result.cursor)
    assert requested(again) == [] and not again.dynamic_partitions_requests


def test_second_tick_without_changes_requests_nothing(any_bucket, instance, small_book_files):
    upload(any_bucket, "quiet-book", small_book_files)
    first = tick(settled_sensor(), instance, any_bucket, None)
    assert requested(first) == ["quiet-book"]
    second = tick(settled_sensor(), instance, any_bucket, first.cursor)
    assert requested(second) == [] and "no other book changed" in second.skip_reason.skip_message
    assert Cursor.decode(second.cursor).watermark == Cursor.decode(first.cursor).watermark


def test_rewriting_one_object_requests_exactly_that_book(any_bucket, instance, small_book_files):
    upload(any_bucket, "book-a", small_book_files)
    upload(any_bucket, "book-b", small_book_files)
    first = tick(settled_sensor(), instance, any_bucket, None)
    assert sorted(requested(first)) == ["book-a", "book-b"]
    time.sleep(0.01)   # a later update time than the first upload, as any real rewrite has
    any_bucket.write_bytes("books/book-b/book.toml", b'title = "Book B, second edition"\n')
    second = tick(settled_sensor(), instance, any_bucket, first.cursor)
    [run] = second.run_requests
    assert run.partition_key == "book-b"
    assert run.run_key != next(r.run_key for r in first.run_requests if r.partition_key == "book-b")
    assert not second.dynamic_partitions_requests                   # book-b is already a partition


def test_book_inside_its_quiet_period_waits(any_bucket, instance, small_book_files):
    upload(any_bucket, "uploading", small_book_files)
    waiting = tick(settled_sensor(quiet_period_seconds=3600), instance, any_bucket, None)
    assert requested(waiting) == []
    assert "uploading" in waiting.skip_reason.skip_message and "settling" in waiting.skip_reason.skip_message
    assert instance.has_dynamic_partition(books_partitions.name, "uploading")   # visible, not built
    assert Cursor.decode(waiting.cursor).watermark == Cursor().watermark        # its changes stay ahead
    later = tick(settled_sensor(quiet_period_seconds=0), instance, any_bucket, waiting.cursor)
    assert requested(later) == ["uploading"]


def test_a_slow_upload_does_not_make_other_books_build_twice(gcs_bucket, instance, small_book_files):
    """A book still uploading holds the watermark back; books finished after it started are built once."""
    files = sorted(small_book_files.items())
    upload(gcs_bucket, "slow", dict(files[:1]))                    # the slow upload starts first …
    time.sleep(0.05)
    upload(gcs_bucket, "fast", small_book_files)                   # … another book arrives complete …
    fast_done = max(o.updated for o in gcs_bucket.list_objects("books/fast/"))
    time.sleep(3.0)                                                # room for two ticks on a busy machine
    upload(gcs_bucket, "slow", dict(files[1:]))                    # … and the slow one is still going
    quiet = time.time() - fast_done - 0.5                          # "fast" has settled, "slow" has not
    sensor = settled_sensor(quiet_period_seconds=quiet)
    first = tick(sensor, instance, gcs_bucket, None)
    assert requested(first) == ["fast"]
    assert Cursor.decode(first.cursor).requested == {"fast": first.run_requests[0].tags["book_assets/fingerprint"]}
    second = tick(sensor, instance, gcs_bucket, first.cursor)
    assert requested(second) == [] and "slow" in second.skip_reason.skip_message
    third = tick(settled_sensor(), instance, gcs_bucket, second.cursor)
    assert requested(third) == ["slow"]
    assert Cursor.decode(third.cursor).requested == {}              # the watermark passed both books


def test_deleting_the_cursor_object_replays_nothing(any_bucket, instance, small_book_files):
    upload(any_bucket, "book-a", small_book_files)
    upload(any_bucket, "book-b", small_book_files)
    first = tick(settled_sensor(), instance, any_bucket, None)
    at = Cursor.decode(first.cursor).watermark[1]
    if at.endswith("/"):     # locally the newest change can be a folder's time: take its newest object
        at = max((o.updated, o.key) for o in any_bucket.list_objects(at, with_hash=False))[1]
    assert at.startswith("books/") and not at.endswith("/")
    _delete(any_bucket, at)
    second = tick(settled_sensor(), instance, any_bucket, first.cursor)
    deleted_from = at.split("/")[1]
    # GCS shows no trace of a deletion; a local folder's time does, and rebuilds that book alone.
    assert requested(second) == ([] if isinstance(any_bucket, GCSBucket) else [deleted_from])
    time.sleep(0.01)
    any_bucket.write_bytes("books/book-a/pairs.csv", b"generated,drawing\n")
    third = tick(settled_sensor(), instance, any_bucket, second.cursor)
    assert requested(third) == ["book-a"]


def test_a_local_copy_that_keeps_old_mtimes_is_still_new(bucket, instance, small_book_files):
    """`cp -p`, rsync and file managers keep a file's mtime; the book still arrived after the watermark."""
    upload(bucket, "book-a", small_book_files)
    first = tick(settled_sensor(), instance, bucket, None)
    upload(bucket, "copied", small_book_files)
    for path in Path(bucket.root, "books", "copied").rglob("*"):
        if path.is_file():
            os.utime(path, (978307200, 978307200))              # 2001-01-01, long before the watermark
    second = tick(settled_sensor(), instance, bucket, first.cursor)
    assert requested(second) == ["copied"]


def test_a_file_dated_in_the_future_does_not_hold_its_book_back(bucket, instance, small_book_files):
    """A zip from a device with a wrong clock: its mtimes lie in 2100. The book is built after the
    ordinary quiet period, and books changed later are not held behind it."""
    upload(bucket, "future", small_book_files)
    for path in Path(bucket.root, "books", "future").rglob("*"):
        if path.is_file():
            os.utime(path, (4102444800, 4102444800))            # 2100-01-01
    time.sleep(0.05)
    first = tick(settled_sensor(quiet_period_seconds=0.01), instance, bucket, None)
    assert requested(first) == ["future"]
    upload(bucket, "later", small_book_files)
    time.sleep(0.05)
    second = tick(settled_sensor(quiet_period_seconds=0.01), instance, bucket, first.cursor)
    assert requested(second) == ["later"]
    assert "future" not in Cursor.decode(second.cursor).requested


def test_a_local_folder_moved_in_with_old_times_is_new(bucket, instance, small_book_files, tmp_path):
    """`mv` within one disk keeps every file's mtime and ctime; the moved folder's own ctime changes."""
    outside = LocalBucket(root=str(tmp_path / "elsewhere"))
    upload(outside, "moved", small_book_files)                 # prepared before the watermark …
    upload(bucket, "book-a", small_book_files)
    first = tick(settled_sensor(), instance, bucket, None)
    assert max(o.updated for o in outside.list_objects("books/")) < Cursor.decode(first.cursor).watermark[0]
    time.sleep(0.01)
    Path(outside.root, "books", "moved").rename(Path(bucket.root, "books", "moved"))   # … moved in after it
    second = tick(settled_sensor(), instance, bucket, first.cursor)
    assert requested(second) == ["moved"]
    Path(bucket.root, "books", "moved", "drawings", "max.jpg").unlink()   # a deletion shows locally
    third = tick(settled_sensor(), instance, bucket, second.cursor)
    assert requested(third) == ["moved"]
    assert third.run_requests[0].run_key != second.run_requests[0].run_key


def test_bad_folder_names_are_reported_not_fatal(any_bucket, instance, small_book_files):
    any_bucket.write_bytes("books/My Book/drawings/a.png", b"x")
    any_bucket.write_bytes("books/notes.txt", b"x")
    result = tick(settled_sensor(), instance, any_bucket, None)
    assert requested(result) == [] and not result.dynamic_partitions_requests
    message = result.skip_reason.skip_message
    assert "books/My Book/" in message and "lowercase letters" in message and "books/notes.txt" in message
    upload(any_bucket, "good-book", small_book_files)
    result = tick(settled_sensor(), instance, any_bucket, result.cursor)
    assert requested(result) == ["good-book"]


def test_unreadable_cursor_restarts_without_crashing(bucket, instance, small_book_files):
    upload(bucket, "book-a", small_book_files)
    result = tick(settled_sensor(), instance, bucket, "not json {")
    assert requested(result) == ["book-a"]


def test_a_large_bucket_is_listed_across_pages_with_bounded_work(gcs_emulator, unhedged_gcs_bucket, instance):
    gcs_bucket = unhedged_gcs_bucket
    books, files_per_book = 120, 25                         # 3000 objects: three listing pages
    gcs_emulator.seed(gcs_bucket.bucket, {
        f"books/book-{b:03d}/generated/v{i:02d}.png": f"{b}-{i}".encode()
        for b in range(books) for i in range(files_per_book)})
    sensor = settled_sensor(max_books_per_tick=25)
    REQUEST_LOG.clear()
    started = time.perf_counter()
    first = tick(sensor, instance, gcs_bucket, None)
    seconds = time.perf_counter() - started
    print(f"\nsensor tick over {books * files_per_book} objects ({books} books): {seconds * 1000:.0f} ms")
    listed = [q for method, path, q in REQUEST_LOG if method == "GET" and path.endswith(f"/b/{gcs_bucket.bucket}/o")]
    # three pages of the books' listing (a page the client retried on a loaded host is still one page)
    pages = {(q.get("prefix", [""])[0], q.get("pageToken", [""])[0]) for q in listed}
    assert len(pages) == 3 and {prefix for prefix, _ in pages} == {"books/"}
    assert len(first.run_requests) == 25                     # bounded: the rest wait for the next ticks
    assert len(first.dynamic_partitions_requests[0].partition_keys) == books

    seen, cursor, ticks = set(requested(first)), first.cursor, 1
    while len(seen) < books:
        result = tick(sensor, instance, gcs_bucket, cursor)
        batch = requested(result)
        assert batch and len(batch) <= 25 and not seen & set(batch)   # progress, no book twice
        seen |= set(batch)
        cursor, ticks = result.cursor, ticks + 1
    assert ticks == 5 and requested(tick(sensor, instance, gcs_bucket, cursor)) == []


def _delete(bucket, key: str) -> None:
    if hasattr(bucket, "root"):
        Path(bucket.root, key).unlink()
    else:
        bucket._bucket().blob(key).delete()


def test_make_dev_gcs_builds_the_sample_book(tmp_path, monkeypatch):
    """`make dev-gcs`: emulator + sample book + `dagster dev` with the sensor on → a published book; Ctrl-C stops all."""
    project = Path(__file__).resolve().parent.parent
    gcs_port, ui_port = free_port(), free_port()
    log_path = tmp_path / "dev-gcs.log"
    env = {k: v for k, v in os.environ.items() if k not in ("STORAGE_EMULATOR_HOST", "BOOK_BUCKET", "DAGSTER_HOME")}
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "dev-gcs", f"GCS_PORT={gcs_port}",
             f"DEV_PORT={ui_port}", f"GCS_HOME={tmp_path / 'home'}", "DEV_GCS_QUIET_SECONDS=0"],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{gcs_port}")
        bucket = GCSBucket(bucket="picture-books", timeout_seconds=5, retry_deadline_seconds=5)
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            with contextlib.suppress(Exception):
                if bucket.exists("published/max-and-friends/current.json"):
                    break
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(2)
        print(f"\nmake dev-gcs → published sample book: {time.perf_counter() - started:.0f} s")
        report = json.loads(bucket.read_bytes(published(bucket, "max-and-friends", "report.json")))
        assert report["book_id"] == "max-and-friends"
        assert "books_sensor" in log_path.read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)                      # what Ctrl-C in the terminal sends
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    with socket.socket() as probe:                                  # the emulator went down with it
        assert probe.connect_ex(("127.0.0.1", gcs_port)) != 0


def test_book_is_current_flips_when_an_upload_changes_and_back_after_the_rebuild(bucket, instance, small_book_files):
    """Built from the UI (no run key): the sensor does not build the same contents again. An upload
    turns book_is_current red for that book at the next tick; the rebuild turns it green."""
    from .support import build, check_results

    upload(bucket, "fresh", small_book_files)
    first = build(bucket, instance, "fresh")                 # as the UI's Materialize would: no run key
    assert first.success and check_results(first)["book_is_current"].passed
    sensor = settled_sensor()
    quiet = tick(sensor, instance, bucket, None)
    assert requested(quiet) == [] and not quiet.asset_events         # already built from these contents

    bucket.write_bytes("books/fresh/generated/max_09.png", small_book_files["generated/max_02.png"])
    changed = tick(sensor, instance, bucket, quiet.cursor)
    assert requested(changed) == ["fresh"]
    [behind] = changed.asset_events
    assert isinstance(behind, dg.AssetCheckEvaluation) and behind.check_name == "book_is_current"
    assert behind.partition == "fresh" and not behind.passed and behind.severity == dg.AssetCheckSeverity.WARN
    assert behind.metadata["folder_now"].value == changed.run_requests[0].tags["book_assets/fingerprint"]

    rebuilt = build(bucket, instance, "fresh")
    current = check_results(rebuilt)["book_is_current"]
    assert current.passed and current.metadata["published_from"].value == behind.metadata["folder_now"].value
    after = tick(sensor, instance, bucket, changed.cursor)
    assert requested(after) == [] and not after.asset_events


def test_newest_fingerprints_of_many_books_come_from_few_queries_and_match_one_by_one(monkeypatch):
    """Paged newest first, a few books a query: each book's newest materialization decides, as asked one by one."""
    from book_assets.defs import sensors

    monkeypatch.setattr(sensors, "FINGERPRINT_QUERY_BOOKS", 2)     # several queries, several pages each
    monkeypatch.setattr(sensors, "FINGERPRINT_QUERY_ROWS", 1)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("books", ["a", "b", "c", "d"])
        for book_id, fingerprint in [("a", "f1"), ("b", "f3"), ("a", "f2"), ("d", "f4"), ("b", "f5"), ("d", "f6")]:
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key="book", partition=book_id, metadata={"source_fingerprint": fingerprint}))
        queries = []
        real = instance.fetch_materializations
        monkeypatch.setattr(instance, "fetch_materializations", lambda *a, **kw: queries.append(1) or real(*a, **kw))
        newest = sensors.latest_book_fingerprints(instance, ["a", "b", "c", "d"])
        assert newest == {"a": "f2", "b": "f5", "c": None, "d": "f6"}
        assert newest == {b: sensors.latest_book_fingerprint(instance, b) for b in "abcd"}
        assert len(queries) < 10
