"""Every print profile: the sample book and its cover, written and re-opened, pass preflight; and
preflight finds what a print service would refuse."""
from __future__ import annotations

import contextlib
import io
import time

import dagster as dg
import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from book_assets.core import fonts
from book_assets.core.cover import layout_cover, render_cover
from book_assets.core.layout import layout_book
from book_assets.core.layout_checks import check_layout
from book_assets.core.preflight import preflight_cover, preflight_pdf
from book_assets.core.profiles import PROFILES, PrintProfile
from book_assets.core.render import render_pdf
from book_assets.core.stages.layout import plan_book
from book_assets_dev.samples import SAMPLE_BOOK_ID, draw_subject

from .support import build, check_results, materialization, upload, with_extra_drawing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sample_manifest(tmp_path_factory, sample_files):
    """The sample book materialized up to image_pairs once, planned: (bucket, BookPlan, image_path)."""
    from book_assets.defs.jobs import BOOK_ASSETS
    from book_assets.defs.resources import LocalBucket

    bucket = LocalBucket(root=str(tmp_path_factory.mktemp("profiles") / "bucket"))
    upload(bucket, SAMPLE_BOOK_ID, sample_files)
    with dg.instance_for_test() as instance, contextlib.ExitStack() as files:
        result = build(bucket, instance, SAMPLE_BOOK_ID, assets=BOOK_ASSETS[:3])
        local: dict[str, str] = {}

        def image_path(key: str) -> str:
            if key not in local:
                local[key] = str(files.enter_context(bucket.local_path(key)))
            return local[key]

        plan = plan_book(*(result.output_for_node(name) for name in ("raw_images", "validated_images", "image_pairs")),
                         bucket)
        yield bucket, plan, image_path


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_builds_a_book_and_cover_that_pass_preflight(name, sample_manifest, tmp_path):
    _, manifest, image_path = sample_manifest
    profile = PROFILES[name]
    layout = layout_book(manifest.content, profile)
    assert check_layout(layout) == []
    started = time.perf_counter()
    stats = render_pdf(layout, image_path, tmp_path / "book.pdf")
    seconds = time.perf_counter() - started
    report = preflight_pdf(tmp_path / "book.pdf", profile, expected_pages=len(layout.pages))
    assert report.problems == []
    assert report.pages == len(layout.pages) == profile.page_count(len(layout.pages))
    if profile.is_print:
        assert report.pages >= 24 and report.pages % 8 == 0
        assert report.min_ppi >= 300                       # every placed image, measured in the file
        assert max(image.ppi for image in report.images) <= profile.max_image_ppi + 1
    else:
        assert max(image.ppi for image in report.images) <= profile.max_image_ppi + 1   # smaller images
    page = PdfReader(tmp_path / "book.pdf").pages[1]
    width_in = float(page.mediabox.width) / 72
    assert width_in == pytest.approx(profile.trim_width_in + profile.bleed_in, abs=0.01)
    assert float(page.trimbox.width) / 72 == pytest.approx(profile.trim_width_in, abs=0.01)
    if not profile.is_print:
        assert list(page.trimbox) == list(page.mediabox)  # screen: no bleed

    cover = layout_cover(manifest.content, profile, len(layout.pages), "cream")
    render_cover(cover, image_path, tmp_path / "cover.pdf", title=layout.title)
    cover_report = preflight_cover(tmp_path / "cover.pdf", profile, cover.sheet, cover.trim_box, cover.safe_boxes())
    assert cover_report.problems == []
    sheet = PdfReader(tmp_path / "cover.pdf").pages[0]
    expected_w = 2 * profile.trim_width_in + 2 * profile.bleed_in + len(layout.pages) * 0.0025
    assert float(sheet.mediabox.width) / 72 == pytest.approx(expected_w, abs=0.005)
    print(f"\n{name}: {stats.pages} pages, {stats.bytes / 1e6:.2f} MB, render {seconds * 1000:.0f} ms, "
          f"{stats.resampled_images} images resampled")


def test_names_in_any_script_are_set_in_embedded_glyphs(sample_manifest, tmp_path):
    _, manifest, image_path = sample_manifest
    content = manifest.content
    content.author = "Zoë, Łukasz, Ἀθηνᾶ and Жанна"
    content.spreads[0].title = "Đorđe the Dragon"
    layout = layout_book(content, PROFILES["kdp-8.5x8.5"])
    assert check_layout(layout) == []
    render_pdf(layout, image_path, tmp_path / "names.pdf")
    report = preflight_pdf(tmp_path / "names.pdf", layout.profile)
    assert report.problems == []
    text = "".join(page.extract_text() for page in PdfReader(tmp_path / "names.pdf").pages)
    for name in ("Zoë", "Łukasz", "Ἀθηνᾶ", "Жанна", "Đorđe"):
        assert name in text
    assert any(font.endswith("+Andika") for font in report.fonts)
    # A character Andika lacks is drawn by the fallback, which is embedded as well.
    assert fonts.runs("Ⅷ ☺", fonts.REGULAR)[-1][1] == fonts.fallback_of(fonts.REGULAR)
    assert fonts.missing_glyphs("Zoë Ἀθηνᾶ Жанна ☺") == []


def _pdf(path, draw) -> None:
    canvas = Canvas(str(path), pagesize=(PrintProfile().page_width_pt, PrintProfile().page_height_pt), invariant=1)
    for number in (1, 2):
        canvas.setTrimBox(PrintProfile().trim_box(number))
        canvas.setBleedBox((0, 0, PrintProfile().page_width_pt, PrintProfile().page_height_pt))
        draw(canvas, number)
        canvas.showPage()
    canvas.save()


def test_preflight_names_what_a_printer_would_refuse(tmp_path):
    def bad(canvas, number):
        canvas.setFont("Helvetica", 12)                    # a base-14 font, not embedded
        canvas.drawString(5, 5, "in the margin")         # outside the safe area
        if number == 2:
            canvas.linkURL("https://example.org", (100, 100, 200, 120))   # an annotation

    _pdf(tmp_path / "bad.pdf", bad)
    report = preflight_pdf(tmp_path / "bad.pdf", PrintProfile())
    text = "\n".join(map(str, report.problems))
    assert "Helvetica is not embedded" in text
    assert "outside the safe area" in text and "in the margin" in text
    assert "Page 2: has annotations" in text
    assert "needs at least 24" in text                    # 2 pages is not a printable picture book
    report = preflight_pdf(tmp_path / "bad.pdf", PROFILES["kdp-8x10"])
    assert any("page size" in str(problem) for problem in report.problems)


def test_preflight_measures_image_resolution_in_the_file(tmp_path):
    small = io.BytesIO()
    draw_subject("cat", 300, seed=1).save(small, "JPEG", quality=90)
    jpeg = tmp_path / "small.jpg"
    jpeg.write_bytes(small.getvalue())

    def picture(canvas, number):
        canvas.drawImage(str(jpeg), 100, 100, 3 * 72, 3 * 72)     # 300 px over 3 in = 100 PPI

    _pdf(tmp_path / "soft.pdf", picture)
    report = preflight_pdf(tmp_path / "soft.pdf", PrintProfile())
    assert report.min_ppi == pytest.approx(100, abs=0.5)
    assert any("prints at 100 PPI, below 200" in str(problem) for problem in report.problems)


def test_too_small_image_blocks_the_book_and_says_what_it_needs(small_book_files, bucket, instance):
    upload(bucket, "b-tiny", with_extra_drawing(small_book_files, "tiny_cat.jpg", "cat", 400))
    result = build(bucket, instance, "b-tiny", raise_on_error=False)
    gate = check_results(result)["images_at_minimum_ppi"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    message = gate.metadata["below_threshold"].value
    assert "drawings/tiny_cat.jpg" in message and "400×400 px" in message
    assert "Upload it at" in message and "for 300 PPI" in message
    assert not result.asset_materializations_for_node("book")
    assert not bucket.exists("published/b-tiny/book.pdf")


def test_profile_override_builds_the_screen_book(small_book_files, bucket, instance):
    upload(bucket, "b-screen", small_book_files)
    result = build(bucket, instance, "b-screen",
                   run_config={"ops": {"page_layouts": {"config": {"profile": "screen"}}}})
    assert result.output_for_node("book").published is True
    assert result.output_for_node("book").profile == "screen"
    checks = check_results(result)
    assert checks["pdf_preflight"].passed and checks["cover_preflight"].passed
    # a screen book is judged by screen thresholds, not by print ones
    assert checks["images_at_target_ppi"].metadata["threshold"].value == 150
    assert checks["images_at_minimum_ppi"].metadata["threshold"].value == 100
    metadata = materialization(result, "book").metadata
    assert metadata["profile"].value == "screen"
    assert "data:image/jpeg;base64," in metadata["all_pages"].value
    with bucket.local_path("published/b-screen/book.pdf") as path:
        page = PdfReader(str(path)).pages[0]
        assert list(page.trimbox) == list(page.mediabox)
    for name in ("cover.pdf", "preview.html", "report.json", "pages/page-001.png"):
        assert bucket.exists(f"published/b-screen/{name}")
