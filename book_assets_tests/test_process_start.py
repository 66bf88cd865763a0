"""What a `book-assets build` process pays before and after its run: checked in fresh interpreters."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration      # the CLI in fresh interpreters

PROJECT = Path(__file__).resolve().parent.parent


def run_python(code: str, tmp_path: Path) -> dict:
    """``code`` in a fresh interpreter (DAGSTER_HOME and the bucket under tmp_path); its last line as JSON."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_command_line_freezes_what_lives_until_exit_and_a_call_from_code_does_not(tmp_path):
    (tmp_path / "bucket").mkdir()
    command_line = f"""
import gc, json, sys
sys.argv = ["book-assets", "build", "no-such-book", "--bucket", {str(tmp_path / "bucket")!r}]
from book_assets.cli import main
code = main()
print(json.dumps({{"code": code, "frozen": gc.get_freeze_count()}}))
"""
    from_code = command_line.replace("code = main()", "code = main(sys.argv[1:])")
    as_command = run_python(command_line, tmp_path)
    assert as_command["code"] == 2 and as_command["frozen"] > 10_000     # the imported libraries, frozen
    as_call = run_python(from_code, tmp_path)
    assert as_call == {"code": 2, "frozen": 0}          # a test or a script calling main() keeps its collector


def test_a_build_from_the_command_line_never_imports_pandas(tmp_path):
    """The whole build of the sample book in a fresh interpreter, as `book-assets build` runs it: the
    tables in its metadata are plain rows, so pandas (and pyarrow, which pandas imports) cost it nothing."""
    from book_assets.defs.resources import LocalBucket
    from book_assets_dev.samples import write_sample_book

    bucket = LocalBucket(root=str(tmp_path / "bucket"))
    write_sample_book(bucket)
    result = run_python(f"""
import gc, json, sys
sys.argv = ["book-assets", "build", "max-and-friends", "--bucket", {bucket.root!r}]
from book_assets.cli import main
code = main()
print(json.dumps({{"code": code, "pandas": "pandas" in sys.modules, "pyarrow": "pyarrow" in sys.modules}}))
""", tmp_path)
    assert result == {"code": 0, "pandas": False, "pyarrow": False}


def test_a_latin_book_never_loads_the_script_fonts(tmp_path):
    result = run_python("""
import json
from reportlab.pdfbase import pdfmetrics
from book_assets.core.layout import BookContent, ImageSource, SpreadContent, layout_book
from book_assets.core.layout_checks import check_layout
drawing = ImageSource("books/b/drawings/max.png", "cache/max.jpg", 2400, 1800)
variation = ImageSource("books/b/generated/max-1.png", "cache/max-1.jpg", 1024, 1024)
book = layout_book(BookContent("Max", "Mia", "", [SpreadContent(drawing, "Max eats blue pancakes.", [variation], "Max")]))
problems = check_layout(book)
print(json.dumps({"fonts": sorted(pdfmetrics.getRegisteredFontNames()), "problems": len(problems)}))
""", tmp_path)
    assert "BookSans" in result["fonts"]
    assert not [name for name in result["fonts"] if name.startswith("BookScript")]
