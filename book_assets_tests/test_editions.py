"""A book is published as a set: editions, the current.json pointer, and status.json — on a local
folder and on the GCS emulator. Two runs of one book are simulated by building the upstream
assets twice (the second after a new upload) and running the book step of each in either order,
as two overlapping runs would end."""
from __future__ import annotations

import io
import json
import threading
import uuid
from dataclasses import dataclass

import dagster as dg
import pytest
from pypdf import PdfReader

from book_assets.core.contracts import Inventory, Layout, Pairing, Validation
from book_assets.core.editions import (
    POINTER_NAME, Switch, edition_id, pointer_key, prune_editions, read_current, status_key, write_unless_newer,
)
from book_assets.core.stages.publish import make_book, write_status
from book_assets.defs.jobs import BOOK_ASSETS

from .support import build, upload, with_extra_drawing

UPSTREAM = BOOK_ASSETS[:4]     # raw_images … page_layouts: everything the book step takes


@dataclass(frozen=True)
class Listing:
    """What one run's book step receives: the stage results of one listing of the book folder."""

    run_id: str
    inventory: Inventory
    validation: Validation
    pairing: Pairing
    layout: Layout

    def make_book(self, store):
        return make_book(self.inventory, self.validation, self.pairing, self.layout, store, run_id=self.run_id)


def _listing(bucket, instance, book_id: str) -> Listing:
    result = build(bucket, instance, book_id, assets=UPSTREAM)
    outputs = [result.output_for_node(a.key.to_user_string()) for a in UPSTREAM]
    return Listing(result.run_id, *outputs)


@pytest.fixture(params=["local", "gcs"])
def store(request):
    return request.getfixturevalue("bucket" if request.param == "local" else "gcs_bucket")


@pytest.fixture
def two_listings(store, instance, small_book_files):
    """An older and a newer listing of one book: the newer one has a drawing the older lacks."""
    upload(store, "b-set", small_book_files)
    older = _listing(store, instance, "b-set")
    upload(store, "b-set", with_extra_drawing(small_book_files, "newcomer.jpg", "dragon", 2600))
    newer = _listing(store, instance, "b-set")
    assert newer.inventory.listed_at > older.inventory.listed_at
    return store, older, newer


def _clear_published(store, book_id: str) -> None:
    for obj in store.list_objects(f"published/{book_id}/", with_hash=False):
        store.delete(obj.key)


def _assert_current_is_whole(store, listing: Listing) -> None:
    """current.json names ``listing``'s edition, and every file it names is there and of that edition."""
    current = read_current(store, "b-set")
    assert current is not None and current.run_id == listing.run_id
    assert current.source_fingerprint == listing.inventory.fingerprint
    report = json.loads(store.read_bytes(current.files["report.json"]))
    pdf = store.read_bytes(current.files["book.pdf"])
    assert report["metrics"]["pdf_bytes"] == len(pdf)               # the report describes this very PDF
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages == len([name for name in current.files if name.startswith("pages/")])
    assert all(store.exists(key) for key in current.files.values())
    has_newcomer = any("books/b-set/drawings/newcomer.jpg" in p["images"] for p in report["pages"])
    assert has_newcomer == any(e.key.endswith("newcomer.jpg") for e in listing.inventory.entries)
    status = json.loads(store.read_bytes(status_key("b-set")))
    assert status["published"] is True and status["edition"] == current.edition


@pytest.mark.integration
def test_overlapping_runs_end_with_the_newer_edition_current_in_both_orders(two_listings):
    store, older, newer = two_listings

    # the newer run finishes last: it replaces the older edition, which stays readable for the grace period
    first, second = older.make_book(store), newer.make_book(store)
    assert first.result.published and second.result.published
    _assert_current_is_whole(store, newer)
    assert store.exists(first.result.pdf)

    # the older run finishes last: it finds a newer edition current, leaves it, and removes its own files
    _clear_published(store, "b-set")
    second, first = newer.make_book(store), older.make_book(store)
    assert second.result.published
    assert not first.result.published and first.result.superseded_by == second.result.edition
    assert not store.list_objects(f"published/b-set/editions/{first.result.edition}/", with_hash=False)
    _assert_current_is_whole(store, newer)

    # a failure recorded for the older run (the run-status sensor's write) leaves the newer book current
    assert write_status(store, "b-set", older.run_id, published=False, problems=["book: it broke"],
                        sources_listed_at=older.inventory.listed_at) is Switch.NEWER_KEPT
    _assert_current_is_whole(store, newer)


class CrashesOnUpload:
    """The bucket, except that uploading ``name`` raises — a process dying while it uploads book.pdf."""

    def __init__(self, store, name: str):
        self._store, self._name, self.uploaded = store, name, []

    def write_bytes(self, key, data, **kwargs):
        self._upload(self._store.write_bytes, key, data, **kwargs)

    def write_file(self, key, path, **kwargs):      # the PDFs are uploaded from their files
        self._upload(self._store.write_file, key, path, **kwargs)

    def _upload(self, write, key, source, **kwargs):
        if key.endswith("/" + self._name):
            raise ConnectionResetError(f"simulated crash while uploading {key}")
        write(key, source, **kwargs)
        self.uploaded.append(key)

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.mark.integration
def test_a_crash_mid_publish_leaves_the_previous_edition_current_and_whole(two_listings):
    store, older, newer = two_listings
    older.make_book(store)
    crashing = CrashesOnUpload(store, "book.pdf")
    with pytest.raises(ConnectionResetError, match="book.pdf"):
        newer.make_book(crashing)
    edition_files_landed = [key for key in crashing.uploaded if key.startswith("published/")]   # not the work area's
    assert len(edition_files_landed) == len(newer.layout.layout.pages) + 3     # every other file of the edition landed
    _assert_current_is_whole(store, older)
    # the crashed run's partial edition is never current; a later publish prunes it after the grace period
    crashed = edition_id(newer.inventory.listed_at, newer.run_id)
    assert store.list_objects(f"published/b-set/editions/{crashed}/", with_hash=False)
    assert prune_editions(store, "b-set", grace_seconds=0) == [crashed]
    _assert_current_is_whole(store, older)


def test_the_pointer_switch_is_a_compare_and_swap_that_the_newest_listing_wins(store):
    """Eight threads switch one pointer at once, each with its own listing time; the newest stays,
    and a stale reader's write is refused rather than overwriting."""
    key = pointer_key("b-race")
    listed = [1000.0 + n for n in range(8)]
    outcomes: list[Switch] = []

    def switch(at: float) -> None:
        outcomes.append(write_unless_newer(store, key, {"sources_listed_at": at, "edition": f"e{at:.0f}"}))

    threads = [threading.Thread(target=switch, args=(at,)) for at in reversed(listed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert json.loads(store.read_bytes(key))["edition"] == "e1007"
    assert Switch.WRITTEN in outcomes and len(outcomes) == 8
    assert key.endswith(POINTER_NAME)

    from book_assets.core.store import PreconditionConflict

    _, seen = store.read_versioned(key)
    store.write_bytes_if_version(key, b'{"sources_listed_at": 2000}', seen)
    with pytest.raises(PreconditionConflict):
        store.write_bytes_if_version(key, b'{"sources_listed_at": 3000}', seen)     # stale version: refused
    assert json.loads(store.read_bytes(key))["sources_listed_at"] == 2000


def test_a_failed_run_never_marks_a_newer_good_edition_as_not_current(bucket):
    """The run-status sensor's path: a failed book run counts as listed when it was created, so a
    status from a later listing stays, and one from an earlier listing is marked not current."""
    from book_assets.defs.run_status import BUILD_JOB, record_run_not_published

    with dg.instance_for_test() as instance:
        run = instance.add_run(dg.DagsterRun(job_name=BUILD_JOB, run_id=str(uuid.uuid4()),
                                             tags={"dagster/partition": "b-fail"}))
        created = instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()

        write_status(bucket, "b-fail", "newer-run", published=True, problems=[], sources_listed_at=created + 5)
        assert "listed the book folder later" in record_run_not_published(instance, bucket, run, ["book: it broke"])
        status = json.loads(bucket.read_bytes(status_key("b-fail")))
        assert status["published"] is True and status["run_id"] == "newer-run"

        bucket.delete(status_key("b-fail"))
        write_status(bucket, "b-fail", "older-run", published=True, problems=[], sources_listed_at=created - 5)
        assert record_run_not_published(instance, bucket, run, ["book: it broke"]) is None
        status = json.loads(bucket.read_bytes(status_key("b-fail")))
        assert status["published"] is False and status["run_id"] == run.run_id
        assert status["problems"] == ["book: it broke"]
