"""``raw_images``: the inventory of one book folder — one row per object, with its role."""

import dagster as dg
import pandas as pd

from .. import checks
from ..core import inventory
from ..partitions import book_prefix
from ..resources import Bucket, UnsafeKeyError, check_key
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch, table_metadata

RAW_COLUMNS = ["key", "relative_path", "role", "reason", "message", "size", "updated", "generation", "content_hash"]


def _safe(key: str) -> bool:
    try:
        check_key(key)
    except UnsafeKeyError:
        return False
    return True


@dg.asset(**BOOK_ASSET_ARGS, kinds={"python"}, check_specs=checks.RAW_IMAGES_CHECKS)
def raw_images(context: dg.AssetExecutionContext, bucket: Bucket):
    """Every object under ``books/<book_id>/`` with its role: drawing, generated, config, overrides, other."""
    book_id = book_id_of(context)
    prefix = book_prefix(book_id)
    with stopwatch() as listing:
        objects = bucket.list_objects(prefix)
    rows = []
    for obj in objects:
        relative = obj.key[len(prefix):]
        placement = (inventory.unreadable_object(relative, symlink=obj.symlink, unsafe_name=not _safe(obj.key))
                     or inventory.classify(relative))
        rows.append({
            "key": obj.key, "relative_path": relative, "role": placement.role, "reason": placement.reason,
            "message": placement.message, "size": obj.size, "updated": obj.updated,
            "generation": obj.generation, "content_hash": obj.content_hash,
        })
    table = pd.DataFrame(rows, columns=RAW_COLUMNS)
    if table.empty:
        context.log.warning(f"No objects under {bucket.url(prefix.rstrip('/')) if objects else prefix}")
    by_role = table["role"].value_counts().to_dict()
    metadata = {
        "dagster/row_count": len(table),
        "objects": len(table),
        "bytes": int(table["size"].sum()) if len(table) else 0,
        "listing_ms": listing["ms"],
        **{f"{role}_count": int(by_role.get(role, 0)) for role in
           (inventory.DRAWING, inventory.GENERATED, inventory.CONFIG, inventory.OVERRIDES, inventory.OTHER)},
        "objects_table": table_metadata(table, ["relative_path", "role", "size"]),
    }
    return dg.MaterializeResult(
        value=table,
        metadata=metadata,
        check_results=[checks.check_every_object_listed(table, [o.key for o in objects])],
    )
