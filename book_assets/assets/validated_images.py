"""``validated_images``: each upload judged — accepted with its features and print copy, or rejected.

Results are cached in the bucket's work area by content hash, so a re-run decodes only new or
changed files. Image bytes are read here one file at a time per worker and never kept: the table
passed on holds features and the key of each normalized print copy.
"""

import hashlib
import logging
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import dagster as dg
import pandas as pd

from .. import checks
from ..core import inventory
from ..core.imaging import (
    FEATURES_VERSION, REJECTION_REASONS, ImageLimits, ImageRejected, analyse_image, check_file_size,
)
from ..resources import Bucket
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch, table_metadata

CACHE_FORMAT = 1
UNREADABLE = "unreadable"      # the decoder itself failed unexpectedly (reported, never cached)
log = logging.getLogger(__name__)
VALIDATED_COLUMNS = [
    "key", "role", "status", "reason", "message", "format", "width", "height", "size",
    "print_copy", "print_width", "print_height", "features", "notes", "cache_hit", "decoded", "decode_ms",
]


class ValidationConfig(dg.Config):
    workers: int = 2          # threads decoding in parallel (Pillow releases the GIL while decoding)


def cache_stem(bucket: Bucket, content_hash: str, limits: ImageLimits) -> str:
    """Work-area key stem for one content hash under the current limits, features and cache format."""
    salt = hashlib.sha256(json.dumps([CACHE_FORMAT, FEATURES_VERSION, asdict(limits)]).encode()).hexdigest()[:8]
    return bucket.work_key("cache", f"v{CACHE_FORMAT}-{salt}", content_hash.replace(":", "-"))


def judge_upload(bucket: Bucket, row: dict, limits: ImageLimits) -> dict:
    """Validate one image object, from cache when its content was seen before."""
    stem = cache_stem(bucket, row["content_hash"], limits) if row["content_hash"] else None
    if stem and bucket.exists(stem + ".json"):
        cached = json.loads(bucket.read_bytes(stem + ".json"))
        return {**_row(row, cached, stem), "cache_hit": True, "decoded": False, "decode_ms": 0.0}
    try:
        check_file_size(int(row["size"]), limits)          # before reading: never load a huge upload
    except ImageRejected as rejected:
        outcome = {"status": "rejected", "reason": rejected.code, "message": rejected.message}
        return {**_row(row, outcome, ""), "cache_hit": False, "decoded": False, "decode_ms": 0.0}
    started = time.perf_counter()
    data = bucket.read_bytes(row["key"])
    try:
        analysed = analyse_image(data, limits, want_print_copy=True)
        outcome = {
            "status": "ok", "reason": "", "message": "", "features": analysed.features.to_dict(),
            "print_width": analysed.print_width, "print_height": analysed.print_height,
        }
    except ImageRejected as rejected:
        analysed = None
        outcome = {"status": "rejected", "reason": rejected.code, "message": rejected.message}
    except Exception as error:  # noqa: BLE001 - a decoder fault on one file must not sink the whole book
        log.warning(f"Could not analyse {row['key']}: {error!r}", exc_info=True)
        decode_ms = round((time.perf_counter() - started) * 1000.0, 1)
        outcome = {"status": "rejected", "reason": UNREADABLE,
                   "message": "This picture could not be read, although it looks like an image. "
                              "Try saving it again as PNG or JPEG and uploading it once more."}
        # not cached: a later version of the software may read it
        return {**_row(row, outcome, stem or ""), "cache_hit": False, "decoded": True, "decode_ms": decode_ms}
    decode_ms = round((time.perf_counter() - started) * 1000.0, 1)
    if stem is None:  # no content hash from the listing: hash the bytes we just read
        stem = cache_stem(bucket, "sha256:" + hashlib.sha256(data).hexdigest(), limits)
    if analysed is not None:
        bucket.write_bytes(stem + ".jpg", analysed.print_jpeg, content_type="image/jpeg")
    bucket.write_bytes(stem + ".json", json.dumps(outcome).encode(), content_type="application/json")
    return {**_row(row, outcome, stem), "cache_hit": False, "decoded": True, "decode_ms": decode_ms}


def _row(raw: dict, outcome: dict, stem: str) -> dict:
    features = outcome.get("features") or {}
    ok = outcome["status"] == "ok"
    return {
        "key": raw["key"], "role": raw["role"], "status": outcome["status"],
        "reason": outcome.get("reason", ""), "message": outcome.get("message", ""),
        "format": features.get("format", ""), "width": features.get("width", 0),
        "height": features.get("height", 0), "size": raw["size"],
        "print_copy": stem + ".jpg" if ok else "", "print_width": outcome.get("print_width", 0),
        "print_height": outcome.get("print_height", 0), "features": features or None,
        "notes": "; ".join(features.get("notes", [])),
    }


def _not_an_upload(raw: dict) -> dict:
    """A stray object (wrong folder, system file): rejected with the inventory's reason."""
    return {
        "key": raw["key"], "role": raw["role"], "status": "rejected", "reason": raw["reason"],
        "message": raw["message"], "format": "", "width": 0, "height": 0, "size": raw["size"],
        "print_copy": "", "print_width": 0, "print_height": 0, "features": None, "notes": "",
        "cache_hit": False, "decoded": False, "decode_ms": 0.0,
    }


@dg.asset(**BOOK_ASSET_ARGS, kinds={"python", "pillow"}, check_specs=checks.VALIDATED_IMAGES_CHECKS)
def validated_images(
    context: dg.AssetExecutionContext, config: ValidationConfig, bucket: Bucket, raw_images: pd.DataFrame
):
    """One row per upload: ok (format, oriented size, features, print copy) or rejected (reason, message)."""
    book_id_of(context)
    limits = ImageLimits()
    records = raw_images.to_dict("records")
    images = [r for r in records if r["role"] in inventory.IMAGE_ROLES]
    strays = [_not_an_upload(r) for r in records if r["role"] == inventory.OTHER]
    with stopwatch() as total, ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        judged = list(pool.map(lambda r: judge_upload(bucket, r, limits), images))
    table = pd.DataFrame(judged + strays, columns=VALIDATED_COLUMNS)

    ok = table[table["status"] == "ok"]
    rejected = table[table["status"] == "rejected"]
    misses = table[table["decoded"]]          # read and analysed this run (not cached, not refused by size)
    for r in rejected.itertuples():
        context.log.info(f"Rejected {r.key}: {r.reason} — {r.message}")
    reasons = rejected["reason"].value_counts().to_dict()
    metadata = {
        "dagster/row_count": len(table),
        "valid": len(ok),
        "rejected": len(rejected),
        "valid_drawings": int((ok["role"] == inventory.DRAWING).sum()),
        "valid_generated": int((ok["role"] == inventory.GENERATED).sum()),
        "cache_hits": int(table["cache_hit"].sum()),
        "decoded": len(misses),
        "decode_ms_total": round(float(misses["decode_ms"].sum()), 1),
        "decode_ms_mean": round(float(misses["decode_ms"].mean()), 1) if len(misses) else 0.0,
        "validation_ms": total["ms"],
        "rejection_reasons": dg.MetadataValue.json(reasons),
        "rejections": table_metadata(rejected, ["key", "reason", "message"]),
        "reason_codes": dg.MetadataValue.json({code: REJECTION_REASONS.get(code, "") for code in reasons}),
    }
    return dg.MaterializeResult(
        value=table,
        metadata=metadata,
        check_results=[
            checks.check_every_upload_judged(table, raw_images),
            checks.check_rejection_rate(table),
        ],
    )
