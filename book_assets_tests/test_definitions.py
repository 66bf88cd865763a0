"""The code location loads: one Definitions with all assets, checks, the job and the freshness policy."""
from __future__ import annotations

import warnings

import dagster as dg


def test_definitions_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from book_assets import defs

        repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == {"raw_images", "validated_images", "image_pairs", "page_layouts", "book"}
    check_keys = {k.name for k in repo.asset_graph.asset_check_keys}
    assert len(check_keys) == 12
    book = repo.asset_graph.get(dg.AssetKey("book"))
    assert book.freshness_policy is not None
    assert defs.resolve_job_def("build_book").tags["dagster/max_runtime"]
    for key in keys:
        assert repo.asset_graph.get(dg.AssetKey(key)).partitions_def.name == "books"


def test_blocking_checks_are_the_error_gates():
    from book_assets import checks

    blocking = {s.name for group in (checks.RAW_IMAGES_CHECKS, checks.VALIDATED_IMAGES_CHECKS,
                                     checks.IMAGE_PAIRS_CHECKS, checks.PAGE_LAYOUTS_CHECKS) for s in group
                if s.blocking}
    assert blocking == {"every_object_listed", "every_upload_judged", "every_variation_placed_or_flagged",
                        "text_fits", "images_at_minimum_ppi"}
