"""What every book asset shares: partition, retry policy, ownership, failure policy, logs and tables."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg

from ...core.bucket_layout import book_id_problem
from ..partitions import books_partitions
from ..resources import PreconditionConflict, is_transient

GROUP = "picture_book"
OWNERS = ["team:book-makers"]

# A step is retried only for transient failures (network, timeouts, 429/5xx: see resources.is_transient);
# anything deterministic fails at once through ``fail_fast_unless_transient``. Each bucket call retries
# transient errors for at most GCSBucket.retry_deadline_seconds (120 s) itself; on top of that a step
# runs at most 3 times, waiting about 2 s and 4 s between tries; dagster/max_runtime bounds the run.
IO_RETRY = dg.RetryPolicy(max_retries=2, delay=2.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def book_asset_args(stage: str, *, kinds: set[str], description_columns: Sequence[str] = ()) -> dict:
    """The keyword arguments every book asset's decorator takes; ``stage`` becomes a tag."""
    args = dict(partitions_def=books_partitions, group_name=GROUP, retry_policy=IO_RETRY, owners=OWNERS,
                kinds=kinds, tags={"stage": stage}, io_manager_key="io_manager")
    if description_columns:
        schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in description_columns])
        args["metadata"] = {"dagster/column_schema": schema}
    return args


STOPPED_BY_SIGNAL = "stopped (Ctrl-C or SIGTERM) before it finished"


def book_id_of(context: dg.AssetExecutionContext) -> str:
    """The partition key, refused (without retries) when it is not a valid book folder name."""
    book_id = context.partition_key
    problem = book_id_problem(book_id)
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)
    return book_id


@contextlib.contextmanager
def fail_fast_unless_transient() -> Iterator[None]:
    """Let transient failures through to the retry policy; turn every other one into a plain, final
    failure (a bug or bad data fails the same way every time, so a retry only wastes the wait).
    Every book asset is decorated with it (``@fail_fast_unless_transient()`` under ``@dg.asset``), so
    it covers the whole step, metadata included."""
    try:
        yield
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
        # Ctrl-C or SIGTERM: stop. (Dagster would otherwise honour the retry policy and run the step again.)
        raise dg.Failure(description=STOPPED_BY_SIGNAL, metadata={"stopped_by_signal": True},
                         allow_retries=False) from None
    except dg.Failure:
        raise
    except PreconditionConflict as conflict:
        # a lost upload race: a retry would read the newer object and overwrite it
        raise dg.Failure(description=str(conflict), allow_retries=False) from conflict
    except Exception as error:
        if is_transient(error):
            raise
        raise dg.Failure(description=f"{type(error).__name__}: {error} (not retried: it is not a network or "
                                     "server problem, so it would fail the same way again)",
                         allow_retries=False) from error


def fields(event: str, **values) -> str:
    """A structured log line: ``event key=value …`` (values with spaces are quoted)."""
    def show(value) -> str:
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        return f'"{text}"' if (" " in text or not text) else text

    return " ".join([event, *(f"{key}={show(value)}" for key, value in values.items())])


def table_metadata(rows: Sequence[Mapping], columns: Sequence[str], *, limit: int = 200) -> dg.MetadataValue:
    """A Dagster table (shown as a table in the UI) of the first ``limit`` rows."""
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns])
    records = [dg.TableRecord({c: _cell(row.get(c)) for c in columns}) for row in rows[:limit]]
    return dg.MetadataValue.table(records=records, schema=schema)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
