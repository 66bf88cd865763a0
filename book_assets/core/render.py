"""Draw a :class:`BookLayout` as a print-ready PDF (reportlab) and as small page thumbnails (Pillow).

Page boxes are what a printer checks first: MediaBox = BleedBox = the whole page including bleed,
TrimBox = the profile's trim box for that page (bleed sits on the outside edge, so rectos and
versos differ). No annotations, no links. Fonts, images and deterministic bytes are handled by
:mod:`draw`, which the cover shares.
"""
from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .colour import parse_hex_colour
from .draw import (
    draw_image, draw_text, fill_box, font_for, line_positions, pdf_canvas, resample_all, resample_targets,
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


# ---------------------------------------------------------------------------------------------
# thumbnails
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _pil_font(name: str, size_px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(fonts.font_path(name)), size_px)


def render_page_png(page: Page, profile: PrintProfile, image_path: Callable[[str], str], *,
                    width_px: int = 360) -> bytes:
    """A small PNG of one page (same geometry as the PDF, bleed included) for previews in the UI."""
    fonts.register_fonts()
    scale = width_px / profile.page_width_pt
    height_px = max(1, round(profile.page_height_pt * scale))
    page_height = profile.page_height_pt
    background = parse_hex_colour(page.background, default=WHITE)
    canvas = Image.new("RGB", (width_px, height_px), background)

    for placed in page.images:
        box_w = max(1, round(placed.width * scale))
        box_h = max(1, round(placed.height * scale))
        with Image.open(image_path(placed.print_copy)) as source:
            source.draft("RGB", (box_w, box_h))     # JPEG: decode at 1/2–1/8 size, far cheaper
            tile = source.convert("RGB").resize((box_w, box_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        canvas.paste(tile, (round(placed.x * scale), round((page_height - placed.y - placed.height) * scale)))

    draw = ImageDraw.Draw(canvas)
    for x0, y0, x1, y1 in page.frames:
        draw.rounded_rectangle((x0 * scale, (page_height - y1) * scale, x1 * scale, (page_height - y0) * scale),
                               radius=max(1, round(FRAME_RADIUS_PT * scale)), outline=FRAME_GREY,
                               width=max(1, round(FRAME_LINE_PT * scale)))
    colour = text_colour_on(background)
    for text in page.texts:
        font_name = font_for(text)
        size_px = max(1.0, text.font_size * scale)
        for line, x, baseline in line_positions(text, font_name):
            for piece, run_font in fonts.runs(line, font_name):
                font = _pil_font(run_font, size_px)
                draw.text((x * scale, (page_height - baseline) * scale), piece, font=font, fill=colour, anchor="ls")
                x += fonts.run_width(piece, run_font, text.font_size)

    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
