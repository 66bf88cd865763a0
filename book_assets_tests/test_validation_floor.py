"""Validation at the work floor: decoding in worker processes, and JPEGs that need no change passed through."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from book_assets.core.imaging import ImageLimits, ImageRejected
from book_assets.core.stages import validation as stage
from book_assets.core.inventory import IMAGE_ROLES
from book_assets.core.stages.inventory import take_inventory
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
    judged = [stage.judge_upload(bucket, entry, ImageLimits()) for entry in inventory.of_role(*IMAGE_ROLES)]
    assert all(j.ok and j.decoded for j in judged) and len(judged) == 2
    assert sorted(decodes) == [("JPEG", (300, 300)), ("PNG", (1024, 1024))]
