"""`book-assets loadtest` at a small scale, so the command cannot rot: real daemon, real queue, both backends."""
from __future__ import annotations

import pytest

from book_assets_dev.cli import main as dev_main

pytestmark = pytest.mark.integration


def test_loadtest_builds_every_book_exactly_once_on_both_backends_and_prints_its_figures(capsys):
    code = dev_main(["loadtest", "--books", "3", "--big-objects", "300", "--big-books", "6"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for backend in ("local", "gcs"):
        assert f"[{backend}] published 3/3; failed runs 0; duplicates 0" in printed
        assert f"[{backend}] built 3/3 books in " in printed and "books/min" in printed
        assert f"[{backend}]   tick books_sensor first ({backend}):" in printed
    assert "[gcs]   tick books_pubsub_sensor:" in printed and "9 notifications, 3 runs requested" in printed
    assert "[big] tick books_sensor steady (local, big):" in printed and "over 300 objects in 6 books" in printed
    assert "[big] tick books_sensor all books in one tick (local, big):" in printed and "6 runs requested" in printed
    assert printed.rstrip().endswith("OK: every book published exactly once.")


def test_a_duplicate_publication_fails_the_loadtest():
    from book_assets_dev.loadtest import BackendFigures, LoadReport, format_report

    figures = BackendFigures("local", books=2, objects=6, upload_seconds=0.1, wall_seconds=60.0, published=2)
    figures.runs_per_book.update({"a": 1, "b": 2})
    figures.materializations_per_book.update({"a": 1, "b": 2})
    report = LoadReport([figures], big=[])
    assert figures.duplicates == 2 and not report.ok
    lines = format_report(report)
    assert "[local] published 2/2; failed runs 0; duplicates 2" in lines and lines[-1].startswith("FAILED")
    assert "[local] built 2/2 books in 1.0 min: 2.0 books/min" in lines
