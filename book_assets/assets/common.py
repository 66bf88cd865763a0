"""What every book asset shares: the partition, the retry policy, and metadata helpers."""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import pandas as pd

from ..partitions import book_id_problem, books_partitions

GROUP = "picture_book"

# Bucket I/O can fail transiently (a busy disk, a GCS 503): retry with growing, jittered waits.
# Deterministic problems raise dg.Failure(allow_retries=False) so they are not retried.
IO_RETRY = dg.RetryPolicy(max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

BOOK_ASSET_ARGS = dict(partitions_def=books_partitions, group_name=GROUP, retry_policy=IO_RETRY)


def book_id_of(context: dg.AssetExecutionContext) -> str:
    """The partition key, refused (without retries) when it is not a valid book folder name."""
    book_id = context.partition_key
    problem = book_id_problem(book_id)
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)
    return book_id


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as t: ...`` then ``t["ms"]`` holds the elapsed milliseconds."""
    timing: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing["ms"] = round((time.perf_counter() - start) * 1000.0, 1)


def table_metadata(df: pd.DataFrame, columns: Sequence[str], *, limit: int = 200) -> dg.MetadataValue:
    """A Dagster table (shown as a table in the UI) of the first ``limit`` rows of ``df``."""
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns])
    records = [
        dg.TableRecord({c: _cell(row[c]) for c in columns})
        for _, row in df.head(limit).iterrows()
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
