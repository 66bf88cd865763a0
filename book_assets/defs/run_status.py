"""Keep ``status.json`` honest whichever way a book's run was started.

Any run that was to materialize ``book`` — the build_book job, the UI's Materialize button (the
implicit asset job), a backfill — and failed or was cancelled leaves ``published/<id>/status.json``
saying the newest upload is not in the current edition. A run-status sensor does it rather than a
job hook, because hooks only run in the jobs they are attached to. A status from a run that listed
the book folder after this run started is never overwritten by this run's failure, and the current
edition (``current.json``) is never touched: a failure only ever changes what status.json says.
"""

import dagster as dg

from ..core.bucket_layout import book_id_problem
from ..core.editions import Switch
from ..core.stages.publish import write_status
from .assets.common import STOPPED_BY_SIGNAL, fields
from .resources import Bucket

BOOK = dg.AssetKey("book")
BUILD_JOB = "build_book"
INTERVAL_SECONDS = 5


def book_of_run(run: dg.DagsterRun) -> str | None:
    """The book a run was building, when it was to materialize ``book`` for one valid book partition."""
    book_id = run.tags.get("dagster/partition")
    if not book_id or book_id_problem(book_id):
        return None
    targets_book = BOOK in run.asset_selection if run.asset_selection else run.job_name == BUILD_JOB
    return book_id if targets_book else None


def record_run_not_published(instance: dg.DagsterInstance, bucket: Bucket, run: dg.DagsterRun,
                             problems: list[str]) -> str | None:
    """Mark the book of a failed or cancelled ``run`` as not current; the reason it was left alone, if it was.

    The run counts as having listed the book folder when it was created (the earliest it could
    have), so a status from a listing after that — a newer run's, or this run's own, more precise
    one — is kept (``write_unless_newer``)."""
    book_id = book_of_run(run)
    if book_id is None:
        return f"run {run.run_id} did not build a book"
    record = instance.get_run_record_by_id(run.run_id)
    created = record.create_timestamp.timestamp() if record is not None else 0.0
    if write_status(bucket, book_id, run.run_id, published=False, problems=problems,
                    sources_listed_at=created) is Switch.NEWER_KEPT:
        return f"status.json of {book_id} is from a run that listed the book folder later; left as it is"
    return None


def step_failures(events) -> list[str]:
    """``step: error message`` for each step failure among ``events`` (the problems status.json lists)."""
    return [f"{event.step_key}: {_error_message(event)}" for event in events if event.is_step_failure]


def _mark(context: dg.RunStatusSensorContext, bucket: Bucket, problems: list[str]) -> dg.SkipReason | None:
    run = context.dagster_run
    skipped = record_run_not_published(context.instance, bucket, run, problems)
    if skipped:
        return dg.SkipReason(skipped)
    context.log.info(fields("status_not_current", book=book_of_run(run), run=run.run_id, job=run.job_name))
    return None


@dg.run_failure_sensor(name="book_run_failed", minimum_interval_seconds=INTERVAL_SECONDS,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="A failed run of a book (job, UI Materialize, backfill) marks its status.json "
                                   "as not current.")
def book_run_failed(context: dg.RunFailureSensorContext, bucket: Bucket):
    failures = step_failures(context.get_step_failure_events())
    return _mark(context, bucket, failures or [context.failure_event.message or "the run failed"])


@dg.run_status_sensor(name="book_run_canceled", run_status=dg.DagsterRunStatus.CANCELED,
                      minimum_interval_seconds=INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="A cancelled run of a book (e.g. past its max runtime) marks its status.json "
                                  "as not current.")
def book_run_canceled(context: dg.RunStatusSensorContext, bucket: Bucket):
    return _mark(context, bucket, ["the run was cancelled before the book was published"])


def was_interrupted(event: dg.DagsterEvent) -> bool:
    """A step failure that Ctrl-C or SIGTERM caused (``fail_fast_unless_transient`` marks it)."""
    failure = getattr(event.event_specific_data, "user_failure_data", None) if event.is_step_failure else None
    entry = failure.metadata.get("stopped_by_signal") if failure is not None else None
    return bool(entry is not None and entry.value)


def _error_message(event: dg.DagsterEvent) -> str:
    if was_interrupted(event):
        return STOPPED_BY_SIGNAL
    data = event.event_specific_data
    error = getattr(data, "error", None)
    return error.message.strip() if error is not None else "failed"
