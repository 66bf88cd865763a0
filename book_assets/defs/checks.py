"""Every asset check of the book graph: what it guards, its value and its threshold.

Checks are declared on their asset (``check_specs``) with the books partitions, so the UI shows each
book's results, and evaluated with the materialization: a blocking (ERROR) check that fails stops
the downstream assets, so a bad book is never built. WARN checks never block; they tell a person
where to look. Each check is a pure function of the stage's typed result (tested by calling it),
and its metadata carries the measured ``value`` and the ``threshold`` it was compared with.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import dagster as dg

from ..core.contracts import Inventory, Layout, Pairing, Validation, runner_up_probability
from ..core.inventory import Role
from ..core.pairing import PairStatus
from ..core.preflight import PreflightReport
from ..core.problems import Problem
from ..core.story import drawing_sections
from .partitions import books_partitions

REJECTION_RATE_WARN = 0.20     # more than one upload in five rejected: someone should look
# Resolution thresholds come from the book's print profile (core/profiles.py): print profiles ask
# for 300 PPI at printed size and refuse below 200; the screen profile for 150 and refuses below 100.

# Per-book check results need partitioned check specs, a preview feature in Dagster 1.13: that one
# warning is allowed, by its exact text; every other warning still fails the test suite.
warnings.filterwarnings("ignore", message=r"Specifying a partitions_def on an AssetCheckSpec",
                        category=dg.PreviewWarning)


def _spec(name: str, asset: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                             partitions_def=books_partitions)


RAW_IMAGES_CHECKS = [
    _spec("every_object_listed", "raw_images",
          "Every object under books/<id>/ has exactly one row with a role (nothing lost).", blocking=True),
]
VALIDATED_IMAGES_CHECKS = [
    _spec("every_upload_judged", "validated_images",
          "Every drawing, variation or stray file has a row: accepted, or rejected with a reason.", blocking=True),
    _spec("rejection_rate", "validated_images",
          f"WARN when more than {REJECTION_RATE_WARN:.0%} of uploads are rejected."),
]
IMAGE_PAIRS_CHECKS = [
    _spec("every_variation_placed_or_flagged", "image_pairs",
          "Every accepted variation is placed with a drawing, or held out, excluded in pairs.csv or unpaired "
          "with a reason.", blocking=True),
    _spec("pairs_need_review", "image_pairs",
          "WARN listing variations whose drawing is uncertain, and those held out of the book because they are "
          "more likely wrong than right; fix them with rows in pairs.csv."),
    _spec("every_drawing_has_variations", "image_pairs",
          "WARN listing drawings that no variation was paired with."),
]
PAGE_LAYOUTS_CHECKS = [
    _spec("text_fits", "page_layouts",
          "Every element lies on its page, text inside the safe margin at a readable size.", blocking=True),
    _spec("drawings_named_by_us", "page_layouts",
          "WARN listing drawings whose names the book made up (the file name is a counter, date, hash or camera "
          "name, or no font has its letters) or took from an image tool's prompt, with a book.toml block to paste "
          "and correct."),
    _spec("images_at_target_ppi", "page_layouts",
          "WARN when a placed image is below the profile's target resolution (300 PPI in print)."),
    _spec("images_at_minimum_ppi", "page_layouts",
          "ERROR (blocking) when a placed image is below the profile's minimum (200 PPI in print): "
          "it would print soft.", blocking=True),
]
BOOK_CHECKS = [
    _spec("pdf_preflight", "book",
          "The written PDF, re-opened with pikepdf: PDF/X version and output intent per profile, page count rule, "
          "page/trim/bleed boxes, every font embedded, no text outside the safe area, image PPI and colour space, "
          "total ink on a CMYK raster (PDF/X books), no transparency or annotations, file size under the limit."),
    _spec("cover_preflight", "book",
          "The written cover.pdf, re-opened: one sheet sized from trim, spine (page count × paper) and bleed; "
          "PDF/X version and output intent, boxes, fonts, text inside the panels' safe areas, image PPI and colour "
          "space, total ink (PDF/X books), no transparency or annotations."),
    _spec("everything_accounted_for", "book",
          "Every object under books/<id>/ is on a page, held out for review, excluded in pairs.csv, unpaired, "
          "rejected with a reason, or a settings file."),
    _spec("book_is_current", "book",
          "WARN while the published book is behind its book folder: red from the moment an upload changes "
          "(the books sensor sees it) until a build of the new contents is published; green otherwise."),
]


def _result(spec_name: str, passed: bool, value, threshold, *, severity=dg.AssetCheckSeverity.ERROR,
            description: str | None = None, **extra) -> dg.AssetCheckResult:
    metadata = {"value": value, "threshold": threshold, **extra}
    return dg.AssetCheckResult(check_name=spec_name, passed=bool(passed), severity=severity,
                               description=description or None, metadata=metadata)


def _listing(items: Sequence, limit: int = 50) -> dg.MetadataValue:
    """A markdown list of the first ``limit`` items (or "none")."""
    items = [str(item) for item in items]
    shown = "\n".join(f"- {item}" for item in items[:limit])
    more = f"\n- … and {len(items) - limit} more" if len(items) > limit else ""
    return dg.MetadataValue.md(shown + more or "none")


def check_every_object_listed(inventory: Inventory, listed_keys: Sequence[str]) -> dg.AssetCheckResult:
    """Entries = listed objects, keys unique, every entry has a role."""
    keys = inventory.keys
    missing = sorted(set(listed_keys) - set(keys))
    duplicated = len(keys) - len(set(keys))
    passed = not missing and duplicated == 0 and len(keys) == len(listed_keys)
    return _result("every_object_listed", passed, len(keys), len(listed_keys),
                   description=None if passed else f"{len(missing)} objects missing, {duplicated} duplicated",
                   missing=_listing(missing))


def check_every_upload_judged(validation: Validation, inventory: Inventory) -> dg.AssetCheckResult:
    """One validated entry per non-settings object; every rejection has a reason and a message."""
    expected = {e.key for e in inventory.entries if e.role not in (Role.CONFIG, Role.OVERRIDES)}
    judged = [i.key for i in validation.images]
    unexplained = sum(1 for i in validation.rejected() if not i.reason or not i.message)
    missing = sorted(expected - set(judged))
    passed = not missing and unexplained == 0 and len(judged) == len(expected)
    return _result("every_upload_judged", passed, len(judged), len(expected),
                   unexplained_rejections=unexplained, missing=_listing(missing))


def check_rejection_rate(validation: Validation) -> dg.AssetCheckResult:
    """Share of uploads rejected; WARN above REJECTION_RATE_WARN."""
    total = len(validation.images)
    rate = len(validation.rejected()) / total if total else 0.0
    return _result("rejection_rate", rate <= REJECTION_RATE_WARN, round(rate, 4), REJECTION_RATE_WARN,
                   severity=dg.AssetCheckSeverity.WARN, description=f"{rate:.0%} of {total} uploads rejected")


def check_every_variation_placed_or_flagged(pairing: Pairing, accepted_generated: Sequence[str]) -> dg.AssetCheckResult:
    """Every accepted variation has a pair; a placed one has a drawing, and every one left out of the
    grids (held, excluded by the reviewer, unpaired) carries a reason."""
    have = {p.generated for p in pairing.pairs}
    missing = sorted(set(accepted_generated) - have)
    unexplained = sum(1 for p in pairing.pairs if p.status is not PairStatus.PLACED and not p.reason)
    placed_nowhere = sum(1 for p in pairing.with_status(PairStatus.PLACED) if p.drawing is None)
    passed = not missing and unexplained == 0 and placed_nowhere == 0
    return _result("every_variation_placed_or_flagged", passed, len(have), len(accepted_generated),
                   **{status.value: len(pairing.with_status(status)) for status in PairStatus},
                   unexplained=unexplained, placed_without_drawing=placed_nowhere, missing=_listing(missing))


def check_pairs_need_review(pairing: Pairing) -> dg.AssetCheckResult:
    """WARN listing pairs flagged for review (low confidence), each with its two best drawings and
    why, the ones held out of the book first; a reviewer settles them with rows in
    books/<id>/pairs.csv, which the next build obeys."""
    flagged = sorted(pairing.flagged(), key=lambda p: p.status is not PairStatus.HELD)
    held = sum(1 for p in flagged if p.status is PairStatus.HELD)
    lines = []
    for p in flagged:
        second = f"{p.runner_up} ({runner_up_probability(p):.2f})" if p.runner_up else "none"
        mark = "HELD, not printed: " if p.status is PairStatus.HELD else ""
        lines.append(f"{mark}{p.generated} → {p.drawing} (confidence {p.confidence:.2f}; runner-up {second})"
                     + (f": {p.reason}" if p.reason else ""))
    fix = ("\n\nTo settle them, add rows `generated,drawing` to books/<id>/pairs.csv (`generated,-` when it is "
           "from none of this book's drawings; the image_pairs metadata `review_pairs_csv` has them ready) "
           "and build again.") if lines else ""
    description = (f"{len(flagged)} pairs need a reviewer's look" + (f", {held} of them held out of the book"
                                                                     if held else "")) if flagged else None
    return _result("pairs_need_review", not flagged, len(flagged), 0, severity=dg.AssetCheckSeverity.WARN,
                   description=description, held=held,
                   flagged=dg.MetadataValue.md(_listing(lines).value + fix if lines else "none"))


def check_every_drawing_has_variations(pairing: Pairing) -> dg.AssetCheckResult:
    """WARN listing drawings with no paired variation (their facing page has no grid)."""
    lonely = [d for d in pairing.drawings if not pairing.variations.get(d)]
    return _result("every_drawing_has_variations", not lonely, len(lonely), 0, severity=dg.AssetCheckSeverity.WARN,
                   description=f"{len(lonely)} drawings have no variations" if lonely else None,
                   drawings_without_variations=_listing(lonely))


def check_text_fits(layout: Layout) -> dg.AssetCheckResult:
    """Layout geometry problems (outside page, text outside safe box or too small); must be none."""
    problems = layout.layout_problems
    return _result("text_fits", not problems, len(problems), 0, problems=_listing(problems),
                   codes=dg.MetadataValue.json(_count_codes(problems)))


def check_drawings_named_by_us(layout: Layout) -> dg.AssetCheckResult:
    """WARN listing the drawings named by the book rather than the maker, with a ready book.toml block:
    the maker pastes it, writes the real names, and builds again."""
    ours = [name for name in layout.drawing_names if name.named_by_us]
    lines = [name.explanation() for name in ours]
    block = drawing_sections([(name.key, name.name) for name in ours])
    fix = ("\n\nTo give them their real names, paste this into the book's book.toml, change the titles and build "
           f"again:\n\n```toml\n{block}```") if ours else ""
    return _result("drawings_named_by_us", not ours, len(ours), 0, severity=dg.AssetCheckSeverity.WARN,
                   description=f"{len(ours)} drawings named by the book, not by you" if ours else None,
                   drawings=dg.MetadataValue.md(_listing(lines).value + fix if ours else "none"),
                   book_toml=dg.MetadataValue.text(block))


def check_images_ppi(layout: Layout, *, minimum: bool) -> dg.AssetCheckResult:
    """Lowest effective PPI of any placed image against the profile's target (WARN) or minimum (ERROR);
    lists the images below it with the pixel sizes that would reach the target and the minimum."""
    profile = layout.layout.profile
    target_ppi, minimum_ppi = profile.min_ppi, profile.reject_ppi
    threshold = minimum_ppi if minimum else target_ppi
    low = [row for row in layout.placed_images() if row.ppi < threshold]
    lines = [f"page {r.page}: {r.key} prints at {r.ppi:.0f} PPI: it is {r.width_px}×{r.height_px} px in a "
             f"{r.width_in:.2f}×{r.height_in:.2f} in frame (already the smallest the layout allows). Upload it at "
             f"{math.ceil(r.width_in * target_ppi)}×{math.ceil(r.height_in * target_ppi)} px or more for "
             f"{target_ppi:.0f} PPI (at least {math.ceil(r.width_in * minimum_ppi)}×"
             f"{math.ceil(r.height_in * minimum_ppi)} px for {minimum_ppi:.0f} PPI)."
             for r in low]
    min_ppi = layout.min_placed_ppi()
    return _result("images_at_minimum_ppi" if minimum else "images_at_target_ppi", not low, min_ppi, threshold,
                   severity=dg.AssetCheckSeverity.ERROR if minimum else dg.AssetCheckSeverity.WARN,
                   description=f"{len(low)} images below {threshold:.0f} PPI" if len(low) else None,
                   below_threshold=_listing(lines))


def preflight_table(items_by_file: dict[str, list[dict]]) -> dg.MetadataValue:
    """Every preflight item of every file as one markdown table: measured value, limit, verdict."""
    rows = ["| file | item | measured | limit | ok |", "|---|---|---|---|---|"]
    rows += [f"| {name} | {item['item']} | {'—' if item['value'] is None else item['value']} | "
             f"{'—' if item['limit'] is None else item['limit']} | {'yes' if item['passed'] else '**no**'} |"
             for name, items in items_by_file.items() for item in items]
    return dg.MetadataValue.md("\n".join(rows))


def check_pdf_preflight(report: PreflightReport, *, check_name: str = "pdf_preflight",
                        notes: Sequence[str] = ()) -> dg.AssetCheckResult:
    """Findings of re-opening the written PDF or cover (core.preflight); must be none. The metadata
    lists every item measured with its value and limit."""
    return _result(check_name, not report.problems, len(report.problems), 0, pages=report.pages,
                   fonts=", ".join(report.fonts), min_image_ppi=report.min_ppi, pdf_bytes=report.bytes,
                   pdfx_version=report.pdfx_version or "none", output_intent=report.output_intent or "none",
                   max_ink_percent=report.max_ink,
                   items=preflight_table({"pdf" if check_name == "pdf_preflight" else "cover": report.item_table()}),
                   warnings=_listing([*report.warnings, *notes]), problems=_listing(report.problems),
                   codes=dg.MetadataValue.json(_count_codes(report.problems)))


def check_everything_accounted_for(missing: Sequence[str], listed: int) -> dg.AssetCheckResult:
    """Objects in the bucket the report does not account for; must be none."""
    return _result("everything_accounted_for", not missing, len(missing), 0, objects=listed,
                   unaccounted=_listing(missing))


def book_is_current_evaluation(*, published_fingerprint: str | None, current_fingerprint: str, published: bool,
                               reason: str) -> tuple[bool, dict]:
    """Whether the published book reflects the book folder as it is now: (passed, metadata)."""
    passed = published and published_fingerprint == current_fingerprint
    return passed, {"published_from": published_fingerprint or "nothing published yet",
                    "folder_now": current_fingerprint, "why": reason}


def check_book_is_current(*, published_fingerprint: str | None, current_fingerprint: str, published: bool,
                          reason: str) -> dg.AssetCheckResult:
    """The book asset's own verdict right after a build (the books sensor reports the same check
    between builds, when an upload changes)."""
    passed, metadata = book_is_current_evaluation(published_fingerprint=published_fingerprint,
                                                  current_fingerprint=current_fingerprint, published=published,
                                                  reason=reason)
    return dg.AssetCheckResult(check_name="book_is_current", passed=passed, severity=dg.AssetCheckSeverity.WARN,
                               description=reason, metadata=metadata)


def _count_codes(problems: Sequence[Problem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.code] = counts.get(problem.code, 0) + 1
    return counts
