"""The bucket IO manager: each stage's typed result stored as a schema-versioned JSON manifest in the bucket.

``_book_assets/manifests/<book>/<asset>.json`` under the bucket's work prefix, on the local folder
and on GCS alike. Nothing is pickled and nothing lives on a worker's disk, so any machine that can
reach the bucket can run any step, and a retry on a fresh worker finds its inputs. A manifest this
code cannot read (another contract, a newer schema) stops the step with a plain message and is
not retried: only rebuilding the upstream stage, or upgrading, can fix it.
"""
from __future__ import annotations

import hashlib

import dagster as dg

from ..core.contracts import CONTRACTS, ManifestError, dump_manifest, load_manifest
from .resources import Bucket, link

MANIFESTS = "manifests"


def manifest_key(bucket: Bucket, book_id: str, asset_name: str) -> str:
    return bucket.work_key(MANIFESTS, book_id, f"{asset_name}.json")


class BucketManifestIOManager(dg.IOManager):
    """Also remembers, per manifest, the value it last read and a digest of its bytes: three steps of
    a run read the validation manifest (1,000 images' features), and stored bytes equal to those
    already read are that value again (stage results are frozen), so they are parsed once."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        self._read: dict[str, tuple[bytes, object]] = {}      # manifest key -> (sha256 of its bytes, its value)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        key = manifest_key(self.bucket, context.partition_key, context.asset_key.to_user_string())
        data = dump_manifest(obj)
        self.bucket.write_bytes(key, data, content_type="application/json")
        context.add_output_metadata({"manifest": link(self.bucket.url(key)), "manifest_bytes": len(data)})

    def load_input(self, context: dg.InputContext):
        asset_name = context.asset_key.to_user_string()
        key = manifest_key(self.bucket, context.asset_partition_key, asset_name)
        where = f"The {asset_name} manifest {self.bucket.url(key)}"
        expected = _contract_of(context)
        try:
            data = self.bucket.read_bytes(key)
        except FileNotFoundError:
            raise dg.Failure(description=f"{where} does not exist: materialize {asset_name} for this book first.",
                             allow_retries=False) from None
        digest = hashlib.sha256(data).digest()
        known = self._read.get(key)
        if known is not None and known[0] == digest and (expected is None or isinstance(known[1], expected)):
            return known[1]
        try:
            value = load_manifest(data, expected, where=where)
        except ManifestError as problem:
            raise dg.Failure(description=str(problem), allow_retries=False) from None
        self._read[key] = (digest, value)
        return value


def _contract_of(context: dg.InputContext):
    """The contract type the consuming asset declared for this input (None: take what is stored)."""
    wanted = getattr(context.dagster_type, "typing_type", None)
    return wanted if wanted in CONTRACTS.values() else None


@dg.io_manager(required_resource_keys={"bucket"},
               description="Stage manifests as schema-versioned JSON under the bucket's work prefix.")
def bucket_manifest_io_manager(init_context: dg.InitResourceContext) -> BucketManifestIOManager:
    return BucketManifestIOManager(init_context.resources.bucket)
