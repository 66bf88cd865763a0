"""The scale bench's book: its pairs.csv names every variation's drawing, so the bench times a book
that places all its pictures (its 100 drawings show only 7 subjects: looks alone hold most back)."""
from book_assets.core.pairing import parse_overrides
from book_assets_dev.scale_bench import pairs_csv, scale_book_plan


def test_the_bench_books_pairs_csv_gives_every_variation_its_own_drawing_and_reads_back_without_problems():
    jobs, names = scale_book_plan(60, seed=5)
    prefix = "books/scale/"
    overrides, problems = parse_overrides(pairs_csv(jobs, names), prefix, [prefix + name for name in names])
    assert problems == []
    drawing_of_index = {d: prefix + name for (kind, d, _), name in zip(jobs, names) if kind == "drawing"}
    expected = {prefix + name: drawing_of_index[d] for (kind, d, _), name in zip(jobs, names) if kind == "variation"}
    assert len(expected) == 54 and overrides == expected
