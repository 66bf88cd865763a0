"""The local bucket: safe keys, atomic writes, listing with content hashes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from book_assets.core.bucket_layout import book_id_problem
from book_assets.defs.resources import LocalBucket, UnsafeKeyError, bucket_from_setting, check_key


@pytest.mark.parametrize("key", [
    "../escape.png", "books/../../etc/passwd", "/etc/passwd", "books\\x.png", "books/a\x00.png",
    "books/a\nb.png", "books//a.png", "books/./a.png", "", "C:/windows.png",
])
def test_unsafe_keys_are_refused(bucket, key):
    with pytest.raises(UnsafeKeyError):
        check_key(key)
    with pytest.raises(UnsafeKeyError):
        bucket.write_bytes(key, b"x")


def test_symlink_escape_is_refused(tmp_path):
    root = tmp_path / "bucket"
    (root / "books").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (root / "books" / "link").symlink_to(tmp_path)
    bucket = LocalBucket(root=str(root))
    with pytest.raises(UnsafeKeyError):
        bucket.read_bytes("books/link/secret.txt")
    listed = bucket.list_objects("books/")                      # listed as a link, never followed
    assert [(o.key, o.symlink, o.content_hash) for o in listed] == [("books/link", True, "")]


def test_a_link_is_followed_only_while_it_stays_inside_the_bucket(tmp_path):
    """Each part of a name is checked for a link (not only folders on the way): a linked file that leads
    out is refused, a link from one folder of the bucket to another is read through."""
    root = tmp_path / "bucket"
    (root / "books" / "b").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (root / "books" / "b" / "out.txt").symlink_to(tmp_path / "secret.txt")
    (root / "shared").mkdir()
    (root / "shared" / "note.txt").write_text("inside")
    (root / "books" / "b" / "in").symlink_to(root / "shared")
    bucket = LocalBucket(root=str(root))
    with pytest.raises(UnsafeKeyError):
        bucket.read_bytes("books/b/out.txt")
    assert bucket.read_bytes("books/b/in/note.txt") == b"inside"
    assert bucket.size("books/b/missing/deeper.txt") is None        # nothing there: no link to follow


def test_write_is_atomic_and_listing_hashes_content(bucket):
    bucket.write_bytes("books/b1/drawings/a.png", b"first")
    bucket.write_bytes("books/b1/drawings/a.png", b"second")
    bucket.write_bytes("books/b10/x.png", b"other book")
    listed = bucket.list_objects("books/b1/")
    assert [o.key for o in listed] == ["books/b1/drawings/a.png"]      # b10 is not part of b1
    assert listed[0].size == 6
    assert listed[0].content_hash == "sha256:" + hashlib.sha256(b"second").hexdigest()
    assert bucket.read_bytes("books/b1/drawings/a.png") == b"second"
    leftovers = [p for p in Path(bucket.root).rglob("*") if "tmp" in p.name]
    assert leftovers == []


def test_bucket_setting_picks_the_implementation(tmp_path):
    assert isinstance(bucket_from_setting(str(tmp_path)), LocalBucket)
    with pytest.raises(ValueError, match="gs://"):
        bucket_from_setting("s3://nope")


@pytest.mark.parametrize("book_id,ok", [
    ("max-and-friends", True), ("b_1", True), ("a" * 63, True), ("a" * 64, False), ("Max", False),
    ("", False), ("../x", False), ("has space", False), ("émile", False),
])
def test_book_id_rule(book_id, ok):
    assert (book_id_problem(book_id) is None) is ok


def test_delete_removes_and_tolerates_missing(bucket):
    bucket.write_bytes("published/b1/pages/page-001.png", b"x")
    bucket.delete("published/b1/pages/page-001.png")
    assert not bucket.exists("published/b1/pages/page-001.png")
    bucket.delete("published/b1/pages/page-001.png")          # already gone: fine
    with pytest.raises(UnsafeKeyError):
        bucket.delete("../outside.png")


@pytest.mark.parametrize("linkable", [True, False])
def test_write_file_links_or_copies_a_local_file_atomically(bucket, tmp_path, monkeypatch, linkable):
    """On the bucket's own file system the file is linked into place (the same inode: written to disk
    once), flushed when durable and readable by everyone; where it cannot be linked, it is copied."""
    source = tmp_path / "book.pdf"
    source.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 5000)
    source.chmod(0o600)                                  # as a spooled print copy is
    if not linkable:
        def refuse(*args, **kwargs):
            raise OSError(18, "Invalid cross-device link")
        monkeypatch.setattr(os, "link", refuse)
    flushed = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (flushed.append(fd), real_fsync(fd)))
    bucket.write_file("published/b1/book.pdf", source)
    written = Path(bucket.root, "published/b1/book.pdf")
    assert bucket.read_bytes("published/b1/book.pdf") == source.read_bytes() and len(flushed) == 1
    assert os.path.samefile(written, source) is linkable and written.stat().st_mode & 0o777 == 0o644
    source.unlink()                                      # the caller's folder goes: the object stays
    assert written.read_bytes().startswith(b"%PDF-1.7 ")
    assert [p for p in Path(bucket.root).rglob("*") if "tmp" in p.name] == []


def test_size_counts_bytes_and_says_none_when_absent(bucket):
    bucket.write_bytes("_book_assets/cache/a.jpg", b"12345")
    assert bucket.size("_book_assets/cache/a.jpg") == 5
    assert bucket.size("_book_assets/cache/missing.jpg") is None
    assert bucket.size("_book_assets/cache") is None                 # a folder is not an object
    with pytest.raises(FileNotFoundError):
        bucket.read_bytes("_book_assets/cache/missing.jpg")


def test_only_a_durable_write_flushes_to_disk(bucket, monkeypatch):
    flushed = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (flushed.append(fd), real_fsync(fd)))
    bucket.write_bytes("_book_assets/cache/a.json", b"{}", durable=False)
    assert flushed == [] and bucket.read_bytes("_book_assets/cache/a.json") == b"{}"
    bucket.write_bytes("published/b1/report.json", b"{}")                # the default: flushed
    assert len(flushed) == 1
    assert [p for p in Path(bucket.root).rglob("*") if "tmp" in p.name] == []
