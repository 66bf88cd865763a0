"""Decode, validate, normalize and describe one uploaded image.

Validates like an image host: the content decides the format (JPEG, PNG, WebP only), Pillow's
decompression-bomb guard stays on, truncated files are rejected, EXIF orientation is applied,
CMYK/palette/alpha images become sRGB, animated images keep their first frame (and say so).
Every rejection carries a stable reason code and a sentence a parent understands.

One concern per module: ``sniff`` (what the bytes are, the size cap), ``decode`` (opening safely,
orientation, colour), ``features`` (what pairing and layout use), ``provenance`` (text naming a
source), ``rejections`` (codes and sentences), ``analyse`` (the entry point). This package
re-exports the names the rest of the code location and its tests use.
"""
from __future__ import annotations

from ..colour import hex_colour, srgb_to_lab
from .analyse import AnalysedImage, analyse_image
from .features import (
    FEATURES_VERSION, HIST_BINS, STRUCTURE_BINS, STRUCTURE_GRID, STRUCTURE_LENGTH, STRUCTURE_WINDOWS, ImageFeatures,
    decode_layout, decode_structure, encode_layout, encode_structure, inscribed_scale, layout_thumbnail,
    mirrored_structure, structure_descriptors,
)
from .provenance import image_provenance
from .rejections import REJECTION_REASONS, ImageLimits, ImageRejected
from .sniff import check_file_size

__all__ = [
    "FEATURES_VERSION", "HIST_BINS", "REJECTION_REASONS", "STRUCTURE_BINS", "STRUCTURE_GRID", "STRUCTURE_LENGTH",
    "STRUCTURE_WINDOWS", "AnalysedImage", "ImageFeatures", "ImageLimits", "ImageRejected", "analyse_image",
    "check_file_size", "decode_layout", "decode_structure", "encode_layout", "encode_structure", "hex_colour",
    "image_provenance", "inscribed_scale", "layout_thumbnail", "mirrored_structure", "srgb_to_lab",
    "structure_descriptors",
]
