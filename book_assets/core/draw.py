"""Drawing shared by the book (``render``) and its cover (``cover``): PDF canvases written atomically,
print copies passed through or resampled, and text set in the embedded fonts.

What a printer checks, and how the drawing meets it: every glyph is set in the embedded TrueType
family from :mod:`fonts` (the canvas's initial font too, otherwise reportlab writes a non-embedded
Helvetica into every page's resources); print copies are sRGB JPEGs and go into the PDF
byte-for-byte (DCTDecode), and only a copy with far more pixels than its largest placement needs
(above the profile's ``max_image_ppi``) is brought down and re-encoded once, ICC profile kept
(``Reduction``); neutral colours (text, frames, white areas) are set as gray, which a CMYK
conversion prints in black ink alone — small text in four inks blurs when the plates shift; bytes are
deterministic (``invariant=1``), so a re-run that changes nothing writes
the same file.

Image XObjects are named after the print copy's *bucket key*, not the local path it was read
from, so two renders of one layout are byte-identical even when the files sit in different
temporary folders (reportlab's own ``drawImage`` names images after the path, and only passes
JPEGs through when the path ends in ``.jpg``).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image
from reportlab import rl_config
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .colour import parse_hex_colour, relative_luminance
from .layout import PlacedImage, PlacedText
from .profiles import Box, PrintProfile

JPEG_MAGIC = b"\xff\xd8\xff"
DARK_TEXT = "#1e1e1e"
LIGHT_TEXT = "#ffffff"
RESAMPLED_JPEG_QUALITY = 90
RESAMPLE_THREADS = 2


# ---------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def binary_streams() -> Iterator[None]:
    """Turn off ASCII85 stream encoding while rendering: with it on, rendering is 10–100x slower
    and the file 25 % larger. Restored afterwards so other reportlab users see no change."""
    previous = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = previous


@contextlib.contextmanager
def pdf_canvas(out_path: Path, size: tuple[float, float], *, title: str, author: str) -> Iterator[Canvas]:
    """A canvas writing ``out_path`` atomically (a temporary file renamed into place once saved), with
    binary streams, compressed pages, deterministic bytes and the embedded family as initial font."""
    fonts.register_fonts()
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    try:
        with binary_streams():
            canvas = Canvas(str(partial), pagesize=size, pageCompression=1, invariant=1,
                            initialFontName=fonts.REGULAR, initialFontSize=12)
            canvas.setTitle(title)
            canvas.setAuthor(author)
            canvas.setCreator("book_assets")
            yield canvas
            canvas.save()
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)


def set_colour(canvas: Canvas, colour: str | tuple[int, int, int], *, stroke: bool = False) -> None:
    """Fill (or stroke) colour: a neutral one as DeviceGray, so the press conversion prints it in
    black ink only; any other as RGB."""
    r, g, b = parse_hex_colour(colour) if isinstance(colour, str) else colour
    if r == g == b:
        (canvas.setStrokeGray if stroke else canvas.setFillGray)(r / 255)
    else:
        (canvas.setStrokeColorRGB if stroke else canvas.setFillColorRGB)(r / 255, g / 255, b / 255)


def fill_box(canvas: Canvas, rgb: tuple[int, int, int], box: Box) -> None:
    """A plain filled rectangle: a page's colour out to the bleed edge (no white slivers after
    trimming), or the white area a cover keeps for its barcode."""
    x0, y0, x1, y1 = box
    set_colour(canvas, rgb)
    canvas.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def text_colour_on(background: tuple[int, int, int]) -> str:
    """Dark text on light pages, white text on dark ones (relative luminance, WCAG)."""
    return LIGHT_TEXT if relative_luminance(background) < 0.18 else DARK_TEXT


def font_for(text: PlacedText) -> str:
    """Only the embedded family is ever drawn; an unknown font name falls back to the regular face."""
    return text.font_name if text.font_name in fonts.FAMILY else fonts.REGULAR


def line_positions(text: PlacedText, font_name: str) -> list[tuple[str, float, float]]:
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


def draw_text(canvas: Canvas, text: PlacedText, colour: str) -> None:
    """Each line as runs: the family where it has the glyphs, the fallback font where it does not."""
    font_name = font_for(text)
    set_colour(canvas, colour)
    for line, x, baseline in line_positions(text, font_name):
        line_object = canvas.beginText(x, baseline)     # one text object per line, so it extracts as one
        for piece, run_font in fonts.runs(line, font_name):
            line_object.setFont(run_font, text.font_size, leading=text.leading)
            fonts.draw_run(line_object, piece, run_font, text.font_size)
        canvas.drawText(line_object)


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def _xobject_name(print_copy: str) -> str:
    return "img" + hashlib.sha1(print_copy.encode("utf-8")).hexdigest()[:24]


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(3) == JPEG_MAGIC


def _embed_jpeg(canvas: Canvas, name: str, jpeg: BinaryIO) -> bool:
    """Register a JPEG as an image XObject with its bytes untouched; False if reportlab can't read it.

    This mirrors what ``Canvas.drawImage`` does for ``.jpg`` paths, with a name we choose.
    """
    image = pdfdoc.PDFImageXObject(name)
    if not image.loadImageFromJPEG(jpeg):
        return False
    canvas._doc.addForm(name, image)   # the document-level registry drawImage uses too
    return True


@dataclass(frozen=True)
class Reduction:
    """How far one print copy placed above ``max_image_ppi`` is brought down, in pixel sizes that print
    its largest placement at the profile's resolutions.

    A JPEG decodes at 1/2, 1/4 or 1/8 of its size for a fraction of the full decode (libjpeg scales
    in the DCT, ``Image.draft``): the smallest such decode that still prints at ``min_ppi`` is taken,
    and resized to ``resample_ppi`` only when it is larger than that — a 3000 px drawing placed
    4.6 in wide decodes at 1500 px (325 PPI) and is encoded as it is in 31 ms, where the full decode,
    a resize to 1846 px (400 PPI) and the encode took 106 ms. Never above ``resample_ppi``, so a smaller
    placement of the same copy keeps the headroom below ``max_image_ppi`` it had."""

    least: tuple[int, int]       # at min_ppi: the smallest decode that may be placed
    resized: tuple[int, int]     # at resample_ppi: the largest placed; a larger decode is resized to it

    def keeps(self, size: tuple[int, int]) -> bool:
        """Whether a decode of ``size`` is placed without a resize."""
        return size[0] <= self.resized[0] and size[1] <= self.resized[1]


def resample_targets(placements: Iterable[PlacedImage], profile: PrintProfile) -> dict[str, Reduction]:
    """Print copies placed above the profile's ``max_image_ppi`` everywhere -> how far each is brought
    down for its largest placement (``Reduction``); sizes rounded up, so no placement drops below
    ``min_ppi``."""
    largest: dict[str, PlacedImage] = {}
    for placed in placements:
        known = largest.get(placed.print_copy)
        if known is None or placed.width * placed.height > known.width * known.height:
            largest[placed.print_copy] = placed
    return {key: Reduction(least=_pixels_at(placed, profile.min_ppi), resized=_pixels_at(placed, profile.resample_ppi))
            for key, placed in largest.items() if placed.ppi > profile.max_image_ppi}


def _pixels_at(placed: PlacedImage, ppi: float) -> tuple[int, int]:
    """The pixel size that prints ``placed`` at ``ppi`` (rounded up)."""
    factor = ppi / placed.ppi
    return max(1, math.ceil(placed.width_px * factor)), max(1, math.ceil(placed.height_px * factor))


def _resampled_jpeg(path: str, target: Reduction) -> bytes:
    """The print copy brought down as ``target`` says (its smallest placeable JPEG decode, resized
    only when that is larger than ``resample_ppi`` needs), as a JPEG that keeps its ICC profile (sRGB).

    Bilinear (Pillow widens it to the scale, so it does not alias): on the scale bench's 3000 px
    drawings brought to 1846 px it is 49.5 dB from bicubic — eight times closer than the JPEG
    encode that follows comes to its own input (40.7 dB at quality 90) — in 70 ms, not 111."""
    with Image.open(path) as source:
        icc = source.info.get("icc_profile")
        source.draft("RGB", target.least)
        decoded = source if source.mode == "RGB" else source.convert("RGB")
        smaller = decoded if target.keeps(decoded.size) else \
            decoded.resize(target.resized, Image.Resampling.BILINEAR, reducing_gap=2.0)
        buffer = io.BytesIO()
        smaller.save(buffer, format="JPEG", quality=RESAMPLED_JPEG_QUALITY, icc_profile=icc, optimize=False)
    return buffer.getvalue()


class Resampler:
    """Resampled JPEGs (``_resampled_jpeg``) made in the background, ``RESAMPLE_THREADS`` at a time:
    Pillow releases the GIL while it decodes, resizes and encodes, so a caller drawing pages in Python
    asks for the next pages' pictures first and they are made on the other cores while it draws. Each
    is kept until ``release``; print copies that are not JPEG or need no resampling are left out."""

    def __init__(self, targets: dict[str, Reduction], image_path: Callable[[str], str]):
        self._targets, self._image_path = targets, image_path
        self._pool = ThreadPoolExecutor(max_workers=RESAMPLE_THREADS, thread_name_prefix="resample")
        self._made: dict[str, Future[bytes | None]] = {}

    def __enter__(self) -> Resampler:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def _resample(self, key: str) -> bytes | None:
        path = self._image_path(key)
        return _resampled_jpeg(path, self._targets[key]) if _is_jpeg(path) else None

    def request(self, keys: Iterable[str]) -> None:
        """Start making these (in the order asked, after what was asked before)."""
        for key in keys:
            if key in self._targets and key not in self._made:
                self._made[key] = self._pool.submit(self._resample, key)

    def take(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The resampled JPEGs of ``keys`` that have one, waiting for those still being made."""
        keys = list(keys)
        self.request(keys)
        made = {key: self._made[key].result() for key in keys if key in self._made}
        return {key: data for key, data in made.items() if data is not None}

    def release(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._made.pop(key, None)


def resample_all(targets: dict[str, Reduction], image_path: Callable[[str], str]) -> dict[str, bytes]:
    """Resampled JPEGs of every target, ``RESAMPLE_THREADS`` at a time."""
    with Resampler(targets, image_path) as resampler:
        return resampler.take(sorted(targets))


def draw_image(canvas: Canvas, placed: PlacedImage, path: str, embedded: dict[str, bool],
               resampled: dict[str, bytes] | None = None) -> None:
    """Place a print copy: its resampled JPEG if it has one, else its file byte-for-byte; each is
    embedded once however often it is placed (``embedded``: XObject name -> passed through)."""
    name = _xobject_name(placed.print_copy)
    if name not in embedded:
        smaller = (resampled or {}).get(placed.print_copy)
        if smaller is not None:
            embedded[name] = _embed_jpeg(canvas, name, io.BytesIO(smaller))
        elif _is_jpeg(path):
            with open(path, "rb") as handle:
                embedded[name] = _embed_jpeg(canvas, name, handle)
        else:
            embedded[name] = False
    if embedded[name]:
        canvas.saveState()
        canvas.translate(placed.x, placed.y)
        canvas.scale(placed.width, placed.height)
        canvas.doForm(name)
        canvas.restoreState()
    else:   # not a JPEG: reportlab decodes and Flate-encodes it (slow, large; ingest should prevent this)
        canvas.drawImage(path, placed.x, placed.y, placed.width, placed.height)
