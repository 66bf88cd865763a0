"""Every book ends with a report: the shapes a first upload really has — drawings with no variations
yet, variations with no drawing, nothing usable, one stray file, hostile settings — build what they
can (or stop at a blocking check that says why) and never crash a step; and a bug is not retried."""
from __future__ import annotations

import io
import json

import pytest

from book_assets.core.report import unaccounted
from book_assets_dev.samples import draw_subject

from .support import build, upload

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
    report = json.loads(bucket.read_bytes(f"published/{shape}/report.json"))
    assert unaccounted(report, keys) == []
    status = json.loads(bucket.read_bytes(f"published/{shape}/status.json"))
    assert status["published"] is True and status["run_id"] == result.run_id
    if shape == "hostile-settings":
        assert any("nested too deeply" in problem for problem in report["problems"])
