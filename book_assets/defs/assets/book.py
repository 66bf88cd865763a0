"""``book``: the published picture book — a new edition under ``published/<id>/editions/`` (book.pdf,
cover.pdf, preview.html, pages, report) made current by ``published/<id>/current.json``."""

import base64

import dagster as dg

from ...core.bucket_layout import book_prefix, contents_fingerprint
from ...core.contracts import Inventory, Layout, Pairing, Validation
from ...core.editions import pointer_key, read_current
from ...core.page_images import page_miniatures
from ...core.stages.publish import make_book
from .. import checks
from ..resources import Bucket, link
from .common import book_asset_args, book_id_of, fail_fast_unless_transient, fields

PREVIEW_PAGES = 4     # thumbnails shown large in the materialization metadata (title page and first spread)
STRIP_PX = 96         # every page, small, in the materialization metadata


def thumbnail_markdown(pngs) -> str:
    return " ".join(f"![page {i}](data:image/png;base64,{base64.b64encode(png).decode()})"
                    for i, png in enumerate(pngs, start=1))


def page_strip_markdown(jpegs) -> str:
    """Every page as a small JPEG (``page_miniatures``), eight to a row, so the UI shows the whole book at a glance."""
    cells = [f"![{number}](data:image/jpeg;base64,{base64.b64encode(jpeg).decode()})"
             for number, jpeg in enumerate(jpegs, start=1)]
    return "\n".join(" ".join(cells[i:i + 8]) + "  " for i in range(0, len(cells), 8))


@dg.asset(**book_asset_args("publish", kinds={"pdf", "reportlab"}), check_specs=checks.BOOK_CHECKS)
@fail_fast_unless_transient()
def book(context: dg.AssetExecutionContext, bucket: Bucket, raw_images: Inventory, validated_images: Validation,
         image_pairs: Pairing, page_layouts: Layout):
    """The published picture book: an edition (book.pdf, cover, preview, thumbnails, ``report.json``) under
    ``published/<book_id>/editions/``, made current by ``current.json`` unless a newer edition already is."""
    book_id = book_id_of(context)
    built = make_book(raw_images, validated_images, image_pairs, page_layouts, bucket, run_id=context.run.run_id)
    folder_now = contents_fingerprint(bucket.list_objects(book_prefix(book_id)),
                                      book_prefix(book_id))
    result = built.result
    if result.published:
        context.log.info(fields("published", book=book_id, asset="book", url=bucket.url(result.pdf),
                                pages=result.pages, pdf_mb=result.figures["pdf_mb"]))
    elif result.superseded_by:
        context.log.warning(fields("superseded", book=book_id, asset="book", edition=result.edition,
                                   current=result.superseded_by))
    else:
        context.log.error(fields("not_published", book=book_id, asset="book", problems=len(result.problems),
                                 first=str(result.problems[0]) if result.problems else ""))
    # What the live book is made from: this build's listing, or — when a newer edition was already
    # current — that edition's. The sensor reads it from the newest materialization ("built from"),
    # so an older run that finishes last must not make the newer contents look unbuilt.
    newer = read_current(bucket, book_id) if result.superseded_by else None
    live_fingerprint = newer.source_fingerprint if newer else raw_images.fingerprint
    current = folder_now == live_fingerprint
    reason = ("Published from the book folder as it is now." if result.published and current else
              "The book folder changed while this build ran; the sensor builds it again." if result.published else
              f"A newer edition ({result.superseded_by}) is current; this older one was discarded."
              + ("" if current else " The book folder changed since that edition; the sensor builds it again.")
              if result.superseded_by else
              "This build was not published (see pdf_preflight, cover_preflight, everything_accounted_for).")
    links = {name: link(bucket.url(key)) if result.published else "not published" for name, key in
             (("pdf", result.pdf), ("report", result.report), ("cover", result.cover), ("preview_html", result.preview))}
    return dg.MaterializeResult(
        value=result,
        metadata={**result.metrics(), **links, "source_fingerprint": live_fingerprint,
                  "run_fingerprint": result.source_fingerprint,
                  "edition": result.edition, "current_pointer": link(bucket.url(pointer_key(book_id))),
                  "preflight": checks.preflight_table({"book.pdf": built.preflight.item_table(),
                                                       "cover.pdf": built.cover_preflight.item_table()}),
                  "preview": dg.MetadataValue.md(thumbnail_markdown(built.thumbnails[:PREVIEW_PAGES])),
                  "all_pages": dg.MetadataValue.md(page_strip_markdown(page_miniatures(built.thumbnails, bucket, STRIP_PX).data))},
        check_results=[
            checks.check_pdf_preflight(built.preflight),
            checks.check_pdf_preflight(built.cover_preflight, check_name="cover_preflight", notes=built.cover_notes),
            checks.check_everything_accounted_for(built.unaccounted, len(raw_images.entries)),
            checks.check_book_is_current(published_fingerprint=live_fingerprint if result.published or newer else None,
                                         current_fingerprint=folder_now, published=result.published or newer is not None,
                                         reason=reason),
        ],
    )
