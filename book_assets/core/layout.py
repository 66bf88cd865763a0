"""Place every drawing, its story text and its variations on pages, in PDF points.

Coordinates are points (1/72 in) with the origin at the bottom-left corner of the *page as
rendered*, i.e. including bleed. The trim box sits ``bleed`` in from the outside edges.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

POINTS_PER_INCH = 72.0


@dataclass(frozen=True)
class PrintProfile:
    """Physical page description. Bleed is added on the outside edges only (not the spine side)."""

    name: str = "kdp-8.5x8.5"
    trim_width_in: float = 8.5
    trim_height_in: float = 8.5
    bleed_in: float = 0.125
    safe_margin_in: float = 0.375
    min_ppi: float = 300.0           # target effective resolution of placed images
    min_text_pt: float = 14.0        # smallest story text size that still reads well

    @property
    def page_width_pt(self) -> float:
        return (self.trim_width_in + self.bleed_in) * POINTS_PER_INCH

    @property
    def page_height_pt(self) -> float:
        return (self.trim_height_in + 2 * self.bleed_in) * POINTS_PER_INCH

    def trim_box(self, page_number: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the trim box. Odd pages are rectos: bleed on the right; even: on the left."""
        b = self.bleed_in * POINTS_PER_INCH
        w = self.trim_width_in * POINTS_PER_INCH
        h = self.trim_height_in * POINTS_PER_INCH
        x0 = 0.0 if page_number % 2 == 1 else b
        return (x0, b, x0 + w, b + h)

    def safe_box(self, page_number: int) -> tuple[float, float, float, float]:
        """Trim box inset by the safe margin: text and faces stay inside it."""
        s = self.safe_margin_in * POINTS_PER_INCH
        x0, y0, x1, y1 = self.trim_box(page_number)
        return (x0 + s, y0 + s, x1 - s, y1 - s)


@dataclass(frozen=True)
class ImageSource:
    """An accepted image ready to place: its bucket key, its print copy and what the layout needs."""

    key: str                          # bucket key as uploaded, e.g. books/<id>/drawings/max.png
    print_copy: str                   # bucket key of the normalized JPEG print copy
    width_px: int                     # pixel size of the print copy
    height_px: int
    mean_lab: tuple[float, float, float] = (50.0, 0.0, 0.0)


@dataclass
class SpreadContent:
    """One drawing, its story text and its ordered variations."""

    drawing: ImageSource
    text: str
    variations: list[ImageSource] = field(default_factory=list)
    title: str = ""                   # e.g. the drawing's name ("Max the monster"), may be empty


@dataclass
class BookContent:
    title: str
    author: str
    dedication: str
    spreads: list[SpreadContent]


@dataclass
class PlacedImage:
    key: str                          # bucket key of the original upload (what report.json lists)
    print_copy: str                   # bucket key of the JPEG drawn into the PDF
    x: float
    y: float
    width: float
    height: float
    width_px: int
    height_px: int

    @property
    def ppi(self) -> float:
        """Effective resolution at printed size (the lower of both axes)."""
        return min(self.width_px / (self.width / POINTS_PER_INCH),
                   self.height_px / (self.height / POINTS_PER_INCH))


@dataclass
class PlacedText:
    lines: list[str]                  # already wrapped to fit ``width`` at ``font_size``
    x: float                          # left edge of the text box
    y: float                          # bottom edge of the text box
    width: float
    height: float
    font_name: str
    font_size: float
    leading: float
    align: str = "center"             # "left" | "center"
    role: str = "story"               # "title" | "author" | "story" | "caption" | "folio" | ...
    shrunk_from: float | None = None  # the preferred size, when the text had to shrink to fit


@dataclass
class Page:
    number: int                       # 1-based; odd = recto (right-hand page)
    kind: str                         # "title" | "dedication" | "drawing" | "variations" | "variations-continued" | "end" | "blank"
    images: list[PlacedImage] = field(default_factory=list)
    texts: list[PlacedText] = field(default_factory=list)
    drawing_key: str | None = None    # the drawing this page belongs to, if any
    grid: tuple[int, int] | None = None   # (columns, rows) of a variations grid
    harmony: float | None = None      # colour harmony of the grid's arrangement (higher is better)
    random_harmony: float | None = None   # same score for a random arrangement, for comparison
    background: str = "#ffffff"       # page colour (hex)


@dataclass
class BookLayout:
    profile: PrintProfile
    title: str
    author: str
    pages: list[Page]

    def to_dict(self) -> dict:
        return asdict(self)
