"""Any machine that reaches the bucket can run any step: `book` alone, in a fresh process with a
fresh DAGSTER_HOME, reads the manifests an earlier run left in the bucket. And only transient
failures are retried: a bug fails at once, a dropped connection is tried again."""
from __future__ import annotations

import os

import dagster as dg
import pytest

from book_assets.defs.resources import LocalBucket

from .support import build, published, run_steps_elsewhere, upload

pytestmark = pytest.mark.integration

def _run_book_alone(root: str, book_id: str, home) -> str:
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return run_steps_elsewhere(root, book_id, ["book"], env={"DAGSTER_HOME": str(home)})


def test_book_runs_alone_in_a_fresh_process_from_the_manifests_in_the_bucket(bucket, instance, small_book_files,
                                                                            tmp_path):
    upload(bucket, "elsewhere", small_book_files)
    first = build(bucket, instance, "elsewhere")
    assert first.success
    bucket.delete("published/elsewhere/current.json")      # unpublished: nothing current

    out = _run_book_alone(bucket.root, "elsewhere", tmp_path / "fresh_home")
    assert "steps book\n" in out and "published True" in out, out
    assert bucket.exists(published(bucket, "elsewhere", "book.pdf"))
    assert not (tmp_path / "fresh_home" / "storage" / "page_layouts").exists()

    for manifest in bucket.list_objects("_book_assets/manifests/elsewhere/", with_hash=False):
        if manifest.key.endswith("/page_layouts.json"):
            bucket.delete(manifest.key)
    missing = _run_book_alone(bucket.root, "elsewhere", tmp_path / "another_home")
    assert "Failure: The page_layouts manifest" in missing and "does not exist: materialize page_layouts" in missing


class _BuggyBucket(LocalBucket):
    """A bucket whose reads of book.toml hit a bug (a KeyError) — deterministic, every time."""

    def read_bytes(self, key: str) -> bytes:
        if key.endswith("book.toml"):
            raise KeyError("profile")
        return super().read_bytes(key)


class _FlakyBucket(LocalBucket):
    """A bucket whose first read of book.toml drops the connection — transient, once."""

    def read_bytes(self, key: str) -> bytes:
        if key.endswith("book.toml") and not os.path.exists(self.root + "/.dropped"):
            open(self.root + "/.dropped", "w").close()
            raise ConnectionResetError("connection reset by peer")
        return super().read_bytes(key)


def _retries(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_a_deterministic_failure_is_not_retried(tmp_path, instance, small_book_files):
    bucket = _BuggyBucket(root=str(tmp_path / "bucket"))
    upload(bucket, "buggy", {**small_book_files, "book.toml": b'title = "Buggy"\n'})
    result = build(bucket, instance, "buggy", raise_on_error=False)
    assert not result.success and _retries(result) == []
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "page_layouts"
    assert "KeyError: 'profile' (not retried" in failure.event_specific_data.error.message


def test_a_transient_failure_is_retried_and_the_book_is_built(tmp_path, instance, small_book_files):
    bucket = _FlakyBucket(root=str(tmp_path / "bucket"))
    upload(bucket, "flaky", {**small_book_files, "book.toml": b'title = "Flaky"\n'})
    result = build(bucket, instance, "flaky", raise_on_error=False)
    assert result.success and _retries(result) == ["page_layouts"]
    assert result.output_for_node("book").published
