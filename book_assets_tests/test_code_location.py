"""The code location as the operator meets it: `dagster dev` loading workspace.yaml, driven
through its GraphQL API — assets and checks visible, a book partition added and materialized from
there, the PDF published, each book's check results readable per partition, and a run started the
way the UI's Materialize button starts one keeping status.json honest."""
from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from .support import DAGSTER_DEV_BOOK_ID as BOOK_ID
from .support import gql as _gql
from .support import upload

pytestmark = pytest.mark.integration


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
    assert len(checks) == 13 and checks["images_at_minimum_ppi"] and not checks["images_at_target_ppi"]
    # freshness is whether the book reflects its folder (book_is_current), not a 7-day timer
    assert nodes[("book",)]["internalFreshnessPolicy"] is None and not checks["book_is_current"]


def test_book_partition_materializes_from_the_api(webserver, materialized_book):
    url, bucket, _ = webserver
    _, status = materialized_book
    assert status == "SUCCESS"
    assert bucket.exists(f"published/{BOOK_ID}/book.pdf")
    book = _gql(url, """{ assetOrError(assetKey: {path: ["book"]}) { ... on Asset {
        assetMaterializations(partitions: ["%s"]) { metadataEntries { label } } } } }""" % BOOK_ID)
    labels = {e["label"] for e in book["assetOrError"]["assetMaterializations"][0]["metadataEntries"]}
    assert {"pages", "pdf_bytes", "render_ms", "preview", "published"} <= labels


BLOCKED = "blocked-ui"      # a book whose only drawing is far too small to print: images_at_minimum_ppi blocks it
FIVE_ASSETS = [{"path": [name]} for name in ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")]


def _wait_for_run(url: str, run_id: str, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while True:
        status = _gql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                      {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        assert time.monotonic() < deadline, f"run still {status} after {seconds} s"
        time.sleep(1)


@pytest.fixture(scope="module")
def blocked_ui_run(webserver, small_book_files):
    """The UI's Materialize button on a blocked book: the implicit asset job (`__ASSET_JOB`) with the
    five assets selected, launched over GraphQL. An older status.json says a book is published."""
    url, bucket, _ = webserver
    tiny = io.BytesIO()
    Image.new("RGB", (200, 200), (200, 80, 80)).save(tiny, "JPEG")
    upload(bucket, BLOCKED, {"drawings/stamp.jpg": tiny.getvalue(),
                             "generated/stamp_1.png": small_book_files["generated/max_01.png"]})
    bucket.write_bytes(f"published/{BLOCKED}/status.json", json.dumps(
        {"book_id": BLOCKED, "run_id": "an-older-run", "published": True, "problems": []}).encode())
    selector = {"repositoryLocationName": "book_assets", "repositoryName": "__repository__"}
    _gql(url, """mutation($sel: RepositorySelector!, $key: String!) {
        addDynamicPartition(repositorySelector: $sel, partitionsDefName: "books", partitionKey: $key) {
          __typename } }""", {"sel": selector, "key": BLOCKED})
    launched = _gql(url, """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"params": {"selector": {**selector, "jobName": "__ASSET_JOB", "assetSelection": FIVE_ASSETS},
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": BLOCKED}]}}})
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    return run_id, _wait_for_run(url, run_id)


def test_a_blocked_ui_run_marks_status_json_not_current(webserver, blocked_ui_run):
    """No job hook runs for a UI Materialize; the run-failure sensor (the daemon of `dagster dev`)
    still rewrites status.json so the older book does not look current."""
    _, bucket, _ = webserver
    run_id, status = blocked_ui_run
    assert status == "FAILURE"
    deadline = time.monotonic() + 90
    while True:
        written = json.loads(bucket.read_bytes(f"published/{BLOCKED}/status.json"))
        if written["run_id"] == run_id:
            break
        assert time.monotonic() < deadline, f"status.json still from {written['run_id']} after 90 s"
        time.sleep(1)
    assert written["published"] is False and "earlier upload" in written["message"]
    assert any(problem.startswith("page_layouts:") for problem in written["problems"]), written


CHECK_EXECUTIONS = """query($check: String!, $partition: String) {
  assetCheckExecutions(assetKey: {path: ["%s"]}, checkName: $check, partition: $partition, limit: 10) {
    runId partition status evaluation { success partition severity } } }"""


def test_check_results_are_read_per_book(webserver, materialized_book, blocked_ui_run):
    url, _, _ = webserver
    built_run, blocked_run = materialized_book[0], blocked_ui_run[0]

    def executions(asset: str, check: str, partition: str | None) -> list[dict]:
        return _gql(url, CHECK_EXECUTIONS % asset, {"check": check, "partition": partition})["assetCheckExecutions"]

    [good] = executions("page_layouts", "images_at_minimum_ppi", BOOK_ID)
    [bad] = executions("page_layouts", "images_at_minimum_ppi", BLOCKED)
    assert (good["runId"], good["partition"], good["evaluation"]["success"]) == (built_run, BOOK_ID, True)
    assert (bad["runId"], bad["partition"], bad["evaluation"]["success"]) == (blocked_run, BLOCKED, False)
    assert bad["evaluation"]["severity"] == "ERROR"
    both = executions("page_layouts", "images_at_minimum_ppi", None)
    assert {e["partition"] for e in both} == {BOOK_ID, BLOCKED}
    [current] = executions("book", "book_is_current", BOOK_ID)
    assert current["evaluation"]["success"] and current["status"] == "SUCCEEDED"
    [never_ran] = executions("book", "book_is_current", BLOCKED)      # book was blocked upstream: no verdict
    assert never_ran["evaluation"] is None and never_ran["status"] != "SUCCEEDED"
