"""The book's typeface: one child-friendly TrueType family plus a fallback, both fully embedded.

The family is SIL's **Andika** (Debian ``fonts-sil-andika``): designed for children learning to
read (single-storey a and g, clear I/l/1), with Latin Extended, Greek and Cyrillic in every style.
Any character Andika lacks is set in **DejaVu Sans** (Debian ``fonts-dejavu-core``), so a name
like "Zoë", "Łukasz", "Αθηνά" or "Жанна" never prints as an empty box. Measuring (layout) and
drawing (render, thumbnails, cover) all go through :func:`runs`, so the text that was fitted is
exactly the text that is drawn, glyph by glyph in the font that has it.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "BookSans"
BOLD = "BookSans-Bold"
ITALIC = "BookSans-Italic"
FAMILY = (REGULAR, BOLD, ITALIC)

FONT_DIRS = (Path("/usr/share/fonts/truetype/andika"), Path("/usr/share/fonts/truetype/dejavu"))
_FILES = {
    REGULAR: "Andika-Regular.ttf", BOLD: "Andika-Bold.ttf", ITALIC: "Andika-Italic.ttf",
    REGULAR + "-Fallback": "DejaVuSans.ttf", BOLD + "-Fallback": "DejaVuSans-Bold.ttf",
    ITALIC + "-Fallback": "DejaVuSans-Oblique.ttf",
}
_PACKAGES = {"Andika": "fonts-sil-andika", "DejaVuSans": "fonts-dejavu-core"}
EMBEDDED_FONTS = tuple(_FILES)


class FontMissing(RuntimeError):
    """The typeface is not installed; the message names the Debian package that provides it."""


def fallback_of(name: str) -> str:
    return name + "-Fallback"


def font_path(name: str) -> Path:
    """Path of the TTF behind a registered name (Pillow uses it for thumbnails)."""
    filename = _FILES[name]
    for folder in FONT_DIRS:
        if (folder / filename).is_file():
            return folder / filename
    package = _PACKAGES[filename.split("-")[0].removesuffix(".ttf")]
    raise FontMissing(f"The book's font {filename} is not installed: apt-get install -y {package}")


@functools.cache
def register_fonts() -> None:
    """Register the family and its fallback once per process (idempotent)."""
    for name in _FILES:
        pdfmetrics.registerFont(TTFont(name, str(font_path(name))))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD)


@functools.cache
def _coverage(name: str) -> frozenset[int]:
    register_fonts()
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)


def _family_member(name: str) -> str:
    return name if name in FAMILY else REGULAR


def runs(text: str, font_name: str) -> list[tuple[str, str]]:
    """``text`` cut into (piece, font) runs. A word the family can set is set in it; a word with a
    character it lacks is set whole in the fallback (no font change inside a word), and only a word
    neither font covers is split character by character (``missing_glyphs`` reports the rest)."""
    main = _family_member(font_name)
    covered = _coverage(main)
    if all(ord(ch) in covered for ch in text):
        return [(text, main)] if text else []
    backup = fallback_of(main)
    backup_covered = _coverage(backup)
    pieces: list[tuple[str, str]] = []

    def add(piece: str, font: str) -> None:
        if pieces and pieces[-1][1] == font:
            pieces[-1] = (pieces[-1][0] + piece, font)
        else:
            pieces.append((piece, font))

    for token in re.split(r"(\s+)", text):
        if not token:
            continue
        if token.isspace() or all(ord(ch) in covered for ch in token):
            add(token, main)
        elif all(ord(ch) in backup_covered for ch in token):
            add(token, backup)
        else:
            for ch in token:
                add(ch, main if ord(ch) in covered or ord(ch) not in backup_covered else backup)
    return pieces


@functools.cache
def _drawable() -> frozenset[int]:
    return _coverage(REGULAR) | _coverage(fallback_of(REGULAR))


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` that neither the family nor the fallback can draw (printable ones only)."""
    covered = _drawable()
    return sorted({ch for ch in text if ch.isprintable() and not ch.isspace() and ord(ch) not in covered})


def text_width(text: str, font_name: str, size: float) -> float:
    """Width in points of ``text`` at ``size``, each run measured in the font that draws it."""
    return sum(pdfmetrics.stringWidth(piece, font, size) for piece, font in runs(text, font_name))


def cap_height(font_name: str, size: float) -> float:
    """Height of the capitals in points: what the eye centres a line of text on."""
    register_fonts()
    return pdfmetrics.getFont(font_name).face.capHeight / 1000.0 * size
