"""Every print profile: the sample book and its cover, written and re-opened, pass preflight; and
preflight finds what a print service would refuse."""
from __future__ import annotations

import contextlib
import io
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pikepdf
import pytest
from PIL import Image
from pikepdf import PdfImage
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from book_assets.core import fonts
from book_assets.core.cover import CoverLayout, layout_cover, render_cover
from book_assets.core.layout import BookLayout, layout_book
from book_assets.core.layout_checks import check_layout
from book_assets.core.preflight import INK_DPI, PreflightReport, preflight_cover, preflight_pdf
from book_assets.core.press import SRGB_ICC, SWOP_ICC, make_press_ready, output_intent
from book_assets.core.profiles import PROFILES, PrintProfile
from book_assets.core.render import render_pdf
from book_assets.core.stages.layout import plan_book
from book_assets.defs import checks
from book_assets_dev.samples import SAMPLE_BOOK_ID, draw_subject

from .support import build, check_results, materialization, published, upload, with_extra_drawing

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


@dataclass(frozen=True)
class Written:
    """One profile's sample book and cover, rendered, made press-ready and preflighted."""

    layout: BookLayout
    cover: CoverLayout
    pdf: Path
    cover_pdf: Path
    report: PreflightReport
    cover_report: PreflightReport
    seconds: float


@pytest.fixture(scope="module")
def written_books(sample_manifest, tmp_path_factory) -> dict[str, Written]:
    """Every profile's book and cover, built once for the module (the PDF/X ones take ~12 s each)."""
    _, manifest, image_path = sample_manifest
    books = {}
    for name, profile in sorted(PROFILES.items()):
        folder = tmp_path_factory.mktemp(name)
        layout = layout_book(manifest.content, profile)
        assert check_layout(layout) == []
        started = time.perf_counter()
        render_pdf(layout, image_path, folder / "book.pdf")
        make_press_ready(folder / "book.pdf", profile)
        cover = layout_cover(manifest.content, profile, len(layout.pages), "cream")
        render_cover(cover, image_path, folder / "cover.pdf", title=layout.title)
        make_press_ready(folder / "cover.pdf", profile)
        seconds = time.perf_counter() - started
        books[name] = Written(
            layout, cover, folder / "book.pdf", folder / "cover.pdf",
            preflight_pdf(folder / "book.pdf", profile, expected_pages=len(layout.pages)),
            preflight_cover(folder / "cover.pdf", profile, cover.sheet, cover.trim_box, cover.safe_boxes()), seconds)
    return books


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_builds_a_book_and_cover_that_pass_preflight(name, written_books):
    book, profile = written_books[name], PROFILES[name]
    report, layout = book.report, book.layout
    assert checks.check_pdf_preflight(report).passed, report.problems
    assert checks.check_pdf_preflight(book.cover_report, check_name="cover_preflight").passed, book.cover_report.problems
    assert all(item.passed for item in report.items + book.cover_report.items)
    assert report.pages == len(layout.pages) == profile.page_count(len(layout.pages))
    if profile.is_print:
        assert report.pages >= 24 and report.pages % 8 == 0
        assert report.min_ppi >= 300                       # every placed image, measured in the file
    assert max(image.ppi for image in report.images) <= profile.max_image_ppi + 1
    with pikepdf.open(book.pdf) as pdf:
        page = pdf.pages[1]
        assert float(page.mediabox[2]) / 72 == pytest.approx(profile.trim_width_in + profile.bleed_in, abs=0.01)
        trim = [float(v) for v in page.obj.TrimBox]
        assert (trim[2] - trim[0]) / 72 == pytest.approx(profile.trim_width_in, abs=0.01)
        if not profile.is_print:
            assert trim == [float(v) for v in page.mediabox]   # screen: no bleed
    with pikepdf.open(book.cover_pdf) as pdf:
        expected_w = 2 * profile.trim_width_in + 2 * profile.bleed_in + len(layout.pages) * 0.0025
        assert float(pdf.pages[0].mediabox[2]) / 72 == pytest.approx(expected_w, abs=0.005)
    print(f"\n{name}: {report.pages} pages, {report.bytes / 1e6:.2f} MB + cover {book.cover_report.bytes / 1e6:.2f} MB, "
          f"build {book.seconds:.1f} s, max ink {report.max_ink} % (cover {book.cover_report.max_ink} %)")


def test_names_in_any_script_are_set_in_embedded_glyphs(sample_manifest, tmp_path):
    _, manifest, image_path = sample_manifest
    content = manifest.content
    content.author = "Zoë, Łukasz, Ἀθηνᾶ and Жанна"
    content.spreads[0].title = "Đorđe the Dragon"
    layout = layout_book(content, PROFILES["kdp-8.5x8.5"])
    assert check_layout(layout) == []
    render_pdf(layout, image_path, tmp_path / "names.pdf")
    make_press_ready(tmp_path / "names.pdf", layout.profile)
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
    assert not bucket.exists("published/b-tiny/current.json") and not bucket.list_objects("published/b-tiny/editions/")


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
    with bucket.local_path(published(bucket, "b-screen", "book.pdf")) as path:
        page = PdfReader(str(path)).pages[0]
        assert list(page.trimbox) == list(page.mediabox)
    for name in ("cover.pdf", "preview.html", "report.json", "pages/page-001.png"):
        assert bucket.exists(published(bucket, "b-screen", name))


# ---------------------------------------------------------------------------------------------
# Press files, read back without our preflight and cross-checked with the tools a printer uses
# ---------------------------------------------------------------------------------------------


def _tool(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def _cmyk_images(pdf: pikepdf.Pdf) -> list[np.ndarray]:
    """Every image XObject decoded with Pillow (Adobe CMYK JPEGs un-inverted), as ink % per pixel."""
    inks = []
    for page in pdf.pages:
        for _, xobject in page.get_images().items():
            image = PdfImage(xobject).as_pil_image()
            assert image.mode == "CMYK", f"an image is {image.mode}"
            pixels = np.asarray(image, dtype=np.float64)
            if image.info.get("adobe") is not None:       # Adobe APP14: stored inverted
                pixels = 255 - pixels
            inks.append(pixels.sum(axis=2) / 2.55)
    return inks


def _area_max(ink: np.ndarray, cell: int) -> float:
    """Largest mean ink over cell × cell pixel squares (the area a press's ink check looks at)."""
    h, w = (ink.shape[0] // cell) * cell, (ink.shape[1] // cell) * cell
    return float(ink[:h, :w].reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3)).max())


def test_ingram_file_is_pdfx3_in_cmyk_within_its_ink_limit(written_books):
    book, profile = written_books["ingram-8.5x8.5"], PROFILES["ingram-8.5x8.5"]
    for path in (book.pdf, book.cover_pdf):
        with pikepdf.open(path) as pdf:
            assert str(pdf.docinfo["/GTS_PDFXVersion"]) == "PDF/X-3:2002"
            assert str(pdf.docinfo["/Trapped"]) == "/False" and str(pdf.docinfo["/Title"])
            intent = pdf.Root.OutputIntents[0]
            assert intent.S == "/GTS_PDFX" and int(intent.DestOutputProfile.N) == 4
            assert intent.DestOutputProfile.read_bytes() == SWOP_ICC.read_bytes()
            spaces = {str(x.get("/ColorSpace")) for page in pdf.pages for _, x in page.get_images().items()}
            assert spaces == {"/DeviceCMYK"}
            # Independent of Ghostscript's raster: the image samples themselves, averaged over squares
            # of the same size as the preflight's raster cells (1/36 in at the image's PPI).
            cell = max(1, round(min(i.ppi for i in book.report.images) / INK_DPI))
            assert max(_area_max(ink, cell) for ink in _cmyk_images(pdf)) <= profile.max_ink_percent
        assert "PDF subtype:    PDF/X-3:2002" in _tool("pdfinfo", str(path))
        assert {line.split()[5] for line in _tool("pdfimages", "-list", str(path)).splitlines()[2:]} == {"cmyk"}
    assert len(book.report.ink_by_page) == book.report.pages
    assert all(0 <= ink <= profile.max_ink_percent for ink in book.report.ink_by_page)
    assert book.cover_report.max_ink <= profile.max_ink_percent


def test_ingram_text_pages_print_their_text_in_black_ink_only(written_books):
    book = written_books["ingram-8.5x8.5"]
    text_only = [page.number for page in book.layout.pages if page.texts and not page.images][:2]
    assert text_only
    with tempfile.TemporaryDirectory() as folder:
        for number in text_only:
            out = Path(folder) / f"page-{number}.tif"
            subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=tiff32nc", "-r100",
                            f"-dFirstPage={number}", f"-dLastPage={number}", f"-sOutputFile={out}", str(book.pdf)],
                           check=True, timeout=120)
            with Image.open(out) as raster:
                pixels = np.asarray(raster, dtype=np.int32)
            inked = pixels[..., 3] > 128                      # the glyphs: at least half black
            assert inked.sum() > 100
            assert pixels[inked][:, :3].max() == 0, f"page {number}: text printed with colour inks"


def test_kdp_and_screen_files_declare_srgb_and_claim_no_pdfx(written_books):
    srgb = SRGB_ICC.read_bytes()
    for name in ("kdp-8.5x8.5", "screen"):
        book = written_books[name]
        for path in (book.pdf, book.cover_pdf):
            with pikepdf.open(path) as pdf:
                intent = pdf.Root.OutputIntents[0]
                assert int(intent.DestOutputProfile.N) == 3 and intent.DestOutputProfile.read_bytes() == srgb
                assert "sRGB" in str(intent.OutputConditionIdentifier)
                assert "/GTS_PDFXVersion" not in pdf.docinfo
            assert "PDF subtype" not in _tool("pdfinfo", str(path))
        assert book.report.output_intent.startswith("sRGB") and book.report.max_ink is None


@pytest.mark.parametrize("name", ["kdp-8.5x8.5", "ingram-8.5x8.5"])
def test_printer_tools_agree_with_our_preflight(name, written_books):
    """qpdf and Poppler read the same files: structure, boxes, fonts and images as our preflight says."""
    book, profile = written_books[name], PROFILES[name]
    assert "No syntax or stream encoding errors" in _tool("qpdf", "--check", str(book.pdf))
    boxes = _tool("pdfinfo", "-box", "-f", "1", "-l", "2", str(book.pdf))
    for number in (1, 2):
        line = re.search(rf"Page\s+{number} TrimBox:\s+([\d. ]+)", boxes).group(1)
        assert tuple(float(v) for v in line.split()) == pytest.approx(profile.trim_box(number), abs=0.01)
    fonts = _tool("pdffonts", str(book.pdf)).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)          # the "emb" column
    # the same fonts (each part of the book embeds its own subsets, so a name may be listed once per part)
    assert sorted({line.split()[0] for line in fonts}) == sorted(set(book.report.fonts))
    images = [line.split() for line in _tool("pdfimages", "-list", str(book.pdf)).splitlines()[2:]]
    assert len(images) == len(book.report.images)
    assert min(float(row[12]) for row in images) == pytest.approx(book.report.min_ppi, abs=1)
    assert {row[5] for row in images} == ({"cmyk"} if profile.is_cmyk else {"rgb"})


def test_a_broken_pdfx_file_has_each_problem_reported_by_name(tmp_path, drawing_jpeg):
    """An RGB image in a PDF/X-3 file, a font that is not embedded, and 320 % ink."""
    profile = PROFILES["ingram-8.5x8.5"]
    path = tmp_path / "broken.pdf"
    canvas = Canvas(str(path), pagesize=(profile.page_width_pt, profile.page_height_pt), invariant=1)
    for number in range(1, profile.min_pages + 1):
        canvas.setTrimBox(profile.trim_box(number))
        canvas.setBleedBox((0, 0, profile.page_width_pt, profile.page_height_pt))
        if number == 3:
            canvas.setFillColorCMYK(0.8, 0.8, 0.8, 0.8)
            canvas.rect(100, 100, 200, 200, stroke=0, fill=1)               # 320 % over 2.8 in
            canvas.drawImage(drawing_jpeg, 320, 320, 200, 200)                # RGB, 648 PPI
            canvas.setFont("Helvetica", 14)                                   # base-14: not embedded
            canvas.drawString(100, 400, "not embedded")
        canvas.showPage()
    canvas.save()
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:            # claims PDF/X-3 with SWOP
        pdf.docinfo["/GTS_PDFXVersion"] = "PDF/X-3:2002"
        pdf.docinfo["/Trapped"] = pikepdf.Name("/False")
        pdf.Root.OutputIntents = pikepdf.Array([output_intent(pdf, SWOP_ICC, 4, "CGATS TR 001", "SWOP")])
        pdf.save(path)
    report = preflight_pdf(path, profile)
    codes = {problem.code: problem for problem in report.problems}
    assert {"image_not_cmyk", "font_not_embedded", "ink_over_limit"} <= set(codes)
    assert not {"pdfx_version", "pdfx_trapped", "output_intent"} & set(codes)     # its claims are well formed
    assert codes["image_not_cmyk"].page == 3 and "is RGB" in codes["image_not_cmyk"].message
    assert "Helvetica" in codes["font_not_embedded"].message
    assert codes["ink_over_limit"].page == 3 and "320 %" in codes["ink_over_limit"].message
    assert report.max_ink == pytest.approx(320, abs=1)
    items = {item.name: item for item in report.items}
    assert not items["max_ink_percent"].passed and items["max_ink_percent"].limit == 240
    assert not items["colour_spaces"].passed and not items["fonts_not_embedded"].passed
    assert items["page_boxes"].passed                                       # what is right is not blamed
    # The same file is no KDP file either: it claims PDF/X and its intent is not sRGB.
    kdp = {problem.code for problem in preflight_pdf(path, PROFILES["kdp-8.5x8.5"]).problems}
    assert {"pdfx_version", "output_intent", "font_not_embedded"} <= kdp
    assert not {"ink_over_limit", "image_colour_space"} & kdp                 # RGB and ink are fine for KDP

