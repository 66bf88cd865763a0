"""``report.json``: the machine-readable account of a book, and the "nothing lost" reconciliation.

Every object under ``books/<id>/`` appears in the report somewhere: placed on a page, held out of
the book for review, excluded by the reviewer (``pairs.csv``), listed as unpaired, rejected with a
reason, or named as a configuration file. ``unaccounted`` finds any object that is in none of those
places, which must never happen.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .layout import Page

REPORT_VERSION = 3    # 2: "pairs" lists printed pairs only; "held" and "excluded" list the variations left out
                      # 3: "preflight" lists every item measured per file, with its value and limit


@dataclass
class BookReport:
    book_id: str
    title: str
    pages: list[dict[str, Any]]               # {"number", "kind", "images": [bucket keys]}
    pairs: list[dict[str, Any]]               # printed: {"generated", "drawing", "confidence", "needs_review"}
    unpaired: list[str]
    rejected: list[dict[str, str]]            # {"key", "reason", "message"}
    config_files: list[str]
    # more likely wrong than right, not printed: {"generated", "drawing", "confidence", "runner_up",
    # "runner_up_probability", "message"}
    held: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)   # {"generated", "reason", "message"}
    problems: list[str] = field(default_factory=list)   # plain sentences about settings and overrides
    metrics: dict[str, Any] = field(default_factory=dict)
    # per written file ("book.pdf", "cover.pdf"): [{"item", "value", "limit", "passed"}]
    preflight: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"report_version": REPORT_VERSION, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    """numpy scalars and other number-likes become plain JSON numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def page_entries(pages: Iterable[Page]) -> list[dict[str, Any]]:
    """The report's view of each page: its number, kind and the uploads placed on it."""
    return [{"number": p.number, "kind": p.kind, "images": [img.key for img in p.images]} for p in pages]


def accounted_keys(report: BookReport | Mapping[str, Any]) -> set[str]:
    data = report.__dict__ if isinstance(report, BookReport) else report
    keys: set[str] = set()
    for page in data["pages"]:
        keys.update(page["images"])
    keys.update(data["unpaired"])
    keys.update(entry["generated"] for entry in (*data.get("held", ()), *data.get("excluded", ())))
    keys.update(r["key"] for r in data["rejected"])
    keys.update(data["config_files"])
    return keys


def unaccounted(report: BookReport | Mapping[str, Any], listed_keys: Sequence[str]) -> list[str]:
    """Objects listed in the bucket that the report does not account for (should be empty)."""
    known = accounted_keys(report)
    return sorted(k for k in listed_keys if k not in known)
