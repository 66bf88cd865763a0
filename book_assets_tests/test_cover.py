"""The cover sheet: back, spine, front; spine width from pages and paper; spine text only when wide."""
from __future__ import annotations

import pytest
from pypdf import PdfReader

from book_assets.core.cover import SPINE_MARGIN_IN, layout_cover, render_cover
from book_assets.core.layout import BookContent, ImageSource, SpreadContent
from book_assets.core.preflight import preflight_cover
from book_assets.core.press import make_press_ready
from book_assets.core.profiles import PROFILES, normalize_paper

KDP = PROFILES["kdp-8.5x8.5"]


def content() -> BookContent:
    drawing = ImageSource("books/b/drawings/max.jpg", "cache/max.jpg", 1800, 1800, (60.0, 30.0, -40.0))
    variation = ImageSource("books/b/generated/max_01.png", "cache/max.jpg", 1800, 1800)
    return BookContent("Max and Friends", "Room 4", "", [SpreadContent(drawing, "Hi.", [variation], "Max")])


@pytest.mark.parametrize("paper, per_page", [("white", 0.002252), ("cream", 0.0025), ("premium colour", 0.002347)])
def test_spine_width_is_pages_times_paper(paper, per_page):
    cover = layout_cover(content(), KDP, 120, paper)
    assert cover.spine_in == pytest.approx(120 * per_page)
    assert cover.width_pt / 72 == pytest.approx(2 * 8.5 + 2 * 0.125 + 120 * per_page)
    assert cover.height_pt / 72 == pytest.approx(8.5 + 2 * 0.125)
    assert cover.back[2] == pytest.approx(cover.spine[0]) and cover.spine[2] == pytest.approx(cover.front[0])


def test_unknown_paper_is_refused_by_name():
    assert normalize_paper("Premium Color") == "premium-colour"
    with pytest.raises(KeyError):
        layout_cover(content(), KDP, 24, "glossy")


def test_spine_text_only_on_books_of_more_than_79_pages():
    assert layout_cover(content(), KDP, 24).spine_texts == []
    assert layout_cover(content(), KDP, 78).spine_texts == []
    wide = layout_cover(content(), KDP, 120, "cream")
    assert [text.lines for text in wide.spine_texts] == [["Max and Friends \u00b7 Room 4"]]
    spine_text = wide.spine_texts[0]
    across = wide.spine[2] - wide.spine[0] - 2 * SPINE_MARGIN_IN * 72
    assert spine_text.font_size <= across                      # fits between the folds
    assert wide.notes == []
    # 80 pages of white paper make a 0.18 in spine: too narrow to read, so plain — and said so
    narrow = layout_cover(content(), KDP, 80)
    assert narrow.spine_texts == [] and "too narrow" in narrow.notes[0]


def test_front_has_title_author_and_a_sharp_picture_back_keeps_the_barcode_clear():
    cover = layout_cover(content(), KDP, 32)
    front_texts = {text.role: text for text in cover.texts}
    assert front_texts["title"].lines == ["Max and Friends"] and front_texts["author"].lines == ["Room 4"]
    assert front_texts["title"].x >= cover.front[0] and front_texts["blurb"].x < cover.back[2]
    picture = cover.images[0]
    assert picture.x >= cover.front[0] and picture.ppi >= 300
    bx0, by0, bx1, by1 = cover.barcode
    assert (bx1 - bx0, by1 - by0) == pytest.approx((144, 86.4))
    blurb = front_texts["blurb"]
    assert blurb.y >= by1                                         # the blurb stays above the barcode area


@pytest.mark.parametrize("pages", [24, 120])
def test_written_cover_passes_preflight(tmp_path, drawing_jpeg, pages):
    cover = layout_cover(content(), KDP, pages, "white")
    render_cover(cover, lambda key: drawing_jpeg, tmp_path / "cover.pdf", title="Max and Friends")
    make_press_ready(tmp_path / "cover.pdf", KDP)
    report = preflight_cover(tmp_path / "cover.pdf", KDP, cover.sheet, cover.trim_box, cover.safe_boxes())
    assert report.problems == []
    assert report.pages == 1 and report.fonts and report.min_ppi >= 300
    page = PdfReader(tmp_path / "cover.pdf").pages[0]
    assert float(page.trimbox.width) == pytest.approx(cover.width_pt - 18, abs=0.01)
    text = page.extract_text()
    assert "Max and Friends" in text and "Room 4" in text
    # A spine text placed outside its spine is caught on the written file.
    if pages == 120:
        narrow = [box for box in cover.safe_boxes()[:2]]           # back and front only
        report = preflight_cover(tmp_path / "cover.pdf", KDP, cover.sheet, cover.trim_box, narrow)
        assert any("outside the safe area" in str(problem) for problem in report.problems)

