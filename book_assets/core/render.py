"""Draw a :class:`BookLayout` as a print-ready PDF (reportlab); page images are rasterised from it (core.page_images).

Page boxes are what a printer checks first: MediaBox = BleedBox = the whole page including bleed,
TrimBox = the profile's trim box for that page (bleed sits on the outside edge, so rectos and
versos differ). No annotations, no links. Fonts, images and deterministic bytes are handled by
:mod:`draw`, which the cover shares.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

from .colour import parse_hex_colour
from .draw import (
    draw_image, draw_text, fill_box, pdf_canvas, resample_all, resample_targets,
    set_colour, text_colour_on,
)
from .layout import BookLayout, Page, PrintProfile
from .profiles import Box

FRAME_GREY = "#9a9a9a"
FRAME_RADIUS_PT = 14.0
FRAME_LINE_PT = 1.5
WHITE = (255, 255, 255)


@dataclass
class RenderStats:
    pages: int
    bytes: int
    seconds: float
    images: int                  # image placements drawn
    unique_images: int = 0       # image objects embedded (a print copy placed twice is stored once)
    reencoded_images: int = 0    # print copies that were not JPEG and had to be re-encoded (should be 0)
    resampled_images: int = 0    # print copies with far more pixels than needed, resampled to resample_ppi


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def _draw_frame(canvas: Canvas, box: Box) -> None:
    """A dashed rounded outline: the space an activity page leaves for a child's own drawing."""
    x0, y0, x1, y1 = box
    canvas.saveState()
    set_colour(canvas, FRAME_GREY, stroke=True)
    canvas.setLineWidth(FRAME_LINE_PT)
    canvas.setDash(6, 4)
    canvas.roundRect(x0, y0, x1 - x0, y1 - y0, radius=FRAME_RADIUS_PT, stroke=1, fill=0)
    canvas.restoreState()


def _draw_page(canvas: Canvas, page: Page, profile: PrintProfile, image_path: Callable[[str], str],
               embedded: dict[str, bool], resampled: dict[str, bytes] | None = None) -> int:
    width, height = profile.page_width_pt, profile.page_height_pt
    canvas.setPageSize((width, height))
    canvas.setTrimBox(profile.trim_box(page.number))
    canvas.setBleedBox((0, 0, width, height))
    background = parse_hex_colour(page.background, default=WHITE)
    fill_box(canvas, background, (0, 0, width, height))
    for placed in page.images:
        draw_image(canvas, placed, image_path(placed.print_copy), embedded, resampled)
    for frame in page.frames:
        _draw_frame(canvas, frame)
    colour = text_colour_on(background)
    for text in page.texts:
        draw_text(canvas, text, colour)
    canvas.showPage()
    return len(page.images)


def render_pdf(layout: BookLayout, image_path: Callable[[str], str], out_path: str | Path) -> RenderStats:
    """Write the book to ``out_path`` (atomically: a temporary file renamed into place).

    ``image_path`` maps a ``PlacedImage.print_copy`` key to a local JPEG file. A layout without
    pages raises ValueError: a zero-page PDF is not a book, and printers reject it.
    """
    if not layout.pages:
        raise ValueError("the layout has no pages, so there is no book to render")
    started = time.perf_counter()
    out_path = Path(out_path)
    profile = layout.profile
    embedded: dict[str, bool] = {}
    resampled = resample_all(resample_targets((placed for page in layout.pages for placed in page.images), profile),
                             image_path)
    placements = 0
    with pdf_canvas(out_path, (profile.page_width_pt, profile.page_height_pt), title=layout.title,
                    author=layout.author) as canvas:
        canvas.setSubject(f"Picture book, {profile.name}")
        for page in layout.pages:
            placements += _draw_page(canvas, page, profile, image_path, embedded, resampled)
    return RenderStats(pages=len(layout.pages), bytes=out_path.stat().st_size,
                       seconds=time.perf_counter() - started, images=placements,
                       unique_images=len(embedded),
                       reencoded_images=sum(1 for passed in embedded.values() if not passed),
                       resampled_images=len(resampled))
