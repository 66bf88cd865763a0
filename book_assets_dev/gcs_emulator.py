"""Google Cloud Storage on 127.0.0.1: ``gcp-storage-emulator`` plus the GCS behaviour it lacks.

The stock emulator (checked on 2026.7.19) ignores ``ifGenerationMatch`` on uploads and returns every
object of a listing in one response (no ``maxResults``/``pageToken``). Real GCS does both, and
``GCSBucket`` depends on both, so this module adds them to the emulator's request handlers exactly
as the JSON API documents them (412 ``conditionNotMet``; pages of at most 1000 objects with an
opaque ``nextPageToken``). ``test_stock_emulator_ignores_generation_preconditions`` pins the stock
behaviour, so a future emulator release that enforces them tells us to drop the additions here.

Used by the pytest fixtures in ``book_assets_tests/conftest.py`` (in-process, one server per
session) and by ``make dev-gcs`` (``python -m book_assets_dev.gcs_emulator --port 9023 --bucket
picture-books``).
"""
from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from collections.abc import Iterator

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator.handlers import buckets as emulator_buckets
from gcp_storage_emulator.handlers import objects as emulator_objects
from gcp_storage_emulator.storage import Storage

EMULATOR_ENV_VAR = "STORAGE_EMULATOR_HOST"
MAX_PAGE_SIZE = 1000          # GCS caps objects.list pages at 1000 items

# What the additions saw, for tests that assert on the requests the client really sent.
REQUEST_LOG: deque[tuple[str, str, dict[str, list[str]]]] = deque(maxlen=20000)


class _MemoryStorage(Storage):
    """In-memory storage that does not re-serialize every object's metadata on every write.

    The stock storage rewrites a JSON copy of all metadata after each upload, which makes
    seeding a few thousand objects quadratic; in memory that copy is never read back.
    """

    def __init__(self) -> None:
        super().__init__(use_memory_fs=True)

    def _write_config_to_file(self) -> None:
        return None


def _precondition_failed(response, message: str) -> None:
    response.status = HTTPStatus.PRECONDITION_FAILED
    response.json({"error": {"code": 412, "message": message,
                             "errors": [{"domain": "global", "reason": "conditionNotMet", "message": message}]}})


def _insert_with_preconditions(original):
    def insert(request, response, storage, *args, **kwargs):
        REQUEST_LOG.append(("POST", request.path, request.query))
        wanted = request.query.get("ifGenerationMatch")
        if wanted and request.query.get("uploadType", [""])[0] != "":
            name = (request.query.get("name") or [None])[0]
            if name is None and request.query["uploadType"][0] == "multipart":
                name = request.data["meta"].get("name")
            elif name is None and isinstance(request.data, dict):
                name = request.data.get("name")
            current = storage.objects.get(request.params["bucket_name"], {}).get(name)
            current_generation = current["generation"] if current else "0"
            if str(wanted[0]) != current_generation:
                return _precondition_failed(
                    response, f"ifGenerationMatch={wanted[0]} but the live generation of {name} is {current_generation}")
        return original(request, response, storage, *args, **kwargs)
    return insert


def _paginated_ls(original):
    def ls(request, response, storage, *args, **kwargs):
        REQUEST_LOG.append(("GET", request.path, request.query))
        if any(k in request.query for k in ("delimiter", "matchGlob", "softDeleted", "versions")):
            return original(request, response, storage, *args, **kwargs)
        bucket_name = request.params["bucket_name"]
        prefix = request.query.get("prefix", [None])[0]
        page_size = min(int(request.query.get("maxResults", [MAX_PAGE_SIZE])[0]), MAX_PAGE_SIZE)
        after = request.query.get("pageToken", [None])[0]
        after_name = base64.urlsafe_b64decode(after.encode()).decode() if after else None
        try:
            items, _ = storage.get_file_list(bucket_name, prefix)
        except emulator_objects.NotFound:
            response.status = HTTPStatus.NOT_FOUND
            return None
        if after_name is not None:
            items = [item for item in items if item["name"] > after_name]
        page = items[:page_size]
        body = {"kind": "storage#objects", "items": page}
        if len(items) > page_size:
            body["nextPageToken"] = base64.urlsafe_b64encode(page[-1]["name"].encode()).decode()
        response.json(body)
        return None
    return ls


_installed = False
_install_lock = threading.Lock()


def install_gcs_semantics() -> None:
    """Route uploads and listings through the additions above (idempotent, process-wide)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for _, handlers in emulator_server.HANDLERS:
            for method, handler in list(handlers.items()):
                if handler is emulator_objects.insert:
                    handlers[method] = _insert_with_preconditions(handler)
                elif handler is emulator_objects.ls:
                    handlers[method] = _paginated_ls(handler)
        _installed = True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Emulator:
    """A running emulator: its URL (the value for ``STORAGE_EMULATOR_HOST``) and its storage."""

    host: str
    port: int
    storage: Storage
    thread: emulator_server.APIThread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_bucket(self, name: str) -> None:
        emulator_buckets.create_bucket(name, self.storage)

    def seed(self, bucket: str, files: dict[str, bytes]) -> None:
        """Put objects straight into the emulator's storage, as finished uploads (fast bulk set-up)."""
        for name, data in files.items():
            resource = emulator_objects._make_object_resource(
                self.url, bucket, name, "application/octet-stream", str(len(data)))
            self.storage.create_file(bucket, name, data, emulator_objects._checksums(data, resource))

    def stop(self) -> None:
        self.thread.join(timeout=5)


@contextmanager
def running_emulator(host: str = "127.0.0.1", port: int | None = None,
                     data_dir: str | None = None) -> Iterator[Emulator]:
    """Start the emulator (with the GCS additions) on a loopback port in a background thread.

    Objects live in memory, or under ``data_dir`` so they survive a restart (``make dev-gcs``).
    """
    install_gcs_semantics()
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        storage = Storage(data_dir=os.path.abspath(data_dir))
    else:
        storage = _MemoryStorage()
    thread = emulator_server.APIThread(host, port or free_port(), storage, daemon=True)
    thread.start()
    if not thread.is_running.wait(timeout=10):
        raise RuntimeError("the GCS emulator did not start within 10 s")
    emulator = Emulator(host, thread._httpd.server_address[1], storage, thread)
    try:
        yield emulator
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """``make dev-gcs``: run the emulator in the foreground until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Local Google Cloud Storage for book_assets (gcp-storage-emulator)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9023)
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create (repeatable)")
    parser.add_argument("--data-dir", help="keep objects in this folder across restarts (default: in memory)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_emulator(args.host, args.port, args.data_dir) as emulator:
        for name in args.bucket:
            emulator.create_bucket(name)
        where = args.data_dir or "in memory"
        print(f"GCS emulator on {emulator.url} ({where}), buckets: {', '.join(args.bucket) or 'none'}", flush=True)
        try:
            while not stop.is_set():
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    os.environ.pop(EMULATOR_ENV_VAR, None)
    raise SystemExit(main())
