"""Draw a :class:`BookLayout` as a print-ready PDF (reportlab) and as small page thumbnails (Pillow).

What a printer checks, and how this module meets it:

* page boxes: MediaBox = BleedBox = the whole page including bleed, TrimBox = the profile's
  trim box for that page (bleed sits on the outside edge, so rectos and versos differ);
* fonts: every glyph is set in the embedded TrueType family from :mod:`fonts`; the canvas's
  initial font is set to it too, otherwise reportlab writes a non-embedded Helvetica into every
  page's resources even when no Helvetica text is drawn;
* images: print copies are sRGB JPEGs and go into the PDF byte-for-byte (DCTDecode), so nothing
  is re-compressed and a 1000 px image costs its file size, not a decode + Flate re-encode; only a
  copy with far more pixels than its largest placement needs (above the profile's
  ``max_image_ppi``) is resampled to ``resample_ppi`` and re-encoded once, ICC profile kept;
* no annotations, no links; deterministic bytes (``invariant=1``) so a re-run that changes
  nothing writes the same file.

Image XObjects are named after the print copy's *bucket key*, not the local path it was read
from, so two renders of one layout are byte-identical even when the files sit in different
temporary folders (reportlab's own ``drawImage`` names images after the path, and only passes
JPEGs through when the path ends in ``.jpg``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image, ImageDraw, ImageFont
from reportlab import rl_config
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .layout import BookLayout, Page, PlacedImage, PlacedText, PrintProfile

JPEG_MAGIC = b"\xff\xd8\xff"
EMBEDDED_FONTS = fonts.EMBEDDED_FONTS
DARK_TEXT = "#1e1e1e"
LIGHT_TEXT = "#ffffff"
FRAME_GREY = "#9a9a9a"
RESAMPLED_JPEG_QUALITY = 90
RESAMPLE_THREADS = 2


@dataclass
class RenderStats:
    pages: int
    bytes: int
    seconds: float
    images: int                  # image placements drawn
    unique_images: int = 0       # image objects embedded (a print copy placed twice is stored once)
    reencoded_images: int = 0    # print copies that were not JPEG and had to be re-encoded (should be 0)
    resampled_images: int = 0    # print copies with far more pixels than needed, resampled to resample_ppi


@contextlib.contextmanager
def _binary_streams() -> Iterator[None]:
    """Turn off ASCII85 stream encoding while rendering: with it on, rendering is 10–100x slower
    and the file 25 % larger. Restored afterwards so other reportlab users see no change."""
    previous = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = previous


def hex_to_rgb(hex_colour: str, default: tuple[int, int, int] = (255, 255, 255)) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b); anything unreadable gives ``default`` (a page must still render)."""
    digits = hex_colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    try:
        if len(digits) != 6:
            raise ValueError(hex_colour)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    except ValueError:
        return default


def text_colour_on(background: tuple[int, int, int]) -> str:
    """Dark text on light pages, white text on dark ones (relative luminance, WCAG)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in background)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return LIGHT_TEXT if luminance < 0.18 else DARK_TEXT


def _font_for(text: PlacedText) -> str:
    """Only the embedded family is ever drawn; an unknown font name falls back to the regular face."""
    return text.font_name if text.font_name in fonts.FAMILY else fonts.REGULAR


def _line_positions(text: PlacedText, font_name: str) -> list[tuple[str, float, float]]:
    """(line, x, baseline y) in page points: each line owns a ``leading``-high slot from the top of
    the box, and its capitals are centred in that slot — so a one-line block centred on a page
    looks centred (a baseline at top − ascent sat a quarter em low in Andika).

    Measured with reportlab's metrics for both the PDF and the thumbnail, so both place every
    line at the same spot.
    """
    def measure(line: str) -> float:
        return fonts.text_width(line, font_name, text.font_size)

    first_baseline = text.y + text.height - (text.leading + fonts.cap_height(font_name, text.font_size)) / 2
    placed = []
    for index, line in enumerate(text.lines):
        if text.align == "center":
            x = text.x + (text.width - measure(line)) / 2
        elif text.align == "right":
            x = text.x + text.width - measure(line)
        else:
            x = text.x
        placed.append((line, x, first_baseline - index * text.leading))
    return placed


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def _xobject_name(print_copy: str) -> str:
    return "img" + hashlib.sha1(print_copy.encode("utf-8")).hexdigest()[:24]


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(3) == JPEG_MAGIC


def _embed_jpeg(canvas: Canvas, name: str, path: str) -> bool:
    """Register a JPEG file as an image XObject with its bytes untouched; False if reportlab can't read it.

    This mirrors what ``Canvas.drawImage`` does for ``.jpg`` paths, with a name we choose.
    """
    image = pdfdoc.PDFImageXObject(name)
    with open(path, "rb") as handle:
        if not image.loadImageFromJPEG(handle):
            return False
    canvas._doc.addForm(name, image)   # the document-level registry drawImage uses too
    return True


def resample_targets(layout: BookLayout) -> dict[str, tuple[int, int]]:
    """Print copies placed above the profile's ``max_image_ppi`` everywhere -> the pixel size that
    prints their largest placement at ``resample_ppi``."""
    profile = layout.profile
    largest: dict[str, PlacedImage] = {}
    for page in layout.pages:
        for placed in page.images:
            known = largest.get(placed.print_copy)
            if known is None or placed.width * placed.height > known.width * known.height:
                largest[placed.print_copy] = placed
    targets = {}
    for key, placed in largest.items():
        if placed.ppi > profile.max_image_ppi:
            factor = profile.resample_ppi / placed.ppi
            targets[key] = (max(1, math.ceil(placed.width_px * factor)), max(1, math.ceil(placed.height_px * factor)))
    return targets


def _resampled_jpeg(path: str, size: tuple[int, int]) -> bytes:
    """The print copy at ``size`` (bicubic: a downscale by under 3x needs no wider filter), as a JPEG
    that keeps its ICC profile (sRGB)."""
    with Image.open(path) as source:
        icc = source.info.get("icc_profile")
        source.draft("RGB", size)
        decoded = source if source.mode == "RGB" else source.convert("RGB")
        smaller = decoded.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    buffer = io.BytesIO()
    smaller.save(buffer, format="JPEG", quality=RESAMPLED_JPEG_QUALITY, icc_profile=icc, optimize=False)
    return buffer.getvalue()


def _embed_jpeg_bytes(canvas: Canvas, name: str, data: bytes) -> bool:
    image = pdfdoc.PDFImageXObject(name)
    if not image.loadImageFromJPEG(io.BytesIO(data)):
        return False
    canvas._doc.addForm(name, image)
    return True


def resample_all(targets: dict[str, tuple[int, int]], image_path: Callable[[str], str]) -> dict[str, bytes]:
    """Resampled JPEGs of every target, two at a time (Pillow releases the GIL while it works)."""
    keys = [key for key in sorted(targets) if _is_jpeg(image_path(key))]
    with ThreadPoolExecutor(max_workers=RESAMPLE_THREADS) as pool:
        data = list(pool.map(lambda key: _resampled_jpeg(image_path(key), targets[key]), keys))
    return dict(zip(keys, data))


def _draw_image(canvas: Canvas, placed: PlacedImage, path: str, embedded: dict[str, bool],
                resampled: dict[str, bytes] | None = None) -> None:
    name = _xobject_name(placed.print_copy)
    if name not in embedded:
        smaller = (resampled or {}).get(placed.print_copy)
        if smaller is not None:
            embedded[name] = _embed_jpeg_bytes(canvas, name, smaller)
        else:
            embedded[name] = _is_jpeg(path) and _embed_jpeg(canvas, name, path)
    if embedded[name]:
        canvas.saveState()
        canvas.translate(placed.x, placed.y)
        canvas.scale(placed.width, placed.height)
        canvas.doForm(name)
        canvas.restoreState()
    else:   # not a JPEG: reportlab decodes and Flate-encodes it (slow, large; ingest should prevent this)
        canvas.drawImage(path, placed.x, placed.y, placed.width, placed.height)


def _draw_text(canvas: Canvas, text: PlacedText, colour: str) -> None:
    """Each line as runs: the family where it has the glyphs, the fallback font where it does not."""
    font_name = _font_for(text)
    canvas.setFillColor(colour)
    for line, x, baseline in _line_positions(text, font_name):
        line_object = canvas.beginText(x, baseline)     # one text object per line, so it extracts as one
        for piece, run_font in fonts.runs(line, font_name):
            line_object.setFont(run_font, text.font_size, leading=text.leading)
            line_object.textOut(piece)
        canvas.drawText(line_object)


def _draw_frame(canvas: Canvas, box: tuple[float, float, float, float]) -> None:
    """A dashed rounded outline: the space an activity page leaves for a child's own drawing."""
    x0, y0, x1, y1 = box
    canvas.saveState()
    canvas.setStrokeColor(FRAME_GREY)
    canvas.setLineWidth(1.5)
    canvas.setDash(6, 4)
    canvas.roundRect(x0, y0, x1 - x0, y1 - y0, radius=14, stroke=1, fill=0)
    canvas.restoreState()


def _draw_page(canvas: Canvas, page: Page, profile: PrintProfile, image_path: Callable[[str], str],
               embedded: dict[str, bool], resampled: dict[str, bytes] | None = None) -> int:
    width, height = profile.page_width_pt, profile.page_height_pt
    canvas.setPageSize((width, height))
    canvas.setTrimBox(profile.trim_box(page.number))
    canvas.setBleedBox((0, 0, width, height))
    background = hex_to_rgb(page.background)
    canvas.setFillColorRGB(*(channel / 255 for channel in background))
    canvas.rect(0, 0, width, height, stroke=0, fill=1)   # to the bleed edge: no white slivers after trimming
    for placed in page.images:
        _draw_image(canvas, placed, image_path(placed.print_copy), embedded, resampled)
    for frame in page.frames:
        _draw_frame(canvas, frame)
    colour = text_colour_on(background)
    for text in page.texts:
        _draw_text(canvas, text, colour)
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
    fonts.register_fonts()
    out_path = Path(out_path)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    profile = layout.profile
    embedded: dict[str, bool] = {}
    targets = resample_targets(layout)
    resampled = resample_all(targets, image_path)
    placements = 0
    try:
        with _binary_streams():
            canvas = Canvas(str(partial), pagesize=(profile.page_width_pt, profile.page_height_pt),
                            pageCompression=1, invariant=1, initialFontName=fonts.REGULAR,
                            initialFontSize=12)
            canvas.setTitle(layout.title)
            canvas.setAuthor(layout.author)
            canvas.setCreator("book_assets")
            canvas.setSubject(f"Picture book, {profile.name}")
            for page in layout.pages:
                placements += _draw_page(canvas, page, profile, image_path, embedded, resampled)
            canvas.save()
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
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
    background = hex_to_rgb(page.background)
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
                               radius=max(1, round(14 * scale)), outline=FRAME_GREY, width=max(1, round(1.5 * scale)))
    colour = text_colour_on(background)
    for text in page.texts:
        font_name = _font_for(text)
        size_px = max(1.0, text.font_size * scale)
        for line, x, baseline in _line_positions(text, font_name):
            for piece, run_font in fonts.runs(line, font_name):
                font = _pil_font(run_font, size_px)
                draw.text((x * scale, (page_height - baseline) * scale), piece, font=font, fill=colour, anchor="ls")
                x += pdfmetrics.stringWidth(piece, run_font, text.font_size)

    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
