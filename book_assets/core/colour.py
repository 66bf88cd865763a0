"""Colour maths, in one place: sRGB ↔ CIE L*a*b* (D65) and colour differences.

Lab is where distances match what people see, so pairing, arranging, page tints and colour names
all work there. The conversions and CIEDE2000 come from scikit-image rather than by hand.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB values 0-255 of shape (..., 3) -> CIE L*a*b* (D65, 2°) as float64 of the same shape."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB values, got shape {rgb.shape}")
    return rgb2lab(rgb.astype(np.float64) / 255.0)


def lab_to_hex(lab: Sequence[float]) -> str:
    """One CIE Lab colour -> '#rrggbb', clipped into the sRGB gamut."""
    rgb = lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)).reshape(3)
    return hex_colour(rgb * 255.0)


def hex_colour(rgb) -> str:
    """(r, g, b) in 0-255 (ints or floats, clamped and rounded) -> '#rrggbb'."""
    r, g, b = (min(255, max(0, int(round(float(v))))) for v in tuple(rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def parse_hex_colour(hex_colour: str) -> tuple[int, int, int]:
    """``'#rrggbb'``, ``'rrggbb'`` or ``'#rgb'`` -> (r, g, b). Raises ValueError on anything else."""
    digits = hex_colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    if len(digits) != 6 or not re.fullmatch(r"[0-9A-Fa-f]{6}", digits):
        raise ValueError(f"not a hex colour: {hex_colour!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def delta_e_2000(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 difference: perceptual, unlike plain Lab distance in saturated blues."""
    return float(deltaE_ciede2000(np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)))


def mean_lab(pixels) -> tuple[float, float, float]:
    """Lab of the colour an image blends to when seen from afar: the mean taken in linear light."""
    c = np.asarray(pixels, dtype=np.float64).reshape(-1, 3) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).mean(axis=0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return tuple(float(v) for v in rgb2lab(encoded.reshape(1, 1, 3)).reshape(3))
