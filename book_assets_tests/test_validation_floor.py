"""Validation at the work floor: decoding in worker processes, and JPEGs that need no change passed through."""
from __future__ import annotations

import contextlib
import io
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image, ImageFile

from book_assets.core.imaging import ImageLimits, ImageRejected
from book_assets.core.stages import validation as stage
from book_assets.core.inventory import IMAGE_ROLES
from book_assets.core.stages.inventory import take_inventory
from book_assets.core.store import IO_THREADS_PER_WORKER
from book_assets.defs.resources import LocalBucket
from book_assets_dev.samples import draw_subject

GPS_IFD = 0x8825


def _jpeg(size: int = 1200, **save) -> bytes:
    buffer = io.BytesIO()
    draw_subject("dragon", size).save(buffer, "JPEG", quality=88, **save)
    return buffer.getvalue()


def _phone_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = orientation
    exif.get_ifd(GPS_IFD)[2] = (51.0, 30.0, 0.0)           # a latitude: where the child lives
    return exif.tobytes()


def _scan(data: bytes) -> bytes:
    """The entropy-coded picture data from the first start-of-scan marker on."""
    return data[data.index(b"\xff\xda"):]


def _validated(bucket, files: dict[str, bytes]):
    for name, data in files.items():
        bucket.write_bytes(f"books/b/drawings/{name}", data)
    inventory = take_inventory("b", bucket.list_objects("books/b/"))
    return {i.key.rsplit("/", 1)[1]: i for i in stage.validate_book(inventory, bucket, workers=2).images}


def test_a_jpeg_that_needs_no_change_passes_through_without_its_metadata(bucket):
    upright = _jpeg(exif=_phone_exif())
    judged = _validated(bucket, {"photo.jpg": upright, "other.jpg": _jpeg(900)})["photo.jpg"]
    assert judged.ok and (judged.print_width, judged.print_height) == (1200, 1200)
    copy = bucket.read_bytes(judged.print_copy)
    assert _scan(copy) == _scan(upright)                     # the picture data byte for byte: nothing re-encoded
    assert b"PhoneMaker" not in copy and b"Exif" not in copy  # camera and GPS details stay out of the book
    with Image.open(io.BytesIO(copy)) as printed:
        assert printed.size == (1200, 1200) and not printed.getexif()


@pytest.mark.parametrize("kind", ["turned", "progressive", "cmyk", "larger than the print cap"])
def test_jpegs_that_need_a_change_are_decoded_and_encoded_once(bucket, kind):
    if kind == "turned":
        data = _jpeg(exif=_phone_exif(orientation=6))
    elif kind == "progressive":
        data = _jpeg(progressive=True)
    elif kind == "cmyk":
        buffer = io.BytesIO()
        draw_subject("cat", 900).convert("CMYK").save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
    else:
        data = _jpeg(ImageLimits().print_max_side + 200)
    judged = _validated(bucket, {"in.jpg": data, "other.jpg": _jpeg(900)})["in.jpg"]
    copy = bucket.read_bytes(judged.print_copy)
    assert judged.ok and _scan(copy) != _scan(data)
    with Image.open(io.BytesIO(copy)) as printed:
        assert printed.mode == "RGB" and not printed.info.get("progressive")
        assert max(printed.size) <= ImageLimits().print_max_side


def test_a_rejection_crosses_back_from_the_worker_process_with_its_code(tmp_path):
    cut, whole = tmp_path / "cut.jpg", tmp_path / "whole.jpg"
    data = _jpeg()
    cut.write_bytes(data[: len(data) // 2])
    whole.write_bytes(_jpeg(900))
    pool = stage.AnalysisPool(2)
    try:
        with pytest.raises(ImageRejected) as rejected:
            pool(cut, ImageLimits())
        assert rejected.value.code == "truncated" and "cut short" in rejected.value.message
        assert pool(whole, ImageLimits()).features.width == 900
    finally:
        pool.close()


def test_each_upload_is_decoded_once_a_png_in_full_a_jpeg_reduced(bucket, monkeypatch):
    """Counted decodes (Pillow's load with pixel data still to read): one per file, and the drawing
    that passes through is decoded only at its reduced (draft) size."""
    decodes: list[tuple[str, tuple[int, int]]] = []
    original_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:
            decodes.append((self.format, self.size))
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    buffer = io.BytesIO()
    draw_subject("cat", 1024).save(buffer, "PNG")
    bucket.write_bytes("books/b/generated/variation.png", buffer.getvalue())
    bucket.write_bytes("books/b/drawings/photo.jpg", _jpeg(2400))
    inventory = take_inventory("b", bucket.list_objects("books/b/"))
    judged = [stage.judge_afresh(bucket, entry, ImageLimits()) for entry in inventory.of_role(*IMAGE_ROLES)]
    assert all(j.ok and j.decoded for j in judged) and len(judged) == 2
    assert sorted(decodes) == [("JPEG", (300, 300)), ("PNG", (1024, 1024))]


def test_a_worker_hands_its_print_copy_back_as_a_file_removed_once_stored(bucket, tmp_path, monkeypatch):
    """Print copies cross back from the decoding processes as files (not through the result pipe); each
    is removed once written to the bucket, and the pool's spool folder goes when the pool closes."""
    spool_parent = tmp_path / "tmp"
    spool_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_parent))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(_jpeg(exif=_phone_exif(orientation=6)))       # turned: decoded and encoded again
    pool = stage.AnalysisPool(2)
    try:
        analysed = pool(photo, ImageLimits())
        assert analysed.print_jpeg is None and analysed.print_size == Path(analysed.print_file).stat().st_size
        with Image.open(analysed.print_file) as copy:
            assert copy.size == (1200, 1200) and copy.format == "JPEG"
        assert Path(analysed.print_file).parent.parent == spool_parent
    finally:
        pool.close()
    assert list(spool_parent.iterdir()) == []

    judged = _validated(bucket, {"a.jpg": _jpeg(exif=_phone_exif(orientation=6)), "b.jpg": _jpeg(900, progressive=True)})
    assert all(j.ok for j in judged.values()) and list(spool_parent.iterdir()) == []
    for j in judged.values():
        copy = bucket.read_bytes(j.print_copy)
        assert len(copy) == json.loads(bucket.read_bytes(j.print_copy.removesuffix(".jpg") + ".json"))["print_bytes"]


class _SlowLocalBucket(LocalBucket):
    """A local bucket whose downloads take a GCS-like round trip, counting how many are held at once."""

    io_threads_per_worker: ClassVar[int] = IO_THREADS_PER_WORKER     # as a remote bucket's

    def __init__(self, **fields):
        super().__init__(**fields)
        self._counter = {"now": 0, "most": 0, "lock": threading.Lock()}

    @contextlib.contextmanager
    def local_path(self, key):
        counter = self._counter
        with counter["lock"]:
            counter["now"] += 1
            counter["most"] = max(counter["most"], counter["now"])
        try:
            time.sleep(0.05)
            with super().local_path(key) as path:
                yield path
        finally:
            with counter["lock"]:
                counter["now"] -= 1


def test_bucket_waits_overlap_beyond_the_decoding_processes(tmp_path):
    """Counted, not timed: with slow bucket calls, more files are in flight than there are decoding
    processes (IO_THREADS_PER_WORKER each), so on GCS the decoders are not left waiting on the network."""
    bucket = _SlowLocalBucket(root=str(tmp_path / "bucket"))
    for n in range(24):
        bucket.write_bytes(f"books/b/drawings/{n:02d}.jpg", _jpeg(300 + n))
    inventory = take_inventory("b", bucket.list_objects("books/b/"))
    judged = stage.validate_book(inventory, bucket, workers=2).images
    assert len(judged) == 24 and all(j.ok for j in judged)
    assert bucket._counter["most"] > 2 * 2          # more than the two threads per process of before


@pytest.mark.parametrize("lookup_threads", [1, 4])
def test_a_rebuild_judges_every_cached_image_from_the_cache_in_the_store_s_lookup_threads(
        bucket, monkeypatch, lookup_threads):
    """The cache is asked first for every image — in the calling thread for a local folder, in the
    store's ``lookup_threads`` for a remote one — and only what it does not know is analysed: a second
    validation of the same book decodes nothing and starts no worker process."""
    files = {"a.jpg": _jpeg(700), "b.jpg": _jpeg(800), "c.jpg": _jpeg(900)}
    assert all(j.decoded and not j.cache_hit for j in _validated(bucket, files).values())
    monkeypatch.setattr(type(bucket), "lookup_threads", lookup_threads)
    threads, started = set(), []
    real_lookup = stage.cached_judgement

    def lookup(*args):
        threads.add(threading.get_ident())
        return real_lookup(*args)

    monkeypatch.setattr(stage, "cached_judgement", lookup)
    monkeypatch.setattr(stage.AnalysisPool, "__call__", lambda *args: started.append(args))
    again = _validated(bucket, files)
    assert all(j.cache_hit and not j.decoded for j in again.values()) and len(again) == 3 and not started
    assert (threads == {threading.get_ident()}) is (lookup_threads == 1)
