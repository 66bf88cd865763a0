"""The one ``Definitions`` of the code location: assets (with their checks), the build job, the bucket
sensor, resources.

The executor is in-process: on a small machine the multiprocess executor costs seconds per step
for no gain. A production deployment swaps the executor here, not the asset code.
"""
from __future__ import annotations

import dagster as dg

from .assets import BOOK_ASSETS
from .resources import bucket_from_setting
from .sensors import build_books_sensor

MAX_RUNTIME_SECONDS = 3600   # run monitoring cancels a book run that takes longer than this

build_book_job = dg.define_asset_job(
    "build_book",
    selection=dg.AssetSelection.assets(*BOOK_ASSETS),
    tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    description="Build and publish one book: inventory, validation, pairing, layout, PDF.",
)

books_sensor = build_books_sensor(build_book_job)

defs = dg.Definitions(
    assets=BOOK_ASSETS,
    jobs=[build_book_job],
    sensors=[books_sensor],
    resources={"bucket": bucket_from_setting()},
    executor=dg.in_process_executor,
)
