"""The scale bench's book: its pairs.csv names every variation's drawing, so the bench times a book
that places all its pictures (its 100 drawings show only 7 subjects: looks alone hold most back)."""
from book_assets.core.pairs_csv import parse_overrides
from book_assets_dev.scale_bench import pairs_csv, scale_book_plan


def test_the_bench_books_pairs_csv_gives_every_variation_its_own_drawing_and_reads_back_without_problems():
    jobs, names = scale_book_plan(60, seed=5)
    prefix = "books/scale/"
    overrides, problems = parse_overrides(pairs_csv(jobs, names), prefix, [prefix + name for name in names])
    assert problems == []
    drawing_of_index = {d: prefix + name for (kind, d, _), name in zip(jobs, names) if kind == "drawing"}
    expected = {prefix + name: drawing_of_index[d] for (kind, d, _), name in zip(jobs, names) if kind == "variation"}
    assert len(expected) == 54 and overrides == expected


def test_the_scale_bench_runs_every_build_and_prints_its_figures(tmp_path):
    """`bench --scale` at 20 pictures, so the command cannot rot: five builds in their own processes, each
    with its figures and per-step seconds, and the targets line (profile off: py-spy is a bench extra)."""
    import io

    from book_assets_dev.scale_bench import bench_scale

    out = io.StringIO()
    assert bench_scale(20, data_dir=str(tmp_path / "data"), profile=False, out=out) == 0
    lines = out.getvalue().splitlines()
    labels = ["cold", "one variation added", "one variation replaced", "book.toml text changed", "nothing changed"]
    rows = [line for line in lines if any(line.startswith(f"{label} ") for label in labels)]
    assert len(rows) == 2 * len(labels), rows             # the figures table and the per-step table
    for row in rows[:len(labels)]:
        assert row.split()[-1] == "0" and float(row.split()[-2]) > 0      # exit 0, a peak RSS measured
    steps = rows[len(labels):]
    assert all(len(row.split()) >= 5 and "nan" not in row for row in steps), steps
    assert any(line.startswith("work floor:") for line in lines) and any(line.startswith("targets:") for line in lines)
