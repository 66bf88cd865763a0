"""``cover.pdf``: back, spine and front on one sheet, the way print services want a cover.

Geometry (KDP's cover rules, which IngramSpark and Lulu share in shape): the sheet is
bleed + back trim + spine + front trim + bleed wide and bleed + trim + bleed high; the spine's width
is the page count times the paper's thickness per page; title and author go on the front; spine
text only when the spine is wide enough (KDP: more than 79 pages) and kept 0.0625 in from each
spine fold; the back keeps a clear white area at the bottom right for the barcode the service
prints there.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import fonts
from .colour import parse_hex_colour
from .draw import draw_image, draw_text, fill_box, pdf_canvas, resample_all, resample_targets, text_colour_on
from .fonts import BOLD, ITALIC, REGULAR
from .layout import (
    BODY_LEADING, HEADING_LEADING, BookContent, ImageSource, PlacedImage, PlacedText, TextRole, contain, fit_block,
    soft_background,
)
from .profiles import POINTS_PER_INCH, SPINE_TEXT_MIN_PAGES, Box, PrintProfile
from .render import RenderStats
from .story.language import DEFAULT_LANGUAGE, Language, language_for
from .typography import mid_sentence

WHITE = (255, 255, 255)
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
    title = fit_block(content.title or "My Picture Book", width, height * 0.26, BOLD, COVER_TITLE_PT,
                       max(COVER_TITLE_MIN_PT, minimum), HEADING_LEADING, cut=True)
    author = fit_block(content.author, width, height * 0.1, REGULAR, COVER_AUTHOR_PT, minimum, BODY_LEADING,
                        cut=True)
    cover.texts.append(title.place(x0, y1 - title.height, width, TextRole.TITLE))
    if author.lines:
        cover.texts.append(author.place(x0, y0, width, TextRole.AUTHOR))
    if image is not None:
        frame = (x0, y0 + height * 0.1 + 12, x1, y1 - title.height - 12)
        cover.images.append(contain(image, frame, cover.profile.min_ppi))


BLURB_NAMES = 6     # names the back cover lists before "and friends"


def meet_line(titles: list[str], words: Language | None = None) -> str:
    """The blurb's first line: "Meet Max, Luna and Pip!", or with more than BLURB_NAMES characters,
    "Meet Max, Luna, …, Zoom and friends!" — nobody silently dropped."""
    words = words or language_for(DEFAULT_LANGUAGE)
    names = list(dict.fromkeys(title.strip() for title in titles if title.strip()))
    names = [mid_sentence(name) for name in names]
    if not names:
        return words.fallback_blurb
    if len(names) > BLURB_NAMES:
        return words.meet.format(names=words.and_friends.format(names=", ".join(names[:BLURB_NAMES])))
    return words.meet.format(names=words.join(names))


def _back(cover: CoverLayout, content: BookContent, safe: Box) -> None:
    x0, y0, x1, y1 = safe
    drawings = len(content.spreads)
    variations = sum(len(spread.variations) for spread in content.spreads)
    words = content.words
    blurb = meet_line([spread.title for spread in content.spreads if spread.title], words)
    made = words.blurb_made.format(drawings=words.count(drawings, words.drawing),
                                   maker=content.author or words.young_artists,
                                   pictures=words.count(variations, words.picture))
    blurb += f"\n\n{made[0].upper()}{made[1:]}"
    barcode_w, barcode_h = (v * POINTS_PER_INCH for v in BARCODE_IN)
    if cover.profile.is_print:
        cover.barcode = (x1 - barcode_w, y0, x1, y0 + barcode_h)
    room = (y1 - y0) - barcode_h - 24
    block = fit_block(blurb, x1 - x0, room, ITALIC, BACK_TEXT_PT, cover.profile.min_text_pt, BODY_LEADING, cut=True)
    cover.texts.append(block.place(x0, y1 - block.height, x1 - x0, TextRole.BLURB))


def _spine(cover: CoverLayout, content: BookContent) -> None:
    """Title and author along the spine, in rotated coordinates: x runs down the spine, y across it."""
    fonts.register_fonts()
    x0, y0, x1, y1 = cover.safe_boxes()[2]
    across, along = x1 - x0, y1 - y0
    text = " \u00b7 ".join(part for part in (content.title.strip(), content.author.strip()) if part)
    block = fit_block(text, along, across * 0.8, BOLD, SPINE_PT, SPINE_MIN_PT, 1.0)
    if block is not None and len(block.lines) == 1:
        # A box centred on the spine's middle line: the renderer centres the capitals in it.
        cover.spine_texts.append(block.place(0.0, -block.height / 2, along, TextRole.SPINE))
    else:
        cover.notes.append(f"The spine ({cover.spine_in:.3f} in) is too narrow for its title at a readable size, "
                           "so it is left plain; it gets its text once the book has more pages.")


def render_cover(cover: CoverLayout, image_path: Callable[[str], str], out_path: str | Path,
                 *, title: str = "", author: str = "") -> RenderStats:
    """Write ``cover.pdf`` (atomically), fonts embedded, images passed through or resampled."""
    started = time.perf_counter()
    out_path = Path(out_path)
    embedded: dict[str, bool] = {}
    resampled = resample_all(resample_targets(cover.images, cover.profile), image_path)
    with pdf_canvas(out_path, (cover.width_pt, cover.height_pt), title=f"{title} (cover)", author=author) as canvas:
        canvas.setTrimBox(cover.trim_box)
        canvas.setBleedBox(cover.sheet)
        background = parse_hex_colour(cover.background, default=WHITE)
        fill_box(canvas, background, cover.sheet)
        for placed in cover.images:
            draw_image(canvas, placed, image_path(placed.print_copy), embedded, resampled)
        if cover.barcode:
            fill_box(canvas, WHITE, cover.barcode)
        colour = text_colour_on(background)
        for text in cover.texts:
            draw_text(canvas, text, colour)
        if cover.spine_texts:
            canvas.saveState()
            canvas.translate((cover.spine[0] + cover.spine[2]) / 2, cover.safe_boxes()[2][3])
            canvas.rotate(-90)
            for text in cover.spine_texts:
                draw_text(canvas, text, colour)
            canvas.restoreState()
        canvas.showPage()
    return RenderStats(pages=1, bytes=out_path.stat().st_size, seconds=time.perf_counter() - started,
                       images=len(cover.images), unique_images=len(embedded), resampled_images=len(resampled))


def front_cover_png(cover_pdf: Path, cover: CoverLayout, width_px: int) -> bytes:
    """The front panel of the written cover.pdf as a PNG ``width_px`` wide (trimmed, no bleed): the
    preview shows the cover exactly as it prints."""
    import pypdfium2    # only the preview needs a rasteriser

    x0, y0, x1, y1 = cover.front
    scale = width_px / (x1 - x0)
    document = pypdfium2.PdfDocument(str(cover_pdf))
    try:
        page = document[0]
        crop = (x0, y0, page.get_width() - x1, page.get_height() - y1)     # left, bottom, right, top
        image = page.render(scale=scale, crop=crop).to_pil()
    finally:
        document.close()
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
