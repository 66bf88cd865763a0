"""What is wrong with a laid-out book before anything is drawn: page count and order, pictures and text
on the page and inside the safe area, readable sizes, drawable characters, text that was cut or
collides. Each finding is a ``Problem`` record with its page and drawing (the text_fits check and
the preview's page notes read them)."""
from __future__ import annotations

from collections.abc import Sequence

from .fonts import missing_glyphs, text_width
from .layout import EPS_PT, BookLayout, Page, PageKind, PlacedImage, PlacedText, TextRole, min_text_size
from .problems import Problem
from .story.config import drawing_key_to_path
from .profiles import Box, PrintProfile


def _inside(inner: Box, outer: Box) -> bool:
    return (inner[0] >= outer[0] - EPS_PT and inner[1] >= outer[1] - EPS_PT
            and inner[2] <= outer[2] + EPS_PT and inner[3] <= outer[3] + EPS_PT)


def _overlap_area(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _image_box(image: PlacedImage) -> Box:
    return (image.x, image.y, image.x + image.width, image.y + image.height)


def _text_box(text: PlacedText) -> Box:
    return (text.x, text.y, text.x + text.width, text.y + text.height)


def _overlapping(items: Sequence, box_of) -> list[tuple]:
    """Every pair of ``items`` whose boxes overlap by more than a rounding error."""
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1:]
            if _overlap_area(box_of(a), box_of(b)) > EPS_PT]


def check_layout(layout: BookLayout) -> list[Problem]:
    """Every geometry or reading problem of a laid-out book, one record each ([] = good)."""
    profile = layout.profile
    page_box = (0.0, 0.0, profile.page_width_pt, profile.page_height_pt)
    problems = _page_count_problems(layout)
    previous_kind = None
    for index, page in enumerate(layout.pages, start=1):
        problems += _sequence_problems(page, index, previous_kind)
        problems += _picture_problems(page, page_box)
        problems += _text_problems(page, page_box, profile)
        previous_kind = page.kind
    return problems


# Problems only the layout code can cause: the maker cannot fix them, so the message says whom to tell.
_LAYOUT_FAULTS = frozenset({"page_order", "drawing_on_right", "blank_after_blank", "empty_variations_page",
                            "image_without_size", "image_outside_page", "images_overlap", "text_outside_page",
                            "text_outside_safe_area", "text_too_small", "text_overflows_box", "line_wider_than_box",
                            "text_over_image", "texts_overlap"})
_LAYOUT_FAULT_FIX = (" Fix: nothing in your files causes this; it is a fault in the book's layout, so please report "
                     "it with this book's report.json.")


def _on(page: Page, code: str, message: str) -> Problem:
    """A problem of one page (and of its drawing's spread, when the page belongs to one): the
    message names the drawing and says what to do."""
    if page.drawing_key and "drawing " not in message:
        message = f"{message} (drawing {drawing_key_to_path(page.drawing_key)})"
    if code in _LAYOUT_FAULTS:
        message += _LAYOUT_FAULT_FIX
    return Problem(code, message, page=page.number, drawing=page.drawing_key)


def _page_count_problems(layout: BookLayout) -> list[Problem]:
    profile, count = layout.profile, len(layout.pages)
    if count % 2:
        return [Problem("odd_page_count", f"The book has {count} pages; a printed book needs an even count.")]
    if profile.page_count(count) != count:
        return [Problem("page_count", f"The book has {count} pages; the {profile.name} profile needs at least "
                                      f"{profile.min_pages} and a multiple of {profile.page_multiple}.")]
    return []


def _sequence_problems(page: Page, position: int, previous_kind: PageKind | None) -> list[Problem]:
    """Where the page stands in the book: numbering, drawings on versos, blanks, empty facing pages."""
    problems = []
    if page.number != position:
        problems.append(_on(page, "page_order", f"This page is in position {position}; pages must be numbered "
                                                "1, 2, 3 … in order."))
    if page.kind == PageKind.DRAWING and page.number % 2:
        problems.append(_on(page, "drawing_on_right", "This page opens a drawing's spread on a right-hand page; "
                                                      "it should be on the left."))
    if page.kind == PageKind.BLANK and previous_kind == PageKind.BLANK:
        problems.append(_on(page, "blank_after_blank", "This is the second blank page in a row."))
    if page.kind in (PageKind.VARIATIONS, PageKind.VARIATIONS_CONTINUED) and not page.images:
        problems.append(_on(page, "empty_variations_page", "This is a variations page without any pictures."))
    if page.kind == PageKind.STORY and not any(text.lines for text in page.texts if text.role != TextRole.FOLIO):
        problems.append(_on(page, "wordless_story_page", "This page faces a drawing that has no variations, "
                                                         "but has no words on it. Fix: give the drawing a text "
                                                         "in book.toml."))
    return problems


def _picture_problems(page: Page, page_box: Box) -> list[Problem]:
    problems = []
    for image in page.images:
        if image.width <= 0 or image.height <= 0:
            problems.append(_on(page, "image_without_size", f"Picture {image.key} has no size."))
        elif not _inside(_image_box(image), page_box):
            problems.append(_on(page, "image_outside_page", f"Picture {image.key} reaches outside the page."))
    for a, b in _overlapping(page.images, _image_box):
        problems.append(_on(page, "images_overlap", f"The pictures {a.key} and {b.key} overlap."))
    return problems


def _text_problems(page: Page, page_box: Box, profile: PrintProfile) -> list[Problem]:
    """Text that may be trimmed off, is too small to read, cannot be drawn, was cut, or collides."""
    safe = profile.safe_box(page.number)
    problems = []
    for text in page.texts:
        label = f"The {text.role} text"
        box = _text_box(text)
        if not _inside(box, page_box):
            problems.append(_on(page, "text_outside_page", f"{label} reaches outside the page."))
        elif not _inside(box, safe):
            problems.append(_on(page, "text_outside_safe_area", f"{label} is outside the safe area and may be "
                                                                "trimmed off."))
        minimum = min_text_size(text.role, profile)
        if text.font_size < minimum - EPS_PT:
            problems.append(_on(page, "text_too_small", f"{label} is set at {text.font_size:g} pt, below the "
                                                        f"readable minimum of {minimum:g} pt."))
        missing = missing_glyphs("".join(text.lines))
        if missing:
            problems.append(_on(page, "missing_glyphs", f"{label} has characters no font of the book can draw: "
                                                        f"{' '.join(missing)}. Fix: write that name in book.toml "
                                                        "with letters of another script, or leave it to the book."))
        if text.truncated:
            problems.append(_on(page, "text_cut_short", _cut_short(page, text, profile)))
        if len(text.lines) * text.leading > text.height + EPS_PT:
            problems.append(_on(page, "text_overflows_box", f"{label} has more lines than its box can hold."))
        widest = max((text_width(line, text.font_name, text.font_size) for line in text.lines), default=0.0)
        if widest > text.width + EPS_PT:
            problems.append(_on(page, "line_wider_than_box", f"{label} has a line wider than its box."))
        for image in page.images:
            if _overlap_area(box, _image_box(image)) > EPS_PT:
                problems.append(_on(page, "text_over_image", f"{label} overlaps picture {image.key}."))
    for a, b in _overlapping(page.texts, _text_box):
        problems.append(_on(page, "texts_overlap", f"The {a.role} and {b.role} texts overlap."))
    return problems


# Where the maker changes each kind of text, for problems that say what to do.
_SETTING_OF_ROLE = {TextRole.TITLE: "title", TextRole.AUTHOR: "author", TextRole.DEDICATION: "dedication",
                    TextRole.COPYRIGHT: "copyright"}


def _cut_short(page: Page, text: PlacedText, profile: PrintProfile) -> str:
    """Which text was cut, on which page and drawing, by how many words, and how to fix it."""
    over = f"about {text.words_cut} word{'s' * (text.words_cut != 1)} too long"
    at = f"even at {text.font_size:g} pt, the smallest size that reads well"
    if page.drawing_key and text.role in (TextRole.STORY, TextRole.CAPTION):
        path = drawing_key_to_path(page.drawing_key)
        what = "story text" if text.role == TextRole.STORY else "title"
        setting = "text" if text.role == TextRole.STORY else "title"
        return (f"The {what} of drawing {path} on page {page.number} is {over} for the page {at}, so it was cut "
                f"short. Fix: in book.toml, shorten the {setting} under [drawings.\"{path}\"] by at least "
                f"{text.words_cut} word{'s' * (text.words_cut != 1)}"
                + (" (or split it over two drawings)." if text.role == TextRole.STORY else "."))
    setting = _SETTING_OF_ROLE.get(text.role)
    if setting:
        return (f"The book's {setting} on page {page.number} is {over} for the page {at}, so it was cut short. "
                f"Fix: shorten '{setting}' in book.toml by at least {text.words_cut} "
                f"word{'s' * (text.words_cut != 1)}.")
    return (f"The {text.role} text on page {page.number} is {over} for the page {at}, so it was cut short. "
            "This text is the book's own, not yours: please report it with this book's report.json.")
