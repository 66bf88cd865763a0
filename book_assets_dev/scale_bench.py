"""``book-assets bench --scale``: the issue-11 book (1,000 images) against the least any pipeline must do.

The book is the shape of a class's real upload: 100 drawings photographed by a phone (3000 × 3000
JPEGs with paper shading, sensor noise and blur, so they cost what photos cost to decode) and 900
AI variations (1024 × 1024 PNGs), every file under a random name, one book folder. It is generated
from a seed (no downloads) into a data folder that later runs reuse.

Measured in the same run, so the ratios mean something on whatever machine runs it:
- the decode floor: every file decoded once, as small as its format allows (JPEG ``draft()`` to
  ~256 px, PNG in full), on all cores;
- the work floor: the same plus one JPEG encode of every file that is not a JPEG already;
- ``book-assets build`` end to end in its own process (process start included): cold, then after
  one variation added, one replaced and one ``book.toml`` text changed;
- per build: per-step seconds from the run's step events, Dagster's own overhead (run start to end
  minus the steps), the process's start-up, peak RSS of the build process and its children;
- where the cold build spent its time: top functions from py-spy (all processes) when installed.
"""
from __future__ import annotations

import io
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from book_assets.core.stages.pairing import pairs_csv_line

from .samples import SUBJECTS, draw_subject, make_variation

BOOK_ID = "scale"
DRAWING_PX = 3000
VARIATION_PX = 1024
DRAWING_SHARE = 0.1          # 100 drawings in 1,000 images
STEPS = ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")


# --- the book -------------------------------------------------------------------------------------

def _random_name(rng: random.Random, suffix: str) -> str:
    return f"{uuid.UUID(int=rng.getrandbits(128))}{suffix}"


def _photo_like(img: Image.Image, seed: int, noise: float) -> Image.Image:
    """Sensor noise and a touch of lens blur: what makes a phone photo cost what it costs to code."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.int16)
    grain = rng.normal(0.0, noise, size=pixels.shape[:2] + (1,)).astype(np.int16)
    chroma = rng.normal(0.0, noise / 3, size=pixels.shape).astype(np.int16)
    return Image.fromarray(np.clip(pixels + grain + chroma, 0, 255).astype(np.uint8))


def _drawing_jpeg(index: int, seed: int) -> bytes:
    subjects = sorted(SUBJECTS)
    img = _photo_like(draw_subject(subjects[index % len(subjects)], DRAWING_PX, seed=seed * 1000 + index),
                      seed * 7919 + index, noise=6.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)      # what a phone camera writes
    return buf.getvalue()


def _variation_png(drawing_index: int, variation: int, seed: int) -> bytes:
    subjects = sorted(SUBJECTS)
    source = draw_subject(subjects[drawing_index % len(subjects)], VARIATION_PX, seed=seed * 1000 + drawing_index)
    img = make_variation(source, variation, seed=f"{seed}-{drawing_index}").resize((VARIATION_PX, VARIATION_PX))
    img = _photo_like(img, seed * 104729 + drawing_index * 1000 + variation, noise=4.0)   # diffusion grain
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)  # what image tools write by default
    return buf.getvalue()


def _make_file(job: tuple[str, int, int, int, Path]) -> int:
    kind, drawing_index, variation, seed, path = job
    data = _drawing_jpeg(drawing_index, seed) if kind == "drawing" else _variation_png(drawing_index, variation, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


@dataclass(frozen=True)
class ScaleBook:
    folder: Path                       # books/<id>/ of a local bucket
    drawings: tuple[str, ...]          # relative names
    variations: tuple[str, ...]
    seed: int


def scale_book_plan(images: int, seed: int) -> tuple[list[tuple[str, int, int]], list[str]]:
    """(kind, drawing index, variation index) per file, and its relative name; random, seeded names."""
    drawings = max(1, round(images * DRAWING_SHARE))
    rng = random.Random(seed)
    jobs, names = [], []
    for d in range(drawings):
        jobs.append(("drawing", d, 0))
        names.append(f"drawings/{_random_name(rng, '.jpg')}")
    for v in range(images - drawings):
        jobs.append(("variation", v % drawings, v // drawings))
        names.append(f"generated/{_random_name(rng, '.png')}")
    return jobs, names


def pairs_csv(jobs: list[tuple[str, int, int]], names: list[str]) -> str:
    """Every variation's drawing, as a class that keeps its files in order writes it. The bench measures
    speed, not pairing: its 100 drawings show 7 subjects, and by looks alone most of a subject's
    variations could belong to any of its ~14 drawings (without this file 722 of 900 were held and the
    book placed 280 pictures, not 1,000). Pairing still scores every pair's looks."""
    drawing_names = {d: name for (kind, d, _), name in zip(jobs, names) if kind == "drawing"}
    rows = [pairs_csv_line(name, drawing_names[d]) for (kind, d, _), name in zip(jobs, names) if kind == "variation"]
    return "generated,drawing\n" + "\n".join(rows) + "\n"


BOOK_TOML = 'title = "Our Class Zoo"\nauthor = "Room 4"\ndedication = "For everyone who drew."\nage_range = [4, 7]\n'


def ensure_scale_book(data_dir: Path, images: int, seed: int, workers: int, say) -> ScaleBook:
    """Generate the book into ``data_dir/<images>-<seed>/books/scale/`` unless it is there already."""
    folder = data_dir / f"{images}-{seed}" / "books" / BOOK_ID
    jobs, names = scale_book_plan(images, seed)
    missing = [(kind, d, v, seed, folder / name) for (kind, d, v), name in zip(jobs, names)
               if not (folder / name).is_file()]
    if missing:
        say(f"generating {len(missing)} of {images} images into {folder} ...")
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_make_file, missing, chunksize=4))
        say(f"  generated in {time.perf_counter() - t0:.0f} s")
    (folder / "book.toml").write_text(BOOK_TOML)
    (folder / "pairs.csv").write_text(pairs_csv(jobs, names))
    return ScaleBook(folder, tuple(n for n in names if n.startswith("drawings/")),
                     tuple(n for n in names if n.startswith("generated/")), seed)


# --- the floors -----------------------------------------------------------------------------------

def _decode(path: Path) -> Image.Image:
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (256, 256))
        img.load()
        return img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()


def _decode_only(path: Path) -> int:
    return _decode(path).width


def _decode_and_encode(path: Path) -> int:
    with Image.open(path) as img:
        is_jpeg = img.format == "JPEG"
    if is_jpeg:
        return _decode_only(path)
    buf = io.BytesIO()
    _decode(path).save(buf, "JPEG", quality=90)
    return len(buf.getvalue())


def measure_floor(paths: list[Path], work, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the worker processes) for ``work`` on every file."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, paths, chunksize=8))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)    # the pool's processes are waited for at its end
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# --- the builds -----------------------------------------------------------------------------------

@dataclass
class BuildFigures:
    label: str
    wall_s: float
    exit_code: int
    peak_rss_mb: float
    cpu_s: float = 0.0              # CPU seconds of the build process and its children: on a shared machine
                                    # it moves far less with the load than the wall time does
    run_s: float = 0.0
    steps: dict[str, float] | None = None
    output: str = ""

    @property
    def dagster_overhead_s(self) -> float:
        return self.run_s - sum((self.steps or {}).values())

    @property
    def process_s(self) -> float:
        """Outside the run: interpreter start, imports, instance and definitions loading, exit."""
        return self.wall_s - self.run_s


def run_build(label: str, bucket_root: Path, home: Path, *, profile_to: Path | None = None) -> BuildFigures:
    """``book-assets build`` in its own process, as a person runs it; its peak RSS from wait4."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "BOOK_BUCKET": str(bucket_root)}
    command = [sys.executable, "-m", "book_assets.cli", "build", BOOK_ID]
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        profiler = None
        if profile_to is not None:      # attached, so wait4 below still measures the build's own memory
            profiler = subprocess.Popen(
                [_py_spy(), "record", "--pid", str(process.pid), "--subprocesses", "--nonblocking", "--rate", "50",
                 "--format", "raw", "--output", str(profile_to)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        if profiler is not None:
            profiler.wait(timeout=120)
        log.seek(0)
        output = log.read()
    figures = BuildFigures(label, wall, process.returncode, usage.ru_maxrss / 1024.0,
                           cpu_s=usage.ru_utime + usage.ru_stime, output=output)
    _read_run(figures, home)
    return figures


def _py_spy() -> str | None:
    """py-spy on PATH or beside this interpreter (a venv's bin/ is often not on PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.is_file() else None)


def _read_run(figures: BuildFigures, home: Path) -> None:
    """Per-step seconds and the run's span from the instance the build wrote to."""
    import dagster as dg

    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)     # the instance's dagster.yaml reads its folder from it
    try:
        _read_run_from(figures, dg.DagsterInstance.from_config(str(home)))
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = saved


def _read_run_from(figures: BuildFigures, instance) -> None:
    with instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return
        run_id = runs[0].run_id
        stats = instance.get_run_stats(run_id)
        figures.run_s = (stats.end_time or 0) - (stats.launch_time or stats.start_time or 0)
        figures.steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0)
                         for s in instance.get_run_step_stats(run_id)}


def top_functions(raw_profile: Path, count: int = 15) -> list[tuple[str, float, float]]:
    """(function, self share, inclusive share) from py-spy's collapsed stacks, most self time first."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_profile.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += n
    if not total:
        return []
    return [(name, n / total, inclusive[name] / total) for name, n in own.most_common(count)]


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: one name per function, not per line."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({module})" if module else name


# --- the run --------------------------------------------------------------------------------------

def bench_scale(images: int = 1000, *, seed: int = 11, data_dir: str | None = None, profile: bool = True,
                out=None) -> int:
    out = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    cores = os.cpu_count() or 1
    data = Path(data_dir or Path(tempfile.gettempdir()) / "book_assets_scale")
    book = ensure_scale_book(data, images, seed, cores, say)
    files = sorted(p for p in book.folder.rglob("*") if p.suffix in (".jpg", ".png"))
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    say(f"book: {len(book.drawings)} drawings {DRAWING_PX}x{DRAWING_PX} JPEG + {len(book.variations)} variations "
        f"{VARIATION_PX}x{VARIATION_PX} PNG = {len(files)} files, {total_mb:.0f} MB; {cores} cores")

    t0 = time.perf_counter()
    for path in files:          # into the page cache first, so neither floor pays for the disk and the builds don't either
        with open(path, "rb") as handle:
            while handle.read(1 << 22):
                pass
    say(f"read once into the page cache in {time.perf_counter() - t0:.1f} s")
    floor_decode, decode_cpu = measure_floor(files, _decode_only, cores)
    floor_work, work_cpu = measure_floor(files, _decode_and_encode, cores)
    say(f"decode floor: {floor_decode:6.1f} s, {decode_cpu:5.1f} cpu s   (every file decoded once, JPEG draft ~256 px, "
        "PNG in full)")
    say(f"work floor:   {floor_work:6.1f} s, {work_cpu:5.1f} cpu s   (+ one JPEG encode of every non-JPEG)")

    can_profile = profile and _py_spy() is not None
    with tempfile.TemporaryDirectory(prefix="book_assets-scale-") as tmp:
        bucket_root, home = _fresh_bucket(book, Path(tmp) / "timed")
        builds = [run_build("cold", bucket_root, home)]
        folder = bucket_root / "books" / BOOK_ID
        added = f"generated/{_random_name(random.Random(seed + 1), '.png')}"
        (folder / added).write_bytes(_variation_png(0, 999, seed))
        builds.append(run_build("one variation added", bucket_root, home))
        replaced = folder / book.variations[len(book.variations) // 2]
        replaced.unlink()           # a new file, not the old one rewritten in place (the bench book is hard-linked)
        replaced.write_bytes(_variation_png(1, 998, seed))
        builds.append(run_build("one variation replaced", bucket_root, home))
        (folder / "book.toml").unlink()
        (folder / "book.toml").write_text(BOOK_TOML.replace("Our Class Zoo", "Our Class Zoo, Again"))
        builds.append(run_build("book.toml text changed", bucket_root, home))
        builds.append(run_build("nothing changed", bucket_root, home))
        report(builds, floor_decode, floor_work, say)
        if can_profile:
            # A second cold build, on its own copy: py-spy sampling every process takes a share of the
            # cores (5-15 % of the cold build's time on two), so the timed one runs without it.
            profile_file = Path(tmp) / "cold.pyspy.txt"
            profiled = run_build("cold, profiled", *_fresh_bucket(book, Path(tmp) / "profiled"), profile_to=profile_file)
            builds.append(profiled)
            if profiled.exit_code != 0:
                say(f"\n{profiled.label} exited {profiled.exit_code}:\n{profiled.output[-3000:]}")
            if not profile_file.exists():
                say("\n(no profile: py-spy wrote none)")
            else:
                say(f"\nwhere a second cold build spent its time ({profiled.wall_s:.1f} s with py-spy attached; "
                    "all processes; self / inclusive share of samples):")
                for name, own, inclusive in top_functions(profile_file):
                    say(f"  {own:6.1%} {inclusive:6.1%}  {name}")
        elif profile:
            say("\n(no profile: py-spy is not installed — pip install py-spy)")
    return 0 if all(b.exit_code == 0 for b in builds) else 1


def _fresh_bucket(book: ScaleBook, where: Path) -> tuple[Path, Path]:
    """A bucket holding the bench book (hard links: no copying) and an empty DAGSTER_HOME, under ``where``."""
    bucket_root = where / "bucket"
    shutil.copytree(book.folder, bucket_root / "books" / BOOK_ID, copy_function=os.link)
    home = where / "dagster_home"
    home.mkdir()
    return bucket_root, home


def report(builds: list[BuildFigures], floor_decode: float, floor_work: float, say) -> None:
    cold = builds[0]
    say("")
    say(f"{'build':<24} {'wall s':>7} {'x work floor':>12} {'% of cold':>9} {'run s':>6} {'dagster s':>9} "
        f"{'process s':>9} {'cpu s':>6} {'peak RSS MB':>11} {'exit':>4}")
    for b in builds:
        say(f"{b.label:<24} {b.wall_s:7.1f} {b.wall_s / floor_work:12.2f} {b.wall_s / cold.wall_s:9.1%} "
            f"{b.run_s:6.1f} {b.dagster_overhead_s:9.2f} {b.process_s:9.1f} {b.cpu_s:6.1f} {b.peak_rss_mb:11.0f} "
            f"{b.exit_code:>4}")
    say("\nper-step seconds (from the run's step events):")
    say(f"{'build':<24} " + " ".join(f"{s:>16}" for s in STEPS))
    for b in builds:
        say(f"{b.label:<24} " + " ".join(f"{(b.steps or {}).get(s, float('nan')):16.2f}" for s in STEPS))
    say(f"\ntargets: cold <= 1.5 x work floor (now {cold.wall_s / floor_work:.2f}); one change <= 5 % of cold "
        f"(now {max(b.wall_s for b in builds[1:4]) / cold.wall_s:.1%} at worst); peak RSS <= 1024 MB "
        f"(now {max(b.peak_rss_mb for b in builds):.0f}); Dagster overhead <= 1 s per run "
        f"(now {max(b.dagster_overhead_s for b in builds):.2f} at worst)")
    for b in builds:
        if b.exit_code != 0:
            say(f"\n{b.label} exited {b.exit_code}:\n{b.output[-3000:]}")


# --- the sensor over a big bucket -----------------------------------------------------------------

def bench_sensor_tick(books: int = 2000, objects_per_book: int = 50, *, out=None) -> int:
    """Ticks of the real ``books_sensor`` over ``books`` × ``objects_per_book`` small objects in a local
    bucket: the first (every book new, every file hashed once into the listing index), a second with
    nothing changed, and a third after one book changed. Target: a tick over 100,000 objects ≤ 10 s."""
    import dagster as dg

    from book_assets.defs.jobs import build_book_job
    from book_assets.defs.resources import LocalBucket
    from book_assets.defs.sensors import build_books_sensor

    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="book_assets-sensor-") as tmp, dg.instance_for_test() as instance:
        root = Path(tmp) / "bucket"
        t0 = time.perf_counter()
        for b in range(books):
            folder = root / "books" / f"book-{b:05d}"
            (folder / "drawings").mkdir(parents=True)
            (folder / "generated").mkdir()
            for n in range(objects_per_book):
                kind = "drawings" if n < objects_per_book // 10 else "generated"
                (folder / kind / f"{n:03d}.png").write_bytes(f"{b}-{n}".encode())
        print(f"sensor bucket: {books} books x {objects_per_book} objects = {books * objects_per_book} objects "
              f"(made in {time.perf_counter() - t0:.1f} s)", file=out, flush=True)
        bucket = LocalBucket(root=str(root))
        # every book requested on the first tick (the deployed sensor takes 25 a tick), so the later
        # ticks show the steady state: a big bucket where nothing or one book changed
        sensor = build_books_sensor(build_book_job, quiet_period_seconds=0, max_books_per_tick=books)
        cursor = None

        def tick(label: str) -> int:
            nonlocal cursor
            started = time.perf_counter()
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"bucket": bucket}) as context:
                result = sensor(context)
            seconds = time.perf_counter() - started
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            cursor = result.cursor
            runs = len(result.run_requests or [])
            print(f"  tick, {label:<30} {seconds:6.2f} s   runs requested: {runs}", file=out, flush=True)
            return runs

        tick("first (every book new)")
        tick("nothing changed")
        time.sleep(0.01)
        (root / "books" / f"book-{books // 2:05d}" / "generated" / "new.png").write_bytes(b"one more")
        tick("one book changed")
    return 0
