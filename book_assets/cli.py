"""``book-assets``: build any book and check the set-up; dev commands are handed to ``book_assets_dev``.

    book-assets build BOOK_ID [--bucket PATH]   build one book folder (exit 0 only when published)
    book-assets doctor [--json]                 check the local tier: DAGSTER_HOME, instance, bucket, fonts
    book-assets doctor --deploy team            check a team deployment: database, daemon, bucket, fonts

Dev tooling (``book_assets_dev``, beside the tests; a clone's editable install), imported only when run:

    book-assets demo [--bucket PATH]            write the sample book into the bucket and build it
    book-assets eval-pairing [--quick] [--corpus generated|photos|both] [--split fit|eval]
                                                score pairing on labelled corpora (generated, photos)
    book-assets bench [--drawings N --variations M --workers W]   timings and memory of a generated book

Builds run in this process against the persistent Dagster instance in ``$DAGSTER_HOME`` (default
``.dagster_home/`` in a checkout, the per-user data directory for an installed package: ``paths``),
so every build shows up in the Dagster UI (``make dev``).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .paths import INSTANCE_DEFAULTS, default_paths
from .defs.resources import BUCKET_ENV_VAR, bucket_from_setting, bucket_setting


# Exit codes of `book-assets build`, for scripts (README, "Command line").
EXIT_PUBLISHED = 0     # the book is published
EXIT_BLOCKED = 1       # a check refused the book (its reason is in the run and status.json)
EXIT_USAGE = 2         # no such book folder, or a name that is not allowed
EXIT_FAILED = 3        # the pipeline or the bucket failed (a bug, an outage): not the book's fault
EXIT_BUSY = 4          # another run of this book is queued or running (the UI, the sensor, another machine)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM (status.json says so)


def ensure_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or the default one (``paths``); give it the instance defaults (the repo's
    dagster.yaml, shipped as package data) if it has none, and keep them current in the default one."""
    default_home = default_paths().dagster_home
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(default_home))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or home == default_home.resolve():
        # a temporary copy renamed into place: a build starting at the same moment reads the old
        # file or the new one, never half of one
        partial = target.with_name(f".dagster.yaml.{os.getpid()}")
        shutil.copyfile(INSTANCE_DEFAULTS, partial)
        os.replace(partial, target)
    return home


def open_instance(book_id: str):
    """The instance in ``$DAGSTER_HOME`` with the book's partition registered. The first use of a new
    DAGSTER_HOME creates its databases; two builds starting together would both try (and one would
    fail), so creation and registration happen under a lock file in DAGSTER_HOME."""
    import fcntl

    import dagster as dg

    from .defs.partitions import books_partitions

    home = ensure_dagster_home()
    with open(home / ".book_assets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()
        if not instance.has_dynamic_partition(books_partitions.name, book_id):
            instance.add_dynamic_partitions(books_partitions.name, [book_id])
    return instance


@contextlib.contextmanager
def one_build_per_book(book_id: str, *, out) -> Iterator[None]:
    """Hold the book's lock in DAGSTER_HOME while a ``book-assets build`` of it runs here.

    An in-process run never passes the queue, so dagster.yaml's one-run-per-book limit does not
    hold it back: a second ``book-assets build`` of the same book on this machine waits here
    (saying so) until the first ends. Runs of the book that the queue launched, or another
    machine's builds, are found in the instance instead (``build`` refuses while one is live)."""
    import fcntl

    locks = ensure_dagster_home() / ".book_locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{book_id}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Another build of books/{book_id}/ is running on this machine; waiting for it to end.",
                  file=out, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


BUILD_HOST_TAG = "book_assets/build_host"   # the machine and process of an in-process build (``book-assets build``)
BUILD_PID_TAG = "book_assets/build_pid"


def build_process_tags() -> dict[str, str]:
    import socket

    return {BUILD_HOST_TAG: socket.gethostname(), BUILD_PID_TAG: str(os.getpid())}


def cleared_if_orphaned(instance, run, *, out) -> bool:
    """Mark canceled a live run of a ``book-assets build`` on this machine whose process is gone (killed
    with SIGKILL, or the machine restarted): nothing else ever ends it — no daemon watches an
    in-process run — and it would keep every later build of the book out. Called with the book's
    build lock held; a run of another machine, or one whose process still lives, is left alone."""
    import socket

    pid = run.tags.get(BUILD_PID_TAG, "")
    if run.tags.get(BUILD_HOST_TAG) != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
        return False                 # alive (or a process that reused its number: left alone, never cleared wrongly)
    except ProcessLookupError:
        pass
    except PermissionError:
        return False                 # alive, another user's
    instance.report_run_canceled(run, message=f"The book-assets build process (pid {pid}) that ran this build "
                                              f"ended without finishing it; marked canceled by the next build.")
    print(f"An earlier build of this book (run {run.run_id}) lost its process (pid {pid}); it is marked canceled.",
          file=out, flush=True)
    return True


def spare_the_collector() -> None:
    """Move every object alive now into the collector's permanent generation (``gc.freeze``).

    Only for a process that ends when its command does (``main()`` from the command line): what a
    build imports (~200,000 objects) and what it leaves behind live until exit, yet every full
    collection walks them again — ~0.1-0.2 s each, several per run and several more while the
    interpreter shuts down (~1 s of every ``book-assets build``'s exit). Frozen objects are still freed
    by reference counting; only cycles among them wait for exit."""
    gc.freeze()


def build(book_id: str, bucket_setting_value: str | None = None, *, out=None, log_level: str = "WARNING",
          own_process: bool = False) -> int:
    """Register the book's partition and materialize the five assets; 0 when the book was published.
    ``own_process``: this process ends with the build (``spare_the_collector``)."""
    out = out or sys.stdout     # resolved per call, so a redirected stdout (tests, capture) is honoured
    from .core.bucket_layout import book_id_problem
    from .core.editions import pointer_key

    problem = book_id_problem(book_id)
    if problem:
        print(problem, file=out)
        return EXIT_USAGE
    import dagster as dg

    from .defs.jobs import BOOK_ASSETS
    from .definitions import build_book_run
    from .defs.run_status import record_run_not_published, step_failures, was_interrupted
    from .defs.sensors import live_runs_of_book

    if own_process:
        spare_the_collector()       # the libraries just imported live until exit
    bucket = bucket_from_setting(bucket_setting_value)
    try:
        listed = bucket.list_objects(f"books/{book_id}/", with_hash=False)
    except Exception as error:  # noqa: BLE001 - an unreachable bucket is one line for a person, not a traceback
        cause = (str(error).strip().splitlines() or [""])[0]
        print(f"The bucket {bucket.url('books')} could not be listed: {type(error).__name__}: {cause}", file=out)
        return EXIT_FAILED
    if not listed:
        print(f"There is no book folder books/{book_id}/ in {bucket.url('books')} (or it is empty).", file=out)
        return EXIT_USAGE
    started = time.perf_counter()
    with open_instance(book_id) as instance, one_build_per_book(book_id, out=out):
        live = [run for run in live_runs_of_book(instance, book_id) if not cleared_if_orphaned(instance, run, out=out)]
        if live:
            print(f"books/{book_id}/ is being built by another run ({', '.join(f'{r.run_id} {r.status.value}' for r in live)}): "
                  f"one run per book, so this build did not start. Try again when it has ended (the Dagster UI "
                  f"shows it; a run whose process died on another machine is cleared there with Terminate).", file=out)
            return EXIT_BUSY
        result = build_book_run(instance, book_id, bucket, log_level=log_level, tags=build_process_tags())
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
        if outcome.superseded_by:     # an older listing finished last: the newer edition stays current
            print(f"A newer edition ({outcome.superseded_by}) was already current, so this build's edition was "
                  f"discarded; {bucket.url(pointer_key(book_id))} names the current one.", file=out)
            return EXIT_PUBLISHED
        if published:
            print(f"Edition {outcome.edition} is now current: {bucket.url(pointer_key(book_id))}", file=out)
            report = json.loads(bucket.read_bytes(outcome.report))
            print(f"Book: {bucket.url(outcome.pdf)}", file=out)
            held = f"{len(report['held'])} held out for review, " if report["held"] else ""
            print(f"      {outcome.pages} pages ({outcome.profile}), {len(report['pairs'])} variations placed, "
                  f"{held}{len(report['rejected'])} files rejected (see report.json)", file=out)
            print(f"Cover: {bucket.url(outcome.cover)}", file=out)
            print(f"Preview in a browser: {bucket.url(outcome.preview)}", file=out)
    if published:
        return EXIT_PUBLISHED
    if any(was_interrupted(event) for event in result.all_events):
        print("The build was stopped before the book was published; status.json says so.", file=out)
        return EXIT_INTERRUPTED
    blocked = result.success or any(not e.passed and e.severity == dg.AssetCheckSeverity.ERROR and e.blocking
                                    for e in result.get_asset_check_evaluations())
    print("The book was not published: " + ("a check blocked it" if blocked else "the pipeline failed")
          + "; see the run's checks and logs in the Dagster UI (make dev).", file=out)
    return EXIT_BLOCKED if blocked else EXIT_FAILED


def report_findings(findings, *, out, as_json: bool, facts: dict[str, str] | None = None) -> int:
    """One line per check (or one JSON document for monitors); 1 when any fails, naming each failing item."""
    failed = [f.item for f in findings if not f.ok]
    if as_json:
        print(json.dumps({"healthy": not failed, "failed": failed, **(facts or {}),
                          "checks": [{"item": f.item, "ok": f.ok, "detail": f.detail} for f in findings]},
                         indent=2), file=out)
        return 1 if failed else 0
    for name, value in (facts or {}).items():
        print(f"{name:<13} {value}", file=out)
    for finding in findings:
        print(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.item:<22} {finding.detail}", file=out)
    if failed:
        print(f"{len(failed)} of {len(findings)} checks failed: {', '.join(failed)}", file=out)
        return 1
    print(f"All {len(findings)} checks passed.", file=out)
    return 0


def doctor_team(bucket_setting_value: str | None = None, *, out=None, as_json: bool = False) -> int:
    """Every check of the team deployment; 1 when any fails, naming each failing item."""
    from .deploy_checks import team_findings

    return report_findings(team_findings(bucket_setting_value), out=out or sys.stdout, as_json=as_json)


def doctor(bucket_setting_value: str | None = None, *, out=None, as_json: bool = False) -> int:
    """The local tier's health: DAGSTER_HOME writable, instance storage, bucket reachable/writable/readable,
    fonts; plus what is in use (bucket, DAGSTER_HOME, defaults, versions). 1 when any check fails."""
    out = out or sys.stdout     # resolved per call, so a redirected stdout (tests, capture) is honoured
    from importlib.metadata import version

    from .deploy_checks import local_findings

    try:
        home = ensure_dagster_home()
    except OSError:             # the check below names the cause
        home = Path(os.environ.get("DAGSTER_HOME") or default_paths().dagster_home)
    findings = local_findings(bucket_setting_value or bucket_setting(), home)
    facts = {"bucket": f"{bucket_setting_value or bucket_setting()}   (set {BUCKET_ENV_VAR} to change)",
             "DAGSTER_HOME": str(home), "defaults": default_paths().describe(),
             **{package: version(package) for package in ("dagster", "dagster-webserver", "dagster-gcp", "pillow",
                                                          "reportlab", "pypdf", "scipy", "imagehash")}}
    return report_findings(findings, out=out, as_json=as_json, facts=facts)


# The commands that live in book_assets_dev, with their one-line help (listed here, so `--help` shows
# them even where book_assets_dev is not installed).
DEV_COMMANDS = {
    "demo": "write the sample book into the bucket and build it",
    "bench": "build a generated book of a chosen size and print timings and memory",
    "eval-pairing": "score pairing on a generated, labelled corpus (accuracy, calibration, timings)",
    "loadtest": "upload many small books at once; sensors and the daemon's queue build them; print the figures",
    "faults": "build on the GCS emulator behind a fault-injecting proxy; print times and check the published set",
}
BUCKET_HELP = f"bucket folder (default: ${BUCKET_ENV_VAR} or ./local_bucket)"


def run_dev_command(argv: list[str]) -> int:
    """Hand a dev command to ``book_assets_dev``, imported only now: the product never needs it."""
    try:
        from book_assets_dev.cli import main as dev_main
    except ModuleNotFoundError as missing:
        if not (missing.name or "").startswith("book_assets_dev"):
            raise                                   # a missing dependency, not a missing dev package
        print(f"book-assets {argv[0]} is dev tooling: install from a clone with `pip install -e .`", file=sys.stderr)
        return 2
    return dev_main(argv)


def main(argv: list[str] | None = None) -> int:
    """The ``book-assets`` command. Without ``argv`` it is this process's own command line (the console
    script and ``python -m book_assets.cli``), so the process ends when it returns."""
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DEV_COMMANDS:
        return run_dev_command(argv)
    parser = argparse.ArgumentParser(prog="book-assets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_build = commands.add_parser("build", help="build one book folder books/BOOK_ID/")
    p_build.add_argument("book_id")
    p_build.add_argument("--bucket", help=BUCKET_HELP)
    p_doctor = commands.add_parser("doctor", help="show the bucket, instance and versions in use")
    p_doctor.add_argument("--deploy", choices=["local", "team"], default="local",
                          help="team: check the database, daemon heartbeats, bucket and fonts (exit 1 on a failure)")
    p_doctor.add_argument("--bucket", help=BUCKET_HELP)
    p_doctor.add_argument("--json", action="store_true", help="one JSON document (for monitors) instead of lines")
    for name, text in DEV_COMMANDS.items():     # only for --help: main() hands these on before parsing
        commands.add_parser(name, help=f"{text} (dev tooling)")
    args = parser.parse_args(argv)
    if args.command == "build":
        code = build(args.book_id, args.bucket, own_process=own_process)
        if own_process:
            spare_the_collector()   # and what the run left: exit need not walk it again
        return code
    if args.deploy == "team":
        return doctor_team(args.bucket, as_json=args.json)
    return doctor(args.bucket, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
