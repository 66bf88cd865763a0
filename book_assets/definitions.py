"""The code location: everything under ``book_assets/defs/``, loaded by Dagster's defs-folder loader.

Assets, checks, the build_book job, the sensors, resources and partitions live in ``defs/`` (the
``dg`` CLI validates them: ``dg check defs``); the Dagster-free domain logic stays in ``core/``.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@cache
def book_definitions() -> dg.Definitions:
    """The loaded Definitions, once per process (the CLI, the benchmark and the tests)."""
    return defs()


def build_definitions(bucket) -> dg.Definitions:
    """What an in-process build of ``bucket`` runs: the five assets (their checks are specs on them),
    the ``build_book`` job and the book resources — the very objects the code location loads from
    ``defs/`` (a test holds the two jobs equal). Not loaded through ``load_from_defs_folder``, which
    also scans the installed component libraries for the UI's catalogue: dagster-gcp's imports
    BigQuery, ~1 s of every ``book-assets build``'s start."""
    from .defs.jobs import BOOK_ASSETS, build_book_job
    from .defs.resources import book_resources

    return dg.Definitions(assets=list(BOOK_ASSETS), jobs=[build_book_job], resources=book_resources(bucket))


def build_book_run(instance: dg.DagsterInstance, book_id: str, bucket, *, log_level: str = "WARNING",
                   run_config: dict | None = None, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """Run the ``build_book`` job for one book in this process (the CLI and the benchmark), so the
    run carries the job's name and tags in the UI exactly like one launched from there."""
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    return build_definitions(bucket).resolve_job_def("build_book").execute_in_process(
        instance=instance, partition_key=book_id, raise_on_error=False,
        tags={"book": book_id, **(tags or {})}, run_config=config,
    )
