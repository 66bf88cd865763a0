"""Stage 3 (image_pairs): which drawing each accepted variation belongs to, with evidence and confidence.

Also what a reviewer needs to settle the uncertain ones: a review table and ready ``pairs.csv`` lines.
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..contracts import Inventory, Pairing, Problem, Validation
from ..inventory import Role
from ..look_memo import LookMemo, dump_memo, load_memo, memo_name
from ..look_model import FITTED_MODEL
from ..pairing import Candidate, PairStatus, pair_images
from ..pairs_csv import parse_overrides
from ..store import ObjectStore, read_if_stored
from ..timing import ms_since

REVIEW_COLUMNS = ["generated", "status", "drawing", "confidence", "runner_up", "runner_up_probability", "reason",
                  "pairs_csv_line"]
OVERRIDE_PROBLEM = "pairs_csv"


def pair_book(inventory: Inventory, validation: Validation, store: ObjectStore) -> Pairing:
    """Pair every accepted variation with one drawing: overrides, provenance, file names, then looks."""
    updated = {e.key: e.updated for e in inventory.entries}
    accepted = validation.accepted()
    drawings = sorted((i for i in accepted if i.role is Role.DRAWING), key=lambda i: i.key)
    generated = sorted((i for i in accepted if i.role is Role.GENERATED), key=lambda i: i.key)

    overrides: dict[str, str | None] = {}     # None: the reviewer says it is from none of these drawings
    problems: list[str] = []
    overrides_key = inventory.settings_key(Role.OVERRIDES)
    if overrides_key:
        csv_text = store.read_bytes(overrides_key).decode("utf-8-sig", errors="replace")
        overrides, problems = parse_overrides(csv_text, inventory.prefix, [i.key for i in accepted])

    def candidates(images):
        return [Candidate(key=i.key, features=i.features, uploaded=float(updated.get(i.key, 0.0)),
                          content_id=i.print_copy) for i in images]

    started = time.perf_counter()
    memo_key = store.work_key("looks", inventory.book_id, memo_name(FITTED_MODEL))
    memo = LookMemo(load_memo(stored) if (stored := read_if_stored(store, memo_key)) is not None else {})
    result = pair_images(candidates(drawings), candidates(generated), overrides, model=FITTED_MODEL, memo=memo)
    if memo.changed():
        store.write_bytes(memo_key, dump_memo(memo.kept), content_type="application/octet-stream")
    pairing_ms = ms_since(started)
    drawing_keys = tuple(i.key for i in drawings)
    return Pairing(
        book_id=inventory.book_id, pairs=tuple(result.pairs), drawings=drawing_keys,
        variations={d: tuple(result.variations_of(d)) for d in drawing_keys},
        override_problems=tuple(Problem(code=OVERRIDE_PROBLEM, message=p) for p in problems),
        pairing_ms=pairing_ms, looks_scored=memo.scored, looks_reused=memo.reused,
    )


def pairs_csv_line(generated: str, drawing: str | None) -> str:
    """One pairs.csv row, quoted by the csv module so any file name (commas, quotes) reads back
    through ``parse_overrides``; ``<drawing>`` stands in where there is no suggestion."""
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([generated, drawing if isinstance(drawing, str) else "<drawing>"])
    return line.getvalue()


def review_rows(review: Sequence[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Flagged pairs (``Pairing.rows(needs_review=True)``) as a reviewer reads them: paths inside the
    book, whether the variation is printed or held out (``status``), the two best drawings with their
    probabilities, why it was flagged, and the pairs.csv line that confirms the suggested drawing."""
    def inside(key):
        return key[len(prefix):] if isinstance(key, str) and key.startswith(prefix) else key

    rows = []
    for pair in review:
        row = {**pair, **{column: inside(pair[column]) for column in ("generated", "drawing", "runner_up")}}
        rows.append({**row, "pairs_csv_line": pairs_csv_line(row["generated"], row["drawing"])})
    return rows


def review_csv(review: Sequence[Mapping[str, Any]], prefix: str) -> str:
    """A pairs.csv to start from: one line per flagged pair, the suggested drawing filled in."""
    if not review:
        return "Nothing to review."
    rows = review_rows(review, prefix)
    lines = ["generated,drawing", *(row["pairs_csv_line"] for row in rows)]
    held = sum(row["status"] == PairStatus.HELD for row in rows)
    return ("Copy into books/<book>/pairs.csv, change the drawing where the suggestion is wrong (write `-` "
            "when a variation is from none of this book's drawings), and build again"
            + (f"; held variations ({held}) stay out of the book until a line names their drawing" if held else "")
            + ":\n\n```csv\n" + "\n".join(lines) + "\n```")


def confidence_distribution(pairing: Pairing) -> dict[str, int]:
    """How many chosen pairs fall in each tenth of confidence (0.0-0.1 … 0.9-1.0)."""
    bins = {f"{lo / 10:.1f}-{(lo + 1) / 10:.1f}": 0 for lo in range(10)}
    for pair in pairing.pairs:
        if pair.drawing is not None:
            lo = min(9, int(pair.confidence * 10))
            bins[f"{lo / 10:.1f}-{(lo + 1) / 10:.1f}"] += 1
    return bins


def deciding_signals(pairing: Pairing) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairing.pairs:
        if pair.drawing is not None:
            for signal in pair.signals:
                counts[signal] = counts.get(signal, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
