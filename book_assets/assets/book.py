"""``book``: render the PDF, re-open it as a printer would, and publish it with its report.

The PDF and page thumbnails are written to a temporary folder first; only a book that passes
preflight and accounts for every uploaded object is published to ``published/<book_id>/``.
"""

import base64
import contextlib
import tempfile
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from .. import checks
from ..core import inventory
from ..core.preflight import preflight_pdf
from ..core.render import render_page_png, render_pdf
from ..core.report import BookReport, page_entries, unaccounted
from ..partitions import published_prefix
from ..resources import Bucket
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch
from .image_pairs import ImagePairs
from .page_layouts import PageLayouts

THUMBNAIL_PX = 300
PREVIEW_PAGES = 4     # thumbnails shown in the materialization metadata (title page and first spread)

# A book should be rebuilt within a day of a change; one a week stale is an operator's problem.
BOOK_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=7), warn_window=timedelta(days=1))


def build_report(book_id: str, raw: pd.DataFrame, validated: pd.DataFrame, pairs: ImagePairs,
                 layouts: PageLayouts, metrics: dict) -> BookReport:
    rejected = validated[validated["status"] == "rejected"]
    return BookReport(
        book_id=book_id,
        title=layouts.layout.title,
        pages=page_entries(layouts.layout.pages),
        pairs=[{"generated": r.generated, "drawing": r.drawing, "confidence": round(r.confidence, 4),
                "needs_review": bool(r.needs_review)} for r in pairs.table.itertuples() if r.drawing is not None],
        unpaired=pairs.unpaired,
        rejected=[{"key": r.key, "reason": r.reason, "message": r.message} for r in rejected.itertuples()],
        config_files=sorted(raw.loc[raw["role"].isin([inventory.CONFIG, inventory.OVERRIDES]), "key"]),
        problems=[*layouts.config_problems, *(f"pairs.csv: {p}" for p in pairs.override_problems)],
        metrics=metrics,
    )


def _thumbnail_markdown(pngs: list[bytes]) -> str:
    return " ".join(f"![page {i}](data:image/png;base64,{base64.b64encode(png).decode()})"
                    for i, png in enumerate(pngs, start=1))


@dg.asset(**BOOK_ASSET_ARGS, kinds={"pdf", "reportlab"}, check_specs=checks.BOOK_CHECKS,
          freshness_policy=BOOK_FRESHNESS)
def book(
    context: dg.AssetExecutionContext,
    bucket: Bucket,
    raw_images: pd.DataFrame,
    validated_images: pd.DataFrame,
    image_pairs: ImagePairs,
    page_layouts: PageLayouts,
):
    """The published picture book: ``published/<book_id>/book.pdf``, page thumbnails and ``report.json``."""
    book_id = book_id_of(context)
    layout = page_layouts.layout
    out_prefix = published_prefix(book_id)
    with tempfile.TemporaryDirectory(prefix="book-") as tmp, contextlib.ExitStack() as files:
        local: dict[str, str] = {}

        def image_path(print_copy: str) -> str:
            if print_copy not in local:
                local[print_copy] = str(files.enter_context(bucket.local_path(print_copy)))
            return local[print_copy]

        pdf_path = Path(tmp) / "book.pdf"
        stats = render_pdf(layout, image_path, pdf_path)
        preflight = preflight_pdf(pdf_path, layout.profile, expected_pages=len(layout.pages))
        with stopwatch() as thumbs_timing:
            thumbnails = [render_page_png(p, layout.profile, image_path, width_px=THUMBNAIL_PX) for p in layout.pages]

        placed = page_layouts.placed_images()
        metrics = {
            "pages": stats.pages, "pdf_bytes": stats.bytes, "render_ms": round(stats.seconds * 1000, 1),
            "images_placed": len(placed), "min_ppi": float(placed["ppi"].min()) if len(placed) else None,
            "objects": len(raw_images), "rejected": int((validated_images["status"] == "rejected").sum()),
            "pairs": int(image_pairs.table["drawing"].notna().sum()),
            "pairs_needing_review": int(image_pairs.table["needs_review"].sum()),
            "unpaired": len(image_pairs.unpaired),
        }
        report = build_report(book_id, raw_images, validated_images, image_pairs, page_layouts, metrics)
        missing = unaccounted(report, list(raw_images["key"]))
        publish = preflight.passed and not missing
        pdf_key = out_prefix + "book.pdf"
        if publish:
            with stopwatch() as upload_timing:
                for number, png in enumerate(thumbnails, start=1):
                    bucket.write_bytes(f"{out_prefix}pages/page-{number:03d}.png", png, content_type="image/png")
                bucket.write_bytes(out_prefix + "report.json", report.to_json().encode(), content_type="application/json")
                bucket.write_bytes(pdf_key, pdf_path.read_bytes(), content_type="application/pdf")
            context.log.info(f"Published {bucket.url(pdf_key)} ({stats.pages} pages, {stats.bytes / 1e6:.1f} MB)")
        else:
            context.log.error(f"Not published: preflight problems {preflight.problems}, unaccounted objects {missing}")

    metadata = {
        "published": publish,
        "pdf": dg.MetadataValue.path(bucket.url(pdf_key)) if publish else "not published",
        "report": dg.MetadataValue.path(bucket.url(out_prefix + "report.json")) if publish else "not published",
        "pages": stats.pages,
        "pdf_bytes": stats.bytes,
        "pdf_mb": round(stats.bytes / 1e6, 2),
        "images_embedded": stats.images,
        "render_ms": round(stats.seconds * 1000, 1),
        "thumbnails_ms": thumbs_timing["ms"],
        "upload_ms": upload_timing["ms"] if publish else 0.0,
        "preview": dg.MetadataValue.md(_thumbnail_markdown(thumbnails[:PREVIEW_PAGES])),
    }
    return dg.MaterializeResult(
        value={"published": publish, "pdf": pdf_key, "report": out_prefix + "report.json", "pages": stats.pages},
        metadata=metadata,
        check_results=[
            checks.check_pdf_preflight(preflight.problems, preflight.pages, preflight.fonts),
            checks.check_everything_accounted_for(missing, len(raw_images)),
        ],
    )
