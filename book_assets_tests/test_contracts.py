"""The typed stage contracts: each round-trips through its stored JSON manifest exactly, a manifest
this code cannot read is refused in plain words, and the bucket IO manager keeps every manifest in
the bucket (nothing pickled under DAGSTER_HOME)."""
from __future__ import annotations

import dataclasses
import json

import dagster as dg
import pytest

from book_assets.core.contracts import (
    CONTRACTS, Inventory, Layout, ManifestError, Pairing, PublishedBook, Validation, Verdict, dump_manifest,
    load_manifest,
)
from book_assets.core.inventory import Role
from book_assets.core.pairing import PairStatus

from .support import build, upload

pytestmark = pytest.mark.integration
BOOK = "contracts"
STAGES = {"raw_images": Inventory, "validated_images": Validation, "image_pairs": Pairing,
          "page_layouts": Layout, "book": PublishedBook}


@pytest.fixture(scope="module")
def built(tmp_path_factory, small_book_files):
    """The small book built once: (bucket, {asset name: its typed result}, DAGSTER_HOME path, run id)."""
    from book_assets.defs.resources import LocalBucket

    root = tmp_path_factory.mktemp("contracts")
    (root / "home").mkdir()
    bucket = LocalBucket(root=str(root / "bucket"))
    upload(bucket, BOOK, {**small_book_files, "stray.txt": b"not a picture"})
    with dg.instance_for_test(temp_dir=str(root / "home")) as instance:
        result = build(bucket, instance, BOOK)
        assert result.success
        yield bucket, {name: result.output_for_node(name) for name in STAGES}, root / "home", result.run_id


@pytest.mark.parametrize("asset", list(STAGES))
def test_each_stage_result_round_trips_through_its_manifest(built, asset):
    _, results, _, _ = built
    result = results[asset]
    assert isinstance(result, STAGES[asset])
    again = load_manifest(dump_manifest(result), STAGES[asset])
    assert again == result
    assert dump_manifest(again) == dump_manifest(result)     # stable: the same bytes every time


def test_the_io_manager_keeps_manifests_in_the_bucket_not_on_the_instance_disk(built):
    bucket, results, home, run_id = built
    for asset, contract in STAGES.items():
        key = f"_book_assets/manifests/{BOOK}/{run_id}/{asset}.json"     # per run: overlapping runs never mix
        stored = json.loads(bucket.read_bytes(key))
        assert stored["contract"] == contract.CONTRACT and stored["schema_version"] == contract.SCHEMA_VERSION
        assert load_manifest(bucket.read_bytes(key), contract) == results[asset]
    pickled = [path for path in home.rglob("*") if path.name in STAGES or path.parent.name in STAGES]
    assert pickled == [], "the default filesystem IO manager wrote outputs under DAGSTER_HOME"


def test_results_carry_enums_and_records_not_bare_strings(built):
    _, results, _, _ = built
    inventory, validation, pairing = results["raw_images"], results["validated_images"], results["image_pairs"]
    assert {type(e.role) for e in inventory.entries} == {Role}
    stray = next(e for e in inventory.entries if e.relative_path == "stray.txt")
    assert stray.role is Role.OTHER and stray.reason == "unexpected_location"
    assert {type(i.status) for i in validation.images} == {Verdict}
    assert {type(p.status) for p in pairing.pairs} == {PairStatus}
    assert len(inventory.fingerprint) == 16


def test_metrics_are_the_numbers_the_ui_plots(built):
    _, results, _, _ = built
    inventory, validation, pairing, layout, book = (results[name] for name in STAGES)
    assert inventory.metrics()["objects"] == len(inventory.entries) == 11
    assert inventory.metrics()["drawing_count"] == 2 and inventory.metrics()["other_count"] == 1
    assert validation.metrics()["valid"] == 10 and validation.metrics()["rejected"] == 1
    assert pairing.metrics()["pairs"] + pairing.metrics()["held"] + pairing.metrics()["unpaired"] == 8
    assert layout.metrics()["pages"] == len(layout.layout.pages) and layout.metrics()["spreads"] == 2
    assert book.metrics()["published"] is True and book.metrics()["pdf_bytes"] > 10_000


def _envelope(result) -> dict:
    return json.loads(dump_manifest(result))


def test_a_manifest_from_a_newer_schema_is_refused_clearly(built):
    _, results, _, _ = built
    stored = _envelope(results["image_pairs"])
    stored["schema_version"] = Pairing.SCHEMA_VERSION + 1
    with pytest.raises(ManifestError, match=r"schema version 2.*reads version 1 only.*Upgrade book_assets"):
        load_manifest(json.dumps(stored).encode(), Pairing, where="The image_pairs manifest")


def test_a_manifest_from_an_older_schema_asks_for_a_rebuild(built):
    _, results, _, _ = built
    stored = _envelope(results["raw_images"])
    stored["schema_version"] = 0
    with pytest.raises(ManifestError, match="Rebuild the book from raw_images"):
        load_manifest(json.dumps(stored).encode(), Inventory)


def test_another_contract_or_no_manifest_is_refused(built):
    _, results, _, _ = built
    with pytest.raises(ManifestError, match="holds a 'inventory' manifest where layout was expected"):
        load_manifest(dump_manifest(results["raw_images"]), Layout)
    with pytest.raises(ManifestError, match="not a book_assets manifest"):
        load_manifest(b"\x80\x04K\x01.", Inventory)          # a pickle, as the old IO manager wrote
    with pytest.raises(TypeError):
        dump_manifest({"not": "a contract"})


def test_a_changed_field_type_fails_validation_instead_of_loading_garbage(built):
    _, results, _, _ = built
    stored = _envelope(results["validated_images"])
    stored["body"]["images"][0]["status"] = "maybe"
    with pytest.raises(Exception, match="maybe"):
        load_manifest(json.dumps(stored).encode(), Validation)


def test_every_contract_is_registered_once():
    assert set(CONTRACTS.values()) == set(STAGES.values())
    assert all(dataclasses.is_dataclass(c) and c.__dataclass_params__.frozen for c in CONTRACTS.values())


def test_a_run_parses_each_manifest_once_however_many_steps_read_it(built, monkeypatch):
    """image_pairs, page_layouts and book all read the validation manifest: parsed once per run."""
    from book_assets.defs import io_manager

    bucket, _, _, _ = built
    parsed: list[type] = []
    real = io_manager.load_manifest
    monkeypatch.setattr(io_manager, "load_manifest",
                        lambda data, expected=None, **kw: parsed.append(expected) or real(data, expected, **kw))
    with dg.instance_for_test() as instance:
        assert build(bucket, instance, BOOK).success
    assert parsed.count(Validation) == 1 and parsed.count(Inventory) == 1
    assert sorted(c.__name__ for c in parsed) == ["Inventory", "Layout", "Pairing", "Validation"]


def test_a_manifest_whose_bytes_changed_is_parsed_again(built):
    from types import SimpleNamespace

    from book_assets.defs.io_manager import BucketManifestIOManager

    from book_assets.defs.io_manager import manifest_key

    bucket, results, _, run_id = built
    manager = BucketManifestIOManager(bucket)
    context = SimpleNamespace(asset_key=dg.AssetKey("image_pairs"), asset_partition_key=BOOK,
                              dagster_type=SimpleNamespace(typing_type=Pairing),
                              upstream_output=SimpleNamespace(run_id=run_id))
    first = manager.load_input(context)
    assert manager.load_input(context) is first                     # the same bytes: the value already read
    key = manifest_key(bucket, BOOK, run_id, "image_pairs")
    original = bucket.read_bytes(key)
    try:
        changed = dataclasses.replace(results["image_pairs"], pairing_ms=first.pairing_ms + 1)
        bucket.write_bytes(key, dump_manifest(changed))
        again = manager.load_input(context)
        assert again is not first and again.pairing_ms == first.pairing_ms + 1
    finally:
        bucket.write_bytes(key, original)


def test_the_io_manager_retries_an_outage_but_not_a_bug(built):
    """A failure inside the IO manager follows the assets' policy: a bug or a bad key fails once and
    for all (``allow_retries=False``); a network error goes to the step's retry policy."""
    from types import SimpleNamespace

    from book_assets.defs.io_manager import BucketManifestIOManager

    bucket, _, _, run_id = built

    class Broken:
        def __init__(self, error):
            self.error = error

        def work_key(self, *parts):
            return bucket.work_key(*parts)

        def url(self, key):
            return bucket.url(key)

        def read_bytes(self, key):
            raise self.error

    context = SimpleNamespace(asset_key=dg.AssetKey("image_pairs"), asset_partition_key=BOOK,
                              dagster_type=SimpleNamespace(typing_type=Pairing),
                              upstream_output=SimpleNamespace(run_id=run_id))
    with pytest.raises(dg.Failure) as failure:
        BucketManifestIOManager(Broken(UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed"))).load_input(context)
    assert failure.value.allow_retries is False and "not retried" in failure.value.description
    with pytest.raises(ConnectionResetError):
        BucketManifestIOManager(Broken(ConnectionResetError("reset by peer"))).load_input(context)
