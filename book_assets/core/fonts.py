"""The book's typeface: one child-friendly TrueType family plus a fallback, both fully embedded.

The family is SIL's **Andika** (Debian ``fonts-sil-andika``): designed for children learning to
read (single-storey a and g, clear I/l/1), with Latin Extended, Greek and Cyrillic in every style.
Any character Andika lacks is set in **DejaVu Sans** (Debian ``fonts-dejavu-core``), so a name
like "Zoë", "Łukasz", "Αθηνά" or "Жанна" never prints as an empty box. Measuring (layout) and
drawing (render, thumbnails, cover) all go through :func:`runs`, so the text that was fitted is
exactly the text that is drawn, glyph by glyph in the font that has it.

A child's name may be written in any script, so words neither font has are set in a script font
(Debian ``fonts-noto-core``: Noto Sans Thai, Devanagari, Arabic, Hebrew; ``fonts-wqy-zenhei``:
WenQuanYi Zen Hei for Chinese, Japanese and Korean — a TrueType collection, which reportlab embeds,
where Noto CJK is CFF/OTF, which it cannot). reportlab embeds a subset of each font: only the glyphs
used. Scripts that need shaping (joined Arabic letters, Devanagari conjuncts, right-to-left order)
are shaped with HarfBuzz (``uharfbuzz``) through reportlab's own ``shapeStr``; a shaped run whose
glyphs have no Unicode of their own carries its words as ActualText, so the PDF's text still reads.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import ShapedStr, TTFont, shapeStr
from reportlab.pdfgen.textobject import PDFTextObject

REGULAR = "BookSans"
BOLD = "BookSans-Bold"
ITALIC = "BookSans-Italic"
FAMILY = (REGULAR, BOLD, ITALIC)

FONT_DIRS = (Path("/usr/share/fonts/truetype/andika"), Path("/usr/share/fonts/truetype/dejavu"),
             Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/truetype/wqy"))
# Script fonts, in the order they are tried for a word the family and the fallback lack; the
# ones in SHAPED_FONTS are set through HarfBuzz.
SCRIPT_FONTS = ("BookScript-CJK", "BookScript-Thai", "BookScript-Devanagari", "BookScript-Arabic",
                "BookScript-Hebrew")
SHAPED_FONTS = frozenset(SCRIPT_FONTS[1:])
_FILES = {
    REGULAR: "Andika-Regular.ttf", BOLD: "Andika-Bold.ttf", ITALIC: "Andika-Italic.ttf",
    REGULAR + "-Fallback": "DejaVuSans.ttf", BOLD + "-Fallback": "DejaVuSans-Bold.ttf",
    ITALIC + "-Fallback": "DejaVuSans-Oblique.ttf",
    "BookScript-CJK": "wqy-zenhei.ttc", "BookScript-Thai": "NotoSansThai-Regular.ttf",
    "BookScript-Devanagari": "NotoSansDevanagari-Regular.ttf", "BookScript-Arabic": "NotoSansArabic-Regular.ttf",
    "BookScript-Hebrew": "NotoSansHebrew-Regular.ttf",
}
_PACKAGES = {"Andika": "fonts-sil-andika", "DejaVuSans": "fonts-dejavu-core", "NotoSansThai": "fonts-noto-core",
             "NotoSansDevanagari": "fonts-noto-core", "NotoSansArabic": "fonts-noto-core",
             "NotoSansHebrew": "fonts-noto-core", "wqy": "fonts-wqy-zenhei"}
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
def register_font(name: str) -> None:
    """Register one of the book's fonts with reportlab, once per process. Each is registered when it
    is first measured or drawn (``_coverage`` comes first for every run), not all at once: parsing
    wqy-zenhei, the CJK fallback, alone takes ~150 ms of every build, and most books never use it."""
    pdfmetrics.registerFont(TTFont(name, str(font_path(name))))


@functools.cache
def register_fonts() -> None:
    """Register the family (a canvas's initial font and the bold and italic it maps to) once per
    process; the fallback and script fonts follow when a run needs them (``register_font``)."""
    for name in FAMILY:
        register_font(name)
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD)


@functools.cache
def _coverage(name: str) -> frozenset[int]:
    register_font(name)
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)


def _family_member(name: str) -> str:
    return name if name in FAMILY else REGULAR


# Words and the punctuation around them are separate runs: "נועה." is a right-to-left word and a
# full stop that stays on its right in an English sentence.
_TOKENS = re.compile(r"(\s+|[.,!?;:\"“”‘’()\[\]«»—–-]+)")
# Hebrew, Arabic, Devanagari and Thai: letters that join, reorder or run right to left.
_NEEDS_SHAPING = re.compile("[\u0590-\u08ff\u0900-\u097f\u0e00-\u0e7f\ufb1d-\ufdff\ufe70-\ufeff]")


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

    for token in _TOKENS.split(text):
        if not token:
            continue
        script = next((font for font in SCRIPT_FONTS if all(ord(ch) in _coverage(font) for ch in token)), None)
        if script in SHAPED_FONTS and _NEEDS_SHAPING.search(token):
            add(token, script)      # DejaVu has Hebrew and Arabic letters, but only a shaper sets them right
        elif token.isspace() or all(ord(ch) in covered for ch in token):
            add(token, main)
        elif all(ord(ch) in backup_covered for ch in token):
            add(token, backup)
        elif script is not None:
            add(token, script)
        else:
            for ch in token:
                add(ch, main if ord(ch) in covered or ord(ch) not in backup_covered else backup)
    return pieces


@functools.cache
def _drawable() -> frozenset[int]:
    return frozenset().union(_coverage(REGULAR), _coverage(fallback_of(REGULAR)), *map(_coverage, SCRIPT_FONTS))


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` that no font of the book can draw (printable ones only)."""
    family = _coverage(REGULAR)
    rest = {ch for ch in text if ch.isprintable() and not ch.isspace() and ord(ch) not in family}
    if not rest:
        return []           # the usual case, without loading every script font's coverage
    covered = _drawable()
    return sorted(ch for ch in rest if ord(ch) not in covered)


def text_width(text: str, font_name: str, size: float) -> float:
    """Width in points of ``text`` at ``size``, each run measured in the font that draws it."""
    return sum(run_width(piece, font, size) for piece, font in runs(text, font_name))


def shaped(piece: str, font: str, size: float) -> str:
    """The run as it is drawn: shaped by HarfBuzz (glyphs joined, reordered, right-to-left in visual
    order) for the fonts that need it, else as it is."""
    return shapeStr(piece, font, size) if font in SHAPED_FONTS else piece


def run_width(piece: str, font: str, size: float) -> float:
    """Width in points of one run in one font, shaped as it will be drawn."""
    text = shaped(piece, font, size)
    if isinstance(text, ShapedStr):
        return sum(data.x_advance for data in text.__shapeData__) * size / 1000.0
    return pdfmetrics.stringWidth(text, font, size)


def draw_run(text_object: PDFTextObject, piece: str, font: str, size: float) -> None:
    """Add one run to a line's text object, shaped. A shaped run's glyphs are in visual order and
    some (Devanagari conjuncts) have no character of their own, so the run carries its words, in
    reading order, as ActualText: copying and searching the PDF finds the name."""
    if font not in SHAPED_FONTS:
        text_object.textOut(piece)
        return
    # reportlab has no public call for a marked-content operator inside a text object
    text_object._code.append(f"/Span <</ActualText <FEFF{piece.encode('utf-16-be').hex().upper()}>>> BDC")
    text_object.textOut(shaped(piece, font, size))
    text_object._code.append("EMC")


def cap_height(font_name: str, size: float) -> float:
    """Height of the capitals in points: what the eye centres a line of text on."""
    register_font(font_name)
    return pdfmetrics.getFont(font_name).face.capHeight / 1000.0 * size
