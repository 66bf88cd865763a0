"""``image_pairs``: which drawing each accepted variation belongs to, with evidence and confidence."""

import dagster as dg

from ...core.contracts import PAIR_COLUMNS, Inventory, Validation
from ...core.inventory import Role
from ...core.problems import first_of
from ...core.stages.pairing import (
    REVIEW_COLUMNS, confidence_distribution, deciding_signals, pair_book, review_csv, review_rows,
)
from .. import checks
from ..resources import Bucket
from .common import book_asset_args, book_id_of, fail_fast_unless_transient, fields, table_metadata


@dg.asset(**book_asset_args("pairing", kinds={"python", "scipy"}, description_columns=PAIR_COLUMNS),
          check_specs=checks.IMAGE_PAIRS_CHECKS)
@fail_fast_unless_transient()
def image_pairs(context: dg.AssetExecutionContext, bucket: Bucket, raw_images: Inventory,
                validated_images: Validation):
    """Pair every accepted variation with one drawing: overrides, provenance, file names, then looks."""
    book_id = book_id_of(context)
    pairing = pair_book(raw_images, validated_images, bucket)
    if pairing.override_problems:     # one event for all of them: a bad file can have thousands of lines
        context.log.warning(fields("pairs_csv_problems", book=book_id, count=len(pairing.override_problems)) + "\n"
                            + "\n".join(first_of([p.message for p in pairing.override_problems])))
    context.log.info(fields("paired", book=book_id, asset="image_pairs", **pairing.metrics()))
    review = pairing.rows(needs_review=True)
    return dg.MaterializeResult(
        value=pairing,
        metadata={
            "dagster/row_count": len(pairing.pairs), **pairing.metrics(),
            "confidence_distribution": dg.MetadataValue.json(confidence_distribution(pairing)),
            "deciding_signals": dg.MetadataValue.json(deciding_signals(pairing)),
            "review_table": table_metadata(review_rows(review, raw_images.prefix), REVIEW_COLUMNS),
            "review_pairs_csv": dg.MetadataValue.md(review_csv(review, raw_images.prefix)),
            "variations_per_drawing": dg.MetadataValue.json({d: len(v) for d, v in pairing.variations.items()}),
        },
        check_results=[
            checks.check_every_variation_placed_or_flagged(
                pairing, [i.key for i in validated_images.accepted(Role.GENERATED)]),
            checks.check_pairs_need_review(pairing),
            checks.check_every_drawing_has_variations(pairing),
        ],
    )
