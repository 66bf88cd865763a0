"""``cover.pdf``: back, spine and front on one sheet, the way print services want a cover.

Geometry (KDP's cover rules, which IngramSpark and Lulu share in shape): the sheet is
bleed + back trim + spine + front trim + bleed wide and bleed + trim + bleed high; the spine's width
is the page count times the paper's thickness per page; title and author go on the front; spine
text only when the spine is wide enough (KDP: more than 79 pages) and kept 0.0625 in from each
spine fold; the back keeps a clear white area at the bottom right for the barcode the service
prints there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reportlab.pdfgen.canvas import Canvas

from . import fonts, render
from .layout import (
    BODY_LEADING, BOLD, HEADING_LEADING, ITALIC, REGULAR, BookContent, ImageSource, PlacedImage, PlacedText,
    _contain, _fit_block, soft_background,
)
from .profiles import POINTS_PER_INCH, SPINE_TEXT_MIN_PAGES, PrintProfile

Box = tuple[float, float, float, float]
SPINE_MARGIN_IN = 0.0625          # spine text stays this far from each fold
BARCODE_IN = (2.0, 1.2)           # the white area the service prints the ISBN barcode into
COVER_TITLE_PT, COVER_TITLE_MIN_PT = 44.0, 22.0
COVER_AUTHOR_PT = 22.0
BACK_TEXT_PT = 16.0
SPINE_PT, SPINE_MIN_PT = 14.0, 7.0


@dataclass
class CoverLayout:
    profile: PrintProfile
    pages: int                        # interior page count the spine is sized for
    paper: str
    spine_in: float
    width_pt: float
    height_pt: float
    back: Box                         # trim-edge panels, in sheet points
    spine: Box
    front: Box
    background: str
    images: list[PlacedImage] = field(default_factory=list)
    texts: list[PlacedText] = field(default_factory=list)
    spine_texts: list[PlacedText] = field(default_factory=list)   # laid out along the spine (rotated -90°)
    barcode: Box | None = None
    notes: list[str] = field(default_factory=list)   # what the maker should know (e.g. spine left blank)

    @property
    def trim_box(self) -> Box:
        bleed = self.profile.bleed_in * POINTS_PER_INCH
        return (bleed, bleed, self.width_pt - bleed, self.height_pt - bleed)

    @property
    def sheet(self) -> Box:
        return (0.0, 0.0, self.width_pt, self.height_pt)

    def safe_boxes(self) -> list[Box]:
        """Where text may stand: each panel inset by the safe margin, the spine by its fold margin."""
        margin = self.profile.safe_margin_in * POINTS_PER_INCH
        spine_margin = SPINE_MARGIN_IN * POINTS_PER_INCH
        inset = [(x0 + margin, y0 + margin, x1 - margin, y1 - margin) for x0, y0, x1, y1 in (self.back, self.front)]
        x0, y0, x1, y1 = self.spine
        return inset + [(x0 + spine_margin, y0 + margin, x1 - spine_margin, y1 - margin)]


def layout_cover(content: BookContent, profile: PrintProfile, pages: int, paper: str = "white",
                 cover_image: ImageSource | None = None) -> CoverLayout:
    """Place the cover for a book of ``pages`` interior pages on ``paper`` (KeyError for unknown paper)."""
    spine_in = profile.spine_width_in(pages, paper)
    bleed = profile.bleed_in * POINTS_PER_INCH
    trim_w, trim_h = profile.trim_width_in * POINTS_PER_INCH, profile.trim_height_in * POINTS_PER_INCH
    spine_w = spine_in * POINTS_PER_INCH
    width, height = 2 * bleed + 2 * trim_w + spine_w, 2 * bleed + trim_h
    back = (bleed, bleed, bleed + trim_w, bleed + trim_h)
    spine = (back[2], bleed, back[2] + spine_w, bleed + trim_h)
    front = (spine[2], bleed, spine[2] + trim_w, bleed + trim_h)
    cover_image = cover_image or (content.spreads[0].drawing if content.spreads else None)
    background = soft_background(cover_image.mean_lab) if cover_image else "#ffffff"
    cover = CoverLayout(profile, pages, paper, spine_in, width, height, back, spine, front, background)
    front_safe, back_safe = cover.safe_boxes()[1], cover.safe_boxes()[0]
    _front(cover, content, front_safe, cover_image)
    _back(cover, content, back_safe)
    if pages >= SPINE_TEXT_MIN_PAGES:
        _spine(cover, content)
    return cover


def _front(cover: CoverLayout, content: BookContent, safe: Box, image: ImageSource | None) -> None:
    x0, y0, x1, y1 = safe
    width, height = x1 - x0, y1 - y0
    minimum = cover.profile.min_text_pt
    title = _fit_block(content.title or "My Picture Book", width, height * 0.26, BOLD, COVER_TITLE_PT,
                       max(COVER_TITLE_MIN_PT, minimum), HEADING_LEADING, cut=True)
    author = _fit_block(content.author, width, height * 0.1, REGULAR, COVER_AUTHOR_PT, minimum, BODY_LEADING,
                        cut=True)
    cover.texts.append(title.place(x0, y1 - title.height, width, "title"))
    if author.lines:
        cover.texts.append(author.place(x0, y0, width, "author"))
    if image is not None:
        frame = (x0, y0 + height * 0.1 + 12, x1, y1 - title.height - 12)
        cover.images.append(_contain(image, frame, cover.profile.min_ppi))


def _back(cover: CoverLayout, content: BookContent, safe: Box) -> None:
    x0, y0, x1, y1 = safe
    drawings = len(content.spreads)
    variations = sum(len(spread.variations) for spread in content.spreads)
    names = [spread.title for spread in content.spreads if spread.title][:6]
    blurb = (f"Meet {', '.join(names[:-1])} and {names[-1]}!" if len(names) > 1 else
             f"Meet {names[0]}!" if names else "A picture book made from children's drawings.")
    blurb += (f"\n\n{drawings} drawing{'s' * (drawings != 1)} by {content.author or 'young artists'}, "
              f"and {variations} new picture{'s' * (variations != 1)} made from them.")
    barcode_w, barcode_h = (v * POINTS_PER_INCH for v in BARCODE_IN)
    if cover.profile.is_print:
        cover.barcode = (x1 - barcode_w, y0, x1, y0 + barcode_h)
    room = (y1 - y0) - barcode_h - 24
    block = _fit_block(blurb, x1 - x0, room, ITALIC, BACK_TEXT_PT, cover.profile.min_text_pt, BODY_LEADING, cut=True)
    cover.texts.append(block.place(x0, y1 - block.height, x1 - x0, "blurb"))


def _spine(cover: CoverLayout, content: BookContent) -> None:
    """Title and author along the spine, in rotated coordinates: x runs down the spine, y across it."""
    fonts.register_fonts()
    x0, y0, x1, y1 = cover.safe_boxes()[2]
    across, along = x1 - x0, y1 - y0
    text = " \u00b7 ".join(part for part in (content.title.strip(), content.author.strip()) if part)
    block = _fit_block(text, along, across * 0.8, BOLD, SPINE_PT, SPINE_MIN_PT, 1.0)
    if block is not None and len(block.lines) == 1:
        # A box centred on the spine's middle line: the renderer centres the capitals in it.
        cover.spine_texts.append(block.place(0.0, -block.height / 2, along, "spine"))
    else:
        cover.notes.append(f"The spine ({cover.spine_in:.3f} in) is too narrow for its title at a readable size, "
                           "so it is left plain; it gets its text once the book has more pages.")


def render_cover(cover: CoverLayout, image_path: Callable[[str], str], out_path: str | Path,
                 *, title: str = "", author: str = "") -> render.RenderStats:
    """Write ``cover.pdf`` (atomically), fonts embedded, images passed through or resampled."""
    started = time.perf_counter()
    fonts.register_fonts()
    out_path = Path(out_path)
    partial = out_path.with_name(f".{out_path.name}.partial")
    embedded: dict[str, bool] = {}
    try:
        with render._binary_streams():
            canvas = Canvas(str(partial), pagesize=(cover.width_pt, cover.height_pt), pageCompression=1,
                            invariant=1, initialFontName=fonts.REGULAR, initialFontSize=12)
            canvas.setTitle(f"{title} (cover)")
            canvas.setAuthor(author)
            canvas.setCreator("book_assets")
            canvas.setTrimBox(cover.trim_box)
            canvas.setBleedBox(cover.sheet)
            background = render.hex_to_rgb(cover.background)
            canvas.setFillColorRGB(*(channel / 255 for channel in background))
            canvas.rect(0, 0, cover.width_pt, cover.height_pt, stroke=0, fill=1)
            resampled = render.resample_all(_resample_targets(cover), image_path)
            for placed in cover.images:
                render._draw_image(canvas, placed, image_path(placed.print_copy), embedded, resampled)
            if cover.barcode:
                bx0, by0, bx1, by1 = cover.barcode
                canvas.setFillColorRGB(1, 1, 1)
                canvas.rect(bx0, by0, bx1 - bx0, by1 - by0, stroke=0, fill=1)
            colour = render.text_colour_on(background)
            for text in cover.texts:
                render._draw_text(canvas, text, colour)
            if cover.spine_texts:
                canvas.saveState()
                canvas.translate((cover.spine[0] + cover.spine[2]) / 2, cover.safe_boxes()[2][3])
                canvas.rotate(-90)
                for text in cover.spine_texts:
                    render._draw_text(canvas, text, colour)
                canvas.restoreState()
            canvas.showPage()
            canvas.save()
        partial.replace(out_path)
    finally:
        partial.unlink(missing_ok=True)
    return render.RenderStats(pages=1, bytes=out_path.stat().st_size, seconds=time.perf_counter() - started,
                              images=len(cover.images), unique_images=len(embedded),
                              resampled_images=len(resampled))


def _resample_targets(cover: CoverLayout) -> dict[str, tuple[int, int]]:
    profile = cover.profile
    return {placed.print_copy: (round(placed.width_px * profile.resample_ppi / placed.ppi),
                                round(placed.height_px * profile.resample_ppi / placed.ppi))
            for placed in cover.images if placed.ppi > profile.max_image_ppi}
