"""Stage 2 (validated_images): judge every upload, from the content-addressed cache when it was seen before.

The cache lives in the bucket's work area, keyed by content hash and salted with everything that
changes a verdict (cache format, features version, limits), so a re-run decodes only new or changed
files and a new version of the analysis never reads a stale entry. Image bytes are read one file at
a time per worker and never kept: the result holds features and the key of each print copy.

Crash safety of the cache without a flush per file: an entry is its print copy (``<stem>.jpg``) and,
written after it, its verdict (``<stem>.json``, which records the copy's size). Both are written
without ``fsync`` (it was ~9 % of a cold build), so after a crash of the machine either may be short
or empty; an entry is used only when its verdict parses and its print copy has the recorded size
(``cached_outcome``), anything else is made again. Entries from before the size was recorded were
flushed when written and are used as they are.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from ..contracts import Inventory, InventoryEntry, ValidatedImage, Validation, Verdict
from ..imaging import FEATURES_VERSION, ImageFeatures, ImageLimits, ImageRejected, analyse_image, check_file_size
from ..imaging.analyse import AnalysedImage
from ..inventory import IMAGE_ROLES, Role
from ..memory import keep_freed_pages
from ..review import REVIEW_THUMBNAIL_PX, THUMBNAIL_QUALITY, review_thumbnail_key
from ..store import ObjectStore, read_if_stored
from ..timing import ms_since

CACHE_FORMAT = 1
UNREADABLE = "unreadable"      # the decoder itself failed unexpectedly (reported, never cached)
UNREADABLE_MESSAGE = ("This picture could not be read, although it looks like an image. "
                      "Try saving it again as PNG or JPEG and uploading it once more.")
log = logging.getLogger(__name__)


def cache_stem(store: ObjectStore, content_hash: str, limits: ImageLimits) -> str:
    """Work-area key stem for one content hash under the current limits, features and cache format."""
    salt = hashlib.sha256(json.dumps([CACHE_FORMAT, FEATURES_VERSION, asdict(limits)]).encode()).hexdigest()[:8]
    return store.work_key("cache", f"v{CACHE_FORMAT}-{salt}", content_hash.replace(":", "-"))


def _judged(entry: InventoryEntry, outcome: dict, stem: str, features: ImageFeatures | None = None,
            **how) -> ValidatedImage:
    """A ValidatedImage from a cached or fresh outcome (the cache's JSON form); ``features`` when they
    are at hand already (fresh ones equal what the cache gives back: ``features_of`` quantises them)."""
    if features is None and outcome.get("features"):
        features = ImageFeatures.from_dict(outcome["features"])
    ok = outcome["status"] == Verdict.OK
    return ValidatedImage(
        key=entry.key, role=entry.role, status=Verdict(outcome["status"]), size=entry.size,
        reason=outcome.get("reason", ""), message=outcome.get("message", ""),
        format=features.format if features else "", width=features.width if features else 0,
        height=features.height if features else 0, print_copy=stem + ".jpg" if ok else "",
        print_width=outcome.get("print_width", 0), print_height=outcome.get("print_height", 0),
        features=features, notes="; ".join(features.notes) if features else "", **how)


Analyse = Callable[[Path, ImageLimits], AnalysedImage]


def analyse_file(path: Path, limits: ImageLimits) -> AnalysedImage:
    """Read one file (at most one byte past the size cap, which ``analyse_image`` then refuses) and
    analyse it. What ``AnalysisPool`` runs in a worker: the path crosses the process boundary, not
    the file's megabytes. A pass-through JPEG also brings the review panel's thumbnail of its print
    copy (``preview_jpeg``): its second decode in the book step was 3 % of a cold build's CPU."""
    with open(path, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    return analyse_image(data, limits, want_print_copy=True, review_px=REVIEW_THUMBNAIL_PX,
                         review_quality=THUMBNAIL_QUALITY)


def analyse_file_spooled(path: Path, limits: ImageLimits, spool: str) -> AnalysedImage:
    """``analyse_file`` in a worker process, its print copy handed back as a file in ``spool`` rather
    than through the result pipe: a 0.3-2 MB result written into a 64 kB pipe kept the worker waiting
    on the parent's reader thread, itself waiting for the GIL among the I/O threads (5 % of the
    workers' profile samples)."""
    analysed = analyse_file(path, limits)
    if analysed.print_jpeg is None:
        return analysed
    with tempfile.NamedTemporaryFile(dir=spool, suffix=".jpg", delete=False) as handle:
        handle.write(analysed.print_jpeg)
    return replace(analysed, print_jpeg=None, print_file=handle.name)


def _store_print_copy(store: ObjectStore, key: str, analysed: AnalysedImage) -> None:
    """Write the print copy from wherever it is held (bytes, or a worker's spooled file, then removed)."""
    if not analysed.print_file:
        store.write_bytes(key, analysed.print_jpeg, content_type="image/jpeg", durable=False)
        return
    try:
        store.write_file(key, Path(analysed.print_file), content_type="image/jpeg", durable=False)
    finally:
        os.unlink(analysed.print_file)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def cached_outcome(store: ObjectStore, stem: str) -> dict | None:
    """The cache entry at ``stem`` when it is whole: its verdict parses and, for an accepted image, its
    print copy has the size the verdict recorded. None (so it is made again, never used) when it is
    absent, cut short or empty. Two bucket calls, as many as an existence check and a read."""
    text = read_if_stored(store, stem + ".json")
    if text is None:
        return None
    try:
        outcome = json.loads(text)
        status = Verdict(outcome["status"])
    except (ValueError, KeyError, TypeError):
        log.warning("cache_entry_unreadable stem=%s bytes=%d: made again", stem, len(text))
        return None
    if status is Verdict.OK and "print_bytes" in outcome:
        found = store.size(stem + ".jpg")
        if found != outcome["print_bytes"]:
            log.warning("cache_print_copy_not_whole stem=%s bytes=%s expected=%s: made again",
                        stem, found, outcome["print_bytes"])
            return None
    return outcome


def cached_judgement(store: ObjectStore, entry: InventoryEntry, limits: ImageLimits) -> ValidatedImage | None:
    """The verdict on one image object from the cache, when its content was judged before (None: judge it)."""
    stem = cache_stem(store, entry.content_hash, limits) if entry.content_hash else None
    cached = cached_outcome(store, stem) if stem else None
    return _judged(entry, cached, stem, cache_hit=True) if cached is not None else None


def judge_afresh(store: ObjectStore, entry: InventoryEntry, limits: ImageLimits,
                 analyse: Analyse = analyse_file) -> ValidatedImage:
    """Validate one image object the cache does not know, and cache the verdict; ``analyse`` decodes
    (in this process by default, in a worker process under ``validate_book``) the object's local
    file (the object itself in a local bucket, a download on GCS)."""
    stem = cache_stem(store, entry.content_hash, limits) if entry.content_hash else None
    try:
        check_file_size(entry.size, limits)          # before reading: never load a huge upload
    except ImageRejected as rejected:
        return _judged(entry, {"status": Verdict.REJECTED, "reason": rejected.code, "message": rejected.message}, "")
    started = time.perf_counter()
    with store.local_path(entry.key) as path:
        if stem is None:  # no content hash from the listing: hash the file we are about to read
            stem = cache_stem(store, _file_sha256(path), limits)
        try:
            analysed = analyse(path, limits)
            outcome = {"status": Verdict.OK.value, "reason": "", "message": "",
                       "features": analysed.features.to_dict(),
                       "print_width": analysed.print_width, "print_height": analysed.print_height,
                       "print_bytes": analysed.print_size}
        except ImageRejected as rejected:
            analysed = None
            outcome = {"status": Verdict.REJECTED.value, "reason": rejected.code, "message": rejected.message}
        except Exception as error:  # noqa: BLE001 - a decoder fault on one file must not sink the whole book
            log.warning("analyse_failed key=%s error=%r", entry.key, error, exc_info=True)
            outcome = {"status": Verdict.REJECTED.value, "reason": UNREADABLE, "message": UNREADABLE_MESSAGE}
            # not cached: a later version of the software may read it
            return _judged(entry, outcome, stem, decoded=True, decode_ms=ms_since(started))
    decode_ms = ms_since(started)
    if analysed is not None:   # the print copy first: a verdict is never there without it (cached_outcome)
        _store_print_copy(store, stem + ".jpg", analysed)
        if analysed.preview_jpeg is not None:   # where the review panel looks before drawing one (review_of);
            # flushed, as read_or_make stores what it draws: it is read back as it is, unchecked
            store.write_bytes(review_thumbnail_key(store, stem + ".jpg"), analysed.preview_jpeg,
                              content_type="image/jpeg")
    store.write_bytes(stem + ".json", json.dumps(outcome).encode(), content_type="application/json", durable=False)
    return _judged(entry, outcome, stem, analysed.features if analysed else None, decoded=True, decode_ms=decode_ms)


def _not_an_upload(entry: InventoryEntry) -> ValidatedImage:
    """A stray object (wrong folder, system file): rejected with the inventory's reason."""
    return ValidatedImage(key=entry.key, role=entry.role, status=Verdict.REJECTED, size=entry.size,
                          reason=entry.reason, message=entry.message)


class AnalysisPool:
    """Decoding in ``workers`` processes, started on the first image that needs one (a rebuild whose
    images all come from the cache starts none). Processes, not threads: Pillow releases the GIL
    while it decodes, but features, colour conversion, hashing and the PNG checks are Python and
    numpy that hold it, so threads cannot use every core. Forked, so a worker starts in milliseconds
    with everything imported; it reads the file it is handed by path and returns features and its
    print copy as a file in the pool's spool folder (``analyse_file_spooled``), keeping its freed
    memory for the next file (``keep_freed_pages``)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._spool = ""
        self._lock = threading.Lock()

    def __call__(self, path: Path, limits: ImageLimits) -> AnalysedImage:
        with self._lock:
            if self._pool is None:
                self._spool = tempfile.mkdtemp(prefix="book_assets-print-copies-")
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                                 initializer=keep_freed_pages)
        return self._pool.submit(analyse_file_spooled, path, limits, self._spool).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._spool:        # print copies of files whose writes failed or were never made
            shutil.rmtree(self._spool, ignore_errors=True)


def _map_in_threads(function: Callable, items: list, threads: int) -> list:
    """``[function(item) for item in items]``, in ``threads`` threads (in this one when that is 1)."""
    if threads <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(function, items))


def validate_book(inventory: Inventory, store: ObjectStore, *, limits: ImageLimits | None = None,
                  workers: int = 2) -> Validation:
    """Every drawing and variation judged — first from the cache (``cached_judgement``, in the store's
    ``lookup_threads``), then the rest afresh: downloads, decodes and writes in the store's
    ``io_threads_per_worker`` threads per decoding process (``AnalysisPool``), so each process has its
    next file while threads wait on the bucket — and every stray object rejected with its reason;
    settings files are not images."""
    limits = limits or ImageLimits()
    images = inventory.of_role(*IMAGE_ROLES)
    started = time.perf_counter()
    judged = _map_in_threads(lambda entry: cached_judgement(store, entry, limits), images, store.lookup_threads)
    unknown = [index for index, verdict in enumerate(judged) if verdict is None]
    analyse = AnalysisPool(workers) if len(unknown) > 1 else analyse_file
    try:
        threads = store.io_threads_per_worker * max(1, workers)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            fresh = pool.map(lambda index: judge_afresh(store, images[index], limits, analyse), unknown)
            for index, verdict in zip(unknown, fresh):
                judged[index] = verdict
    finally:
        if isinstance(analyse, AnalysisPool):
            analyse.close()
    strays = [_not_an_upload(e) for e in inventory.of_role(Role.OTHER)]
    return Validation(book_id=inventory.book_id, images=tuple(judged + strays), validation_ms=ms_since(started))
