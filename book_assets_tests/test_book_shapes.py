"""Every book ends with a report: the shapes a first upload really has — drawings with no variations
yet, variations with no drawing, nothing usable, one stray file, hostile settings — build what they
can (or stop at a blocking check that says why) and never crash a step; and a bug is not retried."""
from __future__ import annotations

import io
import json
import os

import pytest

from book_assets.core.report import unaccounted
from book_assets_dev.samples import draw_subject

from .support import build, published, upload

pytestmark = pytest.mark.integration


def _jpeg(subject: str = "monster") -> bytes:
    data = io.BytesIO()
    draw_subject(subject, 1200).save(data, "JPEG")
    return data.getvalue()


SHAPES = {
    "drawings-only": lambda: {"drawings/max.jpg": _jpeg()},
    "variations-only": lambda: {"generated/max_1.jpg": _jpeg()},
    "nothing-usable": lambda: {"drawings/a.png": b"", "generated/b.png": b"not a picture"},
    "one-stray-file": lambda: {"notes.txt": b"hello"},
    "hostile-settings": lambda: {"drawings/max.jpg": _jpeg(), "book.toml": ("a = " + "[" * 600 + "]" * 600).encode(),
                                 "pairs.csv": b'generated,drawing\n"unterminated,\n'},
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_book_shape_ends_with_a_report_and_a_status(shape, bucket, instance):
    keys = upload(bucket, shape, SHAPES[shape]())
    result = build(bucket, instance, shape, raise_on_error=False)
    failures = [e for e in result.all_events if e.is_step_failure]
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert result.success and not failures and not retries, [e.event_specific_data.error.message for e in failures]
    report = json.loads(bucket.read_bytes(published(bucket, shape, "report.json")))
    assert unaccounted(report, keys) == []
    status = json.loads(bucket.read_bytes(f"published/{shape}/status.json"))
    assert status["published"] is True and status["run_id"] == result.run_id
    if shape == "hostile-settings":
        assert any("nested too deeply" in problem for problem in report["problems"])


def test_a_name_that_is_not_utf8_is_reported_as_unsafe_not_crashed_on(bucket, instance):
    keys = upload(bucket, "bytes", {"drawings/max.jpg": _jpeg()})
    folder = os.path.join(os.fsencode(bucket.root), b"books", b"bytes", b"generated")
    os.makedirs(folder)
    with open(os.path.join(folder, b"caf\xe9_1.jpg"), "wb") as handle:      # Latin-1 bytes, as old zips have
        handle.write(_jpeg())
    result = build(bucket, instance, "bytes", raise_on_error=False)
    assert result.success
    report = json.loads(bucket.read_bytes(published(bucket, "bytes", "report.json")))
    [rejected] = report["rejected"]
    assert rejected["key"] == "books/bytes/generated/caf\\xe9_1.jpg" and rejected["reason"] == "unsafe_name"
    assert "not UTF-8" in rejected["message"] and unaccounted(report, [*keys, rejected["key"]]) == []


def test_a_linked_book_folder_is_never_followed(bucket, instance, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "drawings").mkdir(parents=True)
    (outside / "drawings" / "secret.jpg").write_bytes(_jpeg())
    os.makedirs(os.path.join(bucket.root, "books"))
    os.symlink(outside, os.path.join(bucket.root, "books", "linked"))
    result = build(bucket, instance, "linked", raise_on_error=False)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.message
    assert failure.step_key == "raw_images" and "books/linked is a link to another folder" in message
    assert "not retried" in message and not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert not bucket.list_objects("_book_assets/cache/") and not bucket.exists("published/linked/current.json")


def test_thousands_of_bad_settings_lines_make_one_event_and_a_bounded_report(bucket, instance):
    """5,000 pairs.csv lines naming files that do not exist: one log event for all of them, and the
    report lists the first 200 and counts the rest (each problem its own event once cost minutes)."""
    lines = "".join(f"ghost_{n}.png,max.jpg\n" for n in range(5_000))
    upload(bucket, "noisy", {"drawings/max.jpg": _jpeg(), "pairs.csv": ("generated,drawing\n" + lines).encode()})
    result = build(bucket, instance, "noisy")
    messages = [entry.user_message for entry in instance.all_logs(result.run_id) if "pairs.csv" in entry.user_message]
    assert len(messages) == 1 and "pairs_csv_problems" in messages[0] and "count=5000" in messages[0]
    report = json.loads(bucket.read_bytes(published(bucket, "noisy", "report.json")))
    assert len(report["problems"]) == 201 and report["problems"][-1] == "… and 4,800 more like these."
