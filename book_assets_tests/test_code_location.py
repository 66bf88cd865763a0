"""The code location as the operator meets it: `dagster dev` loading workspace.yaml, driven
through its GraphQL API — assets and checks visible, a book partition added and materialized from
there, the PDF published, each book's check results readable per partition, and a run started the
way the UI's Materialize button starts one keeping status.json honest."""
from __future__ import annotations

import pytest

from .support import DAGSTER_DEV_BOOK_ID as BOOK_ID
from .support import gql as _gql

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
