"""The entry point: validate one upload and describe it, or say in a sentence why it cannot be used."""
from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image, ImageOps

from .decode import (
    check_dimensions, check_png_chunks, downscaled, encode_print_jpeg, exif_orientation, load_checked, open_checked,
    passes_through, pillow_warnings, print_copy, same_draft_decode, shrink_on_decode, small_jpeg, strip_jpeg_metadata,
    to_srgb,
)
from .features import FEATURE_REDUCING_GAP, FEATURE_SIDE, ImageFeatures, features_of
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
    # A pass-through JPEG's small preview (``small_jpeg``, ``review_px`` a side) made from the decode done
    # here, when decoding its print copy for that preview would give the same pixels; else None.
    preview_jpeg: bytes | None = None

    @property
    def print_size(self) -> int:
        """Bytes in the print copy, wherever it is held."""
        return os.path.getsize(self.print_file) if self.print_file else len(self.print_jpeg or b"")


def analyse_image(
    data: bytes, limits: ImageLimits = ImageLimits(), *, want_print_copy: bool = True, review_px: int = 0,
    review_quality: int = 80,
) -> AnalysedImage:
    """Validate one upload and describe it; raise ``ImageRejected`` if it cannot go in the book.

    Features come from a ~256 px decode (a JPEG ``draft`` decode, else a downscale of the one
    full decode), so they are the same whether or not a print copy is asked for — the cache
    keyed by content hash stays consistent.

    With ``review_px``, a JPEG that goes to print as it is also gets ``preview_jpeg``: the review
    panel's thumbnail of its print copy, byte for byte, from the draft decode done here, so the
    book step does not decode the (often 10-megapixel) file a second time for it.
    """
    with pillow_warnings():
        return _analyse(bytes(data), limits, want_print_copy, review_px, review_quality)


def _analyse(data: bytes, limits: ImageLimits, want_print_copy: bool, review_px: int,
             review_quality: int) -> AnalysedImage:
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
    small = downscaled(working, FEATURE_SIDE, Image.Resampling.BICUBIC, reducing_gap=FEATURE_REDUCING_GAP)
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
        print_jpeg = strip_jpeg_metadata(data)
        preview = (small_jpeg(im, review_px, review_quality)
                   if review_px and same_draft_decode(print_jpeg, im, review_px) else None)
        return AnalysedImage(features=features, print_jpeg=print_jpeg, print_width=width, print_height=height,
                             preview_jpeg=preview)
    printable = print_copy(data, fmt, working, orientation, limits)
    return AnalysedImage(
        features=features,
        print_jpeg=encode_print_jpeg(printable),
        print_width=printable.width,
        print_height=printable.height,
    )
