"""`book-assets build` against a persistent instance: exit codes a script can rely on."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from book_assets import cli
from book_assets.core.editions import read_current

from .support import upload

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_build_publishes_and_records_history(dagster_home, bucket, small_book_files):
    upload(bucket, "cli-book", small_book_files)
    out = io.StringIO()
    assert cli.build("cli-book", bucket.root, out=out) == 0
    printed = out.getvalue()
    current = read_current(bucket, "cli-book")
    assert f"Edition {current.edition} is now current: {bucket.root}/published/cli-book/current.json" in printed
    assert f"Book: {bucket.root}/{current.files['book.pdf']}" in printed
    assert f"Preview in a browser: {bucket.root}/published/cli-book/editions/{current.edition}/preview.html" in printed
    assert "check ok   book.pdf_preflight" in printed
    assert (dagster_home / "dagster.yaml").exists()
    status = json.loads(bucket.read_bytes("published/cli-book/status.json"))
    assert status["published"] is True and status["problems"] == [] and status["edition"] == current.edition
    with dg.DagsterInstance.get() as instance:      # the run is in the persistent instance (the UI's)
        assert instance.get_dynamic_partitions("books") == ["cli-book"]
        records = instance.fetch_materializations(dg.AssetKey("book"), limit=5).records
        assert [r.partition_key for r in records] == ["cli-book"]


@pytest.mark.parametrize("book_id,expected", [("No Such Book!", "not allowed"), ("missing-book", "no book folder")])
def test_build_refuses_bad_or_missing_books(dagster_home, bucket, book_id, expected):
    out = io.StringIO()
    assert cli.build(book_id, bucket.root, out=out) == 2
    assert expected in out.getvalue().lower()


def test_build_exits_nonzero_when_the_book_is_blocked(dagster_home, bucket, small_book_files):
    from PIL import Image

    files = dict(small_book_files)
    tiny = io.BytesIO()
    Image.new("RGB", (200, 200), (200, 80, 80)).save(tiny, "JPEG")
    files["drawings/postage_stamp.jpg"] = tiny.getvalue()
    upload(bucket, "blocked-book", files)
    out = io.StringIO()
    assert cli.build("blocked-book", bucket.root, out=out) == 1
    assert "FAIL page_layouts.images_at_minimum_ppi" in out.getvalue()
    assert "not published" in out.getvalue()
    status = json.loads(bucket.read_bytes("published/blocked-book/status.json"))   # written by the failure hook
    assert status["published"] is False and "page_layouts" in status["problems"][0]
    assert "earlier upload" in status["message"]


def test_bench_prints_the_figures_of_both_builds(tmp_path):
    from book_assets_dev.benchmark import STAGES, bench

    out = io.StringIO()
    assert bench(drawings=2, variations=4, out=out) == 0
    printed = out.getvalue()
    assert "first build (cold cache)" in printed and "second build (warm cache)" in printed
    assert printed.count("peak RSS") == 2
    for stage in STAGES:
        assert printed.count(f"  {stage} ") == 2
    assert "decoded=10, cache_hits=0" in printed and "decoded=0, cache_hits=10" in printed


def test_the_product_never_imports_the_dev_tooling():
    """book_assets_dev is dev tooling beside the tests: loading the code location or the CLI must not pull it in."""
    code = ("import sys, book_assets, book_assets.cli, book_assets.definitions; book_assets.definitions.book_definitions(); "
            "print(sorted(m for m in sys.modules if m.startswith('book_assets_dev')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["demo", "bench", "eval-pairing"])
def test_dev_commands_say_where_to_get_them_when_the_dev_package_is_missing(monkeypatch, capsys, command):
    monkeypatch.setitem(sys.modules, "book_assets_dev", None)      # as in an install without book_assets_dev
    monkeypatch.delitem(sys.modules, "book_assets_dev.cli", raising=False)
    assert cli.main([command]) == 2
    assert capsys.readouterr().err == (
        f"book-assets {command} is dev tooling: install from a clone with `pip install -e .`\n")


def test_build_exits_3_when_the_pipeline_or_the_bucket_fails(dagster_home, bucket, small_book_files, monkeypatch):
    """Exit 1 means "the book was refused"; a bug or an outage is 3, with one line and no traceback."""
    from book_assets.defs.resources import LocalBucket

    class BuggyBucket(LocalBucket):
        def read_bytes(self, key: str) -> bytes:
            if key.endswith("book.toml"):
                raise KeyError("profile")
            return super().read_bytes(key)

    upload(bucket, "buggy", {**small_book_files, "book.toml": b'title = "Buggy"\n'})
    monkeypatch.setattr(cli, "bucket_from_setting", lambda setting=None: BuggyBucket(root=bucket.root))
    out = io.StringIO()
    assert cli.build("buggy", bucket.root, out=out) == cli.EXIT_FAILED
    assert "the pipeline failed" in out.getvalue()

    class DeadBucket(LocalBucket):
        def list_objects(self, prefix: str, *, with_hash: bool = True):
            raise ConnectionError("503 Service Unavailable")

    monkeypatch.setattr(cli, "bucket_from_setting", lambda setting=None: DeadBucket(root=bucket.root))
    out = io.StringIO()
    assert cli.build("buggy", bucket.root, out=out) == cli.EXIT_FAILED
    assert out.getvalue().strip().count("\n") == 0 and "could not be listed: ConnectionError: 503" in out.getvalue()


def test_builds_starting_together_on_a_new_dagster_home_share_it(tmp_path):
    """Six processes open a DAGSTER_HOME that does not exist yet at the same moment (as two first
    builds would): without the lock, most of them failed creating its databases."""
    home = tmp_path / "new_home"
    code = "import sys; from book_assets import cli; cli.open_instance(sys.argv[1]).dispose(); print('ok')"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    processes = [subprocess.Popen([sys.executable, "-c", code, f"book-{n}"], cwd=PROJECT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(6)]
    outcomes = [process.communicate(timeout=300) for process in processes]
    assert [out.strip() for out, _ in outcomes] == ["ok"] * 6, [err[-500:] for _, err in outcomes]
    import dagster as dg

    with dg.instance_for_test(temp_dir=str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("books")) == [f"book-{n}" for n in range(6)]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_build_and_status_json_says_so(tmp_path, signal_number):
    """Started as a script would start it; stopped while it validates (once the first print copy
    is cached): exit 130, and status.json says this upload was not made into a book."""
    from book_assets.defs.resources import LocalBucket
    from book_assets_dev.samples import write_sample_book

    bucket = LocalBucket(root=str(tmp_path / "bucket"))
    write_sample_book(bucket)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "BOOK_BUCKET": bucket.root}
    build = subprocess.Popen([str(Path(sys.executable).parent / "book-assets"), "build", "max-and-friends"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not bucket.list_objects("_book_assets/cache/"):
        assert build.poll() is None and time.monotonic() < deadline, "the build ended before validating"
        time.sleep(0.05)
    build.send_signal(signal_number)
    out, _ = build.communicate(timeout=60)
    assert build.returncode == cli.EXIT_INTERRUPTED, out
    assert "stopped before the book was published" in out
    status = json.loads(bucket.read_bytes("published/max-and-friends/status.json"))
    assert status["published"] is False
    assert any("stopped (Ctrl-C or SIGTERM)" in problem for problem in status["problems"]), status
