"""The one ``Definitions`` of the code location: assets (with their checks), the build job, the bucket
sensor, resources.

The executor is in-process: on a small machine the multiprocess executor costs seconds per step
for no gain. A production deployment swaps the executor here, not the asset code.
"""
from __future__ import annotations

import dagster as dg

from .assets import BOOK_ASSETS
from .assets.book import mark_book_not_current
from .resources import bucket_from_setting
from .sensors import build_books_sensor

MAX_RUNTIME_SECONDS = 3600   # run monitoring cancels a book run that takes longer than this

build_book_job = dg.define_asset_job(
    "build_book",
    selection=dg.AssetSelection.assets(*BOOK_ASSETS),
    tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    hooks={mark_book_not_current},
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


def build_book_run(instance: dg.DagsterInstance, book_id: str, bucket, *, log_level: str = "WARNING",
                   run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Run the ``build_book`` job for one book in this process (the CLI and the benchmark), so the
    run carries the job's name and tags in the UI exactly like one launched from there."""
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    return defs.resolve_job_def(build_book_job.name).execute_in_process(
        instance=instance, partition_key=book_id, resources={"bucket": bucket}, raise_on_error=False,
        tags={"book": book_id}, run_config=config,
    )
