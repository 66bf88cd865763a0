"""The code location as the operator meets it: `dagster dev` loading workspace.yaml, driven
through its GraphQL API — assets, checks and freshness policy visible, a book partition added and
materialized from there, the PDF published."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from book_assets.resources import LocalBucket

from .support import upload

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parent.parent
BOOK_ID = "webserver-book"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory, small_book_files):
    """`dagster dev` (webserver + daemon, as `make dev` runs it) on a free loopback port."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    bucket = LocalBucket(root=str(home / "bucket"))
    upload(bucket, BOOK_ID, small_book_files)
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
                state = _gql(url, "{ workspaceOrError { ... on Workspace { locationEntries { name "
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


def _gql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


ASSETS_QUERY = """
{ assetNodes { assetKey { path } isPartitioned
    partitionDefinition { name }
    internalFreshnessPolicy { __typename ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }
"""


def test_webserver_shows_the_book_graph(webserver):
    url, _, _ = webserver
    nodes = {tuple(n["assetKey"]["path"]): n for n in _gql(url, ASSETS_QUERY)["assetNodes"]}
    assert set(nodes) == {("raw_images",), ("validated_images",), ("image_pairs",), ("page_layouts",), ("book",)}
    assert all(n["isPartitioned"] and n["partitionDefinition"]["name"] == "books" for n in nodes.values())
    checks = {c["name"]: c["blocking"] for n in nodes.values() for c in n["assetChecksOrError"]["checks"]}
    assert len(checks) == 11 and checks["images_at_200_ppi"] and not checks["images_at_300_ppi"]
    freshness = nodes[("book",)]["internalFreshnessPolicy"]
    assert freshness["__typename"] == "TimeWindowFreshnessPolicy"
    assert freshness["failWindowSeconds"] == 7 * 24 * 3600


def test_book_partition_materializes_from_the_api(webserver):
    url, bucket, _ = webserver
    selector = {"repositoryLocationName": "book_assets", "repositoryName": "__repository__"}
    added = _gql(url, """mutation($sel: RepositorySelector!, $key: String!) {
        addDynamicPartition(repositorySelector: $sel, partitionsDefName: "books", partitionKey: $key) {
          __typename ... on PythonError { message } } }""", {"sel": selector, "key": BOOK_ID})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    launched = _gql(url, """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } } } }""",
        {"params": {"selector": {**selector, "jobName": "build_book"},
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": BOOK_ID}]}}})
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    deadline = time.monotonic() + 180
    while True:
        status = _gql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                      {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.monotonic() < deadline, f"run still {status} after 180 s"
        time.sleep(1)
    assert status == "SUCCESS"
    assert bucket.exists(f"published/{BOOK_ID}/book.pdf")
    book = _gql(url, """{ assetOrError(assetKey: {path: ["book"]}) { ... on Asset {
        assetMaterializations(partitions: ["%s"]) { metadataEntries { label } } } } }""" % BOOK_ID)
    labels = {e["label"] for e in book["assetOrError"]["assetMaterializations"][0]["metadataEntries"]}
    assert {"pages", "pdf_bytes", "render_ms", "preview", "published"} <= labels
