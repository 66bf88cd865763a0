"""Shared fixtures: a real local bucket, a real (temporary) Dagster instance, the sample book."""
from __future__ import annotations

import dagster as dg
import pytest

from book_assets.resources import LocalBucket
from book_assets.samples import SampleDrawing, sample_book_files


@pytest.fixture(scope="session")
def sample_files() -> dict[str, bytes]:
    """The full sample book (generated once per test session; ~9 s)."""
    return sample_book_files()


@pytest.fixture(scope="session")
def small_book_files() -> dict[str, bytes]:
    """Two drawings with three and five variations, no bad files: quick to build."""
    return sample_book_files(
        (SampleDrawing("max", "monster", 3, "helpful"), SampleDrawing("zoom", "rocket", 5, "random")),
        include_bad=False, include_config=False,
    )


@pytest.fixture
def bucket(tmp_path) -> LocalBucket:
    return LocalBucket(root=str(tmp_path / "bucket"))


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


