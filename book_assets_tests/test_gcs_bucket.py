"""GCSBucket against gcp-storage-emulator on 127.0.0.1: names, listing, preconditions, timeouts, retries."""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from google.api_core.exceptions import RetryError
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from book_assets.defs.resources import (
    GCSBucket, GCSNameError, PreconditionConflict, UnsafeKeyError, bucket_from_setting, check_bucket_name,
    check_object_name,
)
from book_assets_dev.gcs_emulator import EMULATOR_ENV_VAR, REQUEST_LOG, free_port


@pytest.mark.parametrize("name", ["picture-books", "a_b", "abc", "my.books.example", "b" * 63, "1-2-3"])
def test_valid_bucket_names(name):
    assert check_bucket_name(name) == name


@pytest.mark.parametrize("name,rule", [
    ("ab", "3 to 63"), ("b" * 64, "3 to 63"), ("Books", "lowercase"), ("-books", "starting and ending"),
    ("books-", "starting and ending"), ("my books", "lowercase"), ("192.168.5.4", "IP address"),
    ("goog-books", "goog"), ("my-google-books", "google"), ("g00gle-art", "google"),
    ("a." + "b" * 64, "dot-separated"), ("a..b", "dot-separated"),
])
def test_invalid_bucket_names_say_which_rule(name, rule):
    with pytest.raises(GCSNameError, match=rule):
        check_bucket_name(name)


@pytest.mark.parametrize("name,rule", [
    ("", "1 to 1024"), ("a" * 1025, "1 to 1024"), ("books/a\rb.png", "carriage return"),
    ("books/a\nb.png", "carriage return"), (".", "not allowed"), ("..", "not allowed"),
    (".well-known/acme-challenge/x", "reserved"), ("books/\udcff.png", "Unicode"),
])
def test_invalid_object_names(name, rule):
    with pytest.raises(GCSNameError, match=rule):
        check_object_name(name)


def test_setting_selects_gcs_with_prefix():
    bucket = bucket_from_setting("gs://picture-books/team-a/")
    assert isinstance(bucket, GCSBucket)
    assert (bucket.bucket, bucket.prefix) == ("picture-books", "team-a")
    assert bucket.url("books/max/drawings/a.jpg") == "gs://picture-books/team-a/books/max/drawings/a.jpg"
    with pytest.raises(ValueError, match="BOOK_BUCKET='gs://Picture_Books'.*lowercase"):
        bucket_from_setting("gs://Picture_Books")
    with pytest.raises(ValueError, match="'..'"):
        bucket_from_setting("gs://picture-books/../other")


def test_round_trip_lists_md5_and_generations(gcs_bucket):
    gcs_bucket.write_bytes("books/b1/drawings/a.png", b"first")
    gcs_bucket.write_bytes("books/b1/drawings/a.png", b"second")
    gcs_bucket.write_bytes("books/b10/x.png", b"other book")
    gcs_bucket.write_bytes("published/b1/report.json", b"{}")
    listed = gcs_bucket.list_objects("books/b1/")
    assert [o.key for o in listed] == ["books/b1/drawings/a.png"]          # b10 is not part of b1
    assert listed[0].size == 6
    assert listed[0].content_hash == "md5:" + hashlib.md5(b"second").hexdigest()
    assert int(listed[0].generation) == gcs_bucket.generation("books/b1/drawings/a.png") > 0
    assert abs(listed[0].updated - time.time()) < 600
    assert gcs_bucket.read_bytes("books/b1/drawings/a.png") == b"second"
    assert gcs_bucket.exists("books/b1/drawings/a.png") and not gcs_bucket.exists("books/b1/nope.png")
    with gcs_bucket.local_path("books/b10/x.png") as path:
        assert path.read_bytes() == b"other book" and path.suffix == ".png"
    assert not path.exists()                                                  # the download is cleaned up
    with pytest.raises(FileNotFoundError), gcs_bucket.local_path("books/b1/missing.png"):
        pass
    assert gcs_bucket.size("books/b1/drawings/a.png") == 6 and gcs_bucket.size("books/b1/nope.png") is None
    with pytest.raises(FileNotFoundError):               # as a local bucket says it (callers catch one kind)
        gcs_bucket.read_bytes("books/b1/nope.png")


def test_prefix_keeps_tenants_apart(gcs_emulator, gcs_bucket):
    team = GCSBucket(bucket=gcs_bucket.bucket, prefix="team-a")
    team.write_bytes("books/b1/drawings/a.png", b"team a")
    gcs_bucket.write_bytes("books/b1/drawings/a.png", b"root")
    assert [o.key for o in team.list_objects("books/")] == ["books/b1/drawings/a.png"]
    assert team.read_bytes("books/b1/drawings/a.png") == b"team a"
    assert {o.key for o in gcs_bucket.list_objects("")} == {"books/b1/drawings/a.png", "team-a/books/b1/drawings/a.png"}


def test_unsafe_keys_are_refused_before_any_request(gcs_bucket):
    for key in ["../escape.png", "books/a\x00.png", "books//a.png", "/abs.png"]:
        with pytest.raises(UnsafeKeyError):
            gcs_bucket.write_bytes(key, b"x")
    with pytest.raises(GCSNameError):
        gcs_bucket.read_bytes("books/a\nb.png")


def test_listing_follows_pages(gcs_emulator, unhedged_gcs_bucket):
    gcs_emulator.seed(unhedged_gcs_bucket.bucket, {f"books/b/{i:04d}.png": b"%d" % i for i in range(250)})
    paged = unhedged_gcs_bucket.model_copy(update={"page_size": 100})
    REQUEST_LOG.clear()
    listed = paged.list_objects("books/")
    assert [o.key for o in listed] == [f"books/b/{i:04d}.png" for i in range(250)]
    pages = [q for method, path, q in REQUEST_LOG if method == "GET" and path.endswith(f"/b/{paged.bucket}/o")]
    assert len(pages) == 3 and "pageToken" not in pages[0] and all("pageToken" in q for q in pages[1:])


def test_uploads_carry_generation_preconditions(unhedged_gcs_bucket):
    gcs_bucket = unhedged_gcs_bucket
    REQUEST_LOG.clear()
    gcs_bucket.write_bytes("published/b1/book.pdf", b"v1")
    first = gcs_bucket.generation("published/b1/book.pdf")
    gcs_bucket.write_bytes("published/b1/book.pdf", b"v2")
    uploads = [q for method, path, q in REQUEST_LOG if method == "POST"]
    # a write is tried create-only first (most writes make new objects); the replace is conditional
    # on the generation it then reads
    assert [q["ifGenerationMatch"] for q in uploads] == [["0"], ["0"], [str(first)]]


def test_unchanged_bytes_are_not_uploaded_again(gcs_bucket):
    gcs_bucket.write_bytes("published/b1/report.json", b"{}")
    before = gcs_bucket.generation("published/b1/report.json")
    gcs_bucket.write_bytes("published/b1/report.json", b"{}")
    assert gcs_bucket.generation("published/b1/report.json") == before


def test_precondition_conflict_is_reported_not_overwritten(gcs_bucket):
    key = "published/b1/book.pdf"
    gcs_bucket.write_bytes(key, b"our first build")
    seen = gcs_bucket.generation(key)
    gcs_bucket.write_bytes(key, b"a newer build by another run")   # lands between our look and our upload
    with pytest.raises(PreconditionConflict, match=f"expected generation {seen}.*not overwritten"):
        gcs_bucket.write_bytes_if_generation(key, b"our stale second build", seen)
    assert gcs_bucket.read_bytes(key) == b"a newer build by another run"
    with pytest.raises(PreconditionConflict, match="expected generation 0"):
        gcs_bucket.write_bytes_if_generation(key, b"create only", 0)


def test_a_retried_upload_that_already_landed_counts_as_done(gcs_bucket):
    key = "published/b1/book.pdf"
    seen = gcs_bucket.generation(key)                         # 0: not there yet
    gcs_bucket.write_bytes_if_generation(key, b"the book", seen)
    gcs_bucket.write_bytes_if_generation(key, b"the book", seen)   # the retry: precondition fails, same bytes
    assert gcs_bucket.read_bytes(key) == b"the book"


class _ScriptedGCS(http.server.BaseHTTPRequestHandler):
    """Answers object metadata requests with a scripted sequence of statuses (503, 429, then 200)."""

    statuses: list[int] = []
    seen: list[str] = []

    def do_GET(self):
        if "/o/" not in self.path:     # the client's own background bucket-metadata lookup: not scripted
            status = 200
        else:
            self.seen.append(self.path)
            status = self.statuses.pop(0) if self.statuses else 200
        body = json.dumps({"name": "books/b/a.png", "bucket": "flaky-books", "generation": "7", "size": "1",
                           "md5Hash": base64.b64encode(hashlib.md5(b"x").digest()).decode()}
                          if status == 200 else {"error": {"code": status, "message": "try again"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_transient_errors_are_retried(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _ScriptedGCS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _ScriptedGCS.statuses, _ScriptedGCS.seen = [503, 429], []
    try:
        monkeypatch.setenv(EMULATOR_ENV_VAR, f"http://127.0.0.1:{server.server_address[1]}")
        bucket = GCSBucket(bucket="flaky-books", timeout_seconds=5, retry_deadline_seconds=30)
        assert bucket.generation("books/b/a.png") == 7
        assert len(_ScriptedGCS.seen) == 3                    # 503, 429, then the answer
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_times_out(monkeypatch):
    """Every call has a bounded timeout: a silent server ends in an error, not a hung run or tick."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv(EMULATOR_ENV_VAR, f"http://127.0.0.1:{silent.getsockname()[1]}")
        bucket = GCSBucket(bucket="silent-books", timeout_seconds=0.3, retry_deadline_seconds=1.0)
        with pytest.raises((RetryError, requests.exceptions.Timeout)):
            bucket.read_bytes("books/b/a.png")


def test_stock_emulator_ignores_generation_preconditions(tmp_path):
    """Why gcs_emulator.py adds preconditions: the stock emulator accepts a stale ifGenerationMatch.

    If this fails, a new gcp-storage-emulator enforces them itself and the addition can go.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
         "--in-memory", "--default-bucket", "stock-books", "--quiet"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != EMULATOR_ENV_VAR},
    )
    try:
        client = storage.Client(project="test", client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
                                credentials=AnonymousCredentials())
        blob = client.bucket("stock-books").blob("published/b/book.pdf")
        deadline = time.monotonic() + 30
        while True:
            try:
                blob.upload_from_string(b"v1", if_generation_match=0, timeout=2, retry=None)
                break
            except requests.exceptions.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "stock emulator did not start"
                time.sleep(0.2)
        blob.upload_from_string(b"v2 with a stale precondition", if_generation_match=0, timeout=2, retry=None)
        assert blob.download_as_bytes(timeout=2) == b"v2 with a stale precondition"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_delete_on_gcs(gcs_bucket):
    gcs_bucket.write_bytes("published/b1/pages/page-009.png", b"old page")
    gcs_bucket.delete("published/b1/pages/page-009.png")
    assert not gcs_bucket.exists("published/b1/pages/page-009.png")
    gcs_bucket.delete("published/b1/pages/page-009.png")      # already gone: fine


def test_write_file_uploads_from_the_file_and_skips_unchanged_bytes(gcs_bucket, tmp_path):
    source = tmp_path / "book.pdf"
    source.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 5000)
    gcs_bucket.write_file("published/b1/book.pdf", source)
    assert gcs_bucket.read_bytes("published/b1/book.pdf") == source.read_bytes()
    generation = gcs_bucket.generation("published/b1/book.pdf")
    gcs_bucket.write_file("published/b1/book.pdf", source)                 # the same bytes: not uploaded again
    assert gcs_bucket.generation("published/b1/book.pdf") == generation
    source.write_bytes(b"%PDF-1.7 a newer edition")
    gcs_bucket.write_file("published/b1/book.pdf", source)
    assert gcs_bucket.read_bytes("published/b1/book.pdf") == b"%PDF-1.7 a newer edition"
