"""``book-assets bench``: build a generated book of a chosen size and print what it cost.

Speed and memory targets live here, as printed figures, not in timed unit tests. The book is made
by ``samples`` (no downloads), built twice through the real Dagster machinery on a temporary local
bucket and instance — the second build shows what the content-hash cache saves.
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from .samples import SUBJECTS, SampleDrawing, sample_book_files, upload_book

STAGES = ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")
STAGE_FIGURES = {
    "raw_images": ("listing_ms", "objects"),
    "validated_images": ("validation_ms", "decoded", "cache_hits", "decode_ms_mean"),
    "image_pairs": ("pairing_ms", "pairs", "low_confidence"),
    "page_layouts": ("layout_ms", "pages", "min_ppi"),
    "book": ("render_ms", "thumbnails_ms", "pdf_mb"),
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(drawings: int = 12, variations: int = 10, workers: int = 2, *, out=None) -> int:
    out = out or sys.stdout     # resolved per call, so a redirected stdout (tests, capture) is honoured
    import dagster as dg

    from book_assets.definitions import build_book_run
    from book_assets.defs.resources import LocalBucket

    subjects = sorted(SUBJECTS)
    specs = tuple(SampleDrawing(f"kid{i:03d}", subjects[i % len(subjects)], variations, "random")
                  for i in range(drawings))
    started = time.perf_counter()
    files = sample_book_files(specs, include_bad=False, include_config=False)
    generated_s = time.perf_counter() - started
    total_mb = sum(len(v) for v in files.values()) / 1e6
    print(f"book: {drawings} drawings x {variations} variations = {len(files)} files, {total_mb:.1f} MB "
          f"(generated in {generated_s:.1f} s)", file=out)
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        bucket = LocalBucket(root=str(Path(tmp) / "bucket"))
        upload_book(bucket, "bench", files)
        instance.add_dynamic_partitions("books", ["bench"])
        run_config = {"ops": {"validated_images": {"config": {"workers": workers}}}}
        for label in ("first build (cold cache)", "second build (warm cache)"):
            t0 = time.perf_counter()
            result = build_book_run(instance, "bench", bucket, log_level="ERROR", run_config=run_config)
            assert result.success, f"the benchmark book failed to build ({label})"
            wall = time.perf_counter() - t0
            steps = {s.step_key: s for s in instance.get_run_step_stats(result.run_id)}
            print(f"\n{label}: {wall:.2f} s wall, peak RSS {_peak_rss_mb():.0f} MB", file=out)
            for stage in STAGES:
                meta = result.asset_materializations_for_node(stage)[-1].metadata
                step = steps[stage]
                figures = ", ".join(f"{k}={meta[k].value}" for k in STAGE_FIGURES[stage] if k in meta)
                print(f"  {stage:<17} {step.end_time - step.start_time:7.2f} s   {figures}", file=out)
    return 0
