"""Two live Dagster runs of one book that overlap, in both orders, on both backends — and what keeps
them apart where they can be kept apart.

Run A lists the book folder, a new drawing lands, run B lists it; then one of them finishes first.
Both are real ``dg.materialize`` runs of the five assets on one instance, each in its own thread;
the interleaving is fixed by a gate in each run's bucket (the run stops right after its
``raw_images`` manifest is stored — it has listed — until the test opens the gate), not by sleeps.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest

from book_assets.core.editions import read_current, status_key
from book_assets.defs.io_manager import manifest_key
from book_assets.defs.resources import LocalBucket
from book_assets.defs.sensors import PARTITION_TAG, build_books_sensor, latest_book_fingerprint, run_for_contents

from .support import build, upload, with_extra_drawing

pytestmark = pytest.mark.integration
BOOK_ID = "b-overlap"
GATE_TIMEOUT = 120      # a run never waits longer than this at its gate (a failing test ends, not hangs)


class Gate:
    """Where a run stops: ``listed`` is set once its raw_images manifest is stored; it goes on when ``go`` is set."""

    def __init__(self):
        self.listed, self.go = threading.Event(), threading.Event()


def gated(bucket, gate: Gate):
    """A copy of ``bucket`` (same class, same settings) whose run stops at ``gate`` after listing."""
    base = type(bucket)

    class GatedBucket(base):
        def write_bytes(self, key, data, **kwargs):
            super().write_bytes(key, data, **kwargs)
            if key.endswith("/raw_images.json") and "/manifests/" in key:
                gate.listed.set()
                assert gate.go.wait(GATE_TIMEOUT), "the test never let this run go on"

    settings = {name: getattr(bucket, name) for name in base.model_fields}
    return GatedBucket(**settings)


@pytest.fixture(params=["local", "gcs"])
def store(request):
    return request.getfixturevalue("bucket" if request.param == "local" else "gcs_bucket")


def _two_overlapping_runs(store, instance, files, *, newer_finishes_last: bool):
    """Run A lists, a drawing lands, run B lists; then they finish in the order asked. (A's result, B's result)."""
    upload(store, BOOK_ID, files)
    gate_a, gate_b = Gate(), Gate()
    with ThreadPoolExecutor(max_workers=2) as pool:
        run_a = pool.submit(build, gated(store, gate_a), instance, BOOK_ID)
        assert gate_a.listed.wait(GATE_TIMEOUT)
        upload(store, BOOK_ID, with_extra_drawing(files, "newcomer.jpg", "dragon", 2600))
        run_b = pool.submit(build, gated(store, gate_b), instance, BOOK_ID)
        assert gate_b.listed.wait(GATE_TIMEOUT)
        first, last = (gate_a, gate_b) if newer_finishes_last else (gate_b, gate_a)
        first_run = run_a if newer_finishes_last else run_b
        first.go.set()
        first_run.result(timeout=GATE_TIMEOUT)       # the first one has finished before the last goes on
        last.go.set()
        return run_a.result(timeout=GATE_TIMEOUT), run_b.result(timeout=GATE_TIMEOUT)


@pytest.mark.parametrize("newer_finishes_last", [True, False], ids=["newer-ends-last", "older-ends-last"])
def test_two_live_runs_of_one_book_leave_the_newest_listing_current(store, instance, small_book_files,
                                                                     newer_finishes_last):
    result_a, result_b = _two_overlapping_runs(store, instance, small_book_files,
                                               newer_finishes_last=newer_finishes_last)
    assert result_a.success and result_b.success
    inventory_a, inventory_b = result_a.output_for_node("raw_images"), result_b.output_for_node("raw_images")
    book_a, book_b = result_a.output_for_node("book"), result_b.output_for_node("book")
    assert inventory_b.listed_at > inventory_a.listed_at
    assert any(e.key.endswith("newcomer.jpg") for e in inventory_b.entries)
    assert not any(e.key.endswith("newcomer.jpg") for e in inventory_a.entries)

    # each run built its own listing: its stages came from its own manifests, never the other run's
    for result, inventory, book in ((result_a, inventory_a, book_a), (result_b, inventory_b, book_b)):
        assert book.source_fingerprint == inventory.fingerprint
        assert result.output_for_node("page_layouts").book_id == BOOK_ID
        assert store.exists(manifest_key(store, BOOK_ID, result.run_id, "page_layouts"))
        placed = {image.key for page in result.output_for_node("page_layouts").layout.pages for image in page.images}
        assert any(key.endswith("newcomer.jpg") for key in placed) == (inventory is inventory_b)

    # the newest listing's edition is current and whole, and status.json is B's and says published
    current = read_current(store, BOOK_ID)
    assert current is not None and current.run_id == result_b.run_id
    assert current.source_fingerprint == inventory_b.fingerprint
    report = json.loads(store.read_bytes(current.files["report.json"]))
    assert report["metrics"]["pdf_bytes"] == len(store.read_bytes(current.files["book.pdf"]))
    assert any("newcomer.jpg" in key for page in report["pages"] for key in page["images"])
    status = json.loads(store.read_bytes(status_key(BOOK_ID)))
    assert status["run_id"] == result_b.run_id and status["published"] is True
    assert status["edition"] == current.edition

    older_edition = f"published/{BOOK_ID}/editions/{book_a.edition}/"
    if newer_finishes_last:
        # A's edition was replaced: not current, kept readable for the grace period (core.editions)
        assert book_a.published and book_b.published and current.edition == book_b.edition
    else:
        # A found B's edition current, left it, and removed its own at once
        assert not book_a.published and book_a.superseded_by == book_b.edition
        assert not store.list_objects(older_edition, with_hash=False)

    # what the sensor reads: the newest book materialization says the newer contents are built, no run is live
    assert latest_book_fingerprint(instance, BOOK_ID) == inventory_b.fingerprint
    assert not run_for_contents(instance, BOOK_ID, inventory_b.fingerprint)
    newest_book = instance.get_latest_materialization_event(dg.AssetKey("book"))
    assert newest_book is not None and newest_book.run_id == (result_b if newer_finishes_last else result_a).run_id
    [current_check] = [e for e in (result_b if newer_finishes_last else result_a).get_asset_check_evaluations()
                       if e.check_name == "book_is_current"]
    assert current_check.passed     # whichever ended last, the UI says the book reflects its folder


def test_the_sensor_requests_carry_the_tag_the_one_run_per_book_limit_keys_on(bucket, instance, small_book_files):
    """dagster.yaml limits runs per value of dagster/partition; a run the sensor requests must carry it."""
    import yaml

    from book_assets.defs import jobs
    from book_assets.paths import INSTANCE_DEFAULTS

    upload(bucket, BOOK_ID, small_book_files)
    sensor = build_books_sensor(jobs.build_book_job, quiet_period_seconds=0)
    with dg.build_sensor_context(instance=instance, resources={"bucket": bucket}) as context:
        [request] = sensor(context).run_requests
    assert request.partition_key == BOOK_ID
    # the run made from the request carries dagster/partition=<book> (the tag the queue's limit counts);
    # the daemon adds the partition the tick asked for first
    instance.add_dynamic_partitions("books", [BOOK_ID])
    run = _build_book_job().execute_in_process(instance=instance, partition_key=request.partition_key,
                                               tags=request.tags, resources={"bucket": bucket})
    assert instance.get_run_by_id(run.run_id).tags[PARTITION_TAG] == BOOK_ID
    for instance_file in (INSTANCE_DEFAULTS, INSTANCE_DEFAULTS.parents[1] / "deploy" / "team" / "dagster.yaml"):
        limits = yaml.safe_load(instance_file.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
        assert {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def _definitions():
    from book_assets.definitions import book_definitions

    return book_definitions()


def _build_book_job():
    return _definitions().resolve_job_def("build_book")


BUILD_IN_A_PROCESS = """
import sys
from book_assets import cli
sys.exit(cli.build(sys.argv[1], sys.argv[2]))
"""


def test_a_second_book_assets_build_of_the_same_book_waits_for_the_first(tmp_path, small_book_files, monkeypatch):
    """Two ``book-assets build`` of one book on one machine: in-process runs skip the queue, so the
    second waits for the first at the book's lock in DAGSTER_HOME, then builds; a run of the book
    that is live in the instance (the queue's, another machine's) makes a build refuse (exit 4)."""
    from book_assets import cli

    home = tmp_path / "home"
    bucket = LocalBucket(root=str(tmp_path / "bucket"))
    upload(bucket, BOOK_ID, small_book_files)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    home.mkdir()
    lock_dir = home / ".book_locks"
    lock_dir.mkdir()
    with open(lock_dir / f"{BOOK_ID}.lock", "w") as held:       # the first build, holding the book's lock
        fcntl.flock(held, fcntl.LOCK_EX)
        second = subprocess.Popen([sys.executable, "-c", BUILD_IN_A_PROCESS, BOOK_ID, bucket.root], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        waiting = second.stdout.readline()
        assert "Another build of books/b-overlap/ is running on this machine; waiting" in waiting
        assert second.poll() is None                                 # it waits rather than building beside it
        assert not bucket.list_objects(f"published/{BOOK_ID}/", with_hash=False)
    out, _ = second.communicate(timeout=240)
    assert second.returncode == cli.EXIT_PUBLISHED, out

    # a live run of the book in the instance (queued by the daemon, or another machine's build): refused
    # and a build on this machine that was killed (SIGKILL) left its run STARTED: cleared, never blocking
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = gone.stdout.strip()
    with dg.DagsterInstance.get() as instance:
        live = instance.create_run_for_job(_build_book_job(), tags={PARTITION_TAG: BOOK_ID},
                                           status=dg.DagsterRunStatus.STARTED)
        orphan = instance.create_run_for_job(
            _build_book_job(), status=dg.DagsterRunStatus.STARTED,
            tags={PARTITION_TAG: BOOK_ID, **cli.build_process_tags(), cli.BUILD_PID_TAG: dead_pid})
    refused = subprocess.run([sys.executable, "-c", BUILD_IN_A_PROCESS, BOOK_ID, bucket.root], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == cli.EXIT_BUSY, refused.stdout + refused.stderr
    assert f"is being built by another run ({live.run_id} STARTED)" in refused.stdout
    assert f"run {orphan.run_id}) lost its process (pid {dead_pid}); it is marked canceled" in refused.stdout
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.CANCELED
        assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED   # another machine's: left


def test_old_runs_manifests_are_pruned_but_the_newest_of_each_stage_stays(bucket):
    """What a step run alone reads (the newest manifest of each stage) survives pruning, whatever its age."""
    import time

    from book_assets.defs.io_manager import MANIFEST_GRACE_SECONDS, newest_manifest_key, prune_manifests

    stages = ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")
    written = {"run-1": stages, "run-2": ("book",), "run-3": ("raw_images",)}
    for run_id, names in written.items():
        for name in names:
            bucket.write_bytes(manifest_key(bucket, BOOK_ID, run_id, name), b"{}")
    later = time.time() + MANIFEST_GRACE_SECONDS + 1
    assert prune_manifests(bucket, BOOK_ID, keep_run="run-9", now=time.time()) == 0     # nothing old yet
    assert prune_manifests(bucket, BOOK_ID, keep_run="run-9", now=later) == 2
    left = {o.key.split("/manifests/")[1] for o in bucket.list_objects("_book_assets/manifests/", with_hash=False)}
    assert left == {f"{BOOK_ID}/run-1/{name}.json" for name in stages[1:4]} | {
        f"{BOOK_ID}/run-2/book.json", f"{BOOK_ID}/run-3/raw_images.json"}
    assert newest_manifest_key(bucket, BOOK_ID, "raw_images").endswith("run-3/raw_images.json")


def test_only_the_newest_runs_manifests_are_kept_however_young(bucket):
    """A book rebuilt on every upload keeps MANIFEST_RUNS_KEPT runs' manifests, not a week of them; the
    running build's and the newest of each stage stay."""
    from book_assets.defs.io_manager import MANIFEST_RUNS_KEPT, newest_manifest_key, prune_manifests

    runs = [f"run-{i:02d}" for i in range(MANIFEST_RUNS_KEPT + 3)]
    for i, run_id in enumerate(runs):                  # written in order: run-00 oldest
        for name in ("validated_images", "book"):
            bucket.write_bytes(manifest_key(bucket, BOOK_ID, run_id, name), b"{}")
        if i == 0:
            bucket.write_bytes(manifest_key(bucket, BOOK_ID, run_id, "raw_images"), b"{}")   # newest of its stage
        time.sleep(0.01)
    assert prune_manifests(bucket, BOOK_ID, keep_run="run-01") == 2 * 2      # run-02 and run-03 go
    left = {o.key.split(f"/manifests/{BOOK_ID}/")[1].split("/")[0]
            for o in bucket.list_objects("_book_assets/manifests/", with_hash=False)}
    assert left == {"run-00", "run-01"} | set(runs[-MANIFEST_RUNS_KEPT:])
    oldest = manifest_key(bucket, BOOK_ID, "run-00", "raw_images")
    assert [o.key for o in bucket.list_objects(oldest.rsplit("/", 1)[0] + "/", with_hash=False)] == [oldest]
    assert newest_manifest_key(bucket, BOOK_ID, "book").endswith(f"{runs[-1]}/book.json")
