"""The hostile corpus (book_assets_dev.hostile) beside a good book, on a local bucket and on the GCS
emulator: no crash, the book still published, and every object in report.json with the verdict
expected for it. What only a file system can hold (a link, a name that is not UTF-8) is added on
the local bucket."""
from __future__ import annotations

import json
import time

import pytest

from book_assets_dev.hostile import ACCEPTED, CONFIG, LOCAL_ONLY, hostile_files, write_local_only

from .support import build, published, upload

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "gcs"])
def backend(request) -> tuple[object, dict[str, tuple[str, str]]]:
    """The bucket, and the file-system-only objects it holds (none on GCS)."""
    if request.param == "gcs":
        return request.getfixturevalue("gcs_bucket"), {}
    return request.getfixturevalue("bucket"), LOCAL_ONLY


def test_every_hostile_upload_gets_its_verdict_and_the_book_is_published(backend, instance, small_book_files, tmp_path):
    bucket, local_only = backend
    corpus = hostile_files()
    upload(bucket, "b-hostile", {**small_book_files, **{h.relative: h.data for h in corpus}})
    if local_only:
        write_local_only(tmp_path / "bucket" / "books" / "b-hostile", tmp_path / "outside.png")
    started = time.perf_counter()
    result = build(bucket, instance, "b-hostile")
    seconds = time.perf_counter() - started
    assert result.success and result.output_for_node("book").published is True

    report = json.loads(bucket.read_bytes(published(bucket, "b-hostile", "report.json")))
    rejected = {r["key"].removeprefix("books/b-hostile/"): r for r in report["rejected"]}
    used = {key.removeprefix("books/b-hostile/") for page in report["pages"] for key in page["images"]}
    used |= {key.removeprefix("books/b-hostile/") for key in report["unpaired"]}
    used |= {h["generated"].removeprefix("books/b-hostile/") for h in report["held"]}
    configs = {key.removeprefix("books/b-hostile/") for key in report["config_files"]}
    verdicts = {}
    for hostile in corpus:
        verdicts[hostile.relative] = (rejected[hostile.relative]["reason"] if hostile.relative in rejected else
                                      CONFIG if hostile.relative in configs else
                                      ACCEPTED if hostile.relative in used else "unaccounted")
    for relative in local_only:
        verdicts[relative] = rejected.get(relative, {}).get("reason", "unaccounted")
    expected = {**{h.relative: h.expected for h in corpus}, **{k: v[0] for k, v in local_only.items()}}
    assert verdicts == expected
    assert all(r["message"] for r in report["rejected"])               # each with a sentence for people
    # the hostile settings were reported, not crashed on
    assert any("book.toml" in p for p in report["problems"]) and any("pairs.csv" in p for p in report["problems"])
    # XXE: nothing of the file it names reached any output
    preview = bucket.read_bytes(published(bucket, "b-hostile", "preview.html")).decode()
    assert "root:" not in json.dumps(report) and "root:" not in preview
    print(f"\nhostile corpus on {type(bucket).__name__}: {len(expected)} hostile + {len(small_book_files)} good objects built in {seconds:.1f} s")
