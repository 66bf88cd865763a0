"""``image_pairs``: which drawing each accepted variation belongs to, with evidence and confidence."""

import csv
import io
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from .. import checks
from ..core import inventory
from ..core.imaging import ImageFeatures
from ..core.pairing import Candidate, PairStatus, pair_images, parse_overrides
from ..partitions import book_prefix
from ..resources import Bucket
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch, table_metadata

PAIR_COLUMNS = ["generated", "status", "drawing", "confidence", "needs_review", "signals", "runner_up", "margin",
                "reason", "runner_up_probability"]
REVIEW_COLUMNS = ["generated", "status", "drawing", "confidence", "runner_up", "runner_up_probability", "reason",
                  "pairs_csv_line"]


@dataclass
class ImagePairs:
    """The pairing manifest handed to the layout: one row per variation, and each drawing's ordered variations."""

    table: pd.DataFrame                               # PAIR_COLUMNS; ``status`` holds PairStatus values
    drawings: list[str]                               # accepted drawings, by key
    variations: dict[str, list[str]]                  # drawing key -> ordered keys of its printed variations
    override_problems: list[str] = field(default_factory=list)

    def with_status(self, status: PairStatus) -> pd.DataFrame:
        """The table's rows of one status (e.g. the held ones), in table order."""
        return self.table[self.table["status"] == status]

    @property
    def unpaired(self) -> list[str]:
        return sorted(self.with_status(PairStatus.UNPAIRED)["generated"])

    def __setstate__(self, state: dict) -> None:
        """A manifest stored before the status column reads as it was built: paired meant printed."""
        self.__dict__.update(state)
        if "status" not in self.table.columns:
            placed = self.table["drawing"].notna()
            self.table = self.table.assign(status=placed.map({True: PairStatus.PLACED.value,
                                                              False: PairStatus.UNPAIRED.value}))


def _candidates(rows: pd.DataFrame) -> list[Candidate]:
    return [
        Candidate(key=r["key"], features=ImageFeatures.from_dict(r["features"]), uploaded=float(r.get("updated", 0.0)))
        for r in rows.to_dict("records")
    ]


def pairs_csv_line(generated: str, drawing: str | None) -> str:
    """One pairs.csv row, quoted by the csv module so any file name (commas, quotes) reads back
    through ``parse_overrides``; ``<drawing>`` stands in where there is no suggestion."""
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([generated, drawing if isinstance(drawing, str) else "<drawing>"])
    return line.getvalue()


def review_rows(review: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Flagged pairs as a reviewer reads them: paths inside the book, whether the variation is printed
    or held out (``status``), the two best drawings with their probabilities, why it was flagged, and
    the pairs.csv line that confirms the suggested drawing."""
    def inside(key):
        return key[len(prefix):] if isinstance(key, str) and key.startswith(prefix) else key

    rows = review.copy()
    for column in ("generated", "drawing", "runner_up"):
        rows[column] = rows[column].map(inside)
    rows["pairs_csv_line"] = [pairs_csv_line(g, d) for g, d in zip(rows["generated"], rows["drawing"])]
    return rows


def review_csv(review: pd.DataFrame, prefix: str) -> str:
    """A pairs.csv to start from: one line per flagged pair, the suggested drawing filled in."""
    if review.empty:
        return "Nothing to review."
    rows = review_rows(review, prefix)
    lines = ["generated,drawing", *rows["pairs_csv_line"]]
    held = int((rows["status"] == PairStatus.HELD).sum())
    return ("Copy into books/<book>/pairs.csv, change the drawing where the suggestion is wrong (write `-` "
            "when a variation is from none of this book's drawings), and build again"
            + (f"; held variations ({held}) stay out of the book until a line names their drawing" if held else "")
            + ":\n\n```csv\n" + "\n".join(lines) + "\n```")


@dg.asset(**BOOK_ASSET_ARGS, kinds={"python", "scipy"}, check_specs=checks.IMAGE_PAIRS_CHECKS)
def image_pairs(
    context: dg.AssetExecutionContext, bucket: Bucket, raw_images: pd.DataFrame, validated_images: pd.DataFrame
):
    """Pair every accepted variation with one drawing: overrides, provenance, file names, then looks."""
    book_id = book_id_of(context)
    ok = validated_images[validated_images["status"] == "ok"].merge(
        raw_images[["key", "updated"]], on="key", how="left")
    drawings = ok[ok["role"] == inventory.DRAWING].sort_values("key")
    generated = ok[ok["role"] == inventory.GENERATED].sort_values("key")

    overrides: dict[str, str | None] = {}     # None: the reviewer says it is from none of these drawings
    problems: list[str] = []
    override_rows = raw_images[raw_images["role"] == inventory.OVERRIDES]
    if len(override_rows):
        csv_text = bucket.read_bytes(override_rows.iloc[0]["key"]).decode("utf-8-sig", errors="replace")
        overrides, problems = parse_overrides(csv_text, book_prefix(book_id), list(ok["key"]))
        for problem in problems:
            context.log.warning(f"pairs.csv: {problem}")

    with stopwatch() as timing:
        result = pair_images(_candidates(drawings), _candidates(generated), overrides)
    table = pd.DataFrame(
        [{"generated": p.generated, "status": p.status.value, "drawing": p.drawing, "confidence": float(p.confidence),
          "needs_review": bool(p.needs_review), "signals": ",".join(p.signals), "runner_up": p.runner_up,
          "margin": float(p.margin), "reason": p.reason,
          "runner_up_probability": max(0.0, float(p.score) - float(p.margin)) if p.runner_up else 0.0}
         for p in result.pairs],
        columns=PAIR_COLUMNS,
    )
    drawing_keys = list(drawings["key"])
    variations = {d: result.variations_of(d) for d in drawing_keys}
    manifest = ImagePairs(table, drawing_keys, variations, problems)

    paired = table[table["drawing"].notna()]        # placed or held: pairing chose a drawing
    statuses = table["status"].value_counts()
    review = table[table["needs_review"]]
    signal_counts = paired["signals"].str.split(",").explode().value_counts().to_dict() if len(paired) else {}
    metadata = {
        "dagster/row_count": len(table),
        "pairs": int(statuses.get(PairStatus.PLACED.value, 0)),
        "held": int(statuses.get(PairStatus.HELD.value, 0)),
        "reviewer_excluded": int(statuses.get(PairStatus.REVIEWER_EXCLUDED.value, 0)),
        "unpaired": int(statuses.get(PairStatus.UNPAIRED.value, 0)),
        "low_confidence": len(review),
        "overrides_used": int(table["signals"].str.contains("override").sum()) if len(table) else 0,
        "override_problems": len(problems),
        "confidence_mean": round(float(paired["confidence"].mean()), 3) if len(paired) else 0.0,
        "confidence_min": round(float(paired["confidence"].min()), 3) if len(paired) else 0.0,
        "confidence_distribution": dg.MetadataValue.json(
            {f"{lo / 10:.1f}-{(lo + 1) / 10:.1f}": int(((paired["confidence"] * 10).clip(0, 9.999) // 1 == lo).sum())
             for lo in range(10)}),
        "deciding_signals": dg.MetadataValue.json({k: int(v) for k, v in signal_counts.items()}),
        "pairing_ms": timing["ms"],
        "review_table": table_metadata(review_rows(review, book_prefix(book_id)), REVIEW_COLUMNS),
        "review_pairs_csv": dg.MetadataValue.md(review_csv(review, book_prefix(book_id))),
        "variations_per_drawing": dg.MetadataValue.json({d: len(v) for d, v in variations.items()}),
    }
    return dg.MaterializeResult(
        value=manifest,
        metadata=metadata,
        check_results=[
            checks.check_every_variation_placed_or_flagged(table, list(generated["key"])),
            checks.check_pairs_need_review(table),
            checks.check_every_drawing_has_variations(drawing_keys, variations),
        ],
    )
