"""Helpers the integration tests share: upload a book, build it, read its events."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import dagster as dg
import requests

from book_assets.defs.jobs import BOOK_ASSETS
from book_assets.defs.partitions import books_partitions
from book_assets.defs.resources import book_resources
from book_assets_dev.samples import upload_book as upload  # noqa: F401 - shared by the tests

DAGSTER_DEV_BOOK_ID = "webserver-book"   # the book `dagster dev` builds in the UI tests


def build(bucket, instance, book_id: str, assets=None, **kwargs) -> dg.ExecuteInProcessResult:
    """Materialize the book's assets for one partition, as the UI or the CLI would."""
    if not instance.has_dynamic_partition(books_partitions.name, book_id):
        instance.add_dynamic_partitions(books_partitions.name, [book_id])
    return dg.materialize(assets or BOOK_ASSETS, instance=instance, partition_key=book_id,
                          resources=book_resources(bucket), **kwargs)


def materialization(result: dg.ExecuteInProcessResult, asset: str):
    events = result.asset_materializations_for_node(asset)
    assert events, f"{asset} was not materialized"
    return events[-1]


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def gql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def with_extra_drawing(files: dict[str, bytes], name: str, subject: str, size: int, *, seed: int = 1) -> dict[str, bytes]:
    """``files`` plus one more drawing (a JPEG of ``size`` px) called ``drawings/<name>``."""
    import io

    from book_assets_dev.samples import draw_subject

    extra = io.BytesIO()
    draw_subject(subject, size, seed=seed).save(extra, "JPEG", quality=90)
    return {**files, f"drawings/{name}": extra.getvalue()}


STEPS_ELSEWHERE = textwrap.dedent("""
    import sys
    import dagster as dg
    from book_assets.defs.jobs import BOOK_ASSETS
    from book_assets.defs.partitions import books_partitions
    from book_assets.defs.resources import book_resources, bucket_from_setting

    bucket_setting, book_id, selection = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with dg.DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition(books_partitions.name, book_id):
            instance.add_dynamic_partitions(books_partitions.name, [book_id])
        result = dg.materialize(BOOK_ASSETS, selection=selection, instance=instance, partition_key=book_id,
                                resources=book_resources(bucket_from_setting(bucket_setting)), raise_on_error=False)
        steps = sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_START")
        print("run", result.run_id)
        print("steps", *steps)
        if result.success and "book" in selection:
            print("published", result.output_for_node("book").published)
        for event in result.all_events:
            if event.is_step_failure:
                print("failure", event.event_specific_data.error.message.strip())
""")


def run_steps_elsewhere(bucket_setting: str, book_id: str, selection: list[str], *, env: dict[str, str],
                        cwd=None) -> str:
    """Materialize ``selection`` of one book in a separate Python process (another machine, as far as
    Dagster can tell: its own environment and working folder); what it printed."""
    done = subprocess.run([sys.executable, "-c", STEPS_ELSEWHERE, bucket_setting, book_id, ",".join(selection)],
                          env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def published(bucket, book_id: str, name: str = "book.pdf") -> str:
    """The key of ``name`` in the book's current edition, as a reader finds it: through current.json."""
    from book_assets.core.editions import read_current

    current = read_current(bucket, book_id)
    assert current is not None, f"published/{book_id}/current.json names no edition"
    return current.files[name]
