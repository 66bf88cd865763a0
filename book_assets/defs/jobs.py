"""``build_book``: the one job, all five assets of one book; and the in-process run the CLI uses."""
from __future__ import annotations

import dagster as dg

from .assets import book, image_pairs, page_layouts, raw_images, validated_images
from .assets.common import GROUP

# Run monitoring cancels a book run that takes longer than this. The same bound is the instance's
# run_monitoring.max_runtime_seconds (dagster.yaml), so a run started from the UI's Materialize
# button, or a backfill, is bounded exactly like the job's runs.
MAX_RUNTIME_SECONDS = 3600

# The five assets in graph order (a tuple: the defs loader collects lists, and each asset is
# already defined in its own module).
BOOK_ASSETS = (raw_images.raw_images, validated_images.validated_images, image_pairs.image_pairs,
               page_layouts.page_layouts, book.book)

build_book_job = dg.define_asset_job(
    "build_book",
    selection=dg.AssetSelection.groups(GROUP),
    tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    description="Build and publish one book: inventory, validation, pairing, layout, PDF.",
)
