"""Draw a :class:`BookLayout` as a print-ready PDF (reportlab); page images are rasterised from it (core.page_images).

Page boxes are what a printer checks first: MediaBox = BleedBox = the whole page including bleed,
TrimBox = the profile's trim box for that page (bleed sits on the outside edge, so rectos and
versos differ). No annotations, no links. Fonts, images and deterministic bytes are handled by
:mod:`draw`, which the cover shares.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pikepdf
from reportlab.pdfgen.canvas import Canvas

from .colour import parse_hex_colour
from .derived import input_digest
from .draw import (
    Reduction, Resampler, draw_image, draw_text, fill_box, pdf_canvas, resample_targets,
    set_colour, text_colour_on,
)
from .layout import BookLayout, Page, PrintProfile
from .profiles import Box
from .store import FETCH_THREADS, LocalCopies, ObjectStore

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
    resampled_images: int = 0    # print copies with far more pixels than needed, brought down (draw.Reduction)
    parts: int = 0               # part files the pages were drawn into (render_pdf)
    parts_reused: int = 0        # of those, read back unchanged from the work area


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


PAGES_PER_PART = 4        # pages drawn into one part file: small enough to redraw only what changed
RESAMPLE_AHEAD_PARTS = 2  # parts whose pictures are resampled while an earlier part is drawn (memory: a few MB each)
PART_FORMAT = 4           # bump when drawing changes, so no stale part is reused (4: shrink-on-load JPEG decodes)


def part_key(pages: list[Page], profile: PrintProfile, targets: dict[str, Reduction]) -> str:
    """A digest of everything that decides a part's pages: their layout records (print copies are
    content-addressed), the profile, and how far each placed print copy is brought down — which
    depends on its largest placement anywhere in the book. Not the document's title and author:
    the joined book gets those (``render_pdf``), so a new title redraws only the pages showing it."""
    inputs = {"format": PART_FORMAT, "pages": [asdict(page) for page in pages], "profile": asdict(profile),
              "resampled": {k: asdict(targets[k]) if k in targets else None for k in _placed_copies(pages)}}
    return input_digest(inputs)


QPDF_STATIC_ID = b"<31415926535897932384626433832795>"   # the file identifier qpdf writes with static_id=True
ID_SECTION_MAX_BYTES = 16 << 20                             # a larger last cross-reference section is not qpdf's


def save_identified(pdf: pikepdf.Pdf, path: Path, digest: str) -> None:
    """Save ``pdf`` to ``path`` with the first 32 hex digits of ``digest`` as its file identifier
    (the trailer's /ID, both elements): the same bytes for the same inputs, as with qpdf's
    ``deterministic_id``, which instead takes the MD5 of the whole written file — 0.33 of the 0.53 s
    that saving the scale bench's 228 MB book took. The book is already named by digests of its
    parts' inputs, so it is saved with qpdf's static identifier, and that identifier is replaced in
    place where qpdf wrote it: in the dictionary of the last cross-reference section, which the
    ``startxref`` at the end of the file points to. An identifier ``pdf`` brought along (the first
    part's) is dropped first: qpdf would keep its first element, and the book is a new document."""
    if pikepdf.Name.ID in pdf.trailer:
        del pdf.trailer[pikepdf.Name.ID]
    pdf.save(path, static_id=True)
    identifier = b"<" + digest[:32].encode("ascii") + b">"
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 64))
        last_section = int(handle.read().rsplit(b"startxref", 1)[1].split()[0])
        if not 0 <= last_section < size or size - last_section > ID_SECTION_MAX_BYTES:
            raise ValueError(f"{path}: no cross-reference section where startxref points ({last_section})")
        handle.seek(last_section)
        section = handle.read()
        if section.count(QPDF_STATIC_ID) != 2:
            raise ValueError(f"{path}: qpdf's static file identifier is not in the last cross-reference section")
        handle.seek(last_section)
        handle.write(section.replace(QPDF_STATIC_ID, identifier))


def _placed_copies(pages: list[Page]) -> list[str]:
    """The print copies placed on ``pages``, each once, sorted."""
    return sorted({i.print_copy for page in pages for i in page.images})


def _render_part(pages: list[Page], layout: BookLayout, image_path: Callable[[str], str], out_path: Path,
                 resampled: dict[str, bytes], counts: dict[str, int]) -> None:
    profile = layout.profile
    embedded: dict[str, bool] = {}
    with pdf_canvas(out_path, (profile.page_width_pt, profile.page_height_pt), title=layout.title,
                    author=layout.author) as canvas:
        canvas.setSubject(f"Picture book, {profile.name}")
        for page in pages:
            counts["placements"] += _draw_page(canvas, page, profile, image_path, embedded, resampled)
    counts["unique"] += len(embedded)
    counts["reencoded"] += sum(1 for passed in embedded.values() if not passed)
    counts["resampled"] += len(resampled)


def render_pdf(layout: BookLayout, image_path: Callable[[str], str], out_path: str | Path, *,
               store: ObjectStore | None = None,
               prefetch: Callable[[Iterable[str]], None] | None = None,
               finish: Callable[[pikepdf.Pdf], None] | None = None) -> RenderStats:
    """Write the book to ``out_path`` (atomically: a temporary file renamed into place).

    The pages are drawn a few at a time into part files, which pikepdf joins into the book as it
    writes it out, so memory holds one part, never the whole book. With a ``store``, each part is
    kept in its work area under ``part_key`` and a rebuild reuses every part whose inputs did not
    change: their page content is the same bytes a cold build writes. Pictures to resample are made
    ahead of the part that places them (``Resampler``), while the parts before it are drawn, and each
    once however many parts place it.

    ``image_path`` maps a ``PlacedImage.print_copy`` key to a local JPEG file; ``prefetch``, if given,
    is first handed every print copy the parts to be drawn place, so a remote store can fetch them
    together rather than one stall at a time; ``finish``, if given, is applied to the joined book
    before it is written (the press's output intent: one write of the book, not two). A layout without
    pages raises ValueError: a zero-page PDF is not a book, and printers reject it.
    """
    if not layout.pages:
        raise ValueError("the layout has no pages, so there is no book to render")
    started = time.perf_counter()
    out_path = Path(out_path)
    profile = layout.profile
    targets = resample_targets((placed for page in layout.pages for placed in page.images), profile)
    counts = {"placements": 0, "unique": 0, "reencoded": 0, "resampled": 0, "reused": 0}
    parts = [layout.pages[i:i + PAGES_PER_PART] for i in range(0, len(layout.pages), PAGES_PER_PART)]
    with tempfile.TemporaryDirectory(prefix="book-parts-", dir=out_path.parent) as tmp, \
            contextlib.ExitStack() as held:
        files = []
        digests = [part_key(pages, profile, targets) for pages in parts]
        keys = [store.work_key("pdf-parts", digest + ".pdf") if store is not None else None for digest in digests]
        # The store's calls overlap (on a flaky bucket one stall must not queue the rest): the parts
        # looked up together, the reused ones fetched together, the new ones uploaded while drawing goes on.
        io_pool = held.enter_context(ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="parts"))
        kept = list(io_pool.map(lambda key: key is not None and store.exists(key), keys))
        reused_parts = LocalCopies(store, held) if store is not None else None
        if reused_parts is not None:
            reused_parts.prefetch(key for key, reused in zip(keys, kept) if reused)
        to_draw = [number for number, reused in enumerate(kept) if not reused]
        placed = {number: _placed_copies(parts[number]) for number in to_draw}
        if prefetch is not None:
            prefetch({copy for copies in placed.values() for copy in copies})
        uploads = []
        last_part = {copy: number for number in to_draw for copy in placed[number]}
        resampler = held.enter_context(Resampler(targets, image_path))
        for number, (pages, key, reused) in enumerate(zip(parts, keys, kept)):
            if reused:
                files.append(Path(reused_parts(key)))
                counts["reused"] += 1
                counts["placements"] += sum(len(page.images) for page in pages)
                continue
            # this part's pictures, then the next parts': made on the other cores while this one is drawn
            upcoming = to_draw[to_draw.index(number):][:1 + RESAMPLE_AHEAD_PARTS]
            for ahead in upcoming:
                resampler.request(placed[ahead])
            path = Path(tmp) / f"part-{number:04d}.pdf"
            _render_part(pages, layout, image_path, path, resampler.take(placed[number]), counts)
            resampler.release(copy for copy in placed[number] if last_part[copy] == number)
            if key is not None:
                uploads.append(io_pool.submit(store.write_file, key, path, content_type="application/pdf"))
            files.append(path)
        for upload in uploads:
            upload.result()       # the first failed upload is raised
        partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.joined")
        try:
            with pikepdf.open(files[0]) as book:
                sources = [held.enter_context(pikepdf.open(path)) for path in files[1:]]
                for source in sources:
                    book.pages.extend(source.pages)
                book.docinfo[pikepdf.Name.Title] = layout.title     # the parts' own may be an older title's
                book.docinfo[pikepdf.Name.Author] = layout.author
                if finish is not None:
                    finish(book)
                save_identified(book, partial, input_digest([digests, layout.title, layout.author]))
            os.replace(partial, out_path)
        finally:
            partial.unlink(missing_ok=True)
    return RenderStats(pages=len(layout.pages), bytes=out_path.stat().st_size,
                       seconds=time.perf_counter() - started, images=counts["placements"],
                       unique_images=counts["unique"], reencoded_images=counts["reencoded"],
                       resampled_images=counts["resampled"], parts=len(parts), parts_reused=counts["reused"])
