"""The entry point: validate one upload and describe it, or say in a sentence why it cannot be used."""
from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image, ImageOps

from .decode import (
    check_dimensions, check_png_chunks, downscaled, encode_print_jpeg, exif_orientation, load_checked, open_checked,
    passes_through, pillow_warnings, print_copy, shrink_on_decode, strip_jpeg_metadata, to_srgb,
)
from .features import FEATURE_SIDE, ImageFeatures, features_of
from .provenance import image_provenance
from .rejections import ImageLimits
from .sniff import accepted_format, check_file_size


@dataclass
class AnalysedImage:
    features: ImageFeatures
    print_jpeg: bytes | None         # sRGB JPEG print copy (orientation applied), None if not asked for
    print_width: int = 0
    print_height: int = 0
    print_file: str = ""             # or the print copy in this local file instead (from a worker process)

    @property
    def print_size(self) -> int:
        """Bytes in the print copy, wherever it is held."""
        return os.path.getsize(self.print_file) if self.print_file else len(self.print_jpeg or b"")


def analyse_image(
    data: bytes, limits: ImageLimits = ImageLimits(), *, want_print_copy: bool = True
) -> AnalysedImage:
    """Validate one upload and describe it; raise ``ImageRejected`` if it cannot go in the book.

    Features come from a ~256 px decode (a JPEG ``draft`` decode, else a downscale of the one
    full decode), so they are the same whether or not a print copy is asked for — the cache
    keyed by content hash stays consistent.
    """
    with pillow_warnings():
        return _analyse(bytes(data), limits, want_print_copy)


def _analyse(data: bytes, limits: ImageLimits, want_print_copy: bool) -> AnalysedImage:
    check_file_size(len(data), limits)
    fmt = accepted_format(data)
    im = open_checked(data, fmt)
    width, height = im.size
    check_dimensions(width, height, limits)
    source_mode = im.mode
    notes: list[str] = []
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1:
        notes.append(f"animated image: first of {frames} frames used")

    if fmt == "JPEG":  # DCT-domain downscale: the smallest 1/2^k decode whose long side >= 256
        shrink_on_decode(im, FEATURE_SIDE)
    load_checked(im, data, fmt, limits)
    if fmt == "PNG":
        notes.extend(check_png_chunks(data))
    orientation = exif_orientation(im)  # after load: a PNG's eXIf chunk may follow the pixels
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if orientation != 1:
        notes.append(f"turned upright using its EXIF orientation ({orientation})")
    provenance = image_provenance(im)
    if orientation != 1:
        ImageOps.exif_transpose(im, in_place=True)
    working = to_srgb(im, notes)
    small = downscaled(working, FEATURE_SIDE, Image.Resampling.BICUBIC)
    features = ImageFeatures(
        format=fmt,
        width=width,
        height=height,
        source_mode=source_mode,
        provenance=provenance,
        notes=notes,
        **features_of(small),
    )
    if not want_print_copy:
        return AnalysedImage(features=features, print_jpeg=None)
    if passes_through(im, source_mode, (width, height), orientation, frames, limits):
        return AnalysedImage(features=features, print_jpeg=strip_jpeg_metadata(data),
                             print_width=width, print_height=height)
    printable = print_copy(data, fmt, working, orientation, limits)
    return AnalysedImage(
        features=features,
        print_jpeg=encode_print_jpeg(printable),
        print_width=printable.width,
        print_height=printable.height,
    )
