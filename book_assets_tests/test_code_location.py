"""The code location as the operator meets it: `dagster dev` loading workspace.yaml, driven
through its GraphQL API — assets and checks visible, a book partition added and materialized from
there, the PDF published, each book's check results readable per partition, and a run started the
way the UI's Materialize button starts one keeping status.json honest."""
from __future__ import annotations

import json
import time

import pytest

from .conftest import BLOCKED_BOOK_ID as BLOCKED
from .support import DAGSTER_DEV_BOOK_ID as BOOK_ID
from .support import gql as _gql
from .support import published

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
    assert len(checks) == 14 and checks["images_at_minimum_ppi"] and not checks["images_at_target_ppi"]
    assert not checks["drawings_named_by_us"]
    # freshness is whether the book reflects its folder (book_is_current), not a 7-day timer
    assert nodes[("book",)]["internalFreshnessPolicy"] is None and not checks["book_is_current"]


def test_book_partition_materializes_from_the_api(webserver, materialized_book):
    url, bucket, _ = webserver
    _, status = materialized_book
    assert status == "SUCCESS"
    assert bucket.exists(published(bucket, BOOK_ID))
    book = _gql(url, """{ assetOrError(assetKey: {path: ["book"]}) { ... on Asset {
        assetMaterializations(partitions: ["%s"]) { metadataEntries { label } } } } }""" % BOOK_ID)
    labels = {e["label"] for e in book["assetOrError"]["assetMaterializations"][0]["metadataEntries"]}
    assert {"pages", "pdf_bytes", "render_ms", "preview", "published"} <= labels


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
