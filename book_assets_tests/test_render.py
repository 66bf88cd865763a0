"""The PDF as a printer sees it (opened with pypdf); its page images are in test_page_images.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from book_assets.core import fonts
from book_assets.core.layout import BookLayout, Page, PlacedImage, PlacedText, PrintProfile
from book_assets.defs.resources import LocalBucket
from book_assets.core.render import RenderStats, render_pdf

BASE_14 = {"Courier", "Courier-Bold", "Courier-BoldOblique", "Courier-Oblique", "Helvetica", "Helvetica-Bold",
           "Helvetica-BoldOblique", "Helvetica-Oblique", "Symbol", "Times-Bold", "Times-BoldItalic",
           "Times-Italic", "Times-Roman", "ZapfDingbats"}
PROFILE = PrintProfile()


@pytest.fixture
def jpegs(tmp_path: Path) -> dict[str, Path]:
    """Three small real JPEG print copies, keyed by their (pretend) bucket keys."""
    paths = {}
    for index, (colour, size) in enumerate([("crimson", (240, 180)), ("royalblue", (180, 240)), ("gold", (200, 200))]):
        path = tmp_path / "cache" / f"copy{index}.jpg"
        path.parent.mkdir(exist_ok=True)
        image = Image.new("RGB", size, colour)
        image.paste(Image.new("RGB", (size[0] // 2, size[1] // 3), "white"), (10, 10))
        image.save(path, format="JPEG", quality=85)
        paths[f"cache/print/copy{index}.jpg"] = path
    return paths


def sample_layout() -> BookLayout:
    keys = [f"cache/print/copy{index}.jpg" for index in range(3)]
    page_w, page_h = PROFILE.page_width_pt, PROFILE.page_height_pt
    title = PlacedText(["Max and Friends"], 60, 380, 500, 60, fonts.BOLD, 36, 42, role="title")
    author = PlacedText(["by Ms. Rivera's Class"], 60, 320, 500, 30, fonts.ITALIC, 18, 22, role="author")
    story = PlacedText(["Max lives under the stairs", "and loves purple socks."], 60, 100, 500, 60,
                       fonts.REGULAR, 20, 26, align="left")
    caption = PlacedText(["Nine ways to be Max,", "and one more"], 60, 30, 500, 34, fonts.REGULAR, 14, 17,
                         role="caption")
    return BookLayout(profile=PROFILE, title="Max and Friends", author="Ms. Rivera's Class", pages=[
        Page(1, "title", texts=[title, author], background="#1d2b53"),
        Page(2, "drawing", images=[PlacedImage("books/b/drawings/max.png", keys[0], 0, 180, page_w, page_h - 180,
                                               240, 180)], texts=[story], drawing_key="books/b/drawings/max.png"),
        Page(3, "variations", images=[PlacedImage(f"books/b/generated/max-{index}.png", key, 60 + 170 * index,
                                                  200, 150, 150, 200, 200) for index, key in enumerate(keys)]
             + [PlacedImage("books/b/generated/max-3.png", keys[0], 60, 380, 150, 112, 240, 180)],
             texts=[caption], grid=(3, 2)),
        Page(4, "end", texts=[PlacedText(["The End"], 60, 300, 500, 50, fonts.BOLD, 32, 38, role="title")],
             background="#fff1e8"),
    ])


@pytest.fixture
def rendered(tmp_path: Path, jpegs) -> tuple[Path, RenderStats]:
    out = tmp_path / "book.pdf"
    stats = render_pdf(sample_layout(), lambda key: str(jpegs[key]), out)
    return out, stats


def test_page_count_and_stats(rendered):
    out, stats = rendered
    assert len(PdfReader(out).pages) == 4
    assert (stats.pages, stats.images, stats.unique_images, stats.reencoded_images) == (4, 5, 3, 0)
    assert stats.bytes == out.stat().st_size > 0
    assert not list(out.parent.glob(".*partial"))


def test_page_boxes(rendered):
    out, _ = rendered
    full = [0, 0, PROFILE.page_width_pt, PROFILE.page_height_pt]
    for number, page in enumerate(PdfReader(out).pages, start=1):
        assert [float(v) for v in page.mediabox] == pytest.approx(full)
        assert [float(v) for v in page.bleedbox] == pytest.approx(full)
        assert [float(v) for v in page.trimbox] == pytest.approx(list(PROFILE.trim_box(number)))
    # the bleed sits on the outside edge: right of rectos, left of versos
    reader = PdfReader(out)
    assert float(reader.pages[0].trimbox[0]) == 0 and float(reader.pages[1].trimbox[0]) > 0


def test_every_font_is_embedded_and_none_is_base_14(rendered):
    out, _ = rendered
    seen = set()
    for page in PdfReader(out).pages:
        page_fonts = page["/Resources"].get_object().get("/Font", {})
        assert page_fonts, "text pages need font resources"
        for font_ref in page_fonts.values():
            font = font_ref.get_object()
            base_name = str(font["/BaseFont"]).lstrip("/")
            assert base_name.split("+")[-1] not in BASE_14
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, base_name
            seen.add(base_name.split("+")[-1])
    assert {"Andika", "Andika-Bold"} <= seen
    assert b"Helvetica" not in out.read_bytes()


def test_extracted_text_equals_placed_lines(rendered):
    out, _ = rendered
    for page, placed in zip(PdfReader(out).pages, sample_layout().pages):
        expected = [line for text in placed.texts for line in text.lines]
        # pypdf puts a space before a centred line that starts left of the line above: strip it
        assert [line.strip() for line in page.extract_text().splitlines()] == expected


def test_lines_sit_at_their_baselines_and_centres(rendered):
    out, _ = rendered
    drawn = []
    def visit(text, _cm, tm, _font, _size):
        if text.strip():
            drawn.append((text.strip(), tm[4], tm[5]))
    PdfReader(out).pages[2].extract_text(visitor_text=visit)
    caption = sample_layout().pages[2].texts[0]
    # each line's capitals are centred in its leading-high slot, counted from the top of the box
    cap = pdfmetrics.getFont(fonts.REGULAR).face.capHeight / 1000 * caption.font_size
    for index, line in enumerate(caption.lines):
        width = pdfmetrics.stringWidth(line, fonts.REGULAR, caption.font_size)
        x, baseline = next((x, y) for text, x, y in drawn if text == line)
        assert x == pytest.approx(caption.x + (caption.width - width) / 2, abs=0.01)
        assert baseline == pytest.approx(caption.y + caption.height - (caption.leading + cap) / 2 - index * caption.leading, abs=0.01)


def test_jpeg_bytes_pass_through_untouched(rendered, jpegs):
    out, _ = rendered
    file_bytes = {path.read_bytes() for path in jpegs.values()}
    streams = []
    for page in PdfReader(out).pages:
        for xobject in page["/Resources"].get_object().get("/XObject", {}).values():
            image = xobject.get_object()
            assert list(image["/Filter"]) == ["/DCTDecode"]
            streams.append(image._data)
    assert set(streams) == file_bytes


def test_no_annotations_and_metadata(rendered):
    out, _ = rendered
    reader = PdfReader(out)
    assert all("/Annots" not in page for page in reader.pages)
    assert b"/Link" not in out.read_bytes() and b"/URI" not in out.read_bytes()
    assert reader.metadata.title == "Max and Friends"
    assert reader.metadata.author == "Ms. Rivera's Class"


def test_deterministic_bytes_even_from_another_folder(tmp_path, jpegs):
    first = tmp_path / "first.pdf"
    render_pdf(sample_layout(), lambda key: str(jpegs[key]), first)
    moved = {}
    for key, path in jpegs.items():   # same bytes, different local path and no .jpg suffix
        moved[key] = tmp_path / "elsewhere" / path.stem
        moved[key].parent.mkdir(exist_ok=True)
        moved[key].write_bytes(path.read_bytes())
    second = tmp_path / "second.pdf"
    stats = render_pdf(sample_layout(), lambda key: str(moved[key]), second)
    assert first.read_bytes() == second.read_bytes()
    assert stats.reencoded_images == 0


def test_non_jpeg_print_copy_still_renders_and_is_counted(tmp_path, jpegs):
    png_copy = tmp_path / "copy.png"
    Image.new("RGB", (64, 48), "seagreen").save(png_copy)
    layout = sample_layout()
    layout.pages[1].images[0].print_copy = "cache/print/odd.png"
    paths = {**{key: str(path) for key, path in jpegs.items()}, "cache/print/odd.png": str(png_copy)}
    stats = render_pdf(layout, paths.__getitem__, tmp_path / "book.pdf")
    assert stats.reencoded_images == 1 and stats.unique_images == 4
    assert len(PdfReader(tmp_path / "book.pdf").pages) == 4


def test_empty_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no pages"):
        render_pdf(BookLayout(PROFILE, "t", "a", []), str, tmp_path / "book.pdf")
    assert not (tmp_path / "book.pdf").exists()


def _content_streams(path: Path) -> list[bytes]:
    import pikepdf

    with pikepdf.open(path) as pdf:
        return [page.obj.Contents.read_bytes() for page in pdf.pages]     # reportlab: one stream a page


def _eight_pages() -> BookLayout:
    layout = sample_layout()
    extra = [dataclasses.replace(page, number=page.number + 4) for page in sample_layout().pages]
    return BookLayout(layout.profile, layout.title, layout.author, layout.pages + extra)


def test_a_rebuild_reuses_unchanged_parts_and_equals_a_cold_build_page_for_page(tmp_path, jpegs, bucket):
    paths = lambda key: str(jpegs[key])      # noqa: E731
    layout = _eight_pages()
    first = render_pdf(layout, paths, tmp_path / "first.pdf", store=bucket)
    assert (first.parts, first.parts_reused) == (2, 0)
    unchanged = render_pdf(layout, paths, tmp_path / "unchanged.pdf", store=bucket)
    assert unchanged.parts_reused == 2                                      # nothing drawn again
    assert _content_streams(tmp_path / "unchanged.pdf") == _content_streams(tmp_path / "first.pdf")

    changed = _eight_pages()
    story = changed.pages[5].texts[0]
    changed.pages[5].texts[0] = dataclasses.replace(story, lines=["Max lives under the stairs", "and loves red socks."])
    incremental = render_pdf(changed, paths, tmp_path / "incremental.pdf", store=bucket)
    assert incremental.parts_reused == 1                                    # only the changed page's part drawn
    cold = render_pdf(changed, paths, tmp_path / "cold.pdf", store=LocalBucket(root=str(tmp_path / "empty")))
    assert cold.parts_reused == 0
    assert _content_streams(tmp_path / "incremental.pdf") == _content_streams(tmp_path / "cold.pdf")
    assert _content_streams(tmp_path / "incremental.pdf")[5] != _content_streams(tmp_path / "first.pdf")[5]
    assert len(PdfReader(tmp_path / "incremental.pdf").pages) == 8


def test_a_new_title_redraws_only_the_part_showing_it_and_the_book_equals_a_cold_one(tmp_path, jpegs, bucket):
    """book.toml's title is on the title page and in the document info: the other parts are reused,
    and the joined book carries the new title (the reused parts' own info names the old one)."""
    import pikepdf

    paths = lambda key: str(jpegs[key])      # noqa: E731
    render_pdf(_eight_pages(), paths, tmp_path / "first.pdf", store=bucket)
    retitled = _eight_pages()
    retitled.title = "Max and Friends, Again"
    retitled.pages[0].texts[0] = dataclasses.replace(retitled.pages[0].texts[0], lines=["Max and Friends, Again"])
    incremental = render_pdf(retitled, paths, tmp_path / "incremental.pdf", store=bucket)
    assert (incremental.parts, incremental.parts_reused) == (2, 1)          # the part with the title page drawn
    cold = render_pdf(retitled, paths, tmp_path / "cold.pdf", store=LocalBucket(root=str(tmp_path / "empty")))
    assert cold.parts_reused == 0
    assert (tmp_path / "incremental.pdf").read_bytes() == (tmp_path / "cold.pdf").read_bytes()
    with pikepdf.open(tmp_path / "incremental.pdf") as pdf:
        assert str(pdf.docinfo["/Title"]) == "Max and Friends, Again"
        assert str(pdf.docinfo["/Author"]) == "Ms. Rivera's Class"


def test_print_copies_are_fetched_together_once_each_and_released_even_when_one_is_missing(gcs_bucket):
    import contextlib
    import threading

    from book_assets.core.store import LocalCopies

    keys = [f"work/print/{n}.jpg" for n in range(12)]
    for n, key in enumerate(keys):
        gcs_bucket.write_bytes(key, bytes([n]) * 100, content_type="image/jpeg")
    fetching_threads = set()

    class Recording:                                        # the real GCS store, noting which thread reads
        def local_path(self, key):
            fetching_threads.add(threading.current_thread().name)
            return gcs_bucket.local_path(key)

    with contextlib.ExitStack() as files:
        copies = LocalCopies(Recording(), files)
        copies.prefetch(keys)
        paths = [copies(key) for key in keys]               # already here: no second download
        assert [Path(p).read_bytes() for p in paths] == [bytes([n]) * 100 for n in range(12)]
        assert len(fetching_threads) > 1 and all(name.startswith("fetch") for name in fetching_threads)
        with pytest.raises(FileNotFoundError):
            copies.prefetch(["work/print/missing.jpg", "work/print/extra.jpg", *keys])
    assert not any(Path(p).exists() for p in paths)         # every download released with the stack


def test_a_picture_in_several_parts_is_resampled_once_and_the_book_equals_one_drawn_without_looking_ahead(
        tmp_path, monkeypatch):
    """Pictures are resampled ahead of the part that places them, while an earlier part is drawn; one
    placed in three parts (12 pages, 4 a part) is resampled once for all three (counted), and the book
    is byte for byte the book drawn with no part looked ahead."""
    import collections
    import random

    from book_assets.core import draw, render

    rng = random.Random(3)
    big = tmp_path / "big.jpg"
    Image.frombytes("RGB", (800, 600), bytes(rng.randrange(256) for _ in range(800 * 600 * 3))).save(big, quality=90)
    key = "cache/print/big.jpg"
    # 2 x 1.5 in for 800 x 600 px: 400 PPI... at 1 x 0.75 in, 800 PPI, above max_image_ppi: resampled
    pages = [Page(n, "drawing", images=[PlacedImage(f"books/b/drawings/d{n}.jpg", key, 100, 100, 72, 54, 800, 600)]
                  if n in (1, 9, 12) else [], texts=[]) for n in range(1, 13)]
    layout = BookLayout(PROFILE, "Big", "Us", pages)
    calls = collections.Counter()
    real = draw._resampled_jpeg

    def counted(path, size):
        calls[path] += 1
        return real(path, size)

    monkeypatch.setattr(draw, "_resampled_jpeg", counted)
    ahead = render_pdf(layout, lambda _: str(big), tmp_path / "ahead.pdf")
    assert calls == {str(big): 1} and ahead.parts == 3
    monkeypatch.setattr(render, "RESAMPLE_AHEAD_PARTS", 0)
    render_pdf(layout, lambda _: str(big), tmp_path / "in-turn.pdf")
    assert (tmp_path / "ahead.pdf").read_bytes() == (tmp_path / "in-turn.pdf").read_bytes()
    with Image.open(big) as source:
        assert source.size == (800, 600)
    import pikepdf

    with pikepdf.open(tmp_path / "ahead.pdf") as pdf:     # the placed picture is the resampled one: 400 PPI
        sizes = {(int(x.Width), int(x.Height)) for page in pdf.pages for x in page.get_images().values()}
    assert sizes == {(400, 300)}


@pytest.mark.parametrize("source_px, decoded_px", [
    (3000, 1500),     # 652 PPI at 4.6 in: the 1/2 decode prints at 326 PPI (>= min_ppi), placed as it is
    (2400, 1840),     # 522 PPI: a 1/2 decode (261 PPI) would fall below min_ppi, so a full decode resized to 400
    (6400, 1600),     # 1391 PPI: the 1/4 decode (348 PPI) is the smallest placeable one
])
def test_a_large_jpeg_is_brought_down_by_its_smallest_placeable_decode(tmp_path, source_px, decoded_px):
    """A print copy placed far above max_image_ppi is decoded at the smallest DCT scale that still
    prints at min_ppi, and resized (to resample_ppi) only when that decode is larger than resample_ppi
    needs: never below min_ppi, never above resample_ppi, its ICC profile kept."""
    import io

    from PIL import ImageCms

    from book_assets.core.draw import _resampled_jpeg, resample_targets

    source = tmp_path / "big.jpg"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.radial_gradient("L").resize((source_px, source_px)).convert("RGB").save(source, quality=85, icc_profile=icc)
    placed = PlacedImage("books/b/drawings/d.jpg", "cache/big.jpg", 0, 0, 4.6 * 72, 4.6 * 72, source_px, source_px)
    target = resample_targets([placed], PROFILE)["cache/big.jpg"]
    with Image.open(io.BytesIO(_resampled_jpeg(str(source), target))) as made:
        assert made.size == (decoded_px, decoded_px)
        assert made.info.get("icc_profile") == icc
    ppi = decoded_px / 4.6
    assert PROFILE.min_ppi <= ppi <= PROFILE.resample_ppi + 1


def test_a_saved_book_is_identified_by_the_digest_of_its_inputs(tmp_path):
    """save_identified writes the digest as both elements of the trailer's /ID (dropping one the
    document brought along), the file stays whole (qpdf finds no error), and the same digest gives
    the same bytes while another gives another identifier."""
    import subprocess

    import pikepdf

    from book_assets.core.render import save_identified

    def saved(name: str, digest: str) -> Path:
        with pikepdf.new() as pdf:
            pdf.add_blank_page()
            pdf.trailer.ID = pikepdf.Array([pikepdf.String(b"x" * 16), pikepdf.String(b"y" * 16)])
            save_identified(pdf, tmp_path / name, digest)
        return tmp_path / name

    first, again, other = saved("a.pdf", "ab" * 32), saved("b.pdf", "ab" * 32), saved("c.pdf", "cd" * 32)
    with pikepdf.open(first) as pdf:
        assert [bytes(part) for part in pdf.trailer.ID] == [bytes.fromhex("ab" * 16)] * 2
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    check = subprocess.run(["qpdf", "--check", str(first)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
