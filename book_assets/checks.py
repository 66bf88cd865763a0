"""Every asset check of the book graph: what it guards, its value and its threshold.

Checks are declared on their asset (``check_specs``) and evaluated with the materialization, so
a blocking (ERROR) check that fails stops the downstream assets: a bad book is never built.
WARN checks never block; they tell a person where to look. Each result's metadata carries the
measured ``value`` and the ``threshold`` it was compared with.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from .core import inventory
from .core.pairing import PairStatus

REJECTION_RATE_WARN = 0.20     # more than one upload in five rejected: someone should look
# Resolution thresholds come from the book's print profile (core/profiles.py): print profiles ask
# for 300 PPI at printed size and refuse below 200; the screen profile for 150 and refuses below 100.


def _spec(name: str, asset: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking)


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
    _spec("images_at_target_ppi", "page_layouts",
          "WARN when a placed image is below the profile's target resolution (300 PPI in print)."),
    _spec("images_at_minimum_ppi", "page_layouts",
          "ERROR (blocking) when a placed image is below the profile's minimum (200 PPI in print): "
          "it would print soft.", blocking=True),
]
BOOK_CHECKS = [
    _spec("pdf_preflight", "book",
          "The written PDF, re-opened: page count rule, page/trim/bleed boxes per profile, every font embedded, "
          "no text outside the safe area, image PPI and sRGB, no annotations, file size under the limit."),
    _spec("cover_preflight", "book",
          "The written cover.pdf, re-opened: one sheet sized from trim, spine (page count × paper) and bleed; "
          "boxes, fonts, text inside the panels' safe areas, image PPI."),
    _spec("everything_accounted_for", "book",
          "Every object under books/<id>/ is on a page, held out for review, excluded in pairs.csv, unpaired, "
          "rejected with a reason, or a settings file."),
]


def _result(spec_name: str, passed: bool, value, threshold, *, severity=dg.AssetCheckSeverity.ERROR,
            description: str = "", **extra) -> dg.AssetCheckResult:
    metadata = {"value": value, "threshold": threshold, **extra}
    return dg.AssetCheckResult(check_name=spec_name, passed=bool(passed), severity=severity,
                               description=description or None, metadata=metadata)


def _listing(items: Sequence[str], limit: int = 50) -> str:
    shown = "\n".join(f"- {item}" for item in items[:limit])
    more = f"\n- … and {len(items) - limit} more" if len(items) > limit else ""
    return shown + more


def check_every_object_listed(table: pd.DataFrame, listed_keys: Sequence[str]) -> dg.AssetCheckResult:
    """Rows = listed objects, keys unique, every row has a role."""
    missing = sorted(set(listed_keys) - set(table["key"])) if len(table) else sorted(listed_keys)
    duplicated = int(table["key"].duplicated().sum()) if len(table) else 0
    no_role = int(table["role"].isna().sum()) if len(table) else 0
    passed = not missing and duplicated == 0 and no_role == 0 and len(table) == len(listed_keys)
    return _result("every_object_listed", passed, len(table), len(listed_keys),
                   description=None if passed else f"{len(missing)} objects missing, {duplicated} duplicated",
                   missing=dg.MetadataValue.md(_listing(missing) or "none"))


def check_every_upload_judged(validated: pd.DataFrame, raw: pd.DataFrame) -> dg.AssetCheckResult:
    """One validated row per non-settings raw row; every rejection has a reason and a message."""
    expected = set(raw.loc[~raw["role"].isin([inventory.CONFIG, inventory.OVERRIDES]), "key"])
    judged = set(validated["key"]) if len(validated) else set()
    rejected = validated[validated["status"] == "rejected"] if len(validated) else validated
    unexplained = int(((rejected["reason"] == "") | (rejected["message"] == "")).sum()) if len(rejected) else 0
    missing = sorted(expected - judged)
    passed = not missing and unexplained == 0 and len(validated) == len(expected)
    return _result("every_upload_judged", passed, len(validated), len(expected),
                   unexplained_rejections=unexplained, missing=dg.MetadataValue.md(_listing(missing) or "none"))


def check_rejection_rate(validated: pd.DataFrame) -> dg.AssetCheckResult:
    """Share of uploads rejected; WARN above REJECTION_RATE_WARN."""
    total = len(validated)
    rate = float((validated["status"] == "rejected").sum() / total) if total else 0.0
    return _result("rejection_rate", rate <= REJECTION_RATE_WARN, round(rate, 4), REJECTION_RATE_WARN,
                   severity=dg.AssetCheckSeverity.WARN,
                   description=f"{rate:.0%} of {total} uploads rejected")


def check_every_variation_placed_or_flagged(pairs: pd.DataFrame, accepted_generated: Sequence[str]) -> dg.AssetCheckResult:
    """Every accepted variation has a pair row; a placed one has a drawing, and every one left out of
    the grids (held, excluded by the reviewer, unpaired) carries a reason."""
    have = set(pairs["generated"]) if len(pairs) else set()
    missing = sorted(set(accepted_generated) - have)
    counts = pairs["status"].value_counts() if len(pairs) else pd.Series(dtype=int)
    left_out = pairs[pairs["status"] != PairStatus.PLACED] if len(pairs) else pairs
    unexplained = int((left_out["reason"] == "").sum()) if len(left_out) else 0
    placed_nowhere = int(((pairs["status"] == PairStatus.PLACED) & pairs["drawing"].isna()).sum()) if len(pairs) else 0
    passed = not missing and unexplained == 0 and placed_nowhere == 0
    return _result("every_variation_placed_or_flagged", passed, len(have), len(accepted_generated),
                   **{status.value: int(counts.get(status.value, 0)) for status in PairStatus},
                   unexplained=unexplained, placed_without_drawing=placed_nowhere,
                   missing=dg.MetadataValue.md(_listing(missing) or "none"))


def check_pairs_need_review(pairs: pd.DataFrame) -> dg.AssetCheckResult:
    """WARN listing pairs flagged for review (low confidence), each with its two best drawings and
    why, the ones held out of the book named as held; a reviewer settles them with rows in
    books/<id>/pairs.csv, which the next build obeys."""
    flagged = pairs[pairs["needs_review"] & pairs["drawing"].notna()] if len(pairs) else pairs
    held = int((flagged["status"] == PairStatus.HELD).sum()) if len(flagged) else 0
    lines = []
    held_first = (flagged.sort_values("status", key=lambda status: status != PairStatus.HELD, kind="stable")
                  if len(flagged) else flagged)
    for r in held_first.itertuples():
        runner = getattr(r, "runner_up_probability", None)
        second = (f"{r.runner_up} ({runner:.2f})" if r.runner_up and runner is not None
                  else (r.runner_up or "none"))
        mark = "HELD, not printed: " if r.status == PairStatus.HELD else ""
        lines.append(f"{mark}{r.generated} → {r.drawing} (confidence {r.confidence:.2f}; runner-up {second})"
                     + (f": {r.reason}" if r.reason else ""))
    fix = ("\n\nTo settle them, add rows `generated,drawing` to books/<id>/pairs.csv (`generated,-` when it is "
           "from none of this book's drawings; the image_pairs metadata `review_pairs_csv` has them ready) "
           "and build again.") if lines else ""
    description = (f"{len(flagged)} pairs need a reviewer's look" + (f", {held} of them held out of the book"
                                                                     if held else "")) if len(flagged) else None
    return _result("pairs_need_review", len(flagged) == 0, len(flagged), 0, severity=dg.AssetCheckSeverity.WARN,
                   description=description, held=held,
                   flagged=dg.MetadataValue.md((_listing(lines) + fix) if lines else "none"))


def check_every_drawing_has_variations(drawings: Sequence[str], variations: dict[str, list[str]]) -> dg.AssetCheckResult:
    """WARN listing drawings with no paired variation (their facing page has no grid)."""
    lonely = [d for d in drawings if not variations.get(d)]
    return _result("every_drawing_has_variations", not lonely, len(lonely), 0, severity=dg.AssetCheckSeverity.WARN,
                   description=f"{len(lonely)} drawings have no variations" if lonely else None,
                   drawings_without_variations=dg.MetadataValue.md(_listing(lonely) or "none"))


def check_text_fits(problems: Sequence[str]) -> dg.AssetCheckResult:
    """Layout geometry problems (outside page, text outside safe box or too small); must be none."""
    return _result("text_fits", not problems, len(problems), 0,
                   problems=dg.MetadataValue.md(_listing(list(problems)) or "none"))


def check_images_ppi(check_name: str, placed: pd.DataFrame, threshold: float, severity, *,
                     target_ppi: float, minimum_ppi: float) -> dg.AssetCheckResult:
    """Lowest effective PPI of any placed image against ``threshold``; lists the images below it with
    the pixel sizes that would reach the profile's target and minimum resolutions."""
    low = placed[placed["ppi"] < threshold] if len(placed) else placed
    lines = [f"page {r.page}: {r.key} prints at {r.ppi:.0f} PPI: it is {r.width_px}×{r.height_px} px in a "
             f"{r.width_in:.2f}×{r.height_in:.2f} in frame (already the smallest the layout allows). Upload it at "
             f"{math.ceil(r.width_in * target_ppi)}×{math.ceil(r.height_in * target_ppi)} px or more for "
             f"{target_ppi:.0f} PPI (at least {math.ceil(r.width_in * minimum_ppi)}×"
             f"{math.ceil(r.height_in * minimum_ppi)} px for {minimum_ppi:.0f} PPI)."
             for r in low.itertuples()]
    min_ppi = round(float(placed["ppi"].min()), 1) if len(placed) else None
    return _result(check_name, low.empty, min_ppi, threshold, severity=severity,
                   description=f"{len(low)} images below {threshold:.0f} PPI" if len(low) else None,
                   below_threshold=dg.MetadataValue.md(_listing(lines) or "none"))


def check_pdf_preflight(problems: Sequence[str], pages: int, fonts: Sequence[str], *, check_name: str = "pdf_preflight",
                        min_ppi: float | None = None, pdf_bytes: int | None = None,
                        warnings: Sequence[str] = ()) -> dg.AssetCheckResult:
    """Findings of re-opening the written PDF or cover (core.preflight); must be none."""
    return _result(check_name, not problems, len(problems), 0, pages=pages, fonts=", ".join(fonts),
                   min_image_ppi=min_ppi, pdf_bytes=pdf_bytes,
                   warnings=dg.MetadataValue.md(_listing(list(warnings)) or "none"),
                   problems=dg.MetadataValue.md(_listing(list(problems)) or "none"))


def check_everything_accounted_for(missing: Sequence[str], listed: int) -> dg.AssetCheckResult:
    """Objects in the bucket the report does not account for; must be none."""
    return _result("everything_accounted_for", not missing, len(missing), 0, objects=listed,
                   unaccounted=dg.MetadataValue.md(_listing(list(missing)) or "none"))
