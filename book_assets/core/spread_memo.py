"""Spread layouts kept from a book's last layout, so a rebuild lays out only the spreads whose inputs changed.

A spread's pages (``layout.lay_out_spread``) are a pure function of the spread's content (its
drawing, story text, title and variations — print copies are content-addressed, so their keys name
their pixels), the print profile, the roomy-or-usual choice, the side of the page it opens on, and the
code and fonts that lay it out. A spread is kept under a digest of exactly those; an added
variation changes one spread's digest, so one spread is laid out and the rest are read back —
moved to where they now start (``layout.renumbered``) when an earlier spread grew by a page or two.
Everything else of the book (title, end and closing pages, the cover) is laid out every time: it is
cheap and depends on the whole book. ``test_layout`` holds a memoized layout equal to a cold one.

The memo is one JSON document per book in the work area (``spread-layouts/<book>.json``) holding
the spreads of the last layout only, so it never grows; unreadable or of another shape, it is ignored
and every spread is laid out.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from . import arrange, colour, fonts, layout, profiles, typography
from .derived import input_digest
from .layout import Page, PrintProfile, SpreadContent, lay_out_spread, renumbered
from .story import language

SPREAD_MEMO_FORMAT = 1     # bump when what a memo entry holds changes
_LAYOUT_MODULES = (layout, arrange, colour, fonts, profiles, typography, language)   # what lay_out_spread runs
_PAGES = TypeAdapter(list[Page])


@functools.cache
def layout_code_digest() -> str:
    """sha256 of the source of the modules that lay a spread out and of the font files that measure
    its text: a change to either lays every spread out again (no format number to forget to bump)."""
    digest = hashlib.sha256()
    for module in _LAYOUT_MODULES:
        digest.update(Path(module.__file__).read_bytes())
    for name in fonts.EMBEDDED_FONTS:
        try:
            path = fonts.font_path(name)
        except fonts.FontMissing:
            continue
        digest.update(f"{name}={path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def spread_key(number: int, profile: PrintProfile, spread: SpreadContent, large: bool) -> str:
    """The digest a spread is kept under: everything ``lay_out_spread`` reads, with the side of the
    page it opens on rather than its number (``renumbered`` moves it)."""
    return input_digest({"format": SPREAD_MEMO_FORMAT, "code": layout_code_digest(), "side": number % 2,
                         "profile": asdict(profile), "spread": asdict(spread), "large": large})


@dataclass
class SpreadMemo:
    """A ``layout.SpreadLayout``: reads back the spreads of the last layout (``previous``, by key) and
    lays out the rest; ``kept`` holds this layout's spreads for the next."""

    previous: dict[str, dict] = field(default_factory=dict)
    kept: dict[str, dict] = field(default_factory=dict)
    drawings_laid_out: set[str] = field(default_factory=set)    # by drawing: a sparse book tries two forms
    drawings_reused: set[str] = field(default_factory=set)      # of each spread (layout.layout_book)

    @property
    def laid_out(self) -> int:
        """Spreads laid out in this layout."""
        return len(self.drawings_laid_out)

    @property
    def reused(self) -> int:
        """Spreads read back from the last layout."""
        return len(self.drawings_reused - self.drawings_laid_out)

    def __call__(self, number: int, profile: PrintProfile, spread: SpreadContent, large: bool) -> list[Page]:
        key = spread_key(number, profile, spread, large)
        entry = self.kept.get(key) or self.previous.get(key)
        if entry is not None:
            try:
                pages = renumbered(_PAGES.validate_python(entry["pages"]), number)
            except (KeyError, TypeError, ValueError, ValidationError):
                pages = None        # not what this code wrote: laid out again below
            if pages:
                self.drawings_reused.add(spread.drawing.key)
                self.kept[key] = entry
                return pages
        pages = lay_out_spread(number, profile, spread, large)
        self.drawings_laid_out.add(spread.drawing.key)
        stored = _PAGES.dump_python(pages, mode="json")
        if _PAGES.validate_python(stored) == pages:     # kept only if it reads back equal
            self.kept[key] = {"pages": stored}
        return pages

    def changed(self) -> bool:
        """Whether ``kept`` differs from what was read (the memo is written only then)."""
        return self.kept.keys() != self.previous.keys()


def load_spread_memo(data: bytes) -> dict[str, dict]:
    """The stored spreads by key; {} when the bytes are not a memo this code wrote."""
    try:
        stored = json.loads(data)
    except ValueError:
        return {}
    if not isinstance(stored, dict) or stored.get("format") != SPREAD_MEMO_FORMAT \
            or not isinstance(stored.get("spreads"), dict):
        return {}
    return stored["spreads"]


def dump_spread_memo(spreads: dict[str, dict]) -> bytes:
    return json.dumps({"format": SPREAD_MEMO_FORMAT, "spreads": spreads}, separators=(",", ":")).encode()
