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


def parse_hex_colour(hex_colour: str, default: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """``'#rrggbb'``, ``'rrggbb'`` or ``'#rgb'`` -> (r, g, b). Anything else raises ValueError, or gives
    ``default`` when one is passed (a page must still render with a bad colour)."""
    digits = hex_colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    if len(digits) != 6 or not re.fullmatch(r"[0-9A-Fa-f]{6}", digits):
        if default is not None:
            return default
        raise ValueError(f"not a hex colour: {hex_colour!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def srgb_to_linear(encoded) -> np.ndarray:
    """sRGB-encoded values 0-1 -> linear light (the sRGB transfer curve, IEC 61966-2-1)."""
    c = np.asarray(encoded, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear) -> np.ndarray:
    """Linear light 0-1 -> sRGB-encoded values 0-1 (the inverse of ``srgb_to_linear``)."""
    c = np.asarray(linear, dtype=np.float64)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def relative_luminance(rgb) -> float:
    """WCAG relative luminance of one (r, g, b) colour in 0-255: how light it looks, 0..1."""
    r, g, b = srgb_to_linear(np.asarray(rgb, dtype=np.float64) / 255.0)
    return float(0.2126 * r + 0.7152 * g + 0.0722 * b)


def delta_e_2000(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 difference: perceptual, unlike plain Lab distance in saturated blues."""
    return float(deltaE_ciede2000(np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)))


def nearest_by_delta_e(lab: Sequence[float], candidates: np.ndarray) -> int:
    """Index of the row of ``candidates`` (N x 3 Lab) nearest ``lab`` by CIEDE2000, the first on a tie:
    one vectorised call instead of N ``delta_e_2000`` calls."""
    distances = deltaE_ciede2000(np.broadcast_to(np.asarray(lab, dtype=np.float64), candidates.shape), candidates)
    return int(np.argmin(distances))


def mean_lab(pixels) -> tuple[float, float, float]:
    """Lab of the colour an image blends to when seen from afar: the mean taken in linear light."""
    linear = srgb_to_linear(np.asarray(pixels, dtype=np.float64).reshape(-1, 3) / 255.0).mean(axis=0)
    encoded = linear_to_srgb(linear)
    return tuple(float(v) for v in rgb2lab(encoded.reshape(1, 1, 3)).reshape(3))
