"""``book-assets demo | bench | eval-pairing | loadtest``: the dev commands, handed here by ``book_assets.cli``.

They live beside the tests, not in the product, because they need the sample book, the benchmark
and the labelled corpora; the usage is the one the README documents for ``book-assets``.
"""
from __future__ import annotations

import argparse
import sys

from book_assets.cli import BUCKET_HELP, DEV_COMMANDS, build
from book_assets.defs.resources import bucket_from_setting


def demo(bucket_setting_value: str | None = None, *, out=None) -> int:
    """Write the generated sample book into the bucket, then build it."""
    out = out or sys.stdout     # resolved per call, so a redirected stdout (tests, capture) is honoured
    from .samples import SAMPLE_BOOK_ID, write_sample_book

    bucket = bucket_from_setting(bucket_setting_value)
    keys = write_sample_book(bucket)
    print(f"Wrote the sample book ({len(keys)} files) to {bucket.url(f'books/{SAMPLE_BOOK_ID}')}", file=out)
    return build(SAMPLE_BOOK_ID, bucket_setting_value, out=out)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "faults":       # its own options (book_assets_dev.faults)
        from .faults import main as faults_main

        return faults_main(argv[1:])
    parser = argparse.ArgumentParser(prog="book-assets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_demo = commands.add_parser("demo", help=DEV_COMMANDS["demo"])
    p_demo.add_argument("--bucket", help=BUCKET_HELP)
    p_bench = commands.add_parser("bench", help=DEV_COMMANDS["bench"])
    p_bench.add_argument("--drawings", type=int, default=12)
    p_bench.add_argument("--variations", type=int, default=10)
    p_bench.add_argument("--workers", type=int, default=2, help="validation threads")
    p_bench.add_argument("--scale", action="store_true",
                         help="the issue-11 book (100 3000 px JPEG drawings + 900 1024 px PNG variations): floors, "
                              "cold build, one-change rebuilds, per-step seconds, RSS, profile")
    p_bench.add_argument("--images", type=int, default=1000, help="with --scale: images in the book (default 1000)")
    p_bench.add_argument("--seed", type=int, default=11, help="with --scale: the generator's seed")
    p_bench.add_argument("--data", help="with --scale: where the generated book is kept between runs "
                                        "(default: $TMPDIR/book_assets_scale)")
    p_bench.add_argument("--no-profile", action="store_true", help="with --scale: skip the py-spy profile")
    p_bench.add_argument("--sensor-tick", action="store_true",
                         help="time books_sensor ticks over 100,000 objects in 2,000 books on a local bucket")
    p_eval = commands.add_parser("eval-pairing", help=DEV_COMMANDS["eval-pairing"])
    p_eval.add_argument("--quick", action="store_true", help="a small corpus (seconds, for smoke tests)")
    p_eval.add_argument("--seed", type=int, default=1, help="corpus seed (default 1; the model was fitted on 2)")
    p_eval.add_argument("--json", metavar="PATH", help="also write every outcome and figure as JSON")
    from .pairing_eval import add_corpus_arguments

    add_corpus_arguments(p_eval)   # --corpus generated|photos|both, --split fit|eval
    p_eval.add_argument("--fit", action="store_true",
                        help="fit the look model on the fit corpora instead, compare it with the committed one "
                             "(exit 1 when it differs) and, with --write, replace core/look_model.json")
    p_eval.add_argument("--write", action="store_true", help="with --fit: write the fitted model")
    p_load = commands.add_parser("loadtest", help=DEV_COMMANDS["loadtest"])
    p_load.add_argument("--books", type=int, default=200, help="small books uploaded at once (default 200)")
    p_load.add_argument("--backend", choices=["local", "gcs"], action="append",
                        help="local folder and/or emulated GCS with Pub/Sub notifications (default: both)")
    p_load.add_argument("--big-objects", type=int, default=100_000,
                        help="objects in the big local bucket whose listing tick is timed (0: skip)")
    p_load.add_argument("--big-books", type=int, default=2000, help="books those objects are spread over")
    p_load.add_argument("--no-build", action="store_true", help="upload and time the sensor ticks only (no daemon)")
    args = parser.parse_args(argv)
    if args.command == "loadtest":
        from .loadtest import loadtest

        return loadtest(args.books, tuple(args.backend or ("local", "gcs")), args.big_objects, args.big_books,
                        build=not args.no_build)
    if args.command == "eval-pairing" and args.fit:
        from .pairing_fit import run_fit

        return run_fit(write=args.write, out=sys.stdout, say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.command == "eval-pairing":
        from .pairing_eval import run as run_pairing_eval

        return run_pairing_eval(args)
    if args.command == "demo":
        return demo(args.bucket)
    if args.sensor_tick:
        from .scale_bench import bench_sensor_tick

        return bench_sensor_tick()
    if args.scale:
        from .scale_bench import bench_scale

        return bench_scale(args.images, seed=args.seed, data_dir=args.data, profile=not args.no_profile)
    from .benchmark import bench

    return bench(args.drawings, args.variations, args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
