"""``book-assets``: build the sample book, build any book, and check the set-up.

    book-assets demo [--bucket PATH]            write the sample book into the bucket and build it
    book-assets build BOOK_ID [--bucket PATH]   build one book folder (exit 0 only when published)
    book-assets doctor                          show what the tool will use (bucket, instance, versions)
    book-assets eval-pairing [--quick] [--corpus generated|photos|both] [--split fit|eval]
                                                score pairing on labelled corpora (generated, photos)
    book-assets bench [--drawings N --variations M --workers W]   timings and memory of a generated book

Builds run in this process against the persistent Dagster instance in ``$DAGSTER_HOME`` (default
``.dagster_home/`` in the project), so every build shows up in the Dagster UI (``make dev``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from .defs.resources import BUCKET_ENV_VAR, PROJECT_ROOT, bucket_from_setting, bucket_setting

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"


def ensure_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or the project's own; give it the project's dagster.yaml if it has none."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = PROJECT_ROOT / "dagster.yaml"
    if source.exists() and (not target.exists() or home == DEFAULT_DAGSTER_HOME.resolve()):
        shutil.copyfile(source, target)
    return home


def build(book_id: str, bucket_setting_value: str | None = None, *, out=sys.stdout, log_level: str = "WARNING") -> int:
    """Register the book's partition and materialize the five assets; 0 when the book was published."""
    from .core.bucket_layout import book_id_problem

    problem = book_id_problem(book_id)
    if problem:
        print(problem, file=out)
        return 2
    ensure_dagster_home()
    import dagster as dg

    from .defs.jobs import BOOK_ASSETS
    from .definitions import build_book_run
    from .defs.partitions import books_partitions
    from .defs.run_status import record_run_not_published, step_failures

    bucket = bucket_from_setting(bucket_setting_value)
    if not bucket.list_objects(f"books/{book_id}/", with_hash=False):
        print(f"There is no book folder books/{book_id}/ in {bucket.url('books')} (or it is empty).", file=out)
        return 2
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition(books_partitions.name, book_id):
            instance.add_dynamic_partitions(books_partitions.name, [book_id])
        result = build_book_run(instance, book_id, bucket, log_level=log_level)
        if not result.success:      # no daemon watches an in-process run: do what the run-status sensor does
            record_run_not_published(instance, bucket, result.dagster_run, step_failures(result.all_events))
    outcomes = {event.step_key: event for event in result.all_events
                if event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")}
    elapsed = time.perf_counter() - started
    print(f"Run {result.run_id} {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f} s", file=out)
    for asset in BOOK_ASSETS:
        key = asset.key.to_user_string()
        event = outcomes.get(key)
        duration_ms = getattr(event.event_specific_data, "duration_ms", None) if event else None
        took = f"{duration_ms / 1000:6.2f} s" if duration_ms is not None else "   —   "
        status = event.event_type_value.removeprefix("STEP_") if event else "NOT RUN"
        print(f"  {key:<18} {took}  {status}", file=out)
    for evaluation in result.get_asset_check_evaluations():
        mark = "ok  " if evaluation.passed else ("WARN" if evaluation.severity.value == "WARN" else "FAIL")
        print(f"  check {mark} {evaluation.asset_key.to_user_string()}.{evaluation.check_name}", file=out)
    published = False
    if result.success:
        outcome = result.output_for_node("book")
        published = outcome.published
        if published:
            report = json.loads(bucket.read_bytes(outcome.report))
            print(f"Book: {bucket.url(outcome.pdf)}", file=out)
            held = f"{len(report['held'])} held out for review, " if report["held"] else ""
            print(f"      {outcome.pages} pages ({outcome.profile}), {len(report['pairs'])} variations placed, "
                  f"{held}{len(report['rejected'])} files rejected (see report.json)", file=out)
            print(f"Cover: {bucket.url(outcome.cover)}", file=out)
            print(f"Preview in a browser: {bucket.url(outcome.preview)}", file=out)
    if not published:
        print("The book was not published; see the run's checks and logs in the Dagster UI (make dev).", file=out)
    return 0 if published else 1


def demo(bucket_setting_value: str | None = None, *, out=sys.stdout) -> int:
    """Write the generated sample book into the bucket, then build it."""
    from .samples import SAMPLE_BOOK_ID, write_sample_book

    bucket = bucket_from_setting(bucket_setting_value)
    keys = write_sample_book(bucket)
    print(f"Wrote the sample book ({len(keys)} files) to {bucket.url(f'books/{SAMPLE_BOOK_ID}')}", file=out)
    return build(SAMPLE_BOOK_ID, bucket_setting_value, out=out)


def doctor(*, out=sys.stdout) -> int:
    from importlib.metadata import version

    home = ensure_dagster_home()
    print(f"bucket        {bucket_setting()}   (set {BUCKET_ENV_VAR} to change)", file=out)
    print(f"DAGSTER_HOME  {home}", file=out)
    for package in ("dagster", "dagster-webserver", "dagster-gcp", "pillow", "reportlab", "pypdf", "scipy", "imagehash"):
        print(f"{package:<13} {version(package)}", file=out)
    try:
        bucket_from_setting()
    except ValueError as exc:
        print(f"problem       {exc}", file=out)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="book-assets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_demo = commands.add_parser("demo", help="write the sample book into the bucket and build it")
    p_demo.add_argument("--bucket", help=f"bucket folder (default: ${BUCKET_ENV_VAR} or ./local_bucket)")
    p_build = commands.add_parser("build", help="build one book folder books/BOOK_ID/")
    p_build.add_argument("book_id")
    p_build.add_argument("--bucket", help=f"bucket folder (default: ${BUCKET_ENV_VAR} or ./local_bucket)")
    commands.add_parser("doctor", help="show the bucket, instance and versions in use")
    p_bench = commands.add_parser("bench", help="build a generated book of a chosen size and print timings and memory")
    p_bench.add_argument("--drawings", type=int, default=12)
    p_bench.add_argument("--variations", type=int, default=10)
    p_bench.add_argument("--workers", type=int, default=2, help="validation threads")
    p_eval = commands.add_parser(
        "eval-pairing", help="score pairing on a generated, labelled corpus (accuracy, calibration, timings)")
    p_eval.add_argument("--quick", action="store_true", help="a small corpus (seconds, for smoke tests)")
    p_eval.add_argument("--seed", type=int, default=1, help="corpus seed (default 1; the model was fitted on 2)")
    p_eval.add_argument("--json", metavar="PATH", help="also write every outcome and figure as JSON")
    from .pairing_eval import add_corpus_arguments

    add_corpus_arguments(p_eval)   # --corpus generated|photos|both, --split fit|eval
    p_eval.add_argument("--fit", action="store_true",
                        help="fit the look model on the fit corpora instead, compare it with the committed one "
                             "(exit 1 when it differs) and, with --write, replace core/look_model.json")
    p_eval.add_argument("--write", action="store_true", help="with --fit: write the fitted model")
    args = parser.parse_args(argv)
    if args.command == "eval-pairing" and args.fit:
        from .pairing_fit import run_fit

        return run_fit(write=args.write, out=sys.stdout, say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.command == "eval-pairing":
        from .pairing_eval import run as run_pairing_eval

        return run_pairing_eval(args)
    if args.command == "demo":
        return demo(args.bucket)
    if args.command == "build":
        return build(args.book_id, args.bucket)
    if args.command == "bench":
        from .benchmark import bench

        return bench(args.drawings, args.variations, args.workers)
    return doctor()


if __name__ == "__main__":
    sys.exit(main())
