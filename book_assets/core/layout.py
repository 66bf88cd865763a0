"""Place every drawing, its story text and its variations on pages, in PDF points.

Coordinates are points (1/72 in) with the origin at the bottom-left corner of the *page as
rendered*, i.e. including bleed. The trim box sits ``bleed`` in from the outside edges.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

from .arrange import MAX_PER_PAGE, arrange_by_colour, grid_for, split_for_pages
from .colour import lab_to_hex
from .fonts import BOLD, ITALIC, REGULAR, text_width
from .profiles import POINTS_PER_INCH, PROFILES, Box, PrintProfile, profile_named  # noqa: F401 - re-exported
from .story.language import DEFAULT_LANGUAGE, Language, language_for
from .typography import mid_sentence, typeset

WHITE = "#ffffff"


class PageKind(StrEnum):
    """What a page is for; the value is the stable name in report.json and the page tables."""

    TITLE = "title"
    COPYRIGHT = "copyright"
    DEDICATION = "dedication"
    DRAWING = "drawing"
    VARIATIONS = "variations"
    VARIATIONS_CONTINUED = "variations-continued"
    STORY = "story"                   # faces a drawing that has no variations
    END = "end"
    ACTIVITY = "activity"             # a prompt and a frame to draw in (padding at the end)
    BLANK = "blank"
    CLOSING = "closing"


class TextRole(StrEnum):
    """What a piece of text is; the minimum readable size and the checks' sentences depend on it."""

    TITLE = "title"
    AUTHOR = "author"
    COPYRIGHT = "copyright"
    DEDICATION = "dedication"
    CAPTION = "caption"               # a drawing's title
    STORY = "story"
    FOLIO = "folio"                   # the page number
    END = "end"
    PROMPT = "prompt"                 # an activity page's invitation to draw
    CLOSING = "closing"
    BLURB = "blurb"                   # the cover's back
    SPINE = "spine"


@dataclass(frozen=True)
class ImageSource:
    """An accepted image ready to place: its bucket key, its print copy and what the layout needs."""

    key: str                          # bucket key as uploaded, e.g. books/<id>/drawings/max.png
    print_copy: str                   # bucket key of the normalized JPEG print copy
    width_px: int                     # pixel size of the print copy
    height_px: int
    mean_lab: tuple[float, float, float] = (50.0, 0.0, 0.0)


@dataclass
class SpreadContent:
    """One drawing, its story text and its ordered variations."""

    drawing: ImageSource
    text: str
    variations: list[ImageSource] = field(default_factory=list)
    title: str = ""                   # e.g. the drawing's name ("Max the monster"), may be empty


@dataclass
class BookContent:
    title: str
    author: str
    dedication: str
    spreads: list[SpreadContent]
    copyright: str = ""               # the copyright line from book.toml; a sensible one when empty
    year: int = field(default_factory=lambda: datetime.now(timezone.utc).year)   # for the copyright line
    language: str = DEFAULT_LANGUAGE  # what the book's own sentences are written in (story/language.py)

    @property
    def words(self) -> Language:
        return language_for(self.language)


@dataclass
class PlacedImage:
    key: str                          # bucket key of the original upload (what report.json lists)
    print_copy: str                   # bucket key of the JPEG drawn into the PDF
    x: float
    y: float
    width: float
    height: float
    width_px: int
    height_px: int

    @property
    def ppi(self) -> float:
        """Effective resolution at printed size (the lower of both axes)."""
        return min(self.width_px / (self.width / POINTS_PER_INCH),
                   self.height_px / (self.height / POINTS_PER_INCH))


@dataclass
class PlacedText:
    lines: list[str]                  # already wrapped to fit ``width`` at ``font_size``
    x: float                          # left edge of the text box
    y: float                          # bottom edge of the text box
    width: float
    height: float
    font_name: str
    font_size: float
    leading: float
    align: str = "center"             # "left" | "center" | "right"
    role: TextRole = TextRole.STORY
    shrunk_from: float | None = None  # the preferred size, when the text had to shrink to fit
    truncated: bool = False           # last resort: the text did not fit even at the minimum size
    words_cut: int = 0                # how many of its words did not fit (the problem says how much to shorten)
                                      # and was cut (ends with an ellipsis); check_layout reports it


@dataclass
class Page:
    number: int                       # 1-based; odd = recto (right-hand page)
    kind: PageKind
    images: list[PlacedImage] = field(default_factory=list)
    texts: list[PlacedText] = field(default_factory=list)
    drawing_key: str | None = None    # the drawing this page belongs to, if any
    grid: tuple[int, int] | None = None   # (columns, rows) of a variations grid
    harmony: float | None = None      # colour harmony of the grid's arrangement (higher is better)
    random_harmony: float | None = None   # same score for a random arrangement, for comparison
    background: str = WHITE           # page colour (hex)
    cells: list[str | None] | None = None  # variations grid: row-major cell -> variation key (None = empty)
    frames: list[tuple[float, float, float, float]] = field(default_factory=list)  # drawn outlines (activity pages)
    folio: bool = False               # carries a printed page number


@dataclass
class BookLayout:
    profile: PrintProfile
    title: str
    author: str
    pages: list[Page]
    language: str = DEFAULT_LANGUAGE      # what the pages are written in (preview.html's lang)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Layout rules. Sizes are points; shares are of the safe box height.

STORY_PT = 22.0                # preferred story text size on a drawing page
STORY_LARGE_PT = 28.0          # story text on a "story" page (a drawing without variations)
TITLE_PT, TITLE_MIN_PT = 40.0, 20.0
HEADING_PT, HEADING_MIN_PT = 26.0, 16.0   # drawing title above the drawing / on a story page
AUTHOR_PT = 20.0
END_PT = 48.0
FOLIO_PT = 12.0                # page numbers: small, but not what a child reads
FOLIO_MIN_PT = 9.0
SMALL_PRINT_PT = 11.0          # copyright lines (the readable minimum applies to story text)
PROMPT_PT = 22.0               # the line above an activity page's drawing frame
MIN_FRAME_SHARE = 0.5          # a low-resolution picture may shrink to half its frame's width, no further
NO_FOLIO_KINDS = (PageKind.TITLE, PageKind.COPYRIGHT, PageKind.DEDICATION, PageKind.BLANK)   # front matter and blanks
BODY_LEADING = 1.3
HEADING_LEADING = 1.2
GAP_PT = 12.0                  # space between a picture and its text
GUTTER_PT = 0.15 * POINTS_PER_INCH
DRAWING_SHARE = 0.70           # the drawing (and its caption) take the upper 70 % of the safe box
MIN_DRAWING_SHARE = 0.30       # long text may shrink the drawing frame down to this, no further
MIN_SHARP_CELL_SHARE = 0.6     # grid cells shrink for sharpness down to this share of their room
SIZE_STEP_PT = 0.5             # granularity of the font-size search
ELLIPSIS = "\u2026"
EPS_PT = 1e-6                  # geometry closer than this counts as touching, not overlapping


# --------------------------------------------------------------------------------------------
# Text fitting

def _break_word(word: str, width: float, font_name: str, size: float) -> list[str] | None:
    """Split a word that is wider than the line into the longest pieces that fit."""
    pieces, current = [], ""
    for char in word:
        if text_width(current + char, font_name, size) <= width + EPS_PT:
            current += char
        elif not current:
            return None          # a single character is wider than the box
        else:
            pieces.append(current)
            current = char
    if current:
        pieces.append(current)
    return pieces


def wrap_text(text: str, width: float, font_name: str, size: float) -> list[str] | None:
    """Greedy word wrap; paragraphs (newlines) are kept, blank lines collapse to one.

    A word is broken across lines only when it is wider than the whole line on its own.
    Returns None when not even one character fits the width.
    """
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        words = [word for word in re.split(r"[ \t\r]+", paragraph.strip()) if word]   # a no-break space holds
        if not words:
            if lines and lines[-1] != "":
                lines.append("")
            continue
        current, start = "", len(lines)
        for word in words:
            candidate = f"{current} {word}" if current else word
            if text_width(candidate, font_name, size) <= width + EPS_PT:
                current = candidate
                continue
            if current:
                lines.append(current)
            if text_width(word, font_name, size) <= width + EPS_PT:
                current = word
                continue
            pieces = _break_word(word, width, font_name, size)
            if pieces is None:
                return None
            lines.extend(pieces[:-1])
            current = pieces[-1]
        lines.append(current)
        if len(lines) - start >= 2:
            _no_widow(lines, width, font_name, size)
    return lines


def _no_widow(lines: list[str], width: float, font_name: str, size: float) -> None:
    """A paragraph never ends on one word alone ("bed." on its own line): the line above gives it
    its last word when both still fit."""
    if len(lines) < 2 or " " in lines[-1] or not lines[-1] or " " not in lines[-2]:
        return
    head, moved = lines[-2].rsplit(" ", 1)
    if " " in head and text_width(f"{moved} {lines[-1]}", font_name, size) <= width + EPS_PT:
        lines[-2], lines[-1] = head, f"{moved} {lines[-1]}"


def _candidate_sizes(preferred_size: float, min_size: float) -> list[float]:
    """Sizes to try, largest first: preferred, then down in half points, ending at min_size."""
    sizes = [preferred_size]
    size = math.floor(preferred_size / SIZE_STEP_PT) * SIZE_STEP_PT
    while size > min_size + EPS_PT:
        if size < preferred_size - EPS_PT:
            sizes.append(size)
        size -= SIZE_STEP_PT
    if sizes[-1] > min_size + EPS_PT:
        sizes.append(min_size)
    return sizes


def fit_text(text: str, width: float, height: float, *, font_name: str, preferred_size: float,
             min_size: float, leading_ratio: float = 1.3) -> tuple[list[str], float] | None:
    """Wrap ``text`` at the largest size in [min_size, preferred_size] whose lines fit the box.

    Lines take ``size * leading_ratio`` each. Sizes are searched in half points (plus both
    ends); larger sizes never need fewer lines, so a binary search finds the largest fit.
    Empty text fits trivially at the preferred size. None when it does not fit at min_size.
    """
    if min_size <= 0 or preferred_size < min_size:
        raise ValueError(f"need 0 < min_size <= preferred_size, got {min_size}, {preferred_size}")
    if not text.strip():
        return [], preferred_size

    def lines_at(size: float) -> list[str] | None:
        lines = wrap_text(text, width, font_name, size)
        if lines is None or len(lines) * size * leading_ratio > height + EPS_PT:
            return None
        return lines

    sizes = _candidate_sizes(preferred_size, min_size)
    best = lines_at(sizes[0])
    if best is not None:
        return best, sizes[0]
    smallest = lines_at(sizes[-1])
    if smallest is None:
        return None
    too_big, fits, fits_lines = 0, len(sizes) - 1, smallest   # indices into sizes (descending)
    while fits - too_big > 1:
        middle = (too_big + fits) // 2
        lines = lines_at(sizes[middle])
        if lines is None:
            too_big = middle
        else:
            fits, fits_lines = middle, lines
    return fits_lines, sizes[fits]


def _cut_to_fit(text: str, width: float, height: float, font_name: str, size: float,
                leading_ratio: float) -> list[str]:
    """Last resort: the lines that fit at ``size``, the last one ending in an ellipsis."""
    lines = wrap_text(text, width, font_name, size) or []
    room = int((height + EPS_PT) // (size * leading_ratio))
    if len(lines) <= room:
        return lines
    kept = lines[:room]
    if kept:
        last = kept[-1].rstrip()
        while last and text_width(last + ELLIPSIS, font_name, size) > width + EPS_PT:
            last = last[:-1].rstrip()
        kept[-1] = last + ELLIPSIS
    return kept


@dataclass
class TextBlock:
    """Fitted text waiting to be positioned: its lines, size, and the box height it needs."""

    lines: list[str]
    font_name: str
    size: float
    leading: float
    preferred: float
    truncated: bool = False
    words_cut: int = 0

    @property
    def height(self) -> float:
        return len(self.lines) * self.leading

    def place(self, x: float, y: float, width: float, role: TextRole, align: str = "center") -> PlacedText:
        shrunk = self.preferred if self.size < self.preferred - EPS_PT else None
        return PlacedText(lines=self.lines, x=x, y=y, width=width, height=self.height,
                          font_name=self.font_name, font_size=self.size, leading=self.leading,
                          align=align, role=role, shrunk_from=shrunk, truncated=self.truncated,
                          words_cut=self.words_cut)


def fit_block(text: str, width: float, height: float, font_name: str, preferred: float,
              min_size: float, leading_ratio: float, *, cut: bool = False) -> TextBlock | None:
    """fit_text as a block, typeset (curly quotes, no lone one-letter word or number at a line end);
    with ``cut``, a text that never fits is cut at min_size instead."""
    text = typeset(text)
    fitted = fit_text(text, width, height, font_name=font_name, preferred_size=preferred,
                      min_size=min_size, leading_ratio=leading_ratio)
    if fitted is not None:
        lines, size = fitted
        return TextBlock(lines, font_name, size, size * leading_ratio, preferred)
    if not cut:
        return None
    lines = _cut_to_fit(text, width, height, font_name, min_size, leading_ratio)
    kept = len(" ".join(lines).removesuffix(ELLIPSIS).split())
    return TextBlock(lines, font_name, min_size, min_size * leading_ratio, preferred, truncated=True,
                     words_cut=max(1, len(text.split()) - kept + 1))    # the last kept word may be partial


# --------------------------------------------------------------------------------------------
# Geometry helpers

def contain(source: ImageSource, frame: Box, min_ppi: float | None = None,
            min_share: float = MIN_FRAME_SHARE) -> PlacedImage:
    """The largest placement of ``source`` inside ``frame`` that keeps its aspect, centred.

    With ``min_ppi``, a picture with too few pixels for the frame is placed smaller (still centred)
    so it prints at ``min_ppi``, but never below MIN_FRAME_SHARE of the frame: below that it keeps
    the minimum size and the PPI checks name it.
    """
    if source.width_px <= 0 or source.height_px <= 0:
        raise ValueError(f"{source.key} has no pixels ({source.width_px}x{source.height_px})")
    x0, y0, x1, y1 = frame
    frame_w, frame_h = x1 - x0, y1 - y0
    scale = min(frame_w / source.width_px, frame_h / source.height_px)
    if min_ppi:
        sharp = POINTS_PER_INCH / min_ppi * (1 - 1e-9)    # points per pixel at exactly min_ppi
        scale = min(scale, max(sharp, scale * min(1.0, min_share)))
    width, height = source.width_px * scale, source.height_px * scale
    return PlacedImage(key=source.key, print_copy=source.print_copy,
                       x=x0 + (frame_w - width) / 2, y=y0 + (frame_h - height) / 2,
                       width=width, height=height,
                       width_px=source.width_px, height_px=source.height_px)


def soft_background(mean_lab: Sequence[float]) -> str:
    """A pale tint in the drawing's hue: very light, low chroma, so text and pictures stay clear."""
    _, a, b = mean_lab
    chroma = math.hypot(a, b)
    if chroma < 1e-9:
        return lab_to_hex((97.0, 0.0, 0.0))
    tint = min(chroma, 6.0) / chroma
    return lab_to_hex((97.0, a * tint, b * tint))


def _width(box: Box) -> float:
    return box[2] - box[0]


def _height(box: Box) -> float:
    return box[3] - box[1]


# --------------------------------------------------------------------------------------------
# Pages: one builder per kind. Each takes the page number (rectos and versos have different safe
# boxes) and the profile, and returns the finished page.

def _new_page(number: int, profile: PrintProfile, kind: PageKind, *, drawing_key: str | None = None,
              background: str = WHITE) -> tuple[Page, Box]:
    """A new page and the box its content may use: the safe box, less a band for the page number."""
    page = Page(number=number, kind=kind, drawing_key=drawing_key, background=background,
                folio=kind not in NO_FOLIO_KINDS)
    x0, y0, x1, y1 = profile.safe_box(number)
    if page.folio:
        leading = FOLIO_PT * BODY_LEADING
        page.texts.append(PlacedText(lines=[str(number)], x=x0, y=y0, width=x1 - x0, height=leading,
                                     font_name=REGULAR, font_size=FOLIO_PT, leading=leading, role=TextRole.FOLIO))
        y0 += leading + GAP_PT / 2
    return page, (x0, y0, x1, y1)


def _centred(page: Page, safe: Box, block: TextBlock, role: TextRole) -> None:
    """Place ``block`` across the safe box, centred on its middle."""
    middle = (safe[1] + safe[3]) / 2
    page.texts.append(block.place(safe[0], middle - block.height / 2, _width(safe), role))


def _heading(title: str, width: float, room: float, size: float, min_text_pt: float) -> TextBlock:
    """A drawing's title in bold, cut rather than lost when it is very long."""
    return fit_block(title, width, room, BOLD, size, max(HEADING_MIN_PT, min_text_pt), HEADING_LEADING, cut=True)


def blank_page(number: int, profile: PrintProfile, background: str = WHITE) -> Page:
    return _new_page(number, profile, PageKind.BLANK, background=background)[0]


def title_page(number: int, profile: PrintProfile, content: BookContent) -> Page:
    """Title and author; the first drawing between them when the book has one."""
    page, safe = _new_page(number, profile, PageKind.TITLE)
    x0, y0, x1, y1 = safe
    width, height = _width(safe), _height(safe)
    minimum = profile.min_text_pt
    cover = content.spreads[0].drawing if content.spreads else None
    title_room = height * (0.28 if cover else 0.60)
    title = fit_block(content.title, width, title_room, BOLD, TITLE_PT, max(TITLE_MIN_PT, minimum),
                      HEADING_LEADING, cut=True)
    author = fit_block(content.author, width, height * 0.12, REGULAR, AUTHOR_PT, minimum, BODY_LEADING, cut=True)
    title_middle = y0 + height * 0.60 if cover is None else y1 - title_room / 2
    author_middle = y0 + height * (0.15 if cover is None else 0.06)
    if title.lines:
        page.texts.append(title.place(x0, title_middle - title.height / 2, width, TextRole.TITLE))
    if author.lines:
        page.texts.append(author.place(x0, author_middle - author.height / 2, width, TextRole.AUTHOR))
    if cover is not None:
        frame_top = y1 - title_room - GAP_PT
        frame_bottom = y0 + height * 0.12 + GAP_PT
        inset = width * 0.15
        page.images.append(contain(cover, (x0 + inset, frame_bottom, x1 - inset, frame_top), profile.min_ppi))
    return page


def copyright_page(number: int, profile: PrintProfile, content: BookContent) -> Page:
    """The verso of the title page, where picture books say who made them and who owns it."""
    page, safe = _new_page(number, profile, PageKind.COPYRIGHT)
    author = content.author.strip()
    words = content.words
    notice = content.copyright.strip() or (
        f"{words.copyright_by.format(year=content.year, author=author)} {words.rights}" if author
        else f"\u00a9 {content.year}. {words.rights}")
    lines = [content.title.strip()]
    if author:
        lines.append(words.pictures_and_words_by.format(author=author))
    lines += [notice, words.faces]
    block = fit_block("\n".join(line for line in lines if line), _width(safe), _height(safe) * 0.4,
                      REGULAR, SMALL_PRINT_PT, SMALL_PRINT_PT, BODY_LEADING, cut=True)
    if block.lines:
        page.texts.append(block.place(safe[0], safe[1], _width(safe), TextRole.COPYRIGHT))
    return page


def dedication_page(number: int, profile: PrintProfile, dedication: str, words: Language) -> Page:
    page, safe = _new_page(number, profile, PageKind.DEDICATION)
    text = dedication.strip() or f"{words.belongs_to}\n\n______________________"
    block = fit_block(text, _width(safe), _height(safe), ITALIC, STORY_PT, profile.min_text_pt, BODY_LEADING,
                      cut=True)
    if block.lines:
        _centred(page, safe, block, TextRole.DEDICATION)
    return page


def drawing_page(number: int, profile: PrintProfile, spread: SpreadContent, background: str) -> Page:
    """A drawing with variations: its title above it and its story text below it."""
    page, safe = _new_page(number, profile, PageKind.DRAWING, drawing_key=spread.drawing.key, background=background)
    x0, y0, x1, y1 = safe
    width, height = _width(safe), _height(safe)
    minimum = profile.min_text_pt
    top = y1
    if spread.title.strip():
        caption = _heading(spread.title, width, height * 0.14, HEADING_PT, minimum)
        page.texts.append(caption.place(x0, y1 - caption.height, width, TextRole.CAPTION))
        top = y1 - caption.height - GAP_PT
    if not spread.text.strip():
        page.images.append(contain(spread.drawing, (x0, y0, x1, top), profile.min_ppi))
        return page
    # Text box below the upper 70 %; if the text does not fit at 14 pt, it takes height from
    # the drawing's frame (never below MIN_DRAWING_SHARE) rather than being clipped.
    frame_floor = height * MIN_DRAWING_SHARE
    text_room = height * (1 - DRAWING_SHARE) - GAP_PT
    max_text_room = max(top - y0 - GAP_PT - frame_floor, text_room)
    block = fit_block(spread.text, width, text_room, REGULAR, STORY_PT, minimum, BODY_LEADING)
    if block is None:
        # Take from the frame exactly the height the text needs at the minimum size.
        lines_at_minimum = wrap_text(spread.text, width, REGULAR, minimum) or []
        text_room = min(len(lines_at_minimum) * minimum * BODY_LEADING, max_text_room)
        block = fit_block(spread.text, width, text_room, REGULAR, STORY_PT, minimum, BODY_LEADING, cut=True)
    frame = (x0, y0 + text_room + GAP_PT, x1, top)
    page.images.append(contain(spread.drawing, frame, profile.min_ppi))
    page.texts.append(block.place(x0, y0 + text_room / 2 - block.height / 2, width, TextRole.STORY))
    return page


def lone_drawing_page(number: int, profile: PrintProfile, spread: SpreadContent, background: str) -> Page:
    """A drawing without variations, alone on its page: its words go on the facing story page."""
    page, safe = _new_page(number, profile, PageKind.DRAWING, drawing_key=spread.drawing.key, background=background)
    page.images.append(contain(spread.drawing, safe, profile.min_ppi))
    return page


def story_page(number: int, profile: PrintProfile, spread: SpreadContent, background: str) -> Page:
    """The facing page of a drawing without variations: its title and text, large."""
    page, safe = _new_page(number, profile, PageKind.STORY, drawing_key=spread.drawing.key, background=background)
    x0, y0, _, y1 = safe
    width, height = _width(safe), _height(safe)
    minimum = profile.min_text_pt
    blocks: list[tuple[TextBlock, TextRole]] = []
    room = height
    if spread.title.strip():
        heading = _heading(spread.title, width, height * 0.3, TITLE_PT * 0.9, minimum)
        blocks.append((heading, TextRole.CAPTION))
        room -= heading.height + 2 * GAP_PT
    if spread.text.strip():
        story = fit_block(spread.text, width, room, REGULAR, STORY_LARGE_PT, minimum, BODY_LEADING, cut=True)
        blocks.append((story, TextRole.STORY))
    total = sum(block.height for block, _ in blocks) + 2 * GAP_PT * (len(blocks) - 1)
    top = (y0 + y1) / 2 + total / 2
    for block, role in blocks:
        page.texts.append(block.place(x0, top - block.height, width, role))
        top -= block.height + 2 * GAP_PT
    return page


def variations_page(number: int, profile: PrintProfile, chunk: list[ImageSource], kind: PageKind,
                    drawing_key: str, background: str) -> Page:
    """Up to 16 variations in a grid, arranged by colour, cells as large as sharpness allows; a last
    row with fewer tiles is centred under the full ones."""
    page, safe = _new_page(number, profile, kind, drawing_key=drawing_key, background=background)
    columns, rows = grid_for(len(chunk))
    arrangement = arrange_by_colour([source.mean_lab for source in chunk], columns, rows)
    cell_w, cell_h, tile_share = _grid_cell(chunk, safe, columns, rows, profile.min_ppi)
    block_w = columns * cell_w + (columns - 1) * GUTTER_PT
    used_rows = math.ceil(len(chunk) / columns)     # a partial grid is centred on the rows it fills
    block_h = used_rows * cell_h + (used_rows - 1) * GUTTER_PT
    left = safe[0] + (_width(safe) - block_w) / 2
    top = safe[3] - (_height(safe) - block_h) / 2
    for cell, tile in enumerate(arrangement.cells):
        if tile is None:
            continue
        column, row = cell % columns, cell // columns
        in_row = min(columns, len(chunk) - row * columns)    # tiles fill cells in reading order
        shift = (columns - in_row) * (cell_w + GUTTER_PT) / 2    # a short last row is centred: no hole
        x = left + shift + column * (cell_w + GUTTER_PT)
        y = top - (row + 1) * cell_h - row * GUTTER_PT
        page.images.append(contain(chunk[tile], (x, y, x + cell_w, y + cell_h), profile.min_ppi, tile_share))
    page.grid = (columns, rows)
    page.harmony = arrangement.harmony
    page.random_harmony = arrangement.random_harmony
    page.cells = [None if tile is None else chunk[tile].key for tile in arrangement.cells]
    return page


def _grid_cell(chunk: list[ImageSource], safe: Box, columns: int, rows: int,
               min_ppi: float) -> tuple[float, float, float]:
    """(cell width, cell height, the share of its cell a soft tile may shrink to) of a variations grid."""
    # Cells share the typical aspect of the images, so gutters stay even and tight.
    aspect = statistics.median(source.width_px / max(source.height_px, 1) for source in chunk)
    max_cell_w = (_width(safe) - (columns - 1) * GUTTER_PT) / columns
    max_cell_h = (_height(safe) - (rows - 1) * GUTTER_PT) / rows
    cell_w = min(max_cell_w, max_cell_h * aspect)
    # Do not blow typical images up past the target resolution: four 1024-px variations in a
    # 2x2 grid would print at ~270 PPI; a slightly smaller cell keeps them at 300. Bounded, so
    # one low-resolution set cannot shrink the grid to stamps (its PPI check warns instead).
    sharp_w = statistics.median(source.width_px for source in chunk) / min_ppi * POINTS_PER_INCH
    sharp_h = statistics.median(source.height_px for source in chunk) / min_ppi * POINTS_PER_INCH
    sharp_cell_w = math.floor(min(sharp_w, sharp_h * aspect) * 1000) / 1000   # never 299.99 PPI
    room_w = cell_w
    cell_w = max(min(cell_w, sharp_cell_w), MIN_SHARP_CELL_SHARE * cell_w)
    tile_share = MIN_FRAME_SHARE * room_w / cell_w    # a soft tile never drops below half its room
    return cell_w, cell_w / aspect, tile_share


def spread_pages(number: int, profile: PrintProfile, spread: SpreadContent) -> list[Page]:
    """Drawing page (even), its facing page, continuations, and a blank to stay even."""
    background = soft_background(spread.drawing.mean_lab)
    key = spread.drawing.key
    if spread.variations:
        pages = [drawing_page(number, profile, spread, background)]
        for index, chunk in enumerate(_chunks(spread.variations)):
            kind = PageKind.VARIATIONS if index == 0 else PageKind.VARIATIONS_CONTINUED
            pages.append(variations_page(number + len(pages), profile, chunk, kind, key, background))
    else:
        pages = [lone_drawing_page(number, profile, spread, background),
                 story_page(number + 1, profile, spread, background)]
    if (number + len(pages)) % 2 == 1:
        pages.append(blank_page(number + len(pages), profile, background))
    return pages


def large_spread_pages(number: int, profile: PrintProfile, spread: SpreadContent) -> list[Page]:
    """A roomier spread for books that would otherwise be mostly filler: the drawing alone on the
    verso, its title and words large on the recto, then its variations in larger tiles over two
    facing pages (one page and a blank when there is a single variation)."""
    background = soft_background(spread.drawing.mean_lab)
    key = spread.drawing.key
    pages = [lone_drawing_page(number, profile, spread, background),
             story_page(number + 1, profile, spread, background)]
    half = math.ceil(len(spread.variations) / 2)
    chunks = [chunk for chunk in (spread.variations[:half], spread.variations[half:]) if chunk]
    if any(len(chunk) > MAX_PER_PAGE for chunk in chunks):
        chunks = _chunks(spread.variations)
    for index, chunk in enumerate(chunks):
        kind = PageKind.VARIATIONS if index == 0 else PageKind.VARIATIONS_CONTINUED
        pages.append(variations_page(number + len(pages), profile, chunk, kind, key, background))
    if (number + len(pages)) % 2 == 1:
        pages.append(blank_page(number + len(pages), profile, background))
    return pages


def end_page(number: int, profile: PrintProfile, words: Language) -> Page:
    page, safe = _new_page(number, profile, PageKind.END)
    block = fit_block(words.the_end, _width(safe), _height(safe), BOLD, END_PT, profile.min_text_pt, HEADING_LEADING,
                      cut=True)
    _centred(page, safe, block, TextRole.END)
    return page


def activity_page(number: int, profile: PrintProfile, prompt: str) -> Page:
    """An end page a child can use: a prompt and an empty frame to draw in."""
    page, safe = _new_page(number, profile, PageKind.ACTIVITY)
    x0, y0, x1, y1 = safe
    room = _height(safe) * 0.2
    block = (fit_block(prompt, _width(safe), room, BOLD, PROMPT_PT, profile.min_text_pt, HEADING_LEADING)
             or fit_block(prompt.split(" ", 1)[0], _width(safe), room, BOLD, PROMPT_PT,
                          profile.min_text_pt, HEADING_LEADING, cut=True))
    page.texts.append(block.place(x0, y1 - block.height, _width(safe), TextRole.PROMPT))
    page.frames.append((x0, y0, x1, y1 - block.height - 2 * GAP_PT))
    return page


def closing_page(number: int, profile: PrintProfile, content: BookContent) -> Page:
    """The last page: what the book is made of, said warmly."""
    page, safe = _new_page(number, profile, PageKind.CLOSING)
    words = content.words
    variations = sum(len(spread.variations) for spread in content.spreads)
    text = (words.closing.format(title=content.title.strip() or words.this_book,
                                 maker=content.author.strip() or words.young_artists,
                                 drawings=words.count(len(content.spreads), words.drawing),
                                 pictures=words.count(variations, words.picture))
            + f"\n\n{words.thank_you}")
    block = fit_block(text, _width(safe), _height(safe) * 0.5, ITALIC, STORY_PT, profile.min_text_pt,
                      BODY_LEADING, cut=True)
    _centred(page, safe, block, TextRole.CLOSING)
    return page


def _chunks(variations: list[ImageSource]) -> list[list[ImageSource]]:
    chunks, start = [], 0
    for size in split_for_pages(len(variations)):
        chunks.append(variations[start:start + size])
        start += size
    return chunks


def activity_prompts(content: BookContent) -> tuple[list[str], list[str]]:
    """Prompts for the end pages: one per character of the book (in story order), then general ones."""
    names: list[str] = []
    for spread in content.spreads:
        if spread.title.strip() and spread.title.strip() not in names:
            names.append(spread.title.strip())
    words = content.words
    return ([words.draw_character.format(name=mid_sentence(name)) for name in names], list(words.general_prompts))


def end_matter(padding: int, content: BookContent) -> list[str | None]:
    """What fills the pages between "The End" and the closing page: a draw page per character
    first, then general prompts with a blank after each (never two blanks in a row, never a blank
    before every character has its page). None is a blank page."""
    characters, general = activity_prompts(content)
    kinds: list[str | None] = characters[:padding]
    index = 0
    while len(kinds) < padding:
        if kinds and kinds[-1] is not None and len(kinds) + 1 < padding and index > 0:
            kinds.append(None)
        else:
            kinds.append(general[index % len(general)])
            index += 1
    return kinds


LARGE_LAYOUT_PADDING_SHARE = 0.25   # more filler than this share of the book: give the drawings more room


def lay_out_spread(number: int, profile: PrintProfile, spread: SpreadContent, large: bool) -> list[Page]:
    """A drawing's pages from page ``number`` on (a verso): the roomy form (``large_spread_pages``) or
    the usual one. Depends on nothing else of the book, so a layout may reuse it (core.spread_memo)."""
    return (large_spread_pages if large else spread_pages)(number, profile, spread)


SpreadLayout = Callable[[int, PrintProfile, SpreadContent, bool], list[Page]]   # lay_out_spread's shape


def renumbered(pages: list[Page], first: int) -> list[Page]:
    """A spread's ``pages`` moved to start at page ``first``, on the same side as before (an even shift):
    only the page numbers and the printed folios change, since every rule of a spread depends on a
    page's side (its safe box, where a blank falls), never on its number."""
    shift = first - pages[0].number
    if shift % 2:
        raise ValueError(f"a spread moves by an even number of pages, not {shift}: its pages would change sides")
    for page in pages:
        page.number += shift
        for text in page.texts:
            if text.role == TextRole.FOLIO:
                text.lines = [str(page.number)]
    return pages


def layout_book(content: BookContent, profile: PrintProfile = PrintProfile(), *, roomy_when_sparse: bool = True,
                spread_layout: SpreadLayout = lay_out_spread) -> BookLayout:
    """Lay out the whole book: title, copyright, dedication, one spread per drawing, "The End",
    end pages up to the profile's page count, and a closing page.

    Every drawing page is a verso (even number) facing its variations; a blank page is added only
    where a spread would otherwise end on a verso. End pages give each character a draw page before
    any blank (``end_matter``); when they would fill more than a quarter of the book, the drawings
    get larger layouts instead (drawing | story, then their variations over two pages).
    """
    layout = _layout_book(content, profile, large=False, spread_layout=spread_layout)
    if roomy_when_sparse and _padding_share(layout) > LARGE_LAYOUT_PADDING_SHARE \
            and any(spread.variations for spread in content.spreads):
        large = _layout_book(content, profile, large=True, spread_layout=spread_layout)
        if len(large.pages) <= len(layout.pages):
            return large
    return layout


def _padding_share(layout: BookLayout) -> float:
    filler = sum(page.kind in (PageKind.ACTIVITY, PageKind.BLANK) for page in layout.pages
                 if page.number > next((p.number for p in layout.pages if p.kind == PageKind.END), 0))
    return filler / len(layout.pages)


def _layout_book(content: BookContent, profile: PrintProfile, *, large: bool,
                 spread_layout: SpreadLayout) -> BookLayout:
    pages = [title_page(1, profile, content),
             copyright_page(2, profile, content),                 # the title page's verso
             dedication_page(3, profile, content.dedication, content.words)]   # the first drawing opens page 4
    for spread in content.spreads:
        pages += spread_layout(len(pages) + 1, profile, spread, large and bool(spread.variations))
    pages.append(end_page(len(pages) + 1, profile, content.words))
    content_pages = len(pages) + 1     # + the closing page
    padding = profile.page_count(content_pages) - content_pages
    for prompt in end_matter(padding, content):
        pages.append(activity_page(len(pages) + 1, profile, prompt) if prompt else blank_page(len(pages) + 1, profile))
    pages.append(closing_page(len(pages) + 1, profile, content))
    return BookLayout(profile=profile, title=content.title, author=content.author, pages=pages,
                      language=content.language)


def min_text_size(role: TextRole, profile: PrintProfile) -> float:
    """Story and display text read at the profile's minimum; page numbers and small print smaller."""
    if role == TextRole.FOLIO:
        return FOLIO_MIN_PT
    if role == TextRole.COPYRIGHT:
        return SMALL_PRINT_PT
    return profile.min_text_pt
