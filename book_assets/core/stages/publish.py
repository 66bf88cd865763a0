"""Stage 5 (book): render the PDF and cover, check them as a printer would, and publish the set.

Publishing writes the thumbnails, ``report.json``, ``preview.html``, ``cover.pdf`` and ``book.pdf``
into a new edition folder ``published/<id>/editions/<edition>/`` and then makes it current by
switching ``published/<id>/current.json`` — the last write (``core.editions``). Every build ends with
``status.json`` saying whether the current edition is the newest upload's book.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..contracts import Inventory, Layout, Pairing, PublishedBook, Validation, runner_up_probability
from ..cover import front_cover_png, render_cover
from ..derived import read_or_make
from ..editions import (Edition, Switch, edition_files, edition_id, edition_prefix, make_current, prune_editions,
                        read_current, remove_edition, status_key, write_unless_newer)
from ..inventory import Role
from ..pairing import PairStatus
from ..preflight import PreflightReport, preflight_cover, preflight_pdf
from ..press import PressResult, declare_srgb, make_press_ready
from ..preview import PreviewPage, render_preview
from ..problems import Problem, by_page, first_of
from ..page_images import page_images
from ..render import RenderStats, render_pdf
from ..report import BookReport, page_entries, unaccounted
from ..review import ReviewPanel, review_images, review_panel, review_thumbnail_key, thumbnail_jpeg_bytes
from ..store import LocalCopies, ObjectStore
from ..timing import ms_since

THUMBNAIL_PX = 300    # pages/page-NNN.png and the pictures in preview.html
PREVIEW_COVER_PX = 800    # the front cover in preview.html: sharp at a phone's or a laptop's width


@dataclass(frozen=True)
class BookBuild:
    """What one build made: the stored result, and what the checks and the UI need from this run."""

    result: PublishedBook
    preflight: PreflightReport
    cover_preflight: PreflightReport
    cover_notes: tuple[str, ...]
    unaccounted: tuple[str, ...]
    thumbnails: tuple[bytes, ...]


def build_report(inventory: Inventory, validation: Validation, pairing: Pairing, layout: Layout,
                 metrics: dict, preflight: dict[str, list[dict]] | None = None) -> BookReport:
    """``report.json``: where every object of the book folder went."""
    return BookReport(
        book_id=inventory.book_id,
        title=layout.layout.title,
        pages=page_entries(layout.layout.pages),
        pairs=[{"generated": p.generated, "drawing": p.drawing, "confidence": round(p.confidence, 4),
                "needs_review": bool(p.needs_review)} for p in pairing.with_status(PairStatus.PLACED)],
        unpaired=pairing.unpaired,
        rejected=[{"key": i.key, "reason": i.reason, "message": i.message} for i in validation.rejected()],
        config_files=sorted(e.key for e in inventory.of_role(Role.CONFIG, Role.OVERRIDES)),
        held=[{"generated": p.generated, "drawing": p.drawing, "confidence": round(p.confidence, 4),
               "runner_up": p.runner_up, "runner_up_probability": round(runner_up_probability(p), 4),
               "message": p.reason} for p in pairing.with_status(PairStatus.HELD)],
        excluded=[{"generated": p.generated, "reason": p.status.value, "message": p.reason}
                  for p in pairing.with_status(PairStatus.REVIEWER_EXCLUDED)],
        problems=[*first_of([p.message for p in layout.config_problems]),
                  *first_of([f"pairs.csv: {p.message}" for p in pairing.override_problems])],
        metrics=metrics,
        preflight=preflight or {},
    )


def page_warnings(layout: Layout, pairing: Pairing, preflight_warnings: list[Problem]) -> dict[int, list[str]]:
    """Review warnings keyed by the page they concern, for the preview."""
    book = layout.layout
    notes: dict[int, list[str]] = {}
    for row in layout.placed_images():
        if row.ppi < book.profile.min_ppi:
            notes.setdefault(row.page, []).append(f"{row.key.rsplit('/', 1)[-1]} prints at {row.ppi:.0f} PPI; "
                                                  f"a larger upload would print sharper.")
    page_of_image = {(page.drawing_key, image.key): page.number
                     for page in book.pages if page.drawing_key for image in page.images}
    for pair in pairing.flagged():
        number = page_of_image.get((pair.drawing, pair.generated))
        if number is not None:
            notes.setdefault(number, []).append(
                f"{pair.generated.rsplit('/', 1)[-1]} may not belong to this drawing "
                f"(confidence {pair.confidence:.2f}); fix it in pairs.csv if it is wrong.")
    for number, messages in by_page([*layout.layout_problems, *preflight_warnings]).items():
        notes.setdefault(number, []).extend(messages)
    for page in book.pages:
        for text in page.texts:
            if text.shrunk_from and text.role == "story":
                notes.setdefault(page.number, []).append(
                    f"The story text was set at {text.font_size:g} pt instead of {text.shrunk_from:g} pt to fit; "
                    f"a shorter text reads larger.")
    return notes


def status_document(book_id: str, run_id: str, *, published: bool, problems: list[str], sources_listed_at: float,
                    current: Edition | None = None) -> dict:
    """``published/<id>/status.json``: whether the current edition is the newest upload's book."""
    return {
        "book_id": book_id,
        "run_id": run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources_listed_at": sources_listed_at,
        "published": published,
        "message": ("The current edition was made from the newest upload." if published else
                    "The newest upload could not be made into a book yet (see problems); the current edition "
                    "(current.json), if any, is from an earlier upload."),
        "edition": current.edition if current else None,
        "files": current.files if current else {},
        "problems": problems,
    }


def write_status(store: ObjectStore, book_id: str, run_id: str, *, published: bool, problems: list[str],
                 sources_listed_at: float) -> Switch:
    """Written by every build — published or refused here, or failed earlier (the run-status sensor) —
    so a blocked upload never leaves an older book looking current; never over the status of a run
    that listed the book folder later (``write_unless_newer``)."""
    document = status_document(book_id, run_id, published=published, problems=problems,
                               sources_listed_at=sources_listed_at,
                               current=read_current(store, book_id) if published else None)
    return write_unless_newer(store, status_key(book_id), document)


@dataclass(frozen=True)
class Rendered:
    """The interior and cover written to a local folder, and what re-opening them found."""

    pdf_path: Path
    cover_path: Path
    stats: RenderStats
    cover_bytes: int
    preflight: PreflightReport
    cover_preflight: PreflightReport
    thumbnails: tuple[bytes, ...]
    preflight_ms: float
    thumbnails_ms: float
    press: PressResult | None = None           # what made book.pdf press-ready (output intent, PDF/X)
    cover_press: PressResult | None = None
    pages_reused: int = 0                      # page images read back: their inputs did not change
    pages_rasterised: int = 0                  # page images drawn from book.pdf in this build

    def preflight_items(self) -> dict[str, list[dict]]:
        """Every preflight item measured, with its value and limit, per written file."""
        return {"book.pdf": self.preflight.item_table(), "cover.pdf": self.cover_preflight.item_table()}


def render_book(layout: Layout, store: ObjectStore, folder: Path, image_path: LocalCopies) -> Rendered:
    """Write book.pdf and cover.pdf into ``folder``, make both what the profile's press asks for
    (core.press), preflight both, and rasterise every page's image from the written PDF (reused for
    pages whose inputs did not change, core.page_images).
    The print copies the drawing needs (the cover's and those on pages not reused) are fetched from
    the store together, in parallel, before drawing starts."""
    book, cover = layout.layout, layout.cover
    cover_copies = [placed.print_copy for placed in cover.images]

    pdf_path, cover_path = folder / "book.pdf", folder / "cover.pdf"
    stats = render_pdf(book, image_path, pdf_path, store=store,
                       prefetch=lambda keys: image_path.prefetch([*keys, *cover_copies]),
                       finish=None if book.profile.is_cmyk else declare_srgb)   # so the press step need not rewrite it
    press = make_press_ready(pdf_path, book.profile)
    stats = dataclasses.replace(stats, bytes=press.bytes)
    started = time.perf_counter()
    preflight = preflight_pdf(pdf_path, book.profile, expected_pages=len(book.pages))
    preflight_ms = ms_since(started)
    render_cover(cover, image_path, cover_path, title=book.title, author=book.author)
    cover_press = make_press_ready(cover_path, book.profile)     # the cover follows the interior's profile
    cover_check = preflight_cover(cover_path, book.profile, cover.sheet, cover.trim_box, cover.safe_boxes())
    started = time.perf_counter()
    images = page_images(book.pages, book.profile, pdf_path, store, THUMBNAIL_PX)
    return Rendered(pdf_path, cover_path, stats, cover_press.bytes, preflight, cover_check, images.pngs,
                    preflight_ms, ms_since(started), press, cover_press,
                    pages_reused=images.reused, pages_rasterised=images.rasterised)


@dataclass(frozen=True)
class ReviewBuild:
    panel: ReviewPanel
    thumbnails_reused: int      # read back from the work area: their print copies did not change
    thumbnails_drawn: int       # drawn from print copies in this build


def review_of(book_id: str, validation: Validation, pairing: Pairing, layout: Layout,
              store: ObjectStore, copies: LocalCopies) -> ReviewBuild:
    """The preview's review panel. Its thumbnails are read back for print copies an earlier build
    drew them from; the rest are drawn from their print copies, fetched together (those the book
    already fetched are reused)."""
    print_copies = sorted({validation.get(key).print_copy for key in review_images(pairing, layout)})

    def draw(missing: list[int]) -> dict[int, bytes]:
        copies.prefetch(print_copies[i] for i in missing)
        # Pillow decodes, resizes and encodes without the GIL: threads use every core (~900 thumbnails cold)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="review-thumbnails") as pool:
            return dict(zip(missing, pool.map(lambda i: thumbnail_jpeg_bytes(copies(print_copies[i])), missing)))

    made = read_or_make(store, [review_thumbnail_key(store, copy) for copy in print_copies], draw,
                        content_type="image/jpeg")
    encoded = {copy: base64.b64encode(jpeg).decode("ascii") for copy, jpeg in zip(print_copies, made.data)}
    panel = review_panel(book_id, pairing, layout, lambda key: encoded[validation.get(key).print_copy])
    return ReviewBuild(panel, thumbnails_reused=made.reused, thumbnails_drawn=made.made)


def preview_html(layout: Layout, pairing: Pairing, rendered: Rendered, review: ReviewPanel | None = None) -> str:
    """preview.html: every page as a spread, with what a person should look at on each page, and the
    review panel where the maker settles what we were unsure of."""
    book, cover = layout.layout, layout.cover
    return render_preview(
        book.title, [PreviewPage(p.number, p.kind, png) for p, png in zip(book.pages, rendered.thumbnails)],
        page_warnings(layout, pairing, rendered.preflight.warnings),
        general=[*first_of([p.message for p in layout.config_problems]),
                 *(f"{key.rsplit('/', 1)[-1]} was not placed: no drawing matched it." for key in pairing.unpaired),
                 *(f"{p.generated.rsplit('/', 1)[-1]}: {p.reason} Name its drawing (or -) in pairs.csv "
                   f"and build again." for p in pairing.with_status(PairStatus.HELD))],
        facts={"profile": book.profile.name, "pages": rendered.stats.pages,
               "PDF": f"{rendered.stats.bytes / 1e6:.1f} MB",
               "cover spine": f"{cover.spine_in:.3f} in ({cover.paper} paper)"},
        cover=front_cover_png(rendered.cover_path, cover, PREVIEW_COVER_PX), language=book.language, review=review,
    )


def report_metrics(inventory: Inventory, validation: Validation, pairing: Pairing, layout: Layout,
                   stats: RenderStats) -> dict:
    """The figures report.json carries."""
    return {
        "pages": stats.pages, "pdf_bytes": stats.bytes, "render_ms": round(stats.seconds * 1000, 1),
        "images_placed": len(layout.placed_images()), "min_ppi": layout.min_placed_ppi(),
        "objects": len(inventory.entries), "rejected": len(validation.rejected()),
        "pairs": len(pairing.with_status(PairStatus.PLACED)), "held": len(pairing.with_status(PairStatus.HELD)),
        "reviewer_excluded": len(pairing.with_status(PairStatus.REVIEWER_EXCLUDED)),
        "pairs_needing_review": sum(p.needs_review for p in pairing.pairs), "unpaired": len(pairing.unpaired),
    }


UPLOAD_THREADS = 8    # an edition's files are independent: one stalled upload must not hold up the rest


def publish_files(store: ObjectStore, out: str, rendered: Rendered, report: BookReport, preview: str) -> float:
    """Upload one edition's files under the folder ``out``, in parallel (nothing reads them until the
    pointer names them, so their order does not matter); the milliseconds it took."""
    started = time.perf_counter()
    uploads = [*((store.write_bytes, f"{out}pages/page-{number:03d}.png", png, "image/png")
                 for number, png in enumerate(rendered.thumbnails, start=1)),
               (store.write_bytes, out + "report.json", report.to_json().encode(), "application/json"),
               (store.write_bytes, out + "preview.html", preview.encode(), "text/html"),
               (store.write_file, out + "cover.pdf", rendered.cover_path, "application/pdf"),     # streamed from
               (store.write_file, out + "book.pdf", rendered.pdf_path, "application/pdf")]        # their files
    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="publish") as pool:
        for done in [pool.submit(write, key, source, content_type=kind) for write, key, source, kind in uploads]:
            done.result()       # the first failure is raised here (the rest finish or fail on their own)
    return ms_since(started)


def make_book(inventory: Inventory, validation: Validation, pairing: Pairing, layout: Layout,
              store: ObjectStore, *, run_id: str) -> BookBuild:
    """Render and preflight; when everything passes and every object is accounted for, upload a new
    edition and make it current unless a newer one already is; prune old editions; and in every
    case write status.json."""
    book_id = inventory.book_id
    edition = edition_id(inventory.listed_at, run_id)
    with tempfile.TemporaryDirectory(prefix="book-") as tmp, contextlib.ExitStack() as files:
        copies = LocalCopies(store, files)
        rendered = render_book(layout, store, Path(tmp), copies)
        report = build_report(inventory, validation, pairing, layout,
                              report_metrics(inventory, validation, pairing, layout, rendered.stats),
                              rendered.preflight_items())
        missing = unaccounted(report, inventory.keys)
        refusals = (*rendered.preflight.problems, *rendered.cover_preflight.problems,
                    *(Problem("unaccounted_object", f"{key} is not accounted for in the report") for key in missing))
        upload_ms, switch, pruned, review = 0.0, None, [], None
        if not refusals:
            review = review_of(book_id, validation, pairing, layout, store, copies)
            upload_ms = publish_files(store, edition_prefix(book_id, edition), rendered, report,
                                      preview_html(layout, pairing, rendered, review.panel))
            switch = make_current(store, Edition(book_id, edition, run_id, inventory.fingerprint, inventory.listed_at,
                                                 edition_files(book_id, edition, len(rendered.thumbnails))))
            if switch is Switch.NEWER_KEPT:      # never current, so no reader has it: remove it now
                remove_edition(store, book_id, edition)
            pruned = prune_editions(store, book_id)
        publish = switch is Switch.WRITTEN
        write_status(store, book_id, run_id, published=publish, problems=[str(p) for p in refusals],
                     sources_listed_at=inventory.listed_at)
    newer = read_current(store, book_id) if switch is Switch.NEWER_KEPT else None
    superseded_by = newer.edition if newer else ""
    keys = edition_files(book_id, edition, len(rendered.thumbnails))
    stats = rendered.stats
    result = PublishedBook(
        book_id=book_id, published=publish, source_fingerprint=inventory.fingerprint,
        pdf=keys["book.pdf"], cover=keys["cover.pdf"], report=keys["report.json"], preview=keys["preview.html"],
        status=status_key(book_id), pages=stats.pages, profile=layout.layout.profile.name, problems=refusals,
        edition=edition if not refusals else "", superseded_by=superseded_by,
        figures={
            "pdf_bytes": stats.bytes, "pdf_mb": round(stats.bytes / 1e6, 2), "images_embedded": stats.images,
            "images_resampled": stats.resampled_images, "render_ms": round(stats.seconds * 1000, 1),
            "preflight_ms": rendered.preflight_ms, "min_pdf_ppi": rendered.preflight.min_ppi,
            "spine_in": round(layout.cover.spine_in, 4), "cover_bytes": rendered.cover_bytes,
            "thumbnails_ms": rendered.thumbnails_ms, "upload_ms": upload_ms, "editions_pruned": len(pruned),
            "pages_reused": rendered.pages_reused, "pages_rasterised": rendered.pages_rasterised,
            "review_thumbnails_reused": review.thumbnails_reused if review else 0,
            "review_thumbnails_drawn": review.thumbnails_drawn if review else 0,
            "pdf_parts": stats.parts, "pdf_parts_reused": stats.parts_reused,
            "press": rendered.press.kind.value, "press_ms": rendered.press.ms,
            "max_ink_percent": rendered.preflight.max_ink, "cover_max_ink_percent": rendered.cover_preflight.max_ink,
        },
    )
    return BookBuild(result=result, preflight=rendered.preflight, cover_preflight=rendered.cover_preflight,
                     cover_notes=tuple(layout.cover.notes), unaccounted=tuple(missing), thumbnails=rendered.thumbnails)
