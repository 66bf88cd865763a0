"""``raw_images``: the inventory of one book folder — one entry per object, with its role."""

import time

import dagster as dg

from ...core.bucket_layout import book_prefix
from ...core.stages.inventory import take_inventory
from ...core.timing import ms_since
from .. import checks
from ..resources import Bucket
from .common import book_asset_args, book_id_of, fail_fast_unless_transient, fields, table_metadata

COLUMNS = ["key", "relative_path", "role", "reason", "message", "size", "updated", "generation", "content_hash"]


@dg.asset(**book_asset_args("inventory", kinds={"python"}, description_columns=COLUMNS),
          check_specs=checks.RAW_IMAGES_CHECKS)
@fail_fast_unless_transient()
def raw_images(context: dg.AssetExecutionContext, bucket: Bucket):
    """Every object under ``books/<book_id>/`` with its role: drawing, generated, config, overrides, other."""
    book_id = book_id_of(context)
    listed_at, started = time.time(), time.perf_counter()
    objects = bucket.list_objects(book_prefix(book_id))
    inventory = take_inventory(book_id, objects, listing_ms=ms_since(started), listed_at=listed_at)
    if not inventory.entries:
        context.log.warning(fields("empty_book_folder", book=book_id, folder=bucket.url(book_prefix(book_id))))
    context.log.info(fields("inventory", book=book_id, asset="raw_images", **inventory.metrics()))
    return dg.MaterializeResult(
        value=inventory,
        metadata={"dagster/row_count": len(inventory.entries), **inventory.metrics(),
                  "fingerprint": inventory.fingerprint,
                  "objects_table": table_metadata(inventory.rows(), ["relative_path", "role", "size"])},
        check_results=[checks.check_every_object_listed(inventory, [o.key for o in objects])],
    )
