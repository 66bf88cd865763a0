"""``validated_images``: each upload judged — accepted with its features and print copy, or rejected."""
import os

import dagster as dg

from ...core.contracts import Inventory
from ...core.imaging import REJECTION_REASONS
from ...core.problems import first_of
from ...core.stages.validation import validate_book
from .. import checks
from ..resources import Bucket
from .common import book_asset_args, book_id_of, fail_fast_unless_transient, fields, table_metadata

COLUMNS = ["key", "role", "status", "reason", "message", "format", "width", "height", "size", "print_copy",
           "print_width", "print_height", "notes", "cache_hit", "decoded", "decode_ms"]


class ValidationConfig(dg.Config):
    workers: int = os.cpu_count() or 2     # processes decoding in parallel (core.stages.validation.AnalysisPool)


@dg.asset(**book_asset_args("validation", kinds={"python", "pillow"}, description_columns=COLUMNS),
          check_specs=checks.VALIDATED_IMAGES_CHECKS)
@fail_fast_unless_transient()
def validated_images(context: dg.AssetExecutionContext, config: ValidationConfig, bucket: Bucket,
                     raw_images: Inventory):
    """One entry per upload: ok (format, oriented size, features, print copy) or rejected (reason, message)."""
    book_id = book_id_of(context)
    validation = validate_book(raw_images, bucket, workers=config.workers)
    if validation.rejected():         # one event for all of them (the rejections table has each)
        context.log.info(fields("rejected", book=book_id, count=len(validation.rejected())) + "\n" + "\n".join(
            first_of([f"{image.key}: {image.reason}" for image in validation.rejected()])))
    context.log.info(fields("validated", book=book_id, asset="validated_images", **validation.metrics()))
    reasons = validation.rejection_reasons()
    # only the rejected rows (the whole table would re-encode every image's features to show none of them)
    rejected = [{"key": i.key, "reason": i.reason, "message": i.message} for i in validation.rejected()]
    return dg.MaterializeResult(
        value=validation,
        metadata={
            "dagster/row_count": len(validation.images), **validation.metrics(),
            "rejection_reasons": dg.MetadataValue.json(reasons),
            "rejections": table_metadata(rejected, ["key", "reason", "message"]),
            "reason_codes": dg.MetadataValue.json({code: REJECTION_REASONS.get(code, "") for code in reasons}),
        },
        check_results=[checks.check_every_upload_judged(validation, raw_images), checks.check_rejection_rate(validation)],
    )
