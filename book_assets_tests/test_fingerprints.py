"""Fingerprints that mean "these contents": the same bytes never rebuild, any change (a revert too) does.

Both backends list content hashes without reading objects (GCS: md5; a local folder: its listing
index, which reads a file only when its size, mtime, inode or ctime changed — counted here).
"""
from __future__ import annotations

import os
import time

import dagster as dg
import pytest

from book_assets.core import listing_index
from book_assets.core.bucket_layout import book_prefix, contents_fingerprint
from book_assets.defs.resources import GCSBucket, LocalBucket, _listed_hash
from book_assets.defs.sensors import BOOK

from .test_sensor import requested, settled_sensor, tick

pytestmark = pytest.mark.integration


@pytest.fixture(params=["gcs_bucket", "bucket"])
def any_bucket(request):
    return request.getfixturevalue(request.param)


def upload_again(bucket, key: str, data: bytes) -> None:
    """Write ``data`` as a new object version even when the bytes are the ones already there (a person
    uploading the same file again); GCSBucket.write_bytes would skip unchanged bytes."""
    time.sleep(0.01)     # a later update time, as any real upload has
    if isinstance(bucket, GCSBucket):
        bucket.write_bytes_if_generation(key, data, bucket.generation(key))
    else:
        bucket.write_bytes(key, data)


def record_built(instance, book_id: str, fingerprint: str) -> None:
    """What a finished build leaves: a ``book`` materialization naming the contents it was made from."""
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=BOOK, partition=book_id, metadata={"source_fingerprint": fingerprint}))


def fingerprint_of(result: dg.SensorResult) -> str:
    [run] = result.run_requests
    return run.tags["book_assets/fingerprint"]


def test_a_revert_to_earlier_bytes_is_built_again(any_bucket, instance):
    key = "books/revert/drawings/max.png"
    any_bucket.write_bytes(key, b"version A")
    sensor = settled_sensor()
    first = tick(sensor, instance, any_bucket, None)
    record_built(instance, "revert", fingerprint_of(first))

    upload_again(any_bucket, key, b"version B")
    second = tick(sensor, instance, any_bucket, first.cursor)
    assert fingerprint_of(second) != fingerprint_of(first)
    record_built(instance, "revert", fingerprint_of(second))

    upload_again(any_bucket, key, b"version A")                  # A → B → A
    third = tick(sensor, instance, any_bucket, second.cursor)
    assert requested(third) == ["revert"]
    assert fingerprint_of(third) == fingerprint_of(first)        # the same contents, the same fingerprint …
    assert third.run_requests[0].run_key != first.run_requests[0].run_key   # … but a run key Dagster has not spent


def test_the_same_bytes_uploaded_again_are_not_built_again(any_bucket, instance):
    key = "books/same/drawings/max.png"
    any_bucket.write_bytes(key, b"the drawing")
    any_bucket.write_bytes("books/same/book.toml", b'title = "Same"\n')
    sensor = settled_sensor()
    first = tick(sensor, instance, any_bucket, None)
    record_built(instance, "same", fingerprint_of(first))
    generation_before = {o.key: o.generation for o in any_bucket.list_objects("books/same/")}

    upload_again(any_bucket, key, b"the drawing")
    assert {o.key: o.generation for o in any_bucket.list_objects("books/same/")}[key] != generation_before[key]
    again = tick(sensor, instance, any_bucket, first.cursor)
    assert requested(again) == [] and not again.asset_events     # up to date: not behind, nothing to build

    upload_again(any_bucket, key, b"the drawing, coloured in")   # and a real change still builds
    changed = tick(sensor, instance, any_bucket, again.cursor)
    assert requested(changed) == ["same"]


def test_sensor_and_inventory_agree_on_the_fingerprint(any_bucket, instance):
    any_bucket.write_bytes("books/agree/drawings/max.png", b"a drawing")
    any_bucket.write_bytes("books/agree/generated/max_01.png", b"a variation")
    result = tick(settled_sensor(), instance, any_bucket, None)
    listed = any_bucket.list_objects(book_prefix("agree"))
    assert fingerprint_of(result) == contents_fingerprint(listed, book_prefix("agree"))


@pytest.fixture
def counted_hashing(monkeypatch) -> list[str]:
    """Every file the listing index reads and hashes, by path."""
    read: list[str] = []
    real = listing_index.sha256_file

    def counting(path, size_hint=0):
        read.append(os.path.basename(path))
        return real(path, size_hint)

    monkeypatch.setattr(listing_index, "sha256_file", counting)
    return read


def test_the_local_listing_hashes_only_changed_files(bucket: LocalBucket, counted_hashing):
    for n in range(5):
        bucket.write_bytes(f"books/b/drawings/d{n}.png", f"drawing {n}".encode())
    first = bucket.list_objects("books/b/")
    assert len(counted_hashing) == 5 and all(o.content_hash.startswith("sha256:") for o in first)

    counted_hashing.clear()
    assert bucket.list_objects("books/b/") == first               # nothing changed: nothing read
    assert counted_hashing == []

    bucket.write_bytes("books/b/drawings/d1.png", b"drawing 1, redrawn")       # rewritten
    bucket.write_bytes("books/b/drawings/d5.png", b"a new drawing")            # added
    path = os.path.join(bucket.root, "books/b/drawings/d2.png")
    stat = os.stat(path)
    with open(path, "r+b") as handle:                                         # same size, mtime put back
        handle.write(b"DRAWING")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    listed = {o.key.rsplit("/", 1)[1]: o.content_hash for o in bucket.list_objects("books/b/")}
    assert sorted(counted_hashing) == ["d1.png", "d2.png", "d5.png"]
    assert listed["d2.png"] != next(o.content_hash for o in first if o.key.endswith("d2.png"))

    counted_hashing.clear()
    other = LocalBucket(root=bucket.root)          # another process listing the same bucket shares the index
    assert {o.key.rsplit("/", 1)[1]: o.content_hash for o in other.list_objects("books/b/")} == listed
    assert counted_hashing == []


def test_a_first_listing_hashes_each_file_once_small_ones_inline_large_ones_in_threads(bucket: LocalBucket,
                                                                                    counted_hashing):
    """Files past THREADED_FROM bytes are read in threads, the rest in the listing's own thread: each
    exactly once either way, with the digests hashlib gives for the whole file."""
    import hashlib

    contents = {f"v{n:03d}.png": f"variation {n}".encode() for n in range(100)}
    contents |= {f"big{n}.png": bytes([n]) * (listing_index.THREADED_FROM + 7 * n) for n in range(3)}
    for name, data in contents.items():
        bucket.write_bytes(f"books/b/generated/{name}", data)
    listed = bucket.list_objects("books/b/")
    assert sorted(counted_hashing) == sorted(contents)
    assert {o.key.rsplit("/", 1)[1]: o.content_hash for o in listed} == {
        name: "sha256:" + hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    counted_hashing.clear()
    assert bucket.list_objects("books/b/") == listed and counted_hashing == []


def test_a_whole_listing_forgets_deleted_files_and_a_partial_one_forgets_nothing(bucket: LocalBucket):
    for book in ("a", "b"):
        for n in range(3):
            bucket.write_bytes(f"books/{book}/drawings/d{n}.png", f"{book} {n}".encode())
    bucket.list_objects("books/")
    assert bucket.listing_index().rows() == 6
    bucket.delete("books/a/drawings/d1.png")
    bucket.delete("books/b/drawings/d2.png")
    listed = bucket.list_objects("books/b/")            # b listed whole: its deleted file is forgotten
    assert bucket.listing_index().rows() == 5 and [o.key for o in listed] == [
        "books/b/drawings/d0.png", "books/b/drawings/d1.png"]
    bucket.with_content_hashes(bucket.list_objects("books/a/", with_hash=False)[:1])     # a part: nothing forgotten
    assert bucket.listing_index().rows() == 5
    bucket.list_objects("books/")
    assert bucket.listing_index().rows() == 4


def test_gcs_lists_crc32c_for_composite_objects_which_have_no_md5():
    import base64

    assert _listed_hash(base64.b64encode(bytes.fromhex("00ff")).decode(), None) == "md5:00ff"
    assert _listed_hash(None, base64.b64encode(bytes.fromhex("deadbeef")).decode()) == "crc32c:deadbeef"
    assert _listed_hash(None, None) == ""
