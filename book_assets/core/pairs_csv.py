"""A reviewer's ``pairs.csv``: which drawing each named variation comes from, or none of this book's.

Read line by line and never raising: every row that cannot be used comes back as a plain sentence
saying why, and the rows that can are resolved to bucket keys (a full key, a path below the book
folder, or a bare file name when it is unique).
"""
from __future__ import annotations

import csv
from typing import Iterable

from .name_signals import ROLE_FOLDERS

# A pairs.csv drawing cell that says "from none of this book's drawings" (compared case-insensitively).
NO_DRAWING_CELLS = frozenset({"", "-", "none"})


MAX_PAIRS_CSV_LINES = 20_000     # a reviewer's corrections for any real book fit many times over


def parse_overrides(
    csv_text: str, book_prefix: str, known_keys: Iterable[str]
) -> tuple[dict[str, str | None], list[str]]:
    """Read a reviewer's ``pairs.csv`` into {generated_key: drawing_key or None}; never raises.

    Cells may hold full keys, paths relative to the book (``generated/x.png``) or bare file names
    when unique. A drawing cell that is empty, ``-`` or ``none`` maps the variation to None: it is
    from no drawing of this book and ``pair_images`` leaves it out (``PairStatus.REVIEWER_EXCLUDED``).
    Every row that cannot be used is explained in a plain sentence instead; when a generated image
    is listed twice with different drawings, the later line wins (and is reported).
    """
    prefix = book_prefix if not book_prefix or book_prefix.endswith("/") else book_prefix + "/"
    index = _KeyIndex(prefix, known_keys)
    overrides: dict[str, str | None] = {}
    problems: list[str] = []
    source_line: dict[str, int] = {}
    numbered = []
    lines = csv_text.lstrip("\ufeff").splitlines()
    if len(lines) > MAX_PAIRS_CSV_LINES:
        problems.append(f"pairs.csv has {len(lines):,} lines; only the first {MAX_PAIRS_CSV_LINES:,} were read.")
    for number, text in enumerate(lines[:MAX_PAIRS_CSV_LINES], start=1):
        try:    # line by line: a stray quote can only swallow the rest of its own line, not the file
            row = next(csv.reader([text]), [])
        except csv.Error as exc:
            problems.append(f"pairs.csv line {number}: could not be read as CSV ({exc}); a quote may be missing. "
                            "Skipped.")
            continue
        if any(cell.strip() for cell in row):
            numbered.append((number, row))
    if not numbered:
        return {}, problems
    header = numbered[0][1]
    columns = [cell.strip().lower() for cell in header]
    if "generated" in columns and "drawing" in columns:
        gen_col, drw_col = columns.index("generated"), columns.index("drawing")
        data = numbered[1:]
    elif len(header) >= 2 and len(index.resolve(header[0].strip(), "generated")) == 1 and (
        _means_no_drawing(header[1]) or len(index.resolve(header[1].strip(), "drawings")) == 1
    ):
        problems.append('pairs.csv has no header line "generated,drawing"; its first row was read as a pair.')
        gen_col, drw_col = 0, 1
        data = numbered
    else:
        found = ",".join(cell.strip() for cell in header)[:80]
        return {}, [*problems,
                    f'pairs.csv must start with the header line "generated,drawing" but starts with "{found}"; '
                    "no overrides were used."]

    for line, row in data:
        generated_cell = row[gen_col].strip() if gen_col < len(row) else ""
        if not generated_cell:
            problems.append(f"pairs.csv line {line}: names no generated image in the first column; skipped.")
            continue
        if drw_col >= len(row):
            problems.append(f"pairs.csv line {line}: has no drawing column; write a drawing, or - when "
                            f"{generated_cell} is from none of this book's drawings. Skipped.")
            continue
        drawing_cell = row[drw_col].strip()
        no_drawing = _means_no_drawing(drawing_cell)
        wanted = [(generated_cell, "generated")] + ([] if no_drawing else [(drawing_cell, "drawings")])
        resolved: list[str] = []
        for name, role in wanted:
            matches = index.resolve(name, role)
            if len(matches) == 1:
                resolved.append(matches[0])
            elif matches:
                shown = ", ".join(index.display(m) for m in matches[:3])
                problems.append(
                    f'pairs.csv line {line}: "{name}" matches more than one file ({shown}); '
                    "write its path to choose. Skipped."
                )
            else:
                problems.append(f'pairs.csv line {line}: there is no file "{name}" in this book; skipped.')
        if len(resolved) != len(wanted):
            continue
        generated_key = resolved[0]
        drawing_key = None if no_drawing else resolved[1]
        if generated_key == drawing_key:
            problems.append(f"pairs.csv line {line}: pairs a file with itself; skipped.")
            continue
        if index.role_of(generated_key) == "drawings" or (
            drawing_key is not None and index.role_of(drawing_key) == "generated"
        ):
            second = index.display(drawing_key) if drawing_key is not None else "no drawing"
            problems.append(
                f"pairs.csv line {line}: the first column must name a generated image and the second a "
                f"drawing, but it pairs {index.display(generated_key)} with {second}; skipped."
            )
            continue
        if generated_key in overrides:
            earlier = source_line[generated_key]
            if overrides[generated_key] == drawing_key:
                problems.append(f"pairs.csv line {line}: repeats line {earlier}; the repeat changes nothing.")
                continue
            problems.append(
                f"pairs.csv line {line}: {index.display(generated_key)} was already paired on line "
                f"{earlier}; the later line wins."
            )
        overrides[generated_key] = drawing_key
        source_line[generated_key] = line
    return overrides, problems


def _means_no_drawing(cell: str) -> bool:
    """Whether a pairs.csv drawing cell says "from none of this book's drawings"."""
    return cell.strip().lower() in NO_DRAWING_CELLS


class _KeyIndex:
    """The book's keys, indexed once so each pairs.csv cell resolves without scanning every key."""

    def __init__(self, prefix: str, known_keys: Iterable[str]):
        self.prefix = prefix
        self.keys = sorted({k for k in known_keys if k.startswith(prefix)})
        self.key_set = set(self.keys)
        self.by_name: dict[str, list[str]] = {}
        for key in self.keys:
            self.by_name.setdefault(key.rsplit("/", 1)[-1].lower(), []).append(key)

    def display(self, key: str) -> str:
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def role_of(self, key: str) -> str | None:
        first = self.display(key).split("/", 1)[0].lower()
        return first if first in ROLE_FOLDERS else None

    def resolve(self, name: str, role: str) -> list[str]:
        """Keys a cell may mean: exact key, book-relative path, then a unique (case-insensitive) tail."""
        if not name or any(ord(ch) < 32 for ch in name):
            return []
        cleaned = name.replace("\\", "/")
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        for attempt in (cleaned, self.prefix + cleaned.lstrip("/")):
            if attempt in self.key_set:
                return [attempt]
        same_name = self.by_name.get(cleaned.rsplit("/", 1)[-1].lower(), [])
        for case_sensitive in (True, False):
            wanted = "/" + (cleaned if case_sensitive else cleaned.lower()).lstrip("/")
            matches = [k for k in same_name if (k if case_sensitive else k.lower()).endswith(wanted)]
            if len(matches) > 1:
                matches = [k for k in matches if self.role_of(k) == role] or matches
            if matches:
                return matches
        return []
