"""The code location loads — from the defs folder, by every entry point an operator uses — with all
assets, per-book checks, the job, the sensors and the resources, and no warnings."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_definitions_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from book_assets.definitions import defs

        repo = defs().get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == {"raw_images", "validated_images", "image_pairs", "page_layouts", "book"}
    check_keys = {k.name for k in repo.asset_graph.asset_check_keys}
    assert len(check_keys) == 14 and {"book_is_current", "drawings_named_by_us"} <= set(check_keys)
    book = repo.asset_graph.get(dg.AssetKey("book"))
    assert book.freshness_policy is None          # freshness is the book_is_current check, not a timer
    assert {s.name for s in repo.sensor_defs} == {"books_sensor", "book_run_failed", "book_run_canceled"}
    assert set(repo.get_top_level_resources()) >= {"bucket", "io_manager"}
    for key in keys:
        node = repo.asset_graph.get(dg.AssetKey(key))
        assert node.partitions_def.name == "books"
        assert node.owners == ["team:book-makers"] and node.tags["stage"]


def test_in_process_builds_run_the_code_locations_job(tmp_path):
    """build_book_run's Definitions (no defs-folder loader) hold the same job, assets and checks."""
    from book_assets.definitions import book_definitions, build_definitions
    from book_assets.defs.resources import LocalBucket

    location = book_definitions().get_repository_def()
    build = build_definitions(LocalBucket(root=str(tmp_path))).get_repository_def()
    assert build.asset_graph.get_all_asset_keys() == location.asset_graph.get_all_asset_keys()
    assert build.asset_graph.asset_check_keys == location.asset_graph.asset_check_keys
    ours, theirs = build.get_job("build_book"), location.get_job("build_book")
    assert ours.tags == theirs.tags and ours.partitions_def == theirs.partitions_def
    assert {n.name: n.definition.retry_policy for n in ours.nodes} == \
           {n.name: n.definition.retry_policy for n in theirs.nodes}
    for key in location.asset_graph.get_all_asset_keys():
        a, b = build.asset_graph.get(key), location.asset_graph.get(key)
        assert (a.tags, a.owners, a.partitions_def, a.check_keys) == (b.tags, b.owners, b.partitions_def, b.check_keys)


def test_a_build_process_does_not_import_bigquery():
    code = ("import sys, book_assets.cli, book_assets.definitions as d, book_assets.defs.resources as r; "
            "d.build_definitions(r.LocalBucket(root='.')).resolve_job_def('build_book'); "
            "print(sorted(m for m in sys.modules if m.startswith(('dagster_gcp', 'google.cloud.bigquery'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_check_is_per_book():
    from book_assets.definitions import book_definitions

    repo = book_definitions().get_repository_def()
    for key in repo.asset_graph.asset_check_keys:
        spec = repo.asset_graph.get(key)
        assert spec.partitions_def is not None and spec.partitions_def.name == "books", key


def test_runs_from_the_ui_have_the_jobs_runtime_bound():
    """The job's max-runtime tag and the instance-wide bound (which covers UI Materialize runs and
    backfills) are the same number."""
    from book_assets.defs.jobs import MAX_RUNTIME_SECONDS, build_book_job

    instance_config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    assert instance_config["run_monitoring"]["max_runtime_seconds"] == MAX_RUNTIME_SECONDS
    assert build_book_job.tags["dagster/max_runtime"] == str(MAX_RUNTIME_SECONDS)


def test_blocking_checks_are_the_error_gates():
    from book_assets.defs import checks

    blocking = {s.name for group in (checks.RAW_IMAGES_CHECKS, checks.VALIDATED_IMAGES_CHECKS,
                                     checks.IMAGE_PAIRS_CHECKS, checks.PAGE_LAYOUTS_CHECKS, checks.BOOK_CHECKS)
                for s in group if s.blocking}
    assert blocking == {"every_object_listed", "every_upload_judged", "every_variation_placed_or_flagged",
                        "text_fits", "images_at_minimum_ppi"}


@pytest.mark.integration
@pytest.mark.parametrize("target", [["-m", "book_assets"], ["-m", "book_assets.definitions"],
                                    ["-w", "workspace.yaml"]], ids=["package", "module", "workspace"])
def test_every_entry_point_loads_the_code_location(target, tmp_path):
    """`dagster … -m book_assets`, `-m book_assets.definitions` and workspace.yaml load the same job
    and five assets (the pyproject default is what `dg check defs` loads, below)."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run([str(BIN / "dagster"), "job", "list", *target], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {line.strip() for line in done.stdout.splitlines() if line.strip()}
    assert {"Job: build_book", "raw_images", "validated_images", "image_pairs", "page_layouts", "book"} <= listed, \
        done.stdout


@pytest.mark.integration
def test_dg_check_defs_passes(tmp_path):
    """The `dg` CLI loads the project default ([tool.dg] in pyproject.toml) and validates every definition."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(BIN.parent)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run([str(BIN / "dg"), "check", "defs"], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


@pytest.mark.parametrize("instance_file", ["dagster.yaml", "deploy/team/dagster.yaml"])
def test_every_tier_runs_one_build_of_a_book_at_a_time(instance_file):
    """Both instance files queue a second run of the same book behind the first, whatever started it."""
    runs = yaml.safe_load((PROJECT / instance_file).read_text())["concurrency"]["runs"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
        runs["tag_concurrency_limits"]
    assert runs["max_concurrent_runs"] >= 2
