"""The real Dagster machinery on a real local bucket: materialize, metadata, checks, publishing."""
from __future__ import annotations

import importlib
import io
import json
import random
import uuid
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image
from pypdf import PdfReader

from book_assets.defs.jobs import BOOK_ASSETS; raw_images, validated_images, image_pairs = BOOK_ASSETS[:3]
from book_assets.core.report import unaccounted
from book_assets_dev.samples import SAMPLE_BOOK_ID, SAMPLE_DRAWINGS, sample_truth

from .support import build, check_results, materialization, published, upload, with_extra_drawing

pytestmark = pytest.mark.integration

EXPECTED_REJECTIONS = {
    "generated/upload_cut_short.jpg": "truncated",
    "drawings/old_scan.gif": "unsupported_format",
    "generated/empty.png": "empty_file",
    "drawings/notes.png": "not_an_image",
    "generated/thumb.png": "too_small",
    ".DS_Store": "system_file",
}


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory, sample_files):
    """The sample book built once for this module: (bucket, result, listed keys)."""
    from book_assets.defs.resources import LocalBucket

    bucket = LocalBucket(root=str(tmp_path_factory.mktemp("sample") / "bucket"))
    keys = upload(bucket, SAMPLE_BOOK_ID, sample_files)
    with dg.instance_for_test() as instance:
        result = build(bucket, instance, SAMPLE_BOOK_ID)
        yield bucket, result, keys


def test_sample_book_is_published_as_a_printable_pdf(sample_build):
    bucket, result, _ = sample_build
    assert result.success
    assert result.output_for_node("book").published is True
    with bucket.local_path(published(bucket, SAMPLE_BOOK_ID, "book.pdf")) as pdf_path:
        reader = PdfReader(str(pdf_path))
        layout = result.output_for_node("page_layouts").layout
        assert len(reader.pages) == len(layout.pages)
        assert len(reader.pages) % 2 == 0
        # 8.5 x 8.5 in trim + 0.125 in bleed on the outside edge and top and bottom
        for page in reader.pages:
            assert (round(float(page.mediabox.width), 2), round(float(page.mediabox.height), 2)) == (621.0, 630.0)
            assert round(float(page.trimbox.width), 2) == 612.0
        text = "".join(page.extract_text() for page in reader.pages)
        assert "Max and Friends" in text and "purple monster" in text   # title and book.toml text
    # one spread per drawing: a drawing page faced by its variations
    kinds = [p.kind for p in layout.pages]
    assert kinds.count("drawing") == len(SAMPLE_DRAWINGS)
    assert kinds[0] == "title"


def test_every_asset_reports_metrics(sample_build, sample_files):
    _, result, keys = sample_build
    raw = materialization(result, "raw_images").metadata
    assert raw["objects"].value == len(keys) == len(sample_files)
    assert raw["drawing_count"].value == len(SAMPLE_DRAWINGS) + 2         # + old_scan.gif, notes.png
    validated = materialization(result, "validated_images").metadata
    assert validated["rejected"].value == len(EXPECTED_REJECTIONS)
    assert validated["valid_drawings"].value == len(SAMPLE_DRAWINGS)
    assert validated["valid_generated"].value == sum(d.variations for d in SAMPLE_DRAWINGS)
    assert validated["decode_ms_total"].value > 0
    pairs = materialization(result, "image_pairs").metadata
    assert pairs["pairs"].value == sum(d.variations for d in SAMPLE_DRAWINGS)
    layouts = materialization(result, "page_layouts").metadata
    assert layouts["spreads"].value == len(SAMPLE_DRAWINGS)
    assert layouts["mean_harmony"].value > layouts["mean_random_harmony"].value
    assert layouts["min_ppi"].value >= 300
    book = materialization(result, "book").metadata
    assert book["published"].value is True
    assert book["pdf_bytes"].value > 100_000
    assert "data:image/png;base64," in book["preview"].value


def test_checks_pass_on_the_sample_book(sample_build):
    _, result, _ = sample_build
    checks = check_results(result)
    assert set(checks) == {
        "every_object_listed", "every_upload_judged", "rejection_rate", "every_variation_placed_or_flagged",
        "pairs_need_review", "every_drawing_has_variations", "text_fits", "images_at_target_ppi",
        "images_at_minimum_ppi", "pdf_preflight", "cover_preflight", "everything_accounted_for", "book_is_current",
        "drawings_named_by_us",
    }
    for name in ("every_object_listed", "every_upload_judged", "every_variation_placed_or_flagged",
                 "text_fits", "drawings_named_by_us", "images_at_minimum_ppi", "pdf_preflight", "cover_preflight", "everything_accounted_for"):
        assert checks[name].passed, name
        assert "value" in checks[name].metadata and "threshold" in checks[name].metadata


def test_report_accounts_for_every_object(sample_build):
    bucket, _, keys = sample_build
    report = json.loads(bucket.read_bytes(published(bucket, SAMPLE_BOOK_ID, "report.json")))
    assert report["book_id"] == SAMPLE_BOOK_ID
    assert unaccounted(report, keys) == []
    rejected = {r["key"].split("/", 2)[2]: r for r in report["rejected"]}
    assert {k: r["reason"] for k, r in rejected.items()} == EXPECTED_REJECTIONS
    assert all(len(r["message"]) > 20 for r in rejected.values())
    placed = [k for page in report["pages"] for k in page["images"]]
    generated_ok = [p["generated"] for p in report["pairs"]]
    assert set(generated_ok) <= set(placed)
    assert len(report["pairs"]) == sum(d.variations for d in SAMPLE_DRAWINGS)
    assert report["config_files"] == [f"books/{SAMPLE_BOOK_ID}/book.toml"]
    # pairing of the sample book is right: each variation sits with the drawing it was made from
    truth = {f"books/{SAMPLE_BOOK_ID}/{g}": f"books/{SAMPLE_BOOK_ID}/{d}" for g, d in sample_truth().items()}
    wrong = [p for p in report["pairs"] if truth[p["generated"]] != p["drawing"]]
    assert wrong == []


def test_second_build_reuses_the_cache(sample_build, instance):
    bucket, _, _ = sample_build
    again = build(bucket, instance, SAMPLE_BOOK_ID, assets=[raw_images, validated_images])
    metadata = materialization(again, "validated_images").metadata
    images = metadata["valid"].value + metadata["rejected"].value - 2     # .DS_Store and empty.png are never read
    assert metadata["cache_hits"].value == images
    assert metadata["decoded"].value == 0


def test_scrambled_names_still_pair_by_looks(sample_files, bucket, instance):
    """Rename every file randomly and strip provenance: pairing must still put each variation right."""
    rng = random.Random(7)
    renamed: dict[str, str] = {}
    scrambled: dict[str, bytes] = {}
    truth = sample_truth()
    for relative in sorted({*truth, *truth.values()}):
        image = Image.open(io.BytesIO(sample_files[relative]))
        plain = io.BytesIO()
        image.convert("RGB").save(plain, "PNG", compress_level=1)        # no text chunks survive
        renamed[relative] = f"{relative.split('/')[0]}/{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}.png"
        scrambled[renamed[relative]] = plain.getvalue()
    upload(bucket, "scrambled", scrambled)
    result = build(bucket, instance, "scrambled", assets=[raw_images, validated_images, image_pairs])
    table = result.output_for_node("image_pairs").table
    pairs = {r.generated: r.drawing for r in table.itertuples()}
    flagged = set(table.loc[table["needs_review"], "generated"])
    assert len(pairs) == len(truth)
    wrong = [f"books/scrambled/{renamed[g]}" for g, d in truth.items()
             if pairs[f"books/scrambled/{renamed[g]}"] != f"books/scrambled/{renamed[d]}"]
    # By looks alone at least 95 % land right, every wrong one is flagged for a person, and the
    # review flag stays a short list a person can work through.
    assert len(wrong) <= 0.05 * len(truth), f"{len(wrong)} of {len(truth)} variations on the wrong page"
    assert set(wrong) <= flagged, f"wrong and not flagged: {sorted(set(wrong) - flagged)}"
    assert len(flagged) <= 0.15 * len(truth)


def test_drawing_without_variations_warns_but_builds(small_book_files, bucket, instance):
    upload(bucket, "b-lonely", with_extra_drawing(small_book_files, "lonely_flower.jpg", "flower", 1800, seed=3))
    result = build(bucket, instance, "b-lonely")
    assert result.success
    warning = check_results(result)["every_drawing_has_variations"]
    assert not warning.passed
    assert warning.severity == dg.AssetCheckSeverity.WARN
    assert "lonely_flower.jpg" in warning.metadata["drawings_without_variations"].value
    assert result.output_for_node("book").published is True
    layout = result.output_for_node("page_layouts").layout
    lonely_pages = [p for p in layout.pages if p.drawing_key and p.drawing_key.endswith("lonely_flower.jpg")]
    assert len(lonely_pages) == 2 and all(p.kind != "variations" for p in lonely_pages)


def test_invalid_book_id_fails_clearly_without_retries(bucket, instance):
    instance.add_dynamic_partitions("books", ["Bad Name"])
    result = build(bucket, instance, "Bad Name", assets=[raw_images], raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("raw_images")
    assert "not allowed" in failure.error.message or "not allowed" in str(failure.user_failure_data.description)
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []


def test_reviewer_override_in_pairs_csv_wins(small_book_files, bucket, instance):
    files = dict(small_book_files)
    files["pairs.csv"] = b"generated,drawing\ngenerated/max_01.png,drawings/zoom.jpg\n"
    upload(bucket, "b-override", files)
    result = build(bucket, instance, "b-override", assets=[raw_images, validated_images, image_pairs])
    table = result.output_for_node("image_pairs").table.set_index("generated")
    row = table.loc["books/b-override/generated/max_01.png"]
    assert row["drawing"] == "books/b-override/drawings/zoom.jpg"      # looks say max; the reviewer says zoom
    assert "override" in row["signals"] and row["confidence"] == 1.0
    assert table.loc["books/b-override/generated/max_02.png", "drawing"] == "books/b-override/drawings/max.jpg"


def test_a_decoder_fault_on_one_file_rejects_that_file_only(small_book_files, bucket, instance, monkeypatch):
    """An unexpected exception inside image analysis becomes a rejection of that one file."""
    stage = importlib.import_module("book_assets.core.stages.validation")   # the module, not the asset

    real = stage.analyse_image

    def flaky(data, *args, **kwargs):
        if data == small_book_files["generated/max_02.png"]:
            raise RuntimeError("decoder blew up")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(stage, "analyse_image", flaky)
    upload(bucket, "b-fault", small_book_files)
    result = build(bucket, instance, "b-fault", assets=[raw_images, validated_images])
    table = result.output_for_node("validated_images").table().set_index("key")
    assert table.loc["books/b-fault/generated/max_02.png", "reason"] == "unreadable"
    assert (table["status"] == "ok").sum() == len(small_book_files) - 1


def test_an_oversized_upload_is_rejected_without_being_read(small_book_files, bucket, instance, monkeypatch):
    from book_assets.core.imaging import ImageLimits

    stage = importlib.import_module("book_assets.core.stages.validation")
    monkeypatch.setattr(stage, "ImageLimits", lambda: ImageLimits(max_bytes=180_000))
    upload(bucket, "b-big", small_book_files)
    big = [k for k, v in small_book_files.items() if len(v) > 180_000]
    assert big, "the fixture needs at least one file over the limit"
    read = []
    real_read = type(bucket).read_bytes
    monkeypatch.setattr(type(bucket), "read_bytes", lambda self, key: read.append(key) or real_read(self, key))
    result = build(bucket, instance, "b-big", assets=[raw_images, validated_images])
    table = result.output_for_node("validated_images").table().set_index("key")
    for relative in big:
        key = f"books/b-big/{relative}"
        assert table.loc[key, "reason"] == "file_too_large"
        assert key not in read


def test_republishing_makes_a_new_edition_current_and_a_lost_race_is_not_retried(small_book_files, bucket, instance,
                                                                                   monkeypatch):
    from book_assets.core.editions import prune_editions, read_current
    from book_assets.defs.resources import PreconditionConflict

    upload(bucket, "b-again", small_book_files)
    first = build(bucket, instance, "b-again")
    assert first.output_for_node("book").published is True
    old = read_current(bucket, "b-again")
    again = build(bucket, instance, "b-again")
    new = read_current(bucket, "b-again")
    assert again.output_for_node("book").edition == new.edition != old.edition
    assert bucket.exists(published(bucket, "b-again", "pages/page-001.png"))
    # the replaced edition stays readable through the grace period, then goes; the current one never does
    assert bucket.exists(old.files["book.pdf"])
    assert prune_editions(bucket, "b-again", grace_seconds=0) == [old.edition]
    assert not bucket.list_objects(f"published/b-again/editions/{old.edition}/")
    assert all(bucket.exists(key) for key in new.files.values())

    real_write = type(bucket).write_file           # book.pdf is uploaded from its file

    def racing_write(self, key, path, **kwargs):
        if key.endswith("book.pdf"):
            raise PreconditionConflict(f"{key} changed while this run was writing it")
        return real_write(self, key, path, **kwargs)

    monkeypatch.setattr(type(bucket), "write_file", racing_write)
    second = build(bucket, instance, "b-again", raise_on_error=False)
    assert not second.success
    assert "changed while this run was writing it" in second.failure_data_for_node("book").user_failure_data.description
    assert [e for e in second.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []


def test_links_and_unsafe_names_are_reported_not_followed(small_book_files, bucket, instance, tmp_path):
    """A symlinked picture and a file whose name cannot be used safely end up in the rejection table."""
    upload(bucket, "b-links", small_book_files)
    folder = Path(bucket.root) / "books" / "b-links"
    outside = tmp_path / "private.jpg"
    outside.write_bytes(small_book_files["drawings/max.jpg"])
    (folder / "drawings" / "linked.jpg").symlink_to(outside)
    (folder / "generated" / "odd\\name.png").write_bytes(small_book_files["generated/max_01.png"])
    result = build(bucket, instance, "b-links")
    assert result.output_for_node("book").published is True
    report = json.loads(bucket.read_bytes(published(bucket, "b-links", "report.json")))
    reasons = {r["key"]: r["reason"] for r in report["rejected"]}
    assert reasons["books/b-links/drawings/linked.jpg"] == "symlink"
    assert reasons["books/b-links/generated/odd\\name.png"] == "unsafe_name"
    assert unaccounted(report, [o.key for o in bucket.list_objects("books/b-links/")]) == []


def _pdf_images_per_page(pdf_path) -> list[int]:
    """How many pictures each page of the written PDF draws (image XObjects in its resources)."""
    reader = PdfReader(str(pdf_path))
    counts = []
    for page in reader.pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        counts.append(sum(1 for ref in xobjects.values() if ref.get_object().get("/Subtype") == "/Image"))
    return counts


def _assert_left_out_of_every_page(bucket, result, book_id: str, key: str) -> dict:
    """``key`` is in no grid of the layout, on no page of report.json, and the PDF draws only what the
    layout placed; returns the published report."""
    layout = result.output_for_node("page_layouts").layout
    assert all(key not in [img.key for img in page.images] for page in layout.pages)
    assert all(key not in variations for variations in result.output_for_node("image_pairs").variations.values())
    with bucket.local_path(published(bucket, book_id, "book.pdf")) as pdf_path:
        assert _pdf_images_per_page(pdf_path) == [len(page.images) for page in layout.pages]
    report = json.loads(bucket.read_bytes(published(bucket, book_id, "report.json")))
    assert all(key not in page["images"] for page in report["pages"])
    assert key not in [p["generated"] for p in report["pairs"]]
    assert unaccounted(report, [o.key for o in bucket.list_objects(f"books/{book_id}/")]) == []
    return report


def test_a_reviewers_none_row_leaves_a_variation_out_of_the_book(small_book_files, bucket, instance):
    files = dict(small_book_files)
    files["pairs.csv"] = b"generated,drawing\ngenerated/max_02.png,-\n"      # looks and name say max.jpg
    upload(bucket, "b-none", files)
    result = build(bucket, instance, "b-none")
    assert result.success and result.output_for_node("book").published is True
    key = "books/b-none/generated/max_02.png"
    row = result.output_for_node("image_pairs").table.set_index("generated").loc[key]
    assert row["status"] == "reviewer_excluded" and row["drawing"] is None and not row["needs_review"]
    report = _assert_left_out_of_every_page(bucket, result, "b-none", key)
    assert report["excluded"] == [{"generated": key, "reason": "reviewer_excluded", "message": row["reason"]}]
    assert report["metrics"]["reviewer_excluded"] == 1 and report["held"] == []
    metadata = materialization(result, "image_pairs").metadata
    assert metadata["reviewer_excluded"].value == 1 and metadata["pairs"].value == 7
    # max.jpg keeps its two other variations
    assert list(result.output_for_node("image_pairs").variations["books/b-none/drawings/max.jpg"]) == [
        "books/b-none/generated/max_01.png", "books/b-none/generated/max_03.png"]
    assert check_results(result)["every_variation_placed_or_flagged"].passed


def test_a_pair_more_likely_wrong_than_right_is_held_out_and_reported(small_book_files, bucket, instance):
    """A blue page among the variations looks like no drawing of the book: it is held, not printed,
    listed for review and in report.json, and the book still publishes (held is a WARN)."""
    from book_assets.core.pairing import HOLD_BELOW

    blue_page = io.BytesIO()
    Image.new("RGB", (1200, 1200), (30, 60, 200)).save(blue_page, "PNG")
    upload(bucket, "b-held", {**small_book_files, "generated/5d1e9b3a0c77.png": blue_page.getvalue()})
    result = build(bucket, instance, "b-held")
    assert result.success and result.output_for_node("book").published is True
    key = "books/b-held/generated/5d1e9b3a0c77.png"
    row = result.output_for_node("image_pairs").table.set_index("generated").loc[key]
    assert row["confidence"] < HOLD_BELOW, "the fixture is meant to look like no drawing of the book"
    assert row["status"] == "held" and row["needs_review"]
    assert {row["drawing"], row["runner_up"]} == {"books/b-held/drawings/max.jpg", "books/b-held/drawings/zoom.jpg"}
    assert row["reason"].startswith("Held out of the book")

    report = _assert_left_out_of_every_page(bucket, result, "b-held", key)
    assert report["held"] == [{
        "generated": key, "drawing": row["drawing"], "confidence": row["confidence"], "runner_up": row["runner_up"],
        "runner_up_probability": round(row["runner_up_probability"], 4), "message": row["reason"]}]
    assert report["metrics"]["held"] == 1 and report["metrics"]["pairs"] == 8 and report["excluded"] == []

    metadata = materialization(result, "image_pairs").metadata
    assert metadata["held"].value == 1
    review = [r.data for r in metadata["review_table"].value.records]
    assert [(r["generated"], r["status"]) for r in review] == [("generated/5d1e9b3a0c77.png", "held")]
    assert review[0]["pairs_csv_line"] == f"generated/5d1e9b3a0c77.png,{row['drawing'].split('/', 2)[2]}"
    checks = check_results(result)
    warning = checks["pairs_need_review"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "HELD, not printed: " + key in warning.metadata["flagged"].value
    assert checks["every_variation_placed_or_flagged"].passed and checks["everything_accounted_for"].passed
    preview = bucket.read_bytes(published(bucket, "b-held", "preview.html")).decode()
    assert "5d1e9b3a0c77.png: Held out of the book" in preview


def test_the_sample_reads_like_a_designed_book(sample_build):
    """No widow in any story text, no page number on the front matter, a draw page per character
    before any blank, and the writer's ending on the last drawing's page."""
    _, result, _ = sample_build
    layout = result.output_for_node("page_layouts").layout
    stories = [text for page in layout.pages for text in page.texts if text.role == "story"]
    assert stories
    for text in stories:
        assert len(text.lines) < 2 or " " in text.lines[-1].replace("\u00a0", " "), text.lines
    assert not [page for page in layout.pages[:3] if page.folio or any(t.role == "folio" for t in page.texts)]
    kinds = [page.kind for page in layout.pages]
    assert "blank" not in kinds[kinds.index("end"):] or kinds.count("activity") >= len(SAMPLE_DRAWINGS)
    from book_assets.core.story.phrases import PHRASES
    last_story = " ".join(stories[-1].lines).replace("\u00a0", " ")
    assert any(last_story.endswith(ending) for ending in PHRASES["en"]["end_many"]), last_story
