"""The bucket IO manager: each stage's typed result stored as a schema-versioned JSON manifest in the bucket.

``_book_assets/manifests/<book>/<asset>.json`` under the bucket's work prefix, on the local folder
and on GCS alike. Nothing is pickled and nothing lives on a worker's disk, so any machine that can
reach the bucket can run any step, and a retry on a fresh worker finds its inputs. A manifest this
code cannot read (another contract, a newer schema) stops the step with a plain message and is
not retried: only rebuilding the upstream stage, or upgrading, can fix it.
"""
from __future__ import annotations

import dagster as dg

from ..core.contracts import CONTRACTS, ManifestError, dump_manifest, load_manifest
from ..core.memory import bound_heap_arenas, release_freed_memory
from .resources import Bucket, link

MANIFESTS = "manifests"


def manifest_key(bucket: Bucket, book_id: str, asset_name: str) -> str:
    return bucket.work_key(MANIFESTS, book_id, f"{asset_name}.json")


class BucketManifestIOManager(dg.IOManager):
    def __init__(self, bucket: Bucket):
        self.bucket = bucket

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        key = manifest_key(self.bucket, context.partition_key, context.asset_key.to_user_string())
        data = dump_manifest(obj)
        self.bucket.write_bytes(key, data, content_type="application/json")
        context.add_output_metadata({"manifest": link(self.bucket.url(key)), "manifest_bytes": len(data)})

    def load_input(self, context: dg.InputContext):
        # A step starts by loading its inputs: first give back what the steps before it freed, so its
        # own peak does not come on top of theirs, and keep the threads it starts to shared heaps
        # (core/memory.py).
        bound_heap_arenas()
        release_freed_memory()
        asset_name = context.asset_key.to_user_string()
        key = manifest_key(self.bucket, context.asset_partition_key, asset_name)
        where = f"The {asset_name} manifest {self.bucket.url(key)}"
        expected = _contract_of(context)
        try:
            data = self.bucket.read_bytes(key)
        except FileNotFoundError:
            raise dg.Failure(description=f"{where} does not exist: materialize {asset_name} for this book first.",
                             allow_retries=False) from None
        try:
            return load_manifest(data, expected, where=where)
        except ManifestError as problem:
            raise dg.Failure(description=str(problem), allow_retries=False) from None


def _contract_of(context: dg.InputContext):
    """The contract type the consuming asset declared for this input (None: take what is stored)."""
    wanted = getattr(context.dagster_type, "typing_type", None)
    return wanted if wanted in CONTRACTS.values() else None


@dg.io_manager(required_resource_keys={"bucket"},
               description="Stage manifests as schema-versioned JSON under the bucket's work prefix.")
def bucket_manifest_io_manager(init_context: dg.InitResourceContext) -> BucketManifestIOManager:
    return BucketManifestIOManager(init_context.resources.bucket)
