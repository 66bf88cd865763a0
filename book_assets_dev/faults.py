"""``book-assets faults``: build a book on the GCS emulator behind the fault proxy and measure it.

For each rate (0 first, the fault-free baseline through the proxy, then e.g. 0.2 and 0.4) it seeds
a fresh emulated bucket with the same book, builds it through ``fault_proxy`` with that share of
requests failing (429, 503, resets, stalls, lost upload responses), and then — talking to the
emulator directly, past the proxy — checks that the book was published once and intact: one
current edition, every file it names present with the md5 the bucket lists for it, the PDF opening
with the pages the thumbnails show, ``report.json`` describing this very PDF, and the same set of
file names as the fault-free build. It prints the time and the ratio to the fault-free time per rate
(targets from issue 12: ≤ 3× at 20 %, ≤ 6× at 40 %). Figures, not assertions: exit 1 only when a
published set is not intact or a build failed.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .fault_proxy import FaultPlan, running_fault_proxy
from .gcs_emulator import EMULATOR_ENV_VAR, running_emulator

BOOK_ID = "flaky-book"


# The Bucket operations the pipeline calls (what a step waits on), timed in the client.
BUCKET_OPERATIONS = ("list_objects", "read_bytes", "local_path", "read_versioned", "exists", "size", "write_bytes",
                     "write_file", "write_bytes_if_version", "delete")


@dataclass
class OperationTimes:
    """One bucket operation's calls in one build: how many, their total and slowest seconds."""

    calls: int = 0
    seconds: float = 0.0
    slowest: float = 0.0


class BucketTimes:
    """Per operation, every call's time (thread-safe: the book step calls the bucket from pools)."""

    def __init__(self):
        self.by_operation: dict[str, OperationTimes] = defaultdict(OperationTimes)
        self._lock = threading.Lock()

    def record(self, operation: str, seconds: float) -> None:
        with self._lock:
            figures = self.by_operation[operation]
            figures.calls += 1
            figures.seconds += seconds
            figures.slowest = max(figures.slowest, seconds)


def timed_bucket(bucket, times: BucketTimes):
    """``bucket`` (same class and settings) with every call of ``BUCKET_OPERATIONS`` timed into ``times``
    (a closure, not a field: Dagster may copy a resource, the closure goes with the class)."""
    base = type(bucket)

    def timing(operation: str):
        plain = getattr(base, operation)

        def call(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return plain(self, *args, **kwargs)
            finally:
                times.record(operation, time.perf_counter() - started)
        return call

    @contextlib.contextmanager
    def local_path(self, key):
        started = time.perf_counter()
        with base.local_path(self, key) as path:
            times.record("local_path", time.perf_counter() - started)     # the download, not the caller's use
            yield path

    methods = {name: timing(name) for name in BUCKET_OPERATIONS if name != "local_path"}
    timed = type(f"Timed{base.__name__}", (base,), {**methods, "local_path": local_path})
    return timed(**{name: getattr(bucket, name) for name in base.model_fields})


def request_kind(request: str) -> str:
    """What a Cloud Storage JSON-API request does, from ``METHOD /path?query``."""
    method, _, path = request.partition(" ")
    if "/upload/" in path:
        return "upload"
    if method == "DELETE":
        return "delete"
    if "alt=media" in path or path.startswith("/download/"):
        return "download"
    if re.search(r"/b/[^/]+/o(\?|$)", path):
        return "list"
    return "metadata" if "/o/" in path else "bucket"


@dataclass
class FaultRun:
    """One build through the proxy and what the check of its published set found."""

    rate: float
    seconds: float
    success: bool
    names: list[str]                      # the current edition's files, relative to the edition
    problems: list[str] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)
    requests: int = 0                     # through the proxy, retries included
    editions: int = 0
    steps: dict[str, float] = field(default_factory=dict)          # step → seconds (all its attempts)
    step_attempts: dict[str, int] = field(default_factory=dict)
    operations: dict[str, OperationTimes] = field(default_factory=dict)   # bucket operation → times
    requests_by_kind: dict[str, Counter] = field(default_factory=dict)  # request kind → {fault or "ok": n}

    @property
    def intact(self) -> bool:
        return self.success and not self.problems


def published_set_problems(bucket, book_id: str) -> tuple[list[str], list[str], int]:
    """(what is wrong with the published set, the current edition's file names, editions present)."""
    from PIL import Image
    from pypdf import PdfReader

    from book_assets.core.editions import editions_prefix, read_current

    current = read_current(bucket, book_id)
    if current is None:
        return ["current.json names no edition"], [], 0
    listed = {o.key: o for o in bucket.list_objects(f"published/{book_id}/")}
    editions = {k[len(editions_prefix(book_id)):].split("/", 1)[0] for k in listed if k.startswith(editions_prefix(book_id))}
    problems, names = [], sorted(key.split(f"/{current.edition}/", 1)[1] for key in current.files.values())
    contents = {}
    for name, key in current.files.items():
        if key not in listed:
            problems.append(f"{name}: missing")
            continue
        data = contents[name] = bucket.read_bytes(key)
        if listed[key].content_hash != "md5:" + hashlib.md5(data).hexdigest():
            problems.append(f"{name}: its bytes do not match the md5 the bucket lists")
        if name.endswith(".png"):
            try:
                with Image.open(io.BytesIO(data)) as picture:
                    picture.verify()
            except Exception as error:  # noqa: BLE001 - any failure to open is the finding
                problems.append(f"{name}: not a whole PNG ({error})")
    if "book.pdf" in contents and "report.json" in contents:
        pages = len(PdfReader(io.BytesIO(contents["book.pdf"])).pages)
        if pages != sum(name.startswith("pages/") for name in current.files):
            problems.append(f"book.pdf has {pages} pages, the edition has another number of thumbnails")
        if json.loads(contents["report.json"])["metrics"]["pdf_bytes"] != len(contents["book.pdf"]):
            problems.append("report.json describes another book.pdf")
    return problems, names, len(editions)


def fault_run(emulator, files: dict[str, bytes], rate: float, *, seed: int, stall_seconds: tuple[float, float],
              bucket_settings: dict | None = None) -> FaultRun:
    """Seed a fresh bucket with ``files``, build it through the proxy at ``rate``, check what was published."""
    import dagster as dg

    from book_assets.defs.partitions import books_partitions
    from book_assets.defs.resources import GCSBucket
    from book_assets.definitions import build_book_run

    from .samples import upload_book

    name = f"faults-{int(rate * 100)}-{seed}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    emulator.create_bucket(name)
    os.environ[EMULATOR_ENV_VAR] = emulator.url
    direct = GCSBucket(bucket=name)
    upload_book(direct, BOOK_ID, files)
    plan = FaultPlan(rate=rate, seed=seed, stall_seconds=stall_seconds)
    times = BucketTimes()
    with running_fault_proxy(emulator.url, plan) as proxy, dg.instance_for_test() as instance:
        os.environ[EMULATOR_ENV_VAR] = proxy             # clients are made lazily, so this one goes through it
        flaky = timed_bucket(GCSBucket(bucket=name, **(bucket_settings or {})), times)
        instance.add_dynamic_partitions(books_partitions.name, [BOOK_ID])
        started = time.perf_counter()
        result = build_book_run(instance, BOOK_ID, flaky)
        seconds = time.perf_counter() - started
        os.environ[EMULATOR_ENV_VAR] = emulator.url
        success = result.success and result.output_for_node("book").published
        stats = instance.get_run_step_stats(result.run_id)
    problems, names, editions = published_set_problems(GCSBucket(bucket=name), BOOK_ID)
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for request, fault in zip(plan.paths, plan.drawn):
        by_kind[request_kind(request)][fault.value if fault else "ok"] += 1
    return FaultRun(rate, seconds, bool(success), names, problems, {f.value: n for f, n in plan.injected.items()},
                    plan.requests, editions,
                    steps={s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats},
                    step_attempts={s.step_key: s.attempts for s in stats},
                    operations=dict(times.by_operation), requests_by_kind=dict(by_kind))


def run_faults(rates: list[float], *, seed: int = 1, stall_seconds: tuple[float, float] = (5.0, 40.0),
               small: bool = False, out=None) -> tuple[int, list[FaultRun]]:
    """The fault-free baseline and one build per rate; prints a table, returns (exit code, runs)."""
    from .samples import SampleDrawing, sample_book_files

    out = out or sys.stdout
    files = (sample_book_files((SampleDrawing("max", "monster", 3, "helpful"), SampleDrawing("zoom", "rocket", 5, "random")),
                               include_bad=False, include_config=False) if small else sample_book_files())
    previous = os.environ.get(EMULATOR_ENV_VAR)
    runs = []
    try:
        with running_emulator() as emulator:
            for rate in [0.0, *[r for r in rates if r > 0]]:
                runs.append(fault_run(emulator, files, rate, seed=seed, stall_seconds=stall_seconds))
                print(f"  {rate:.0%} faults: {runs[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        if previous is None:
            os.environ.pop(EMULATOR_ENV_VAR, None)
        else:
            os.environ[EMULATOR_ENV_VAR] = previous
    base = runs[0]
    print(f"{len(files)} files, seed {seed}, stalls {stall_seconds[0]:g}–{stall_seconds[1]:g} s", file=out)
    print(f"{'faults':>6} {'time':>8} {'ratio':>6} {'requests':>8} {'editions':>8}  intact  injected", file=out)
    for run in runs:
        same = run.names == base.names
        verdict = "yes" if run.intact and same else "NO"
        injected = ", ".join(f"{k} {v}" for k, v in sorted(run.injected.items())) or "—"
        print(f"{run.rate:>6.0%} {run.seconds:>7.1f}s {run.seconds / base.seconds:>5.1f}× {run.requests:>8} "
              f"{run.editions:>8}  {verdict:<6}  {injected}", file=out)
        for problem in run.problems + ([] if same else ["its files differ from the fault-free build's"]):
            print(f"       {problem}", file=out)
    print_where_the_time_went(runs, out)
    return (0 if all(r.intact and r.names == base.names for r in runs) else 1), runs


def print_where_the_time_went(runs: list[FaultRun], out) -> None:
    """Per step (from the run's step events) and per bucket operation (timed in the client), each rate
    beside the fault-free build; then the requests the proxy saw per kind and what it did to them."""
    rates = "".join(f"{run.rate:>16.0%}" for run in runs)
    print(f"\nseconds per step (attempts){rates}", file=out)
    for step in runs[0].steps:
        cells = "".join(f"{run.steps.get(step, float('nan')):>12.1f} ({run.step_attempts.get(step, 0)})" for run in runs)
        print(f"  {step:<25}{cells}", file=out)
    print(f"\nbucket operations: calls / seconds / slowest{rates}", file=out)
    for operation in BUCKET_OPERATIONS:
        if not any(operation in run.operations for run in runs):
            continue
        cells = "".join(f"{op.calls:>5} {op.seconds:>5.0f} {op.slowest:>4.0f}" for op in
                        (run.operations.get(operation, OperationTimes()) for run in runs))
        print(f"  {operation:<25}{cells}", file=out)
    print("\nrequests through the proxy, per kind: total (faults injected)", file=out)
    for run in runs[1:]:
        kinds = ", ".join(f"{kind} {sum(counts.values())} ({sum(counts.values()) - counts['ok']})"
                          for kind, counts in sorted(run.requests_by_kind.items()))
        print(f"  {run.rate:.0%}: {kinds}", file=out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="book-assets faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, action="append",
                        help="share of requests that fail (repeatable; default 0.2 and 0.4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stall", type=float, nargs=2, default=(5.0, 40.0), metavar=("MIN", "MAX"),
                        help="how long a stall lasts, in seconds (default 5 40)")
    parser.add_argument("--small", action="store_true", help="a two-drawing book instead of the sample book")
    args = parser.parse_args(argv)
    code, _ = run_faults(args.rate or [0.2, 0.4], seed=args.seed, stall_seconds=tuple(args.stall), small=args.small)
    return code
