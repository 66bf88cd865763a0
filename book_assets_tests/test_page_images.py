"""Page images rasterised from the written PDF (PDFium), in worker processes, reused for unchanged pages."""
from __future__ import annotations

import dataclasses
import io

from PIL import Image

from book_assets.core import page_images as pages_module
from book_assets.core.page_images import page_images, page_miniatures, rasterise_pages
from book_assets.core.render import render_pdf, text_colour_on

from .test_render import PROFILE, jpegs, sample_layout  # noqa: F401 - jpegs is a fixture


def _pdf(tmp_path, jpegs, layout=None):
    layout = layout or sample_layout()
    path = tmp_path / f"book-{id(layout)}.pdf"
    render_pdf(layout, lambda key: str(jpegs[key]), path)
    return layout, path


def test_page_images_show_the_pdf_with_its_bleed_and_geometry(tmp_path, jpegs):
    layout, pdf = _pdf(tmp_path, jpegs)
    pngs = rasterise_pages(pdf, [0, 1], 360, workers=2)
    title = Image.open(io.BytesIO(pngs[0])).convert("RGB")
    assert title.width == 360 and abs(title.height - PROFILE.page_height_pt * 360 / PROFILE.page_width_pt) <= 1
    corner, far_corner = title.getpixel((0, 0)), title.getpixel((359, title.height - 1))   # bleed filled too
    assert all(abs(a - b) <= 2 for a, b in zip(corner, (0x1d, 0x2b, 0x53)))
    assert all(abs(a - b) <= 2 for a, b in zip(far_corner, (0x1d, 0x2b, 0x53)))
    assert text_colour_on((0x1d, 0x2b, 0x53)) == "#ffffff"
    drawing = Image.open(io.BytesIO(pngs[1])).convert("RGB")
    red, green, blue = drawing.getpixel((drawing.width - 5, 5))       # the full-bleed crimson drawing
    assert red > 180 and green < 60 and blue < 90
    assert min(drawing.crop((0, drawing.height - 20, 360, drawing.height)).get_flattened_data()) == (255, 255, 255)
    story_band = drawing.crop((30, drawing.height - 90, 300, drawing.height - 55))
    assert min(sum(pixel) for pixel in story_band.get_flattened_data()) < 200   # the story text, as printed


def test_an_unchanged_book_reuses_every_page_image(tmp_path, jpegs, bucket, monkeypatch):
    layout, pdf = _pdf(tmp_path, jpegs)
    first = page_images(layout.pages, PROFILE, pdf, bucket, 200)
    assert (first.reused, first.rasterised) == (0, 4)

    drawn: list[int] = []
    real = pages_module._rasterise
    monkeypatch.setattr(pages_module, "_rasterise", lambda path, indexes, width: drawn.extend(indexes) or real(path, indexes, width))
    again = page_images(layout.pages, PROFILE, pdf, bucket, 200)
    assert (again.reused, again.rasterised) == (4, 0) and drawn == []
    assert again.pngs == first.pngs


def test_a_changed_page_is_rasterised_again_and_only_that_page(tmp_path, jpegs, bucket, monkeypatch):
    layout, pdf = _pdf(tmp_path, jpegs)
    page_images(layout.pages, PROFILE, pdf, bucket, 200)
    changed = sample_layout()
    story = changed.pages[1].texts[0]
    changed.pages[1].texts[0] = dataclasses.replace(story, lines=["Max lives under the stairs", "and loves red socks."])
    changed, changed_pdf = _pdf(tmp_path, jpegs, changed)

    drawn: list[int] = []
    real = pages_module._rasterise
    monkeypatch.setattr(pages_module, "_rasterise", lambda path, indexes, width: drawn.extend(indexes) or real(path, indexes, width))
    result = page_images(changed.pages, PROFILE, changed_pdf, bucket, 200)
    assert (result.reused, result.rasterised) == (3, 1) and drawn == [1]
    assert result.pngs[1] == rasterise_pages(changed_pdf, [1], 200)[1]        # the new page, from the new PDF


def test_page_miniatures_are_made_once_per_page_image(tmp_path, jpegs, bucket):
    layout, pdf = _pdf(tmp_path, jpegs)
    pngs = page_images(layout.pages, PROFILE, pdf, bucket, 200).pngs
    first = page_miniatures(pngs, bucket, 96)
    assert (first.made, first.reused) == (4, 0)
    with Image.open(io.BytesIO(first.data[1])) as small:
        assert small.format == "JPEG" and small.width == 96
    again = page_miniatures((pngs[0], pngs[1], pngs[2], pngs[0]), bucket, 96)
    assert (again.made, again.reused) == (0, 4) and again.data[3] == first.data[0]


def test_a_rebuilt_book_reuses_its_page_images_and_redraws_only_the_changed_spread(bucket, instance, small_book_files):
    """Real runs (dg.materialize): built twice unchanged, then with one variation replaced; the review
    panel's thumbnails likewise."""
    from .support import build, materialization, upload

    upload(bucket, "again", small_book_files)
    first = materialization(build(bucket, instance, "again"), "book").metadata
    assert first["pages_rasterised"].value == first["pages"].value and first["pages_reused"].value == 0

    assert first["review_thumbnails_drawn"].value > 0 and first["review_thumbnails_reused"].value == 0

    unchanged_run = build(bucket, instance, "again")
    unchanged = materialization(unchanged_run, "book").metadata
    looks = materialization(unchanged_run, "image_pairs").metadata        # no image pair compared again
    assert looks["looks_scored"].value == 0 and looks["looks_reused"].value > 0
    spreads = materialization(unchanged_run, "page_layouts").metadata     # no spread laid out again
    assert spreads["spreads_laid_out"].value == 0 and spreads["spreads_reused"].value > 0
    assert unchanged["pages_reused"].value == unchanged["pages"].value and unchanged["pages_rasterised"].value == 0
    # the preview's review panel: every thumbnail read back, none drawn again
    assert unchanged["review_thumbnails_drawn"].value == 0
    assert unchanged["review_thumbnails_reused"].value == first["review_thumbnails_drawn"].value

    replaced = "generated/max_02.png"
    buffer = io.BytesIO()
    Image.open(io.BytesIO(small_book_files[replaced])).convert("RGB").rotate(90).save(buffer, "PNG")
    bucket.write_bytes(f"books/again/{replaced}", buffer.getvalue())
    changed_run = build(bucket, instance, "again")
    changed = materialization(changed_run, "book").metadata
    assert materialization(changed_run, "page_layouts").metadata["spreads_laid_out"].value == 1   # max's spread
    assert changed["pages"].value == first["pages"].value
    assert 1 <= changed["pages_rasterised"].value <= 2                   # the spread that shows it, no more
    assert changed["pages_reused"].value == changed["pages"].value - changed["pages_rasterised"].value
    assert changed["review_thumbnails_drawn"].value <= 1                 # the replaced variation's, if it is shown
