"""Page layout: page sequence, geometry inside page and safe boxes, text fitting, and checks."""
from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image, ImageCms

from book_assets.core.arrange import grid_for
from book_assets.core.fonts import BOLD, REGULAR, text_width
from book_assets.core.layout import (
    POINTS_PER_INCH,
    BookContent,
    BookLayout,
    ImageSource,
    Page,
    PlacedImage,
    PlacedText,
    PrintProfile,
    SpreadContent,
    fit_text,
    layout_book,
    min_text_size,
    soft_background,
)
from book_assets.core.layout_checks import check_layout
from book_assets.core.typography import typeset
from book_assets.core.layout import fit_block, wrap_text

PROFILE = PrintProfile()
SHORT_STORY = "Max is a friendly monster. He eats blue pancakes and sings to the moon."
VARIATION_COUNTS = [0, 3, 4, 5, 9, 12, 16, 17, 40]
_SRGB_TO_LAB = ImageCms.buildTransformFromOpenProfiles(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")


def mean_lab_of(png: bytes) -> tuple[float, float, float]:
    """Mean Lab of a real image, the way the imaging stage hands it to the layout."""
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((1, 1), Image.Resampling.BOX)
    lightness, a, b = ImageCms.applyTransform(image, _SRGB_TO_LAB).getpixel((0, 0))
    return lightness * 100 / 255, float(a - 128), float(b - 128)


def png_bytes(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


_LAB_CACHE: dict[tuple[int, int, int], tuple[float, float, float]] = {}


def source(key: str, width: int, height: int, colour: tuple[int, int, int]) -> ImageSource:
    """An ImageSource whose colour is measured from a small real PNG of that colour."""
    if colour not in _LAB_CACHE:
        _LAB_CACHE[colour] = mean_lab_of(png_bytes((8, 8), colour))
    return ImageSource(key=f"books/demo/{key}.png", print_copy=f"cache/{key}.jpg",
                       width_px=width, height_px=height, mean_lab=_LAB_CACHE[colour])


def make_book(drawings: int, variations: int, text: str = SHORT_STORY, *, dedication: str = "For Grandma",
              title: str = "Monster") -> BookContent:
    spreads = []
    for d in range(drawings):
        drawing = source(f"drawings/d{d}", 2400, 1800, ((40 * d) % 255, 120, 200))
        variants = [source(f"generated/d{d}-v{v}", 1024, 1024 if v % 3 else 1280,
                           ((v * 37) % 256, (v * 91) % 256, (v * 53 + d * 20) % 256))
                    for v in range(variations)]
        spreads.append(SpreadContent(drawing=drawing, text=text, variations=variants,
                                     title=f"{title} number {d + 1}"))
    return BookContent(title="The Monsters of Room 4", author="Mia, age 6", dedication=dedication,
                       spreads=spreads)


def inside(box, outer, tolerance: float = 1e-6) -> bool:
    return (box[0] >= outer[0] - tolerance and box[1] >= outer[1] - tolerance
            and box[2] <= outer[2] + tolerance and box[3] <= outer[3] + tolerance)


def content_page_count(drawings: int, variations: int) -> int:
    """Pages before padding: title, copyright, dedication, the spreads, the end and the closing page."""
    facing_pages = max(1, math.ceil(variations / 16))
    per_spread = 1 + facing_pages + (1 if facing_pages % 2 == 0 else 0)
    return 3 + drawings * per_spread + 2


def expected_page_count(drawings: int, variations: int, profile: PrintProfile = PROFILE) -> int:
    pages = content_page_count(drawings, variations)
    return max(24, math.ceil(pages / 8) * 8) if profile.is_print else pages + pages % 2


def text_of(page: Page, role: str) -> PlacedText:
    return next(text for text in page.texts if text.role == role)


def assert_geometry(layout: BookLayout) -> None:
    page_box = (0.0, 0.0, layout.profile.page_width_pt, layout.profile.page_height_pt)
    for page in layout.pages:
        safe = layout.profile.safe_box(page.number)
        for image in page.images:
            box = (image.x, image.y, image.x + image.width, image.y + image.height)
            assert inside(box, page_box), (page.number, image.key)
            assert inside(box, safe), (page.number, image.key)        # this layout keeps all in safe
            assert image.width / image.height == pytest.approx(image.width_px / image.height_px)
        for text in page.texts:
            box = (text.x, text.y, text.x + text.width, text.y + text.height)
            assert inside(box, safe), (page.number, text.role)
            assert text.font_size >= min_text_size(text.role, layout.profile)
            if text.role in ("story", "caption", "title", "dedication", "end", "prompt", "closing"):
                assert text.font_size >= 14
            for line in text.lines:
                assert text_width(line, text.font_name, text.font_size) <= text.width + 1e-6
            assert len(text.lines) * text.leading <= text.height + 1e-6


@pytest.mark.parametrize("drawings, variations",
                         [(0, 0)] + [(d, v) for d in (1, 3) for v in VARIATION_COUNTS])
def test_page_sequence_and_geometry(drawings, variations):
    content = make_book(drawings, variations)
    layout = layout_book(content, PROFILE)
    pages = layout.pages
    kinds = [page.kind for page in pages]

    assert [page.number for page in pages] == list(range(1, len(pages) + 1))
    assert len(pages) == expected_page_count(drawings, variations)
    assert len(pages) % 2 == 0
    assert kinds[:3] == ["title", "copyright", "dedication"]
    assert kinds[-1] == "closing" and kinds.count("end") == 1
    end = kinds.index("end")
    assert set(kinds[end + 1:-1]) <= {"activity", "blank"}        # padding only after "The End"
    unnumbered = ("title", "copyright", "dedication", "blank")      # front matter and blanks
    folios = {page.number: text_of(page, "folio") for page in pages if page.kind not in unnumbered}
    assert all(text.lines == [str(number)] for number, text in folios.items())
    assert not [page for page in pages if page.kind in unnumbered and page.folio]
    assert not [t for page in pages if page.kind in unnumbered for t in page.texts if t.role == "folio"]
    assert all(not (a == b == "blank") for a, b in zip(kinds, kinds[1:])), kinds
    assert kinds.count("drawing") == drawings

    drawing_pages = [page for page in pages if page.kind == "drawing"]
    for spread, drawing_page in zip(content.spreads, drawing_pages):
        assert drawing_page.number % 2 == 0
        assert drawing_page.drawing_key == spread.drawing.key
        assert [image.key for image in drawing_page.images] == [spread.drawing.key]
        following = pages[drawing_page.number:]               # pages after the drawing page
        if not spread.variations:
            story = following[0]
            assert story.kind == "story" and not story.images
            assert " ".join(" ".join(t.lines) for t in story.texts if t.role == "story").split() \
                == spread.text.split()
            continue
        large = following[0].kind == "story"       # a roomier spread: drawing | story, then the grids
        if large:
            following = following[1:]
        grid_pages = [following[0]]
        for page in following[1:]:
            if page.kind != "variations-continued":
                break
            grid_pages.append(page)
        assert grid_pages[0].kind == "variations"
        expected_grids = math.ceil(len(spread.variations) / 16)
        assert len(grid_pages) == (max(expected_grids, min(2, len(spread.variations))) if large else expected_grids)
        placed = [image.key for page in grid_pages for image in page.images]
        assert sorted(placed) == sorted(v.key for v in spread.variations)   # each exactly once
        for page in grid_pages:
            assert 1 <= len(page.images) <= 16
            assert page.grid == grid_for(len(page.images))
            assert page.cells is not None and len(page.cells) == page.grid[0] * page.grid[1]
            assert [key for key in page.cells if key is not None] == [image.key for image in page.images]
            assert page.harmony is not None and page.random_harmony is not None
            assert page.drawing_key == spread.drawing.key
    assert not [page for page in pages if page.kind == "variations" and not page.images]

    assert check_layout(layout) == []
    assert_geometry(layout)


def test_title_and_dedication_pages():
    layout = layout_book(make_book(2, 4, dedication=""))
    title_page, dedication_page = layout.pages[0], layout.pages[2]
    roles = {text.role: text for text in title_page.texts}
    assert roles["title"].lines == ["The Monsters of Room 4"] and roles["title"].font_name == BOLD
    assert roles["author"].lines == ["Mia, age 6"]
    assert [image.key for image in title_page.images] == ["books/demo/drawings/d0.png"]
    assert "This book belongs to" in text_of(dedication_page, "dedication").lines
    layout_with = layout_book(make_book(0, 0, dedication="For Grandma, who reads to us"))
    assert text_of(layout_with.pages[2], "dedication").lines == ["For Grandma, who reads to us"]
    small_print = " ".join(text_of(layout_with.pages[1], "copyright").lines)
    assert "Text and pictures \u00a9 " in small_print and "Mia, age 6. All rights reserved." in small_print
    content = make_book(0, 0)
    content.copyright = "\u00a9 2026 Room 4. Printed with love."
    assert "\u00a9 2026 Room 4." in " ".join(text_of(layout_book(content).pages[1], "copyright").lines).replace("\u00a0", " ")
    assert layout_with.pages[0].images == []


def test_layout_is_deterministic_and_ppi_is_the_effective_resolution():
    first = layout_book(make_book(2, 17)).to_dict()
    assert layout_book(make_book(2, 17)).to_dict() == first
    layout = layout_book(make_book(1, 4))
    drawing = layout.pages[3].images[0]
    assert drawing.ppi == pytest.approx(drawing.width_px / (drawing.width / POINTS_PER_INCH))
    assert drawing.ppi >= 200


def test_spread_pages_share_a_soft_background():
    layout = layout_book(make_book(1, 20))
    spread_pages = [page for page in layout.pages[3:] if page.drawing_key]
    assert len({page.background for page in spread_pages}) == 1
    colour = spread_pages[0].background
    assert colour != "#ffffff"
    assert all(int(colour[i:i + 2], 16) >= 0xe0 for i in (1, 3, 5))   # pale enough for black text
    assert soft_background((50.0, 0.0, 0.0)) == soft_background((20.0, 0.0, 0.0))


def test_fit_text_wraps_within_width_and_picks_largest_size():
    text = "Once upon a time a small purple dragon found a very shiny pebble by the river. " * 4
    lines, size = fit_text(text, 300, 250, font_name=REGULAR, preferred_size=22, min_size=14)
    assert 14 <= size < 22
    assert all(text_width(line, REGULAR, size) <= 300 + 1e-6 for line in lines)
    assert len(lines) * size * 1.3 <= 250 + 1e-6
    assert " ".join(lines).split() == text.split()                   # nothing lost, words intact
    # The next half point up would not fit.
    assert fit_text(text, 300, 250, font_name=REGULAR, preferred_size=22, min_size=size + 0.5) is None
    assert fit_text("Hello", 300, 100, font_name=REGULAR, preferred_size=22, min_size=14) == (["Hello"], 22)
    assert fit_text(text * 10, 300, 100, font_name=REGULAR, preferred_size=22, min_size=14) is None
    assert fit_text("", 300, 100, font_name=REGULAR, preferred_size=22, min_size=14) == ([], 22)


def test_fit_text_breaks_a_word_only_when_it_cannot_fit():
    long_word = "Supercalifragilisticexpialidocious" * 2
    lines, size = fit_text(f"a {long_word} b", 120, 400, font_name=REGULAR, preferred_size=14, min_size=14)
    assert len(lines) > 3
    assert "".join(lines).replace(" ", "") == f"a{long_word}b"
    assert all(text_width(line, REGULAR, size) <= 120 + 1e-6 for line in lines)
    lines, _ = fit_text("tiny words only here", 120, 400, font_name=REGULAR, preferred_size=14, min_size=14)
    assert all(word in {"tiny", "words", "only", "here"} for line in lines for word in line.split())
    paragraphs, _ = fit_text("One.\n\n\nTwo.", 300, 400, font_name=REGULAR, preferred_size=14, min_size=14)
    assert paragraphs == ["One.", "", "Two."]
    with pytest.raises(ValueError):
        fit_text("x", 100, 100, font_name=REGULAR, preferred_size=10, min_size=14)


def _drawing_page(text: str) -> Page:
    return layout_book(make_book(1, 4, text), roomy_when_sparse=False).pages[3]


def test_long_text_shrinks_but_never_below_minimum_then_takes_frame_height():
    short = _drawing_page(SHORT_STORY)
    medium = _drawing_page("The little monster walked all the way to the market to buy apples. " * 5)
    long = _drawing_page("The little monster walked all the way to the market to buy apples. " * 12)

    def story(page: Page) -> PlacedText:
        return next(text for text in page.texts if text.role == "story")

    assert story(short).font_size == 22 and story(short).shrunk_from is None
    assert 14 <= story(medium).font_size < 22 and story(medium).shrunk_from == 22
    assert story(long).font_size == 14 and story(long).shrunk_from == 22
    assert not story(long).truncated
    assert " ".join(story(long).lines).split() == ("The little monster walked all the way to the market "
                                                   "to buy apples. " * 12).split()
    # Short and medium keep the full frame; the long text took height from the drawing instead.
    assert short.images[0].height == pytest.approx(medium.images[0].height)
    assert long.images[0].height < short.images[0].height - 20
    assert long.images[0].y >= story(long).y + story(long).height
    long_book = layout_book(make_book(1, 4, "The little monster walked to the market. " * 20), roomy_when_sparse=False)
    assert check_layout(long_book) == []
    assert_geometry(long_book)


def test_text_beyond_any_frame_is_cut_and_reported():
    page = _drawing_page("word " * 2000)
    story = next(text for text in page.texts if text.role == "story")
    assert story.truncated and story.lines[-1].endswith("\u2026")
    assert story.font_size == 14
    content_height = 558 - (12 * 1.3 + 6)                              # safe box less the folio band
    assert page.images[0].height >= 0.3 * content_height - 1e-6        # the drawing keeps its floor
    layout = layout_book(make_book(1, 4, "word " * 2000))
    assert any("cut short" in str(problem) for problem in check_layout(layout))


def test_check_layout_reports_each_problem_in_words():
    safe = PROFILE.safe_box(2)

    def image(key: str, x: float, y: float, size: float = 100) -> PlacedImage:
        return PlacedImage(key=key, print_copy=key, x=x, y=y, width=size, height=size,
                           width_px=1000, height_px=1000)

    bad = Page(number=2, kind="drawing", images=[
        image("off-page", PROFILE.page_width_pt - 50, 100),
        image("a", 200, 200), image("b", 250, 250),
    ], texts=[
        PlacedText(lines=["tiny"], x=safe[0], y=safe[1], width=200, height=30, font_name=REGULAR,
                   font_size=10, leading=13),
        PlacedText(lines=["in the margin"], x=safe[0] - 20, y=safe[1] + 40, width=200, height=30,
                   font_name=REGULAR, font_size=16, leading=20),
    ])
    problems = check_layout(BookLayout(PROFILE, "t", "a", [Page(number=1, kind="title"), bad,
                                                           Page(number=3, kind="variations")]))
    text = "\n".join(map(str, problems))
    assert "off-page reaches outside the page" in text
    assert "pictures a and b overlap" in text
    assert "below the readable minimum of 14 pt" in text
    assert "outside the safe area" in text
    assert "variations page without any pictures" in text
    assert "3 pages" in text
    assert all(problem.message.endswith(".") for problem in problems)


def test_report_lists_text_wider_than_its_box_and_blank_runs():
    wide = PlacedText(lines=["a line far too wide for a tiny box"], x=100, y=100, width=40, height=30,
                      font_name=REGULAR, font_size=16, leading=20)
    pages = [Page(number=1, kind="title"), Page(number=2, kind="blank"), Page(number=3, kind="blank"),
             Page(number=4, kind="end", texts=[wide])]
    problems = check_layout(BookLayout(PROFILE, "t", "a", pages))
    assert any("second blank page in a row" in str(problem) for problem in problems)
    assert any("wider than its box" in str(problem) for problem in problems)


def test_grid_cells_stop_growing_at_the_target_resolution():
    square = [source(f"generated/sq{v}", 1024, 1024, (200, 40 * v, 90)) for v in range(4)]
    content = BookContent("T", "A", "", [SpreadContent(source("drawings/sq", 3000, 3000, (9, 9, 9)),
                                                       "Hi.", square)])
    grid_page = layout_book(content, roomy_when_sparse=False).pages[4]
    assert grid_page.grid == (2, 2)
    assert min(image.ppi for image in grid_page.images) >= PROFILE.min_ppi
    # Still a generous picture: each tile over 3.3 in wide.
    assert all(image.width / POINTS_PER_INCH > 3.3 for image in grid_page.images)
    # Low-resolution tiles are not shrunk to stamps: each keeps at least half of its room.
    tiny = [source(f"generated/tiny{v}", 200, 200, (20, 40 * v, 90)) for v in range(4)]
    content.spreads[0].variations = tiny
    tiny_page = layout_book(content, roomy_when_sparse=False).pages[4]
    room = (558 - (12 * 1.3 + 6) - 10.8) / 2
    assert all(image.width > 0.5 * room - 1e-6 for image in tiny_page.images)


def test_overlong_front_matter_and_captions_stay_in_their_boxes():
    content = make_book(2, 5, text="Story " * 300, dedication="For everyone " * 200,
                        title="A very long and winding title about dragons " * 4)
    content.title = "A very long and winding title about dragons " * 8
    content.author = "Mia and Max and Lou " * 10
    layout = layout_book(content, roomy_when_sparse=False)
    assert_geometry(layout)
    problems = check_layout(layout)
    assert problems and all("cut short" in str(problem) for problem in problems)
    assert {problem.page for problem in problems} == {1, 3, 4, 6}


def test_wordless_story_page_is_reported():
    drawing = source("drawings/quiet", 1200, 1200, (90, 90, 200))
    layout = layout_book(BookContent("Quiet", "Lou", "", [SpreadContent(drawing, "", [], "")]))
    assert [page.kind for page in layout.pages][:7] == ["title", "copyright", "dedication", "drawing", "story",
                                                        "end", "activity"]
    assert [str(p) for p in check_layout(layout)] == [
        "Page 5: This page faces a drawing that has no variations, but has no words on it. "
        "Fix: give the drawing a text in book.toml."]


def _drawing_at(width_px: int) -> PlacedImage:
    drawing = source("drawings/lowres", width_px, width_px, (200, 90, 90))
    content = BookContent("T", "A", "", [SpreadContent(drawing, "", [], "")])
    return next(page for page in layout_book(content).pages if page.kind == "drawing").images[0]


def test_too_few_pixels_shrink_the_frame_to_keep_300_ppi_centred():
    full = _drawing_at(4000)                       # plenty of pixels: fills its frame
    soft = _drawing_at(1500)                       # 1500 px would print at ~200 PPI in the full frame
    assert full.ppi > 300
    assert soft.ppi == pytest.approx(300, abs=0.01) and soft.width < full.width
    assert soft.width == pytest.approx(1500 / 300 * POINTS_PER_INCH, abs=0.01)
    for axis, size in (("x", "width"), ("y", "height")):        # centred where the full frame was
        assert getattr(soft, axis) + getattr(soft, size) / 2 == pytest.approx(
            getattr(full, axis) + getattr(full, size) / 2)
    # Too small even at the smallest frame (half the width): kept at that size, and below 200 PPI.
    tiny = _drawing_at(500)
    assert tiny.width == pytest.approx(full.width * 0.5)
    assert tiny.ppi < 200


def test_every_profile_lays_out_inside_its_own_boxes():
    from book_assets.core.profiles import PROFILES

    for profile in PROFILES.values():
        layout = layout_book(make_book(3, 9), profile)
        assert check_layout(layout) == [], profile.name
        assert_geometry(layout)
        assert len(layout.pages) == expected_page_count(3, 9, profile), profile.name
        if not profile.is_print:
            assert profile.trim_box(2) == (0.0, 0.0, profile.page_width_pt, profile.page_height_pt)


# -- pages a designer would sign -----------------------------------------------------------------

def _rows(page: Page) -> list[list]:
    """The page's tiles grouped by row (top first), each row's frames as (left, right)."""
    rows: dict[float, list] = {}
    for image in page.images:
        rows.setdefault(round(image.y + image.height / 2, 3), []).append(image)
    return [sorted(rows[y], key=lambda image: image.x) for y in sorted(rows, reverse=True)]


@pytest.mark.parametrize("count", range(1, 41))
def test_every_grid_from_1_to_40_variations_is_balanced(count):
    """No hole: rows are full but the last, which is centred under the others (each row's tiles sit
    symmetrically about the page's safe-box centre, at even steps)."""
    layout = layout_book(make_book(1, count), PROFILE)
    grids = [page for page in layout.pages if page.kind in ("variations", "variations-continued")]
    assert sum(len(page.images) for page in grids) == count
    for page in grids:
        safe = PROFILE.safe_box(page.number)
        middle = (safe[0] + safe[2]) / 2
        columns = page.grid[0]
        rows = _rows(page)
        assert all(len(row) == columns for row in rows[:-1]) and 1 <= len(rows[-1]) <= columns
        cell = None
        for row in rows:
            centres = [image.x + image.width / 2 for image in row]
            assert abs((centres[0] + centres[-1]) / 2 - middle) < 0.5, (count, page.number, centres)
            steps = {round(b - a, 1) for a, b in zip(centres, centres[1:])}
            assert len(steps) <= 1 and (cell is None or not steps or steps == cell), (count, steps, cell)
            cell = steps or cell


@pytest.mark.parametrize("drawings, variations", [(1, 2), (2, 4), (3, 1), (7, 9), (12, 5)])
def test_end_matter_gives_each_character_a_draw_page_before_any_blank(drawings, variations):
    layout = layout_book(make_book(drawings, variations), PROFILE)
    kinds = [page.kind for page in layout.pages]
    end = kinds.index("end")
    tail = layout.pages[end + 1:-1]
    prompts = [" ".join(t.lines) for page in tail if page.kind == "activity" for t in page.texts if t.role == "prompt"]
    names = [f"Monster number {d + 1}" for d in range(drawings)]
    first_blank = next((i for i, page in enumerate(tail) if page.kind == "blank"), len(tail))
    drawn = [name for name in names if any(name in prompt.replace("\u00a0", " ") for prompt in prompts[:first_blank])]
    assert drawn == names[:len(tail)] or first_blank == len(tail) and len(drawn) == min(len(names), len(tail))
    assert all(not (a == b == "blank") for a, b in zip(kinds, kinds[1:])), kinds
    assert kinds[-1] == "closing" and len(layout.pages) == expected_page_count(drawings, variations)


def test_a_small_book_gets_larger_layouts_rather_than_filler():
    """Two drawings in a 24-page book: each gets drawing | story and its variations over two pages,
    so filler falls from 15 pages to 11."""
    layout = layout_book(make_book(2, 4), PROFILE)
    kinds = [page.kind for page in layout.pages]
    assert kinds[3:11] == ["drawing", "story", "variations", "variations-continued"] * 2, kinds
    filler = kinds[kinds.index("end") + 1:-1]
    sparse = [page.kind for page in layout_book(make_book(2, 4), PROFILE, roomy_when_sparse=False).pages]
    sparse_filler = sparse[sparse.index("end") + 1:-1]
    assert (len(filler), len(sparse_filler)) == (11, 15) and len(kinds) == len(sparse) == 24


def test_copyright_line_has_the_year_and_front_matter_no_number():
    content = make_book(1, 2)
    content.year = 2031
    page = layout_book(content, PROFILE).pages[1]
    small_print = " ".join(text_of(page, "copyright").lines).replace("\u00a0", " ")
    assert "\u00a9 2031 Mia, age 6" in small_print and not page.folio


def test_story_text_has_no_widow_and_curly_quotes():
    text = "Max's friends came to play. They played until it was time for bed."
    for width in range(150, 400, 7):
        lines = wrap_text(typeset(text), width, REGULAR, 16)
        if len(lines) > 1:
            assert " " in lines[-1].replace("\u00a0", " "), (width, lines)
    assert "Max\u2019s" in typeset(text) and "'" not in typeset(text)


def test_back_cover_says_and_friends_rather_than_dropping_a_name():
    from book_assets.core.cover import meet_line
    seven = ["Max the Monster", "Luna", "Pip", "Rory", "Sunny", "Zoom", "Bella"]
    assert meet_line(seven) == "Meet Max the Monster, Luna, Pip, Rory, Sunny, Zoom and friends!"
    assert meet_line(seven[:3]) == "Meet Max the Monster, Luna and Pip!"
    assert meet_line(["The Purple Monster", "Pip"]) == "Meet the Purple Monster and Pip!"


def test_a_one_letter_word_never_ends_a_title_line():
    title = "Луна и Макс и Кот и Пёс"
    for width in range(200, 420, 9):        # wide enough that no word is broken
        block = fit_block(title, width, 400, BOLD, 40, 20, 1.2, cut=True)
        for line in block.lines[:-1]:
            assert len(line.replace("\u00a0", " ").split(" ")[-1]) > 1, (width, block.lines)


def test_a_cut_story_names_its_drawing_page_words_over_and_the_fix():
    layout = layout_book(make_book(1, 4, "The little monster walked to the market to buy apples. " * 60),
                         PROFILE, roomy_when_sparse=False)
    cut = [problem for problem in check_layout(layout) if problem.code == "text_cut_short"]
    assert len(cut) == 1
    problem = cut[0]
    assert problem.page == 4 and problem.drawing == "books/demo/drawings/d0.png"
    words_over = int(re.search(r"about (\d+) words too long", problem.message).group(1))
    story = next(t for t in layout.pages[3].texts if t.role == "story")
    kept = len(" ".join(story.lines).replace("\u2026", "").split())
    assert words_over == 600 - kept + 1
    assert "drawing d0.png on page 4" in problem.message
    assert '[drawings."drawings/d0.png"]' not in problem.message and '[drawings."d0.png"]' in problem.message
    assert f"by at least {words_over} words" in problem.message


def test_the_closing_words_are_on_the_last_page_not_before_the_end_pages():
    """"Close the book and dream" comes on the last printed page, after the draw pages; no story page
    says it while pages are still to come."""
    layout = layout_book(make_book(7, 9), PROFILE)
    text = {page.number: " ".join(" ".join(t.lines) for t in page.texts) for page in layout.pages}
    last = layout.pages[-1]
    assert last.kind == "closing" and "close the book and dream" in text[last.number]
    assert not any("close the book" in text[page.number] for page in layout.pages[:-1])
