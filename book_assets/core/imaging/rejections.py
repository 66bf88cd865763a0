"""Why an upload cannot go into the book: the limits, a stable reason code per rejection, and
sentences a parent understands (with the figures that matter, in units people read)."""
from __future__ import annotations

from dataclasses import dataclass


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

    def __reduce__(self):
        """Rebuilt from code and message when it crosses a process boundary (validation's worker processes)."""
        return (type(self), (self.code, self.message))


REJECTION_REASONS: dict[str, str] = {
    "empty_file": "The file is empty — it may not have finished uploading.",
    "file_too_large": "The file is larger than we accept; please upload a smaller copy.",
    "unsupported_format": "The file is a kind of picture we can't print; please upload PNG, JPEG or WebP.",
    "not_an_image": "The file is not a picture we can read, whatever its name says.",
    "truncated": "The file is cut short — part of the picture is missing; please upload it again.",
    "corrupt": "The file is damaged and cannot be opened as a picture; please export it again.",
    "decompression_bomb": "The picture claims to be far too big to open safely.",
    "metadata_too_large": "The file carries far more hidden text (metadata) than a picture needs.",
    "too_many_pixels": "The picture has more pixels than we can handle; please upload a smaller copy.",
    "too_small": "The picture is too small to print well; please upload a larger copy.",
    "over_memory_bound": "Opening the picture would take more memory than we allow for one picture.",
}
"""Stable reason code -> a general sentence for a parent (the raised message adds the figures)."""


def reject(code: str, message: str) -> ImageRejected:
    """The rejection to raise; an unknown code is a programming error, not a bad upload."""
    if code not in REJECTION_REASONS:
        raise ValueError(f"unknown rejection code {code!r}")
    return ImageRejected(code, message)


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} byte" + ("" if n == 1 else "s")
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value >= 100 or value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


def human_pixel_count(pixels: int) -> str:
    if pixels < 1_000_000:
        return f"{pixels:,} pixels"
    megapixels = pixels / 1e6
    return f"{megapixels:,.0f} megapixels" if megapixels >= 10 else f"{megapixels:.1f} megapixels"


def human_pixels(width: int, height: int) -> str:
    if width * height < 1_000_000:
        return f"{width:,}×{height:,} pixels"
    return f"{width:,}×{height:,} pixels ({human_pixel_count(width * height)})"
