"""Shared fixtures: a real local bucket, a real (temporary) Dagster instance, the sample book."""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import requests
from PIL import Image

from book_assets.defs.resources import GCSBucket, LocalBucket
from book_assets_dev.gcs_emulator import EMULATOR_ENV_VAR, Emulator, free_port, running_emulator
from book_assets_dev.postgres import Postgres, running_postgres
from book_assets_dev.samples import SampleDrawing, draw_subject, sample_book_files

from .support import DAGSTER_DEV_BOOK_ID, gql, upload

PROJECT = Path(__file__).resolve().parent.parent
TEAM_URL_ENV_VAR = "DAGSTER_POSTGRES_URL"
TEAM_YAML = PROJECT / "deploy" / "team" / "dagster.yaml"
# The files that take a minute or more, longest first (each file's span on its worker in a fresh clone's
# `.ci/run`, 2 cores, 3 workers: the refit 242 s with its corpus built in 2 processes, the team tier 171 s,
# the print profiles 168 s, `make dev-gcs` with the sensor tests 152 s, the load test 144 s, the overlapping
# runs 136 s, the CLI 111 s, the scale bench 82 s). `make test` hands files to the workers in collection
# order, so these start first and what is left at the end is short: when the team tier was collected in
# its place it ran last, alone, its ~100 s on one worker after the other had finished.
LONG_FILES = ("test_look_model.py", "test_loadtest.py", "test_team_tier.py", "test_preflight.py", "test_sensor.py",
              "test_overlapping_runs.py", "test_cli.py", "test_scale_bench.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONG_FILES' tests first, in that order; every other test in the order it was collected."""
    rank = {name: place for place, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))


# Files whose tests share costly session fixtures, so `make test` runs each set on one worker: `dagster dev`
# with a book built and a blocked run is ~60 s of setup on every worker it starts on.
WORKER_GROUPS = {"test_code_location.py": "webserver", "test_ui_browser.py": "webserver"}


@pytest.hookimpl(optionalhook=True)     # a pytest-xdist hook: without xdist, nothing to schedule
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`, but the files of a WORKER_GROUPS group go to one worker as one unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    # ``_split_scope`` is pytest-xdist's own (private) way to name a test's unit of work; should an upgrade
    # rename it, the groups split up again: every test still runs, the setup is just paid twice.
    class GroupedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return WORKER_GROUPS.get(Path(scope).name, scope)

    return GroupedFileScheduling(config, log)


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


@pytest.fixture
def unhedged_gcs_bucket(gcs_bucket) -> GCSBucket:
    """``gcs_bucket`` without hedges, for tests that count requests: on a busy host a request slower than
    its hedge delay is sent twice (as it should be), which would make those counts flaky."""
    return gcs_bucket.model_copy(update={"hedge_metadata_seconds": 0.0, "hedge_transfer_seconds": 0.0})


@contextlib.contextmanager
def dagster_dev(home: Path, env: dict[str, str]) -> Iterator[str]:
    """`dagster dev` (webserver + daemon, as `make dev` runs it) on the instance in ``home``, on a free
    loopback port; yields the GraphQL URL once the code location has loaded."""
    port = free_port()
    log = (home / "webserver.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(PROJECT / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT, env={**os.environ, **env, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
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
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def webserver(tmp_path_factory, small_book_files):
    """`dagster dev` on the local tier's instance (the repo's dagster.yaml) and a local bucket."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    bucket = LocalBucket(root=str(home / "bucket"))
    upload(bucket, DAGSTER_DEV_BOOK_ID, small_book_files)
    with dagster_dev(home, {"BOOK_BUCKET": bucket.root}) as url:
        yield url, bucket, home


# The team tier (deploy/team/dagster.yaml) on a real PostgreSQL that the tests start themselves.
@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL cluster on 127.0.0.1 for the session; each test takes its own database."""
    with running_postgres() as server:
        yield server


_database_numbers = itertools.count(1)


@dataclass
class TeamHome:
    """A DAGSTER_HOME set up as a team does it: deploy/team/dagster.yaml copied in, the URL in the environment."""

    home: Path
    postgres_url: str

    @property
    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.home), TEAM_URL_ENV_VAR: self.postgres_url}

    def on_another_machine(self, home: Path) -> TeamHome:
        """The same database from another DAGSTER_HOME (another machine set up the same way)."""
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEAM_YAML, home / "dagster.yaml")
        return TeamHome(home, self.postgres_url)


def new_team_home(postgres: Postgres, home: Path) -> TeamHome:
    """A fresh database and a DAGSTER_HOME at ``home`` that uses it."""
    return TeamHome(home, postgres.create_database(f"team_{next(_database_numbers)}")).on_another_machine(home)


@pytest.fixture
def team_home(postgres, tmp_path, monkeypatch) -> TeamHome:
    """The team instance for one test, in this process's environment (DagsterInstance.get() finds it)."""
    team = new_team_home(postgres, tmp_path / "team_home")
    for name, value in team.env.items():
        monkeypatch.setenv(name, value)
    return team


REPOSITORY = {"repositoryLocationName": "book_assets", "repositoryName": "__repository__"}
BLOCKED_BOOK_ID = "blocked-ui"   # its only drawing is far too small to print: images_at_minimum_ppi blocks it
FIVE_ASSETS = [{"path": [name]} for name in ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")]


def submit_book_run(url: str, book_id: str, job_name: str, asset_selection: list | None = None) -> str:
    """Add the book's partition and launch ``job_name`` for it over GraphQL, as the UI does; the run id
    (the run is queued: the daemon starts it)."""
    added = gql(url, """mutation($sel: RepositorySelector!, $key: String!) {
        addDynamicPartition(repositorySelector: $sel, partitionsDefName: "books", partitionKey: $key) {
          __typename ... on PythonError { message } ... on DuplicateDynamicPartitionError { partitionName } } }""",
                {"sel": REPOSITORY, "key": book_id})
    assert added["addDynamicPartition"]["__typename"] in (
        "AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"), added
    selector = {**REPOSITORY, "jobName": job_name, **({"assetSelection": asset_selection} if asset_selection else {})}
    launched = gql(url, """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } } } }""",
        {"params": {"selector": selector,
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": book_id}]}}})
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    return launched["launchRun"]["run"]["runId"]


def wait_for_run(url: str, run_id: str, timeout: float = 180) -> str:
    """Poll the run over GraphQL until it ends; its final status."""
    deadline = time.monotonic() + timeout
    while True:
        status = gql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                     {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        assert time.monotonic() < deadline, f"run {run_id} still {status} after {timeout:.0f} s"
        time.sleep(1)


def launch_book_run(url: str, book_id: str, job_name: str, asset_selection: list | None = None) -> tuple[str, str]:
    """Launch a book's run as the UI does and wait for the end: (run id, final status)."""
    run_id = submit_book_run(url, book_id, job_name, asset_selection)
    return run_id, wait_for_run(url, run_id)


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
