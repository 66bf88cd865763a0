"""Decode, validate, normalize and describe one uploaded image.

Validates like an image host: the content decides the format (JPEG, PNG, WebP only), Pillow's
decompression-bomb guard stays on, truncated files are rejected, EXIF orientation is applied,
CMYK/palette/alpha images become sRGB, animated images keep their first frame (and say so).
Every rejection carries a stable reason code and a sentence a parent understands.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class ImageLimits:
    """Caps applied before and during decoding."""

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 60_000_000
    min_side: int = 64
    print_max_side: int = 3000  # long side of the print copy (>= 300 PPI at 10 in)


class ImageRejected(Exception):
    """Raised when an upload cannot go into the book; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class ImageFeatures:
    """What later stages need to know about an accepted image (JSON-serialisable, cached by content hash)."""

    format: str                      # "JPEG" | "PNG" | "WEBP" (decided by content)
    width: int                       # pixels, after EXIF orientation
    height: int
    source_mode: str                 # Pillow mode as uploaded ("RGB", "CMYK", "P", "RGBA", ...)
    phash: str                       # 64-bit perceptual hash, hex
    phash_mirror: str                # perceptual hash of the left-right mirrored image, hex
    dhash: str                       # 64-bit difference hash, hex
    colour_hist: list[float]         # normalized colour histogram, fixed length, sums to 1
    dominant_colours: list[str]      # up to 5 '#rrggbb', most common first
    mean_lab: tuple[float, float, float]  # CIE L*a*b* of the mean colour
    provenance: str = ""             # text found in PNG chunks / EXIF / XMP (e.g. names the source drawing)
    notes: list[str] = field(default_factory=list)  # e.g. "animated: first of 12 frames used"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ImageFeatures":
        data = dict(data)
        data["mean_lab"] = tuple(data["mean_lab"])
        return cls(**data)


@dataclass
class AnalysedImage:
    features: ImageFeatures
    print_jpeg: bytes | None         # sRGB JPEG print copy (orientation applied), None if not asked for
    print_width: int = 0
    print_height: int = 0
