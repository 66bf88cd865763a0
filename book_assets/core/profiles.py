"""Print profiles: the physical book a print service makes, and the rules its preflight applies.

A profile is chosen in ``book.toml`` (``profile = "kdp-8x10"``); the default is the most common
picture-book trim, KDP 8.5 × 8.5 in. Print profiles add 0.125 in of bleed on the outside edges
(a page is trim + 0.125 in wide and + 0.25 in high), keep text inside a safe margin (0.375 in;
0.5 in for IngramSpark and Lulu, whose trimming varies more), and pad the book to 24 pages or the
next multiple of 8. ``screen`` is for sharing: no bleed, no padding, smaller images.

Colour follows the press: KDP and ``screen`` books stay RGB and declare sRGB as their output
intent; IngramSpark and Lulu get PDF/X-3:2002 in CMYK with the total ink their presses accept
(``core.press`` does the conversion).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

POINTS_PER_INCH = 72.0
MM_PER_INCH = 25.4

# Spine width per page (inches), KDP's published figures by paper; IngramSpark and Lulu publish
# their own calculators, within a few per cent of these for the same paper weights.
PAPER_INCHES_PER_PAGE = {"white": 0.002252, "cream": 0.0025, "premium-colour": 0.002347}
PAPER_ALIASES = {"premium-color": "premium-colour", "premium": "premium-colour", "colour": "premium-colour",
                 "color": "premium-colour"}
SPINE_TEXT_MIN_PAGES = 80        # KDP allows spine text only on books of more than 79 pages

Box = tuple[float, float, float, float]   # (x0, y0, x1, y1) in points, origin bottom-left


@dataclass(frozen=True)
class PrintProfile:
    """Physical page description. Bleed is added on the outside edges only (not the spine side)."""

    name: str = "kdp-8.5x8.5"
    trim_width_in: float = 8.5
    trim_height_in: float = 8.5
    bleed_in: float = 0.125
    safe_margin_in: float = 0.375
    min_ppi: float = 300.0           # target effective resolution of placed images (frames shrink for it)
    min_text_pt: float = 14.0        # smallest story text size that still reads well
    min_pages: int = 24              # the book is padded up to this many pages ...
    page_multiple: int = 8           # ... and to a multiple of this (signatures)
    max_image_ppi: float = 450.0     # placed images above this are brought down (a JPEG's reduced decode
    resample_ppi: float = 400.0      # at min_ppi or more, no larger than this), so the file stays small
    reject_ppi: float = 200.0        # preflight: an image in the written PDF below this is an error
    max_file_mb: float = 650.0       # the print services' upload limit
    service: str = "kdp"             # "kdp" | "ingram" | "lulu" | "screen"
    pdfx: str | None = None          # "PDF/X-3:2002": CMYK for an offset/POD press; None: RGB with an sRGB intent
    max_ink_percent: float | None = None   # total area coverage the press accepts (CMYK books only)

    @property
    def is_print(self) -> bool:
        return self.service != "screen"

    @property
    def is_cmyk(self) -> bool:
        return self.pdfx is not None

    @property
    def page_width_pt(self) -> float:
        return (self.trim_width_in + self.bleed_in) * POINTS_PER_INCH

    @property
    def page_height_pt(self) -> float:
        return (self.trim_height_in + 2 * self.bleed_in) * POINTS_PER_INCH

    def trim_box(self, page_number: int) -> Box:
        """(x0, y0, x1, y1) of the trim box. Odd pages are rectos: bleed on the right; even: on the left."""
        b = self.bleed_in * POINTS_PER_INCH
        w = self.trim_width_in * POINTS_PER_INCH
        h = self.trim_height_in * POINTS_PER_INCH
        x0 = 0.0 if page_number % 2 == 1 else b
        return (x0, b, x0 + w, b + h)

    def safe_box(self, page_number: int) -> Box:
        """Trim box inset by the safe margin: text and faces stay inside it."""
        s = self.safe_margin_in * POINTS_PER_INCH
        x0, y0, x1, y1 = self.trim_box(page_number)
        return (x0 + s, y0 + s, x1 - s, y1 - s)

    def page_count(self, content_pages: int) -> int:
        """Pages the printed book has for ``content_pages`` pages of content (even; padded for print)."""
        count = max(content_pages, self.min_pages)
        multiple = max(2, self.page_multiple)
        return math.ceil(count / multiple) * multiple

    def spine_width_in(self, pages: int, paper: str = "white") -> float:
        """Spine thickness for ``pages`` on ``paper`` (KDP's per-page figures)."""
        return pages * PAPER_INCHES_PER_PAGE[normalize_paper(paper)]


def normalize_paper(paper: str) -> str:
    """'cream', 'Premium color' … -> a key of PAPER_INCHES_PER_PAGE; KeyError for unknown papers."""
    key = paper.strip().lower().replace(" ", "-").replace("_", "-")
    key = PAPER_ALIASES.get(key, key)
    if key not in PAPER_INCHES_PER_PAGE:
        raise KeyError(paper)
    return key


# IngramSpark rejects files above 240 % total ink; Lulu publishes no single figure we could confirm, so
# its books get the same conservative limit.
PRESS_INK_LIMIT = {"ingram": 240.0, "lulu": 240.0}


def _print(name: str, width_in: float, height_in: float, service: str) -> PrintProfile:
    press = service in PRESS_INK_LIMIT
    return PrintProfile(name=name, trim_width_in=width_in, trim_height_in=height_in,
                        safe_margin_in=0.5 if press else 0.375, service=service,
                        pdfx="PDF/X-3:2002" if press else None, max_ink_percent=PRESS_INK_LIMIT.get(service))


A4_IN = (210 / MM_PER_INCH, 297 / MM_PER_INCH)
DEFAULT_PROFILE = "kdp-8.5x8.5"
PROFILES: dict[str, PrintProfile] = {
    profile.name: profile for profile in (
        _print("kdp-8.5x8.5", 8.5, 8.5, "kdp"),
        _print("kdp-8x10", 8.0, 10.0, "kdp"),
        _print("kdp-8.25x8.25", 8.25, 8.25, "kdp"),
        _print("kdp-11x8.5", 11.0, 8.5, "kdp"),            # landscape
        _print("kdp-a4", *A4_IN, "kdp"),
        _print("ingram-8.5x8.5", 8.5, 8.5, "ingram"),
        _print("lulu-a4", *A4_IN, "lulu"),
        # For sharing on screens: no bleed, 150 PPI is sharp, so frames need not shrink for 300.
        PrintProfile(name="screen", bleed_in=0.0, min_pages=0, page_multiple=2, min_ppi=150.0, max_image_ppi=200.0,
                     resample_ppi=150.0, reject_ppi=100.0, service="screen"),
    )
}


def profile_named(name: str) -> PrintProfile:
    """The profile called ``name`` (case and spaces forgiven); KeyError when there is none."""
    return PROFILES[name.strip().lower()]
