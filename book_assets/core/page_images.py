"""Page images (thumbnails, the preview's pages) rasterised from the PDF itself (the cover: cover.front_cover_png).

Drawn from the written, press-ready PDF with PDFium (pypdfium2), so a person looking at the
preview sees exactly what prints — fonts, fallbacks, resampled pictures, colour conversion and
all — not a second drawing of the layout. Pages render in forked worker processes (PDFium is not
thread-safe), each opening the PDF once.

A page image is stored in the work area under a key made from the page's inputs: its layout record
(number, kind, placed pictures — whose print copies are content-addressed — texts, frames,
background), the print profile, the image width and this module's format version. An unchanged
page of a rebuilt book is read back, not rasterised again; a changed page gets a new key.
"""
from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from .derived import Derived, input_digest, read_or_make
from .layout import Page
from .profiles import PrintProfile
from .store import ObjectStore

PAGE_IMAGE_FORMAT = 3          # bump when the rasterising or the PDF drawing changes (3: shrink-on-load decodes)
IN_PROCESS_PAGES = 4           # fewer pages to draw than this: no worker processes
CHUNKS_PER_WORKER = 8          # runs of pages per worker process, handed out as workers come free
MINIATURE_FORMAT = 1           # bump when page_miniature changes
PNG_COMPRESS_LEVEL = 3         # zlib level of a page image: Pillow's default 6 takes ~2x the time for ~10 % fewer
                               # bytes (300-px pages of the scale bench: 12 -> 6 ms a page, 34 -> 38 kB)


@dataclass(frozen=True)
class PageImages:
    pngs: tuple[bytes, ...]    # one PNG per page, in page order
    reused: int                # pages read back from the work area (inputs unchanged)
    rasterised: int            # pages drawn from the PDF in this build


def page_input_key(page: Page, profile: PrintProfile, width_px: int) -> str:
    """A digest of everything that decides how ``page`` looks (see the module docstring)."""
    return input_digest({"format": PAGE_IMAGE_FORMAT, "width_px": width_px, "page": asdict(page),
                         "profile": asdict(profile)})


def _rasterise(pdf_path: str, indexes: list[int], width_px: int) -> dict[int, bytes]:
    """PNGs of the 0-based pages ``indexes`` of one PDF, ``width_px`` wide (bleed included)."""
    import pypdfium2 as pdfium     # imported in the worker: PDFium is initialised where it is used

    pngs = {}
    document = pdfium.PdfDocument(pdf_path)
    try:
        for index in indexes:
            page = document[index]
            try:
                bitmap = page.render(scale=width_px / page.get_width())
                buffer = io.BytesIO()
                bitmap.to_pil().convert("RGB").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
                pngs[index] = buffer.getvalue()
            finally:
                page.close()
    finally:
        document.close()
    return pngs


def rasterise_pages(pdf_path: Path, indexes: list[int], width_px: int, workers: int | None = None) -> dict[int, bytes]:
    """PNGs of the given 0-based pages, in ``workers`` processes (all cores by default).

    Handed out in runs of a few pages (``CHUNKS_PER_WORKER`` per worker), each to the next free
    worker: pages differ threefold in cost (a grid of nine pictures against one drawing), and with
    every other page dealt to each worker one of two took all the grids (3.2 s against 1.2 s on
    the scale bench). Opening the PDF again for each run costs ~3 ms."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(indexes)))
    if len(indexes) < IN_PROCESS_PAGES or workers == 1:
        return _rasterise(str(pdf_path), indexes, width_px)
    size = math.ceil(len(indexes) / (workers * CHUNKS_PER_WORKER))
    runs = [indexes[i:i + size] for i in range(0, len(indexes), size)]
    pngs: dict[int, bytes] = {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for part in pool.map(_rasterise, [str(pdf_path)] * len(runs), runs, [width_px] * len(runs)):
            pngs.update(part)
    return pngs


def page_images(pages: list[Page], profile: PrintProfile, pdf_path: Path, store: ObjectStore, width_px: int,
                *, workers: int | None = None) -> PageImages:
    """Every page's image: read back when its inputs are unchanged, else rasterised from ``pdf_path``
    (the book as written) and stored for the next build."""
    keys = [store.work_key("pages", f"{page_input_key(page, profile, width_px)}.png") for page in pages]
    images = read_or_make(store, keys, lambda missing: rasterise_pages(pdf_path, missing, width_px, workers),
                          content_type="image/png")
    return PageImages(images.data, reused=images.reused, rasterised=images.made)


def page_miniature(png: bytes, px: int) -> bytes:
    """A page image as a small JPEG at most ``px`` wide (and twice as tall): every page at a glance."""
    with Image.open(io.BytesIO(png)) as page:
        small = page.convert("RGB")
    small.thumbnail((px, px * 2))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def page_miniatures(pngs: tuple[bytes, ...], store: ObjectStore, px: int) -> Derived:
    """``page_miniature`` of every page image, read back for page images an earlier build made them from."""
    keys = [store.work_key("page-miniatures", input_digest({"format": MINIATURE_FORMAT, "px": px,
                                                             "png": hashlib.sha256(png).hexdigest()}) + ".jpg")
            for png in pngs]
    return read_or_make(store, keys, lambda missing: {i: page_miniature(pngs[i], px) for i in missing},
                        content_type="image/jpeg")
