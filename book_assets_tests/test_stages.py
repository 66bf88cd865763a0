"""The stage functions without Dagster: the validation cache protocol, the profile and drawing-order
choices, the preview's page warnings and the report — each called directly on a real local bucket."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from book_assets.core.contracts import Layout, Pairing, TextSource
from book_assets.core.imaging import ImageLimits
from book_assets.core.layout import BookLayout, Page, PlacedImage, PlacedText
from book_assets.core.pairing import Pair, PairStatus
from book_assets.core.problems import Problem
from book_assets.core.profiles import DEFAULT_PROFILE, PROFILES
from book_assets.core.stages import validation as stage
from book_assets.core.stages.inventory import take_inventory
from book_assets.core.stages.layout import choose_profile, order_drawings
from book_assets.core.stages.publish import page_warnings
from book_assets.core.story import BookConfig
from book_assets_dev.samples import draw_subject


def _png(subject: str = "monster") -> bytes:
    buffer = io.BytesIO()
    draw_subject(subject, 900).save(buffer, "PNG")
    return buffer.getvalue()


def _inventory(bucket, files: dict[str, bytes], book_id: str = "b"):
    for relative, data in files.items():
        bucket.write_bytes(f"books/{book_id}/{relative}", data)
    return take_inventory(book_id, bucket.list_objects(f"books/{book_id}/"))


def test_validation_decodes_each_content_once_then_reads_the_cache(bucket):
    inventory = _inventory(bucket, {"drawings/max.png": _png(), "generated/max_1.png": _png("rocket")})
    first = stage.validate_book(inventory, bucket)
    assert [(i.decoded, i.cache_hit) for i in first.images] == [(True, False), (True, False)]
    cached = [o.key for o in bucket.list_objects("_book_assets/cache/")]
    assert len([k for k in cached if k.endswith(".json")]) == 2 and len([k for k in cached if k.endswith(".jpg")]) == 2
    second = stage.validate_book(inventory, bucket)
    assert [(i.decoded, i.cache_hit) for i in second.images] == [(False, True), (False, True)]
    assert [i.features for i in second.images] == [i.features for i in first.images]
    assert [i.print_copy for i in second.images] == [i.print_copy for i in first.images]


@pytest.mark.parametrize("damage", ["print copy cut short", "print copy emptied", "print copy gone",
                                    "verdict cut short", "verdict emptied"])
def test_a_cache_entry_a_crash_left_unwhole_is_made_again_not_used(bucket, damage):
    """Cache entries are written without a flush to disk, so a crash of the machine may leave either
    file short or empty: such an entry is made again (counted: that one image decoded), never used."""
    inventory = _inventory(bucket, {"drawings/max.png": _png(), "generated/max_1.png": _png("rocket")})
    first = stage.validate_book(inventory, bucket).images
    stem = first[0].print_copy.removesuffix(".jpg")
    whole_copy, whole_verdict = bucket.read_bytes(stem + ".jpg"), bucket.read_bytes(stem + ".json")
    assert json.loads(whole_verdict)["print_bytes"] == len(whole_copy)
    path = Path(bucket.url(stem + (".jpg" if damage.startswith("print") else ".json")))
    if damage.endswith("gone"):
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2 if "short" in damage else 0])
    second = stage.validate_book(inventory, bucket).images
    assert [(i.decoded, i.cache_hit) for i in second] == [(True, False), (False, True)]
    assert second[0].ok and second[0].features == first[0].features
    assert bucket.read_bytes(stem + ".jpg") == whole_copy and bucket.read_bytes(stem + ".json") == whole_verdict
    with Image.open(io.BytesIO(bucket.read_bytes(second[0].print_copy))) as copy:
        copy.load()                                       # the print copy the book will read is whole again


def test_an_entry_from_before_sizes_were_recorded_is_used(bucket):
    """Entries written by the earlier version (flushed to disk, no recorded size) stay valid: no re-decode."""
    inventory = _inventory(bucket, {"drawings/max.png": _png()})
    [first] = stage.validate_book(inventory, bucket).images
    stem = first.print_copy.removesuffix(".jpg")
    verdict = json.loads(bucket.read_bytes(stem + ".json"))
    del verdict["print_bytes"]
    bucket.write_bytes(stem + ".json", json.dumps(verdict).encode())
    [again] = stage.validate_book(inventory, bucket).images
    assert (again.decoded, again.cache_hit) == (False, True) and again.features == first.features


def test_cache_entries_change_with_the_limits_and_the_features_version(bucket):
    a = stage.cache_stem(bucket, "sha256:ab", ImageLimits())
    assert a == stage.cache_stem(bucket, "sha256:ab", ImageLimits())
    assert a != stage.cache_stem(bucket, "sha256:ab", ImageLimits(max_bytes=1000))
    assert a != stage.cache_stem(bucket, "sha256:cd", ImageLimits())
    assert a.startswith("_book_assets/cache/v1-") and a.endswith("/sha256-ab")


def test_a_decoder_fault_is_reported_and_never_cached(bucket, monkeypatch):
    inventory = _inventory(bucket, {"drawings/max.png": _png()})

    def broken(*args, **kwargs):
        raise MemoryError("decoder blew up")

    monkeypatch.setattr(stage, "analyse_image", broken)
    [judged] = stage.validate_book(inventory, bucket).images
    assert judged.reason == stage.UNREADABLE and judged.message == stage.UNREADABLE_MESSAGE and judged.decoded
    assert not bucket.list_objects("_book_assets/cache/")
    monkeypatch.undo()
    [again] = stage.validate_book(inventory, bucket).images
    assert again.ok and again.decoded and not again.cache_hit       # a later version may read it: no stale verdict


def test_an_object_listed_without_a_hash_is_cached_by_its_bytes(bucket):
    inventory = _inventory(bucket, {"drawings/max.png": _png()})
    entry = inventory.entries[0]
    unhashed = type(entry)(**{**entry.__dict__, "content_hash": ""})
    judged = stage.judge_afresh(bucket, unhashed, ImageLimits())
    assert judged.ok and judged.print_copy == stage.cache_stem(bucket, entry.content_hash, ImageLimits()) + ".jpg"


def test_rejections_after_reading_are_cached_and_size_refusals_never_read(bucket):
    inventory = _inventory(bucket, {"drawings/notes.png": b"shopping list: milk, eggs" * 10,
                                    "drawings/empty.png": b""})
    first = stage.validate_book(inventory, bucket).images
    second = stage.validate_book(inventory, bucket).images
    assert [i.reason for i in first] == [i.reason for i in second] == ["empty_file", "not_an_image"]
    assert [(i.decoded, i.cache_hit) for i in second] == [(False, False), (False, True)]


def test_profile_and_paper_fall_back_with_a_problem_each():
    problems: list[Problem] = []
    assert choose_profile("LULU-A4 ", "Cream", problems) == (PROFILES["lulu-a4"], "cream") and problems == []
    profile, paper = choose_profile("poster", "glossy", problems)
    assert (profile, paper) == (PROFILES[DEFAULT_PROFILE], "white")
    assert [p.code for p in problems] == ["unknown_profile", "unknown_paper"]
    assert "Known profiles:" in problems[0].message


def test_drawing_order_follows_page_order_then_names():
    keys = [f"books/b/drawings/{name}" for name in ("cat.png", "ant.png", "zebra/zed.png")]
    ordered, problems = order_drawings(keys, BookConfig(page_order=["zebra/zed.png", "ghost.png", "zebra/zed.png"]))
    assert ordered == ["books/b/drawings/zebra/zed.png", "books/b/drawings/ant.png", "books/b/drawings/cat.png"]
    assert [p.code for p in problems] == ["unknown_page_order_entry"] and "ghost.png" in problems[0].message


def test_page_warnings_put_every_note_on_its_page():
    """Every problem with a page reaches the preview — including the sentence shape the old string
    parsing dropped ("Page N faces a drawing…", no colon)."""
    profile = PROFILES[DEFAULT_PROFILE]
    drawing, variation = "books/b/drawings/max.png", "books/b/generated/max_1.png"
    soft = PlacedImage(key=variation, print_copy="v.jpg", x=40, y=40, width=288, height=288, width_px=720,
                       height_px=720)                                          # 180 PPI
    story = PlacedText(lines=["Max."], x=60, y=60, width=200, height=40, font_name="Andika", font_size=16,
                       leading=20, role="story", shrunk_from=20)
    book = BookLayout(profile, "t", "a", [Page(number=1, kind="title"),
                                          Page(number=2, kind="drawing", drawing_key=drawing, texts=[story]),
                                          Page(number=3, kind="variations", drawing_key=drawing, images=[soft])])
    layout = Layout(book_id="b", layout=book, cover=None, text_sources={drawing: TextSource.WRITER},
                    layout_problems=(Problem("wordless_story_page", "This page faces a drawing that has no "
                                             "variations, but has no words on it.", page=1),))
    flagged = Pair(generated=variation, drawing=drawing, confidence=0.55, needs_review=True, signals=["looks"],
                   runner_up=None, margin=0.1, status=PairStatus.PLACED)
    pairing = Pairing(book_id="b", pairs=(flagged,), drawings=(drawing,), variations={drawing: (variation,)})
    notes = page_warnings(layout, pairing, [Problem("image_below_target_ppi", "image x prints at 180 PPI.", page=3)])
    assert notes[1] == ["This page faces a drawing that has no variations, but has no words on it."]
    assert any("set at 16 pt instead of 20 pt" in note for note in notes[2])
    assert any("max_1.png prints at 180 PPI" in note for note in notes[3])
    assert any("may not belong to this drawing (confidence 0.55)" in note for note in notes[3])
    assert "image x prints at 180 PPI." in notes[3]


@pytest.mark.integration
def test_the_report_accounts_for_every_object(bucket, instance, small_book_files):
    from book_assets.core.report import unaccounted
    from book_assets.core.stages.publish import build_report

    from .support import build, published, upload

    bad = io.BytesIO()
    Image.new("RGB", (20, 20)).save(bad, "PNG")
    upload(bucket, "r", {**small_book_files, "generated/tiny.png": bad.getvalue(), "pairs.csv": b"generated,drawing\n"})
    result = build(bucket, instance, "r")
    stages = [result.output_for_node(name) for name in ("raw_images", "validated_images", "image_pairs",
                                                         "page_layouts")]
    report = build_report(*stages, metrics={"pages": 1})
    assert unaccounted(report, stages[0].keys) == []
    assert [r["reason"] for r in report.rejected] == ["too_small"]
    assert report.config_files == ["books/r/pairs.csv"]
    stored = json.loads(bucket.read_bytes(published(bucket, "r", "report.json")))
    assert stored["report_version"] == 3 and stored["rejected"] == report.rejected
    # Every preflight item of both files, with what was measured and the limit it was held to.
    for name in ("book.pdf", "cover.pdf"):
        items = {item["item"]: item for item in stored["preflight"][name]}
        assert items["output_intent"]["value"].startswith("sRGB") and items["output_intent"]["passed"]
        assert items["min_image_ppi"]["value"] >= items["min_image_ppi"]["limit"] == 200
        assert items["file_mb"]["value"] < items["file_mb"]["limit"]
        assert all(item["passed"] for item in items.values())
