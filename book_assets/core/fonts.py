"""The book's typeface: one TrueType family, registered with reportlab and fully embedded.

The family is Bitstream Vera, which ships inside reportlab itself, so no download or system
font is needed. Measuring (layout) and drawing (render) both go through here so the text that
was fitted is exactly the text that is drawn.
"""
from __future__ import annotations

import functools
from pathlib import Path

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(reportlab.__file__).parent / "fonts"
REGULAR = "BookSans"
BOLD = "BookSans-Bold"
ITALIC = "BookSans-Italic"
_FILES = {REGULAR: "Vera.ttf", BOLD: "VeraBd.ttf", ITALIC: "VeraIt.ttf"}


@functools.cache
def register_fonts() -> None:
    """Register the family once per process (idempotent)."""
    for name, filename in _FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / filename)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD)


def font_path(name: str) -> Path:
    """Path of the TTF behind a registered name (Pillow uses it for page thumbnails)."""
    return FONT_DIR / _FILES[name]


def text_width(text: str, font_name: str, size: float) -> float:
    """Width in points of ``text`` set in ``font_name`` at ``size``."""
    register_fonts()
    return pdfmetrics.stringWidth(text, font_name, size)
