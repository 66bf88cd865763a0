"""Shared fixtures: a real local bucket, a real (temporary) Dagster instance, the sample book."""
from __future__ import annotations

import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests
from PIL import Image

from book_assets.defs.resources import GCSBucket, LocalBucket
from book_assets_dev.gcs_emulator import EMULATOR_ENV_VAR, Emulator, running_emulator
from book_assets_dev.samples import SampleDrawing, draw_subject, sample_book_files

from .support import DAGSTER_DEV_BOOK_ID, gql, upload

PROJECT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="session")
def drawing_jpeg(tmp_path_factory) -> str:
    """One 1800 px drawing as a JPEG file, for tests that draw a picture into a PDF themselves."""
    path = tmp_path_factory.mktemp("drawing") / "max.jpg"
    buffer = io.BytesIO()
    draw_subject("monster", 1800, seed=0).save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.fixture
def bucket(tmp_path) -> LocalBucket:
    return LocalBucket(root=str(tmp_path / "bucket"))


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


# Cloud Storage on 127.0.0.1 (book_assets_dev.gcs_emulator, which `make dev-gcs` runs too).
@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    """One emulator for the test session; google-cloud-storage clients find it via STORAGE_EMULATOR_HOST."""
    with running_emulator() as emulator:
        previous = os.environ.get(EMULATOR_ENV_VAR)
        os.environ[EMULATOR_ENV_VAR] = emulator.url
        try:
            yield emulator
        finally:
            if previous is None:
                os.environ.pop(EMULATOR_ENV_VAR, None)
            else:
                os.environ[EMULATOR_ENV_VAR] = previous


_bucket_numbers = itertools.count(1)


@pytest.fixture
def gcs_bucket(gcs_emulator) -> GCSBucket:
    """A fresh, empty emulated bucket for one test, as ``BOOK_BUCKET=gs://…`` would configure it."""
    name = f"test-books-{next(_bucket_numbers)}"
    gcs_emulator.create_bucket(name)
    return GCSBucket(bucket=name, timeout_seconds=10.0, retry_deadline_seconds=20.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def webserver(tmp_path_factory, small_book_files):
    """`dagster dev` (webserver + daemon, as `make dev` runs it) on a free loopback port."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    bucket = LocalBucket(root=str(home / "bucket"))
    upload(bucket, DAGSTER_DEV_BOOK_ID, small_book_files)
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "BOOK_BUCKET": bucket.root}
    log = (home / "webserver.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(PROJECT / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (home / "webserver.log").read_text()
            try:
                state = gql(url, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                  "loadStatus locationOrLoadError { __typename } } } } }")
                entries = state["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["loadStatus"] == "LOADED":
                    assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "webserver did not load the code location in 120 s"
            time.sleep(0.5)
        yield url, bucket, home
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


REPOSITORY = {"repositoryLocationName": "book_assets", "repositoryName": "__repository__"}
BLOCKED_BOOK_ID = "blocked-ui"   # its only drawing is far too small to print: images_at_minimum_ppi blocks it
FIVE_ASSETS = [{"path": [name]} for name in ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")]


def launch_book_run(url: str, book_id: str, job_name: str, asset_selection: list | None = None) -> tuple[str, str]:
    """Add the book's partition and launch ``job_name`` for it over GraphQL, as the UI does; wait for
    the end: (run id, final status)."""
    added = gql(url, """mutation($sel: RepositorySelector!, $key: String!) {
        addDynamicPartition(repositorySelector: $sel, partitionsDefName: "books", partitionKey: $key) {
          __typename ... on PythonError { message } } }""", {"sel": REPOSITORY, "key": book_id})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    selector = {**REPOSITORY, "jobName": job_name, **({"assetSelection": asset_selection} if asset_selection else {})}
    launched = gql(url, """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } } } }""",
        {"params": {"selector": selector,
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": book_id}]}}})
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    deadline = time.monotonic() + 180
    while True:
        status = gql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                     {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return run_id, status
        assert time.monotonic() < deadline, f"run still {status} after 180 s"
        time.sleep(1)


@pytest.fixture(scope="session")
def materialized_book(webserver):
    """`build_book` launched for the book through the GraphQL API: (run id, final status)."""
    return launch_book_run(webserver[0], DAGSTER_DEV_BOOK_ID, "build_book")


@pytest.fixture(scope="session")
def blocked_ui_run(webserver, small_book_files):
    """The UI's Materialize button on a blocked book: the implicit asset job (`__ASSET_JOB`) with the
    five assets selected, launched over GraphQL. An older status.json says a book is published."""
    _, bucket, _ = webserver
    tiny = io.BytesIO()
    Image.new("RGB", (200, 200), (200, 80, 80)).save(tiny, "JPEG")
    upload(bucket, BLOCKED_BOOK_ID, {"drawings/stamp.jpg": tiny.getvalue(),
                                     "generated/stamp_1.png": small_book_files["generated/max_01.png"]})
    bucket.write_bytes(f"published/{BLOCKED_BOOK_ID}/status.json", json.dumps(
        {"book_id": BLOCKED_BOOK_ID, "run_id": "an-older-run", "published": True, "problems": []}).encode())
    return launch_book_run(webserver[0], BLOCKED_BOOK_ID, "__ASSET_JOB", FIVE_ASSETS)
