"""What pairing, arranging and layout need to know about an accepted image, from a ~256 px copy.

Perceptual hashes (robust to recolouring and noise), colour statistics in Lab (robust to
mirroring and reframing), shape descriptors over crops, tilts and mirrors, and a small Lab
thumbnail of where light and colour sit. Features are cached by content hash, so any change to
how one is computed must bump ``FEATURES_VERSION``.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field, fields
from functools import lru_cache

import imagehash
import numpy as np
from PIL import Image

from ..colour import hex_colour, mean_lab, srgb_to_lab
from .decode import downscaled

FEATURE_SIDE = 256  # long side of the small image that features are computed from
# A 1,024 px variation is box-halved before the bicubic shrink to FEATURE_SIDE: 5.7 -> 2.5 ms an image
# (bicubic over the full size was 15 % of a cold 1,000-image build's validation), features as good.
FEATURE_REDUCING_GAP = 2.0
FEATURES_VERSION = 4  # bump when any feature's definition changes: part of the feature cache key


@dataclass(eq=False)
class ImageFeatures:
    """What later stages need to know about an accepted image, cached by content hash.

    Held decoded, as pairing uses them; ``to_dict`` and ``from_dict`` are the one place the
    JSON-safe wire format of the cache (base64 descriptors and thumbnail) is written and read.
    """

    format: str                      # "JPEG" | "PNG" | "WEBP" (decided by content)
    width: int                       # pixels, after EXIF orientation
    height: int
    source_mode: str                 # Pillow mode as uploaded ("RGB", "CMYK", "P", "RGBA", ...)
    phash: str                       # 64-bit perceptual hash, 16 hex digits (imagehash's own form)
    phash_mirror: str                # perceptual hash of the left-right mirrored image, hex
    dhash: str                       # 64-bit difference hash, hex
    colour_hist: list[float]         # normalized colour histogram, fixed length, sums to 1
    dominant_colours: list[str]      # up to 5 '#rrggbb', most common first
    mean_lab: tuple[float, float, float]  # CIE L*a*b* of the mean colour
    provenance: str = ""             # text found in PNG chunks / EXIF / XMP (e.g. names the source drawing)
    # Shape descriptors, len(STRUCTURE_WINDOWS) x STRUCTURE_LENGTH, rows L2-normalised (whole frame, then
    # crops, tilts, squares); None when absent (images described before they existed).
    structure: np.ndarray | None = None
    # L*a*b* thumbnail, H x W x 3 floats, long side LAYOUT_SIDE; None when absent.
    layout: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "animated: first of 12 frames used"

    def to_dict(self) -> dict:
        """The cache's JSON-safe form: descriptors and thumbnail as base64 text ("" when absent)."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data.update(
            colour_hist=list(self.colour_hist),
            dominant_colours=list(self.dominant_colours),
            notes=list(self.notes),
            structure="" if self.structure is None else encode_structure(self.structure),
            layout="" if self.layout is None else encode_layout(self.layout),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ImageFeatures":
        """Read what ``to_dict`` wrote; malformed descriptors or thumbnails count as absent."""
        data = dict(data)
        data["mean_lab"] = tuple(data["mean_lab"])
        data["structure"] = decode_structure(data.get("structure", ""))
        data["layout"] = decode_layout(data.get("layout", ""))
        return cls(**data)

    def __reduce__(self):
        """Pickled in the cache's wire form (~20 kB, not ~100 kB of float arrays): what a validation
        worker sends back then fits a pipe's buffer instead of waiting on the parent's reader. The
        arrays are quantised already, so they come back with the same values (test_imaging.py)."""
        return (ImageFeatures.from_dict, (self.to_dict(),))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(_same(getattr(self, item.name), getattr(other, item.name)) for item in fields(self))


def _same(a: object, b: object) -> bool:
    """Equality that compares arrays by shape and content (``==`` on arrays compares element-wise)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and bool(np.array_equal(a, b))
    return a == b


# --------------------------------------------------------------------------------------------
# Colour features
# --------------------------------------------------------------------------------------------

# Histogram bins in Lab: L in 4 equal bands over 0-100; a* and b* in 5 bands whose middle band is
# near-neutral (|x| < 10), then muted (10-35) and vivid (> 35) on each side: 4 x 5 x 5 = 100 bins.
_L_EDGES = np.array([25.0, 50.0, 75.0])
_AB_EDGES = np.array([-35.0, -10.0, 10.0, 35.0])
HIST_BINS = (len(_L_EDGES) + 1) * (len(_AB_EDGES) + 1) ** 2


def _colour_hist(lab: np.ndarray) -> list[float]:
    l_bin = np.searchsorted(_L_EDGES, lab[:, 0], side="right")
    a_bin = np.searchsorted(_AB_EDGES, lab[:, 1], side="right")
    b_bin = np.searchsorted(_AB_EDGES, lab[:, 2], side="right")
    n_ab = len(_AB_EDGES) + 1
    index = (l_bin * n_ab + a_bin) * n_ab + b_bin
    counts = np.bincount(index, minlength=HIST_BINS).astype(np.float64)
    return (counts / counts.sum()).tolist()


def _dominant_colours(small: Image.Image, count: int = 5) -> list[str]:
    if max(small.size) >= 2 * 96:  # median cut on ~128 px: near-identical palette, a quarter of the work
        small = small.reduce(2)
    quantized = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = quantized.getpalette() or []
    used = sorted(quantized.getcolors(count) or [], key=lambda item: (-item[0], item[1]))
    colours: list[str] = []
    for _, index in used:
        colour = hex_colour(palette[3 * index : 3 * index + 3])
        if colour not in colours:
            colours.append(colour)
    return colours


# --------------------------------------------------------------------------------------------
# Shape features: what survives recolouring, restyling, new backgrounds, mirroring and reframing
# --------------------------------------------------------------------------------------------

# Each descriptor is a grid of gradient-orientation histograms on a window of the image, built from
# the colour structure tensor: edges count whatever their colours (a recoloured or restyled copy keeps
# them) and orientation is unsigned (an edge may flip from dark-on-light to light-on-dark). Left-right
# mirroring only permutes cells and bins, so pairing gets the mirrored descriptor for free. Windows:
# the whole frame, crops at three scales in a 3 x 3 grid of positions (a reframed variation, zoomed
# in, or a drawing shown smaller inside a wider variation, still finds its match), the whole frame
# turned a little each way (image tools and phone photos tilt; the largest upright crop inside), and
# squares (a square picture of a landscape drawing's middle or one end).
STRUCTURE_GRID = 6                 # cells per side
STRUCTURE_BINS = 8                 # orientation bins over 180 degrees
STRUCTURE_SIDE = 48                # pixels per side a window is resampled to
STRUCTURE_CROP_SCALES = (0.84, 0.7, 0.6)
STRUCTURE_CROP_STEPS = 3
STRUCTURE_ROTATIONS = (-15.0, -8.0, 8.0, 15.0)   # degrees, counter-clockwise
STRUCTURE_LENGTH = STRUCTURE_GRID * STRUCTURE_GRID * STRUCTURE_BINS
_BIN_MASK = STRUCTURE_BINS - 1      # bin index modulo STRUCTURE_BINS as a bit mask (a power of two)
assert STRUCTURE_BINS & _BIN_MASK == 0, "STRUCTURE_BINS must be a power of two"


@dataclass(frozen=True)
class StructureWindow:
    """A descriptor window: ``scale`` of the frame (or, when ``square``, of the largest square inside
    it) with its top-left corner at fractions ``x``, ``y`` of the room left, turned by ``angle`` degrees."""

    scale: float
    x: float = 0.0
    y: float = 0.0
    angle: float = 0.0
    square: bool = False

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The window in pixels of a width x height image (the largest inscribed one when turned)."""
        if self.square:
            side = self.scale * min(width, height)
            left, top = self.x * (width - side), self.y * (height - side)
            return left, top, left + side, top + side
        if self.angle:
            scale = inscribed_scale(width, height, self.angle)
            x = y = (1.0 - scale) / 2.0
        else:
            scale, x, y = self.scale, self.x, self.y
        return x * width, y * height, (x + scale) * width, (y + scale) * height


def structure_windows() -> list[StructureWindow]:
    """Every descriptor window: the whole frame, crops, tilts, and squares (image tools often answer
    a landscape drawing with a square picture of its middle or one end)."""
    windows = [StructureWindow(1.0)]
    for scale in STRUCTURE_CROP_SCALES:
        steps = [i / (STRUCTURE_CROP_STEPS - 1) for i in range(STRUCTURE_CROP_STEPS)]
        windows.extend(StructureWindow(scale, (1.0 - scale) * x, (1.0 - scale) * y) for y in steps for x in steps)
    windows.extend(StructureWindow(1.0, angle=angle) for angle in STRUCTURE_ROTATIONS)
    windows.extend(StructureWindow(1.0, t, t, square=True) for t in (0.0, 0.5, 1.0))
    windows.append(StructureWindow(0.8, 0.5, 0.5, square=True))
    return windows


STRUCTURE_WINDOWS = structure_windows()


def inscribed_scale(width: float, height: float, degrees: float) -> float:
    """Scale of the largest same-shaped upright rectangle inside a width x height image turned by ``degrees``."""
    angle = math.radians(abs(degrees))
    return 1.0 / (math.cos(angle) + math.sin(angle) * max(width / height, height / width))


def _central_difference(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.gradient`` along one axis (unit spacing, one-sided at the edges), written as three slice
    subtractions: the same numbers, without its generic per-call set-up and copies."""
    def part(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return tuple(slice(start, stop) if i == axis else slice(None) for i in range(values.ndim))

    out = np.empty_like(values)
    np.subtract(values[part(2, None)], values[part(None, -2)], out=out[part(1, -1)])
    out[part(1, -1)] /= 2.0
    np.subtract(values[part(1, 2)], values[part(0, 1)], out=out[part(0, 1)])
    np.subtract(values[part(-1, None)], values[part(-2, -1)], out=out[part(-1, None)])
    return out


@lru_cache(maxsize=4)
def _cell_slots(count: int, side: int) -> np.ndarray:
    """Index of the first orientation bin of each pixel's cell, per window: where its votes go."""
    cell = side // STRUCTURE_GRID
    rows = np.minimum(np.arange(side) // cell, STRUCTURE_GRID - 1)
    cell_index = (rows[:, None] * STRUCTURE_GRID + rows[None, :]).ravel()
    slots = (np.arange(count)[:, None] * STRUCTURE_LENGTH + cell_index[None, :] * STRUCTURE_BINS).ravel()
    slots.flags.writeable = False       # shared between calls (cached)
    return slots


def _orientation_grids(windows: np.ndarray) -> np.ndarray:
    """N windows (N x S x S x 3, uint8) -> N L2-normalised grids of unsigned orientation histograms.

    Channel-first float64 with the colour sums written out, each step into a buffer already at hand
    (the same operations in the same order, so the same roundings): the descriptors of the
    straightforward form (``np.gradient`` over N x S x S x 3, ``.sum(axis=3)``) bit for bit, in a
    quarter of its time (test_imaging.py holds the two equal)."""
    planes = windows.transpose(3, 0, 1, 2).astype(np.float64, order="C")
    planes /= 255.0
    gy, gx = _central_difference(planes, 2), _central_difference(planes, 3)
    # The same sums in the same order as ``a * a + b * b + c * c``, with fewer temporaries (in place).
    jxx, jyy, jxy = gx[0] * gx[0], gy[0] * gy[0], gx[0] * gy[0]
    product = np.empty_like(jxx)
    for channel in (1, 2):
        jxx += np.multiply(gx[channel], gx[channel], out=product)
        jyy += np.multiply(gy[channel], gy[channel], out=product)
        jxy += np.multiply(gx[channel], gy[channel], out=product)
    difference = jxx - jyy
    half_diff = 0.5 * difference
    radius = np.multiply(half_diff, half_diff, out=half_diff)
    radius += np.multiply(jxy, jxy, out=product)
    np.sqrt(radius, out=radius)
    strength = np.add(jxx, jyy, out=jxx)
    strength *= 0.5
    strength += radius
    np.sqrt(strength, out=strength)
    np.sqrt(strength, out=strength)
    position = np.arctan2(np.multiply(jxy, 2.0, out=jxy), difference, out=difference)   # -pi..pi: 0..180 degrees
    position += np.pi
    position /= 2.0 * np.pi
    position *= STRUCTURE_BINS
    position, strength = position.ravel(), strength.ravel()
    floor = np.floor(position)
    lower = floor.astype(np.int64)
    lower &= _BIN_MASK                        # position >= 0, so the same as % STRUCTURE_BINS
    upper_share = np.subtract(position, floor, out=position)
    count, pixels = windows.shape[0], position.size
    base = _cell_slots(count, windows.shape[1])
    slots = np.empty(2 * pixels, dtype=np.int64)
    np.add(base, lower, out=slots[:pixels])
    lower += 1
    lower &= _BIN_MASK
    np.add(base, lower, out=slots[pixels:])
    shares = np.empty(2 * pixels)
    np.subtract(1.0, upper_share, out=shares[:pixels])
    shares[:pixels] *= strength
    np.multiply(strength, upper_share, out=shares[pixels:])
    hist = np.bincount(slots, weights=shares, minlength=count * STRUCTURE_LENGTH).reshape(count, STRUCTURE_LENGTH)
    norms = np.linalg.norm(hist, axis=1, keepdims=True)
    return np.divide(hist, norms, out=np.zeros_like(hist), where=norms > 0)


ROTATION_SOURCE_SIDE = 2 * STRUCTURE_SIDE   # tilted windows are cut from a copy this small (cheap to turn)


def structure_descriptors(small: Image.Image) -> np.ndarray:
    """len(STRUCTURE_WINDOWS) x STRUCTURE_LENGTH descriptors of a small sRGB image (rows L2-normalised)."""
    turnable = downscaled(small, ROTATION_SOURCE_SIDE, Image.Resampling.BOX)
    resized = _WindowResizer(small)
    windows: list[np.ndarray] = []
    row_of_window: list[int] = []     # each window's row among the distinct windows
    row_of_box: dict[tuple[float, float, float, float], int] = {}
    for window in STRUCTURE_WINDOWS:
        if window.angle:
            turned = turnable.rotate(window.angle, resample=Image.Resampling.BILINEAR)
            box = window.box(turned.width, turned.height)
            row_of_window.append(len(windows))
            windows.append(np.asarray(turned.resize((STRUCTURE_SIDE, STRUCTURE_SIDE), Image.Resampling.BOX, box=box)))
            continue
        box = window.box(small.width, small.height)
        if box not in row_of_box:       # a square picture's squares are all its whole frame
            row_of_box[box] = len(windows)
            windows.append(resized(box))
        row_of_window.append(row_of_box[box])
    # Each window's histogram is summed from its own pixels alone, so a repeated window's row is the
    # same numbers whether computed again or copied (test_imaging.py holds both forms equal).
    return _orientation_grids(np.stack(windows))[row_of_window]


class _WindowResizer:
    """``small.resize((STRUCTURE_SIDE,) * 2, BOX, box=box)`` for many boxes, pixel for pixel, in less
    time: the horizontal pass is shared by every box of the same x range (``structure_descriptors``
    asks for each distinct box once).

    Pillow resizes in two passes into an 8-bit intermediate; each row's horizontal pass is independent
    of the others and the vertical pass's weights depend only on the source height and the y range, so
    a horizontal pass over all rows followed by a vertical-only resize gives the same pixels — when
    Pillow itself goes horizontal first. Pillow 13 picks the order by cost and takes some pictures
    taller than wide vertically first, so those are resized as they are (test_imaging.py holds both
    forms equal for every shape up to 256 px)."""

    def __init__(self, small: Image.Image):
        self.small = small
        self.share_columns = small.width >= small.height
        self._columns: dict[tuple[float, float], Image.Image] = {}

    def __call__(self, box: tuple[float, float, float, float]) -> np.ndarray:
        side, small = STRUCTURE_SIDE, self.small
        if not self.share_columns:
            return np.asarray(small.resize((side, side), Image.Resampling.BOX, box=box))
        left, top, right, bottom = box
        if (left, right) not in self._columns:
            self._columns[left, right] = small.resize((side, small.height), Image.Resampling.BOX,
                                                      box=(left, 0, right, small.height))
        return np.asarray(self._columns[left, right].resize((side, side), Image.Resampling.BOX,
                                                            box=(0, top, side, bottom)))


def encode_structure(descriptors: np.ndarray) -> str:
    """Descriptors as base64 of uint8 (each row scaled by its largest entry): ~7 KB of JSON per image."""
    peak = descriptors.max(axis=1, keepdims=True)
    scaled = np.divide(descriptors, peak, out=np.zeros_like(descriptors), where=peak > 0)
    return base64.b64encode(np.round(scaled * 255.0).astype(np.uint8).tobytes()).decode("ascii")


def decode_structure(text: str) -> np.ndarray | None:
    """The rows written by ``encode_structure``, L2-normalised again (float32); None when absent or malformed."""
    if not text:
        return None
    try:
        raw = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    except (ValueError, TypeError):
        return None
    if raw.size == 0 or raw.size % STRUCTURE_LENGTH:
        return None
    rows = raw.reshape(-1, STRUCTURE_LENGTH).astype(np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # float32, as pairing takes them (looks.PreparedLooks): the same numbers there, half the memory
    # for a book's features (25 KB an image, not 50)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0).astype(np.float32)


def mirrored_structure(descriptors: np.ndarray) -> np.ndarray:
    """Descriptors of the left-right mirrored image: cells swap columns, orientation bins reflect."""
    grid = descriptors.reshape(-1, STRUCTURE_GRID, STRUCTURE_GRID, STRUCTURE_BINS)
    reflected_bins = (STRUCTURE_BINS - np.arange(STRUCTURE_BINS)) % STRUCTURE_BINS
    return grid[:, :, ::-1, :][..., reflected_bins].reshape(descriptors.shape)


# Layout: where light and dark, and which colours, sit in the picture, as a small L*a*b* thumbnail.
# A child's flat-colour drawing and a photo-like rendition of what it shows share little fine
# structure but the same big shapes of light and colour; pairing samples it through windows
# (reframes, tilts, mirrors), see ``looks``.
LAYOUT_SIDE = 48                   # long side of the thumbnail, pixels


def layout_thumbnail(small: Image.Image) -> np.ndarray:
    """H x W x 3 L*a*b* (float) thumbnail of a small sRGB image, long side LAYOUT_SIDE."""
    thumb = downscaled(small, LAYOUT_SIDE, Image.Resampling.BOX)
    pixels = np.asarray(thumb, dtype=np.uint8)
    return srgb_to_lab(pixels.reshape(-1, 3)).reshape(pixels.shape)


def encode_layout(lab: np.ndarray) -> str:
    """``"WxH:"`` + base64 of uint8 (L * 2.55, a + 128, b + 128)."""
    height, width = lab.shape[:2]
    scaled = np.clip(np.round(lab * (2.55, 1.0, 1.0) + (0.0, 128.0, 128.0)), 0, 255).astype(np.uint8)
    return f"{width}x{height}:" + base64.b64encode(scaled.tobytes()).decode("ascii")


def decode_layout(text: str) -> np.ndarray | None:
    """The thumbnail written by ``encode_layout`` as float L*a*b*; None when absent or malformed."""
    size, _, payload = (text or "").partition(":")
    try:
        width, height = (int(v) for v in size.split("x"))
        raw = np.frombuffer(base64.b64decode(payload, validate=True), dtype=np.uint8)
    except (ValueError, TypeError):
        return None
    if width <= 0 or height <= 0 or raw.size != width * height * 3:
        return None
    return raw.reshape(height, width, 3).astype(np.float64) / (2.55, 1.0, 1.0) - (0.0, 128.0, 128.0)


COLOUR_MIN_SIDE = 48              # colour statistics are taken from at least this many pixels a side


def features_of(small: Image.Image) -> dict:
    """Hashes, colour statistics, shape descriptors and layout of the small sRGB image (the features
    that don't need full size), as ``ImageFeatures`` fields."""
    grey = small.convert("L")
    # Colour statistics from a half-size copy: the same histogram to within a percent, a quarter of
    # the Lab conversions.
    halved = small.reduce(2) if min(small.size) >= 2 * COLOUR_MIN_SIDE else small
    pixels = np.asarray(halved, dtype=np.uint8).reshape(-1, 3)
    lab = srgb_to_lab(pixels)
    average = mean_lab(pixels)
    return {
        "phash": str(imagehash.phash(grey)),
        "phash_mirror": str(imagehash.phash(grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
        "dhash": str(imagehash.dhash(grey)),
        "colour_hist": _colour_hist(lab),
        "dominant_colours": _dominant_colours(small),
        "mean_lab": tuple(round(v, 3) for v in average),
        # Quantised as the cache stores them, so fresh and cached features pair alike.
        "structure": decode_structure(encode_structure(structure_descriptors(small))),
        "layout": decode_layout(encode_layout(layout_thumbnail(small))),
    }
