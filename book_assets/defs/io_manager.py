"""The bucket IO manager: each stage's typed result stored as a schema-versioned JSON manifest in the bucket.

``_book_assets/manifests/<book>/<run id>/<asset>.json`` under the bucket's work prefix, on the local
folder and on GCS alike. Nothing is pickled and nothing lives on a worker's disk, so any machine that
can reach the bucket can run any step, and a retry on a fresh worker finds its inputs. A manifest this
code cannot read (another contract, a newer schema) stops the step with a plain message and is
not retried: only rebuilding the upstream stage, or upgrading, can fix it.

Manifests are kept **per run**, not per book: two runs of one book that overlap (the per-book run
limit holds only where runs go through a queue — two ``book-assets build`` on two machines do not)
must never read each other's stages, or a run would publish one listing's layout under another
listing's inventory. A step reads the manifest of the run that produced its input (this run, or the
parent run of a re-execution, as Dagster says); an input this run did not produce (``book`` alone
from the UI) is the newest manifest of that asset in the bucket. Old runs' manifests are pruned
when a book is built (older than ``MANIFEST_GRACE_SECONDS``, or beyond the ``MANIFEST_RUNS_KEPT``
newest runs), keeping the newest of each asset.
"""
from __future__ import annotations

import hashlib
import time
import uuid

import dagster as dg

from ..core.contracts import CONTRACTS, ManifestError, dump_manifest, load_manifest
from ..core.memory import bound_heap_arenas, release_freed_memory
from .assets.common import fail_fast_unless_transient
from .resources import Bucket, link

MANIFESTS = "manifests"
MANIFEST_GRACE_SECONDS = 7 * 24 * 3600.0   # a run re-executed within a week still finds its parent's manifests
# ... unless the book has been built this many times since: a 1,000-image book's manifests are ~40 MB a
# run, and a sensor rebuilding it on every upload would otherwise keep a week of them.
MANIFEST_RUNS_KEPT = 10
PRUNED_BY = "book"                          # the last stage: when it is stored, the run's manifests are all written


def manifests_prefix(bucket: Bucket, book_id: str) -> str:
    return bucket.work_key(MANIFESTS, book_id) + "/"


def manifest_key(bucket: Bucket, book_id: str, run_id: str, asset_name: str) -> str:
    return bucket.work_key(MANIFESTS, book_id, run_id, f"{asset_name}.json")


def newest_manifest_key(bucket: Bucket, book_id: str, asset_name: str) -> str | None:
    """The newest stored manifest of ``asset_name`` for the book, from any run (None when there is none)."""
    wanted = f"/{asset_name}.json"
    stored = [o for o in bucket.list_objects(manifests_prefix(bucket, book_id), with_hash=False)
              if o.key.endswith(wanted)]
    return max(stored, key=lambda o: (o.updated, o.key)).key if stored else None


def prune_manifests(bucket: Bucket, book_id: str, *, keep_run: str, grace_seconds: float = MANIFEST_GRACE_SECONDS,
                    runs_kept: int = MANIFEST_RUNS_KEPT, now: float | None = None) -> int:
    """Delete the manifests of runs older than the grace period or beyond the ``runs_kept`` newest runs,
    except ``keep_run``'s and the newest of each asset (what a step run alone would read); how many
    were deleted."""
    now = time.time() if now is None else now
    prefix = manifests_prefix(bucket, book_id)
    stored = bucket.list_objects(prefix, with_hash=False)

    def run_of(key: str) -> str:
        return key[len(prefix):].split("/", 1)[0]

    newest: dict[str, tuple[float, str]] = {}
    last_written: dict[str, float] = {}
    for obj in stored:
        asset = obj.key.rsplit("/", 1)[-1]
        newest[asset] = max(newest.get(asset, (0.0, "")), (obj.updated, obj.key))
        last_written[run_of(obj.key)] = max(last_written.get(run_of(obj.key), 0.0), obj.updated)
    recent_runs = set(sorted(last_written, key=lambda run: (last_written[run], run), reverse=True)[:runs_kept])
    keep = {key for _, key in newest.values()}
    old = [o.key for o in stored if o.key not in keep and run_of(o.key) != keep_run
           and (now - o.updated >= grace_seconds or run_of(o.key) not in recent_runs)]
    for key in old:
        bucket.delete(key)
    return len(old)


class BucketManifestIOManager(dg.IOManager):
    """Also remembers, per manifest, the value it last read and a digest of its bytes: three steps of
    a run read the validation manifest (1,000 images' features), and stored bytes equal to those
    already read are that value again (stage results are frozen), so they are parsed once."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        self._read: dict[str, tuple[bytes, object]] = {}      # manifest key -> (sha256 of its bytes, its value)

    # Like the assets' bodies: a bucket outage is retried by the step's policy, a bug or bad key is not.
    @fail_fast_unless_transient()
    def handle_output(self, context: dg.OutputContext, obj) -> None:
        asset_name = context.asset_key.to_user_string()
        key = manifest_key(self.bucket, context.partition_key, context.run_id, asset_name)
        data = dump_manifest(obj)
        self.bucket.write_bytes(key, data, content_type="application/json")
        context.add_output_metadata({"manifest": link(self.bucket.url(key)), "manifest_bytes": len(data)})
        if asset_name == PRUNED_BY:
            prune_manifests(self.bucket, context.partition_key, keep_run=context.run_id)

    @fail_fast_unless_transient()
    def load_input(self, context: dg.InputContext):
        # A step starts by loading its inputs: first give back what the steps before it freed, so its
        # own peak does not come on top of theirs, and keep the threads it starts to shared heaps
        # (core/memory.py).
        bound_heap_arenas()
        release_freed_memory()
        asset_name = context.asset_key.to_user_string()
        book_id = context.asset_partition_key
        producer = _producing_run(context)
        key = (manifest_key(self.bucket, book_id, producer, asset_name) if producer
               else newest_manifest_key(self.bucket, book_id, asset_name))
        where = f"The {asset_name} manifest {self.bucket.url(key or manifests_prefix(self.bucket, book_id).rstrip('/'))}"
        expected = _contract_of(context)
        try:
            if key is None:
                raise FileNotFoundError(where)
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


def _producing_run(context: dg.InputContext) -> str | None:
    """The run whose step produced this input: this run, or the parent of a re-execution. None when no
    step of this run (or its parents) produced it — an asset outside the run's selection."""
    upstream = context.upstream_output
    if upstream is None:
        return None
    try:
        run_id = upstream.run_id
        uuid.UUID(run_id)     # Dagster's run ids are UUIDs; for an input outside the run it gives a placeholder
    except (dg.DagsterInvariantViolationError, ValueError):
        return None
    return run_id


def _contract_of(context: dg.InputContext):
    """The contract type the consuming asset declared for this input (None: take what is stored)."""
    wanted = getattr(context.dagster_type, "typing_type", None)
    return wanted if wanted in CONTRACTS.values() else None


@dg.io_manager(required_resource_keys={"bucket"},
               description="Stage manifests as schema-versioned JSON under the bucket's work prefix, one folder per run.")
def bucket_manifest_io_manager(init_context: dg.InitResourceContext) -> BucketManifestIOManager:
    return BucketManifestIOManager(init_context.resources.bucket)
