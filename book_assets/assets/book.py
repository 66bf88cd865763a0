"""``book``: render the PDF and its cover, re-open both as a printer would, and publish them
with a preview and the report.

Everything is written to a temporary folder first; only a book whose interior and cover pass
preflight and that accounts for every uploaded object is published to ``published/<book_id>/``
(book.pdf, cover.pdf, preview.html, pages/page-NNN.png, report.json).
"""

import base64
import json
import contextlib
import io
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
from PIL import Image

from .. import checks
from ..core import inventory
from ..core.cover import layout_cover, render_cover
from ..core.pairing import PairStatus
from ..core.preflight import preflight_cover, preflight_pdf
from ..core.preview import PreviewPage, render_preview
from ..core.render import render_page_png, render_pdf
from ..core.report import BookReport, page_entries, unaccounted
from ..partitions import book_id_problem, published_prefix
from ..resources import Bucket, PreconditionConflict
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch
from .image_pairs import ImagePairs
from .page_layouts import PageLayouts

THUMBNAIL_PX = 300    # pages/page-NNN.png and the pictures in preview.html
PREVIEW_PAGES = 4     # thumbnails shown large in the materialization metadata (title page and first spread)
STRIP_PX = 96         # every page, small, in the materialization metadata

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
                "needs_review": bool(r.needs_review)} for r in pairs.with_status(PairStatus.PLACED).itertuples()],
        unpaired=pairs.unpaired,
        rejected=[{"key": r.key, "reason": r.reason, "message": r.message} for r in rejected.itertuples()],
        config_files=sorted(raw.loc[raw["role"].isin([inventory.CONFIG, inventory.OVERRIDES]), "key"]),
        held=[{"generated": r.generated, "drawing": r.drawing, "confidence": round(r.confidence, 4),
               "runner_up": r.runner_up, "runner_up_probability": round(r.runner_up_probability, 4),
               "message": r.reason} for r in pairs.with_status(PairStatus.HELD).itertuples()],
        excluded=[{"generated": r.generated, "reason": r.status, "message": r.reason}
                  for r in pairs.with_status(PairStatus.REVIEWER_EXCLUDED).itertuples()],
        problems=[*layouts.config_problems, *(f"pairs.csv: {p}" for p in pairs.override_problems)],
        metrics=metrics,
    )


@contextlib.contextmanager
def _conflicts_fail_without_retry():
    """A lost upload race must not be retried: the retry would read the newer object and overwrite it."""
    try:
        yield
    except PreconditionConflict as conflict:
        raise dg.Failure(description=str(conflict), allow_retries=False) from conflict


def write_status(bucket: Bucket, book_id: str, run_id: str, *, published: bool, problems: list[str]) -> None:
    """``published/<id>/status.json``: whether the files beside it are the newest upload's book.

    Written by every build of ``build_book`` — by this asset when it publishes or preflight refuses,
    by ``mark_book_not_current`` when an earlier step stops the run — so a blocked upload never
    leaves an older book.pdf looking current."""
    status = {
        "book_id": book_id,
        "run_id": run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "published": published,
        "message": ("The book here was made from the newest upload." if published else
                    "The newest upload could not be made into a book yet (see problems); any book.pdf "
                    "here is from an earlier upload."),
        "problems": problems,
    }
    bucket.write_bytes(published_prefix(book_id) + "status.json", json.dumps(status, indent=2).encode(),
                       content_type="application/json")


@dg.failure_hook(required_resource_keys={"bucket"})
def mark_book_not_current(context: dg.HookContext) -> None:
    """When any step of a book's run fails (a blocking check, a crash), say so next to the old book."""
    run = context.instance.get_run_by_id(context.run_id)
    book_id = run.tags.get("dagster/partition") if run else None
    if not book_id or book_id_problem(book_id):
        return
    reason = str(context.op_exception) if context.op_exception else "a step failed"
    write_status(context.resources.bucket, book_id, context.run_id, published=False,
                 problems=[f"{context.step_key}: {reason}"])


def _thumbnail_markdown(pngs: list[bytes]) -> str:
    return " ".join(f"![page {i}](data:image/png;base64,{base64.b64encode(png).decode()})"
                    for i, png in enumerate(pngs, start=1))


def _page_strip_markdown(pngs: list[bytes]) -> str:
    """Every page as a small JPEG, eight to a row, so the UI shows the whole book at a glance."""
    cells = []
    for number, png in enumerate(pngs, start=1):
        with Image.open(io.BytesIO(png)) as page:
            small = page.convert("RGB")
            small.thumbnail((STRIP_PX, STRIP_PX * 2))
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=70)
        cells.append(f"![{number}](data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()})")
    return "\n".join(" ".join(cells[i:i + 8]) + "  " for i in range(0, len(cells), 8))


def page_warnings(page_layouts: PageLayouts, image_pairs: ImagePairs, preflight_warnings: list[str]) -> dict[int, list[str]]:
    """Review warnings keyed by the page they concern, for the preview."""
    layout = page_layouts.layout
    notes: dict[int, list[str]] = {}
    for row in page_layouts.placed_images().itertuples():
        if row.ppi < layout.profile.min_ppi:
            notes.setdefault(row.page, []).append(f"{row.key.rsplit('/', 1)[-1]} prints at {row.ppi:.0f} PPI; "
                                                  f"a larger upload would print sharper.")
    pages_of = {}
    for page in layout.pages:
        if page.drawing_key:
            pages_of.setdefault(page.drawing_key, []).append(page)
    table = image_pairs.table
    for row in table[table["needs_review"] & table["drawing"].notna()].itertuples() if len(table) else ():
        for page in pages_of.get(row.drawing, []):
            if any(image.key == row.generated for image in page.images):
                notes.setdefault(page.number, []).append(
                    f"{row.generated.rsplit('/', 1)[-1]} may not belong to this drawing "
                    f"(confidence {row.confidence:.2f}); fix it in pairs.csv if it is wrong.")
    for problem in page_layouts.layout_problems + preflight_warnings:
        head = problem.split(":", 1)[0]
        if head.startswith("Page ") and head[5:].isdigit():
            notes.setdefault(int(head[5:]), []).append(problem.split(":", 1)[1].strip())
    for page in layout.pages:
        for text in page.texts:
            if text.shrunk_from and text.role == "story":
                notes.setdefault(page.number, []).append(
                    f"The story text was set at {text.font_size:g} pt instead of {text.shrunk_from:g} pt to fit; "
                    f"a shorter text reads larger.")
    return notes


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
        with stopwatch() as preflight_timing:
            preflight = preflight_pdf(pdf_path, layout.profile, expected_pages=len(layout.pages))
        cover_path = Path(tmp) / "cover.pdf"
        cover = layout_cover(page_layouts.content, layout.profile, len(layout.pages), page_layouts.paper)
        cover_stats = render_cover(cover, image_path, cover_path, title=layout.title, author=layout.author)
        cover_check = preflight_cover(cover_path, layout.profile, cover.sheet, cover.trim_box, cover.safe_boxes())
        with stopwatch() as thumbs_timing:
            thumbnails = [render_page_png(p, layout.profile, image_path, width_px=THUMBNAIL_PX) for p in layout.pages]
        preview_html = render_preview(
            layout.title, [PreviewPage(p.number, p.kind, png) for p, png in zip(layout.pages, thumbnails)],
            page_warnings(page_layouts, image_pairs, preflight.warnings),
            general=[*page_layouts.config_problems,
                     *(f"{key.rsplit('/', 1)[-1]} was not placed: no drawing matched it." for key in image_pairs.unpaired),
                     *(f"{row.generated.rsplit('/', 1)[-1]}: {row.reason} Name its drawing (or -) in pairs.csv "
                       f"and build again." for row in image_pairs.with_status(PairStatus.HELD).itertuples())],
            facts={"profile": layout.profile.name, "pages": stats.pages, "PDF": f"{stats.bytes / 1e6:.1f} MB",
                   "cover spine": f"{cover.spine_in:.3f} in ({page_layouts.paper} paper)"},
        )

        placed = page_layouts.placed_images()
        metrics = {
            "pages": stats.pages, "pdf_bytes": stats.bytes, "render_ms": round(stats.seconds * 1000, 1),
            "images_placed": len(placed), "min_ppi": float(placed["ppi"].min()) if len(placed) else None,
            "objects": len(raw_images), "rejected": int((validated_images["status"] == "rejected").sum()),
            "pairs": len(image_pairs.with_status(PairStatus.PLACED)),
            "held": len(image_pairs.with_status(PairStatus.HELD)),
            "reviewer_excluded": len(image_pairs.with_status(PairStatus.REVIEWER_EXCLUDED)),
            "pairs_needing_review": int(image_pairs.table["needs_review"].sum()),
            "unpaired": len(image_pairs.unpaired),
        }
        report = build_report(book_id, raw_images, validated_images, image_pairs, page_layouts, metrics)
        missing = unaccounted(report, list(raw_images["key"]))
        publish = preflight.passed and cover_check.passed and not missing
        pdf_key = out_prefix + "book.pdf"
        if publish:
            with stopwatch() as upload_timing, _conflicts_fail_without_retry():
                page_keys = [f"{out_prefix}pages/page-{number:03d}.png" for number in range(1, len(thumbnails) + 1)]
                for key, png in zip(page_keys, thumbnails):
                    bucket.write_bytes(key, png, content_type="image/png")
                bucket.write_bytes(out_prefix + "report.json", report.to_json().encode(), content_type="application/json")
                bucket.write_bytes(out_prefix + "preview.html", preview_html.encode(), content_type="text/html")
                bucket.write_bytes(out_prefix + "cover.pdf", cover_path.read_bytes(), content_type="application/pdf")
                bucket.write_bytes(pdf_key, pdf_path.read_bytes(), content_type="application/pdf")
                current = set(page_keys)
                stale = [o.key for o in bucket.list_objects(out_prefix + "pages/", with_hash=False)
                         if o.key not in current]
                for key in stale:        # thumbnails of pages an earlier, longer edition had
                    bucket.delete(key)
            context.log.info(f"Published {bucket.url(pdf_key)} ({stats.pages} pages, {stats.bytes / 1e6:.1f} MB)")
        else:
            context.log.error(f"Not published: preflight problems {preflight.problems}, cover problems "
                              f"{cover_check.problems}, unaccounted objects {missing}")
        with _conflicts_fail_without_retry():
            write_status(bucket, book_id, context.run.run_id, published=publish,
                         problems=[*preflight.problems, *cover_check.problems,
                                   *(f"{key} is not accounted for in the report" for key in missing)])

    metadata = {
        "published": publish,
        "pdf": dg.MetadataValue.path(bucket.url(pdf_key)) if publish else "not published",
        "report": dg.MetadataValue.path(bucket.url(out_prefix + "report.json")) if publish else "not published",
        "cover": dg.MetadataValue.path(bucket.url(out_prefix + "cover.pdf")) if publish else "not published",
        "preview_html": dg.MetadataValue.path(bucket.url(out_prefix + "preview.html")) if publish else "not published",
        "profile": layout.profile.name,
        "spine_in": round(cover.spine_in, 4),
        "cover_bytes": cover_stats.bytes,
        "min_pdf_ppi": preflight.min_ppi,
        "images_resampled": stats.resampled_images,
        "preflight_ms": preflight_timing["ms"],
        "pages": stats.pages,
        "pdf_bytes": stats.bytes,
        "pdf_mb": round(stats.bytes / 1e6, 2),
        "images_embedded": stats.images,
        "render_ms": round(stats.seconds * 1000, 1),
        "thumbnails_ms": thumbs_timing["ms"],
        "upload_ms": upload_timing["ms"] if publish else 0.0,
        "preview": dg.MetadataValue.md(_thumbnail_markdown(thumbnails[:PREVIEW_PAGES])),
        "all_pages": dg.MetadataValue.md(_page_strip_markdown(thumbnails)),
    }
    return dg.MaterializeResult(
        value={"published": publish, "pdf": pdf_key, "report": out_prefix + "report.json", "pages": stats.pages,
               "cover": out_prefix + "cover.pdf", "preview": out_prefix + "preview.html", "profile": layout.profile.name},
        metadata=metadata,
        check_results=[
            checks.check_pdf_preflight(preflight.problems, preflight.pages, preflight.fonts, min_ppi=preflight.min_ppi,
                                       pdf_bytes=preflight.bytes, warnings=preflight.warnings),
            checks.check_pdf_preflight(cover_check.problems, cover_check.pages, cover_check.fonts,
                                       check_name="cover_preflight", min_ppi=cover_check.min_ppi,
                                       pdf_bytes=cover_check.bytes, warnings=[*cover_check.warnings, *cover.notes]),
            checks.check_everything_accounted_for(missing, len(raw_images)),
        ],
    )
