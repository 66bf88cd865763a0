"""Decode, validate, normalize and describe one uploaded image.

Validates like an image host: the content decides the format (JPEG, PNG, WebP only), Pillow's
decompression-bomb guard stays on, truncated files are rejected, EXIF orientation is applied,
CMYK/palette/alpha images become sRGB, animated images keep their first frame (and say so).
Every rejection carries a stable reason code and a sentence a parent understands.
"""
from __future__ import annotations

import base64
import html
import math
import re
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from io import BytesIO
from xml.etree import ElementTree

import imagehash
import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps

from .colour import hex_colour, mean_lab, srgb_to_lab  # noqa: F401 - re-exported: part of this module's API

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
    structure: str = ""              # base64 uint8 shape descriptors: whole frame, then crops (see STRUCTURE_WINDOWS)
    layout: str = ""                 # "WxH:" + base64 uint8 L*a*b* thumbnail (see encode_layout)
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


# --------------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------------

REJECTION_REASONS: dict[str, str] = {
    "empty_file": "The file is empty — it may not have finished uploading.",
    "file_too_large": "The file is larger than we accept; please upload a smaller copy.",
    "unsupported_format": "The file is a kind of picture we can't print; please upload PNG, JPEG or WebP.",
    "not_an_image": "The file is not a picture we can read, whatever its name says.",
    "truncated": "The file is cut short — part of the picture is missing; please upload it again.",
    "corrupt": "The file is damaged and cannot be opened as a picture; please export it again.",
    "decompression_bomb": "The picture claims to be far too big to open safely.",
    "too_many_pixels": "The picture has more pixels than we can handle; please upload a smaller copy.",
    "too_small": "The picture is too small to print well; please upload a larger copy.",
}
"""Stable reason code -> a general sentence for a parent (the raised message adds the figures)."""

FEATURE_SIDE = 256  # long side of the small image that features are computed from
FEATURES_VERSION = 3  # bump when any feature's definition changes: part of the feature cache key


def _reject(code: str, message: str) -> ImageRejected:
    if code not in REJECTION_REASONS:
        raise ValueError(f"unknown rejection code {code!r}")
    return ImageRejected(code, message)


def _human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} byte" + ("" if n == 1 else "s")
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value >= 100 or value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


def _human_pixel_count(pixels: int) -> str:
    if pixels < 1_000_000:
        return f"{pixels:,} pixels"
    megapixels = pixels / 1e6
    return f"{megapixels:,.0f} megapixels" if megapixels >= 10 else f"{megapixels:.1f} megapixels"


def _human_pixels(width: int, height: int) -> str:
    if width * height < 1_000_000:
        return f"{width:,}×{height:,} pixels"
    return f"{width:,}×{height:,} pixels ({_human_pixel_count(width * height)})"


# --------------------------------------------------------------------------------------------
# Sniffing: the bytes decide what a file is, never its name
# --------------------------------------------------------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"avc1", b"dash"}


def _sniff(data: bytes) -> str | None:
    """Name the format from magic bytes: an accepted Pillow format name, another format's
    human name prefixed with '!', or None when nothing is recognised."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "!GIF"
    if head[:2] == b"BM" and len(head) >= 14:
        return "!BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "!TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(len(head), 8 + int.from_bytes(head[:4], "big")), 4)}
        if brand in _AVIF_BRANDS or (brand in (b"mif1", b"msf1") and compatible & _AVIF_BRANDS):
            return "!AVIF"
        if brand in _HEIF_BRANDS:
            return "!HEIC"
        if brand in (b"jp2 ", b"jpx ", b"jpm "):
            return "!JPEG 2000"
        if brand in (b"crx ",):
            return "!camera RAW (CR3)"
        if brand in _VIDEO_BRANDS:
            return "!video (MP4/MOV)"
        return "!HEIF/MP4 container"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return "!JPEG 2000"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "!JPEG XL"
    if head[:4] == b"8BPS":
        return "!PSD (Photoshop)"
    if head[:5] == b"%PDF-":
        return "!PDF"
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(head) >= 6 and 0 < head[4] and head[5] == 0:
        return "!ICO"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "!video (AVI)"
    text_head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text_head[:512]:
        return "!SVG" if b"<svg" in data[:8192].lower() else "!XML"
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:1024]
    try:
        decoded = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded) >= 0.95 * max(1, len(decoded))


def _looks_truncated(data: bytes, fmt: str) -> bool:
    """Walk the container structure (headers only) to tell 'cut short' from 'damaged'."""
    size = len(data)
    if fmt == "PNG":
        pos = 8
        while pos + 8 <= size:
            length = int.from_bytes(data[pos : pos + 4], "big")
            if length > 0x7FFFFFFF:
                return False
            if data[pos + 4 : pos + 8] == b"IEND":
                return False
            pos += 12 + length
        return True
    if fmt == "WEBP":
        return size < 8 + int.from_bytes(data[4:8], "little")
    if fmt == "JPEG":
        pos = 2
        while pos + 4 <= size:
            if data[pos] != 0xFF:
                return False
            marker = data[pos + 1]
            if marker == 0xFF:
                pos += 1
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            if marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI marker
                return data.find(b"\xff\xd9", pos) == -1
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        return True
    return False


def _png_integrity(data: bytes) -> tuple[bool, bool]:
    """(a critical chunk fails its CRC, the file stops before IEND).

    Pillow does not check IDAT checksums, so flipped bytes in the middle of a PNG can decode
    to garbage silently; libpng-based viewers reject such files, and so do we.
    """
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            return False, True
        chunk_type = data[pos + 4 : pos + 8]
        if chunk_type[:1].isupper():  # critical chunk: IHDR, PLTE, IDAT, IEND
            if zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
                return True, False
        if chunk_type == b"IEND":
            return False, False
        pos = end
    return False, True


def _decode_failure(data: bytes, fmt: str, error: BaseException) -> ImageRejected:
    detail = str(error).lower()
    if "truncated" in detail or _looks_truncated(data, fmt):
        return _reject(
            "truncated",
            f"This {fmt if fmt != 'WEBP' else 'WebP'} file ({_human_bytes(len(data))}) is cut short, so part of "
            "the picture is missing — it may not have finished uploading; please upload it again.",
        )
    return _reject(
        "corrupt",
        f"This {fmt if fmt != 'WEBP' else 'WebP'} file is damaged and cannot be read as a picture; "
        "please open it on your device and save or export it again.",
    )


# --------------------------------------------------------------------------------------------
# Opening and decoding
# --------------------------------------------------------------------------------------------


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's bomb warning becomes an exception; its UserWarnings (e.g. "Corrupt EXIF data")
    are silenced, so a damaged metadata block never decides a picture's fate, whatever the
    process-wide warning filters say. (Warning filters are process-global: not thread-safe, so
    the pixel limit is re-checked explicitly after opening.)"""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\..*)?$")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _bomb_rejection(pixels_text: str) -> ImageRejected:
    return _reject(
        "decompression_bomb",
        f"This file says its picture is {pixels_text}, which is far too big to open safely; "
        "it may be damaged or made to crash image software. Please upload a normal-sized copy.",
    )


def _open_checked(data: bytes, fmt: str) -> Image.Image:
    """Open (header only) with Pillow's bomb guard on, its warning turned into a rejection."""
    try:
        with _pillow_warnings():
            im = Image.open(BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        pixels = _human_pixel_count(int(found.group(1))) if found else "enormous"
        raise _bomb_rejection(pixels) from None
    except Exception as error:  # Pillow raises many types for bad headers
        raise _decode_failure(data, fmt, error) from None
    width, height = im.size
    # Belt and braces: catch_warnings is process-global, so re-check the guard ourselves.
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise _bomb_rejection(_human_pixels(width, height))
    return im


def _load_checked(im: Image.Image, data: bytes, fmt: str) -> None:
    """Decode the pixels; LOAD_TRUNCATED_IMAGES stays False so a short file raises here."""
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb_rejection(_human_pixels(*im.size)) from None
    except Exception as error:
        raise _decode_failure(data, fmt, error) from None


def _orientation(im: Image.Image) -> int:
    """EXIF (or XMP) orientation 1-8; malformed metadata counts as upright."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
        value = int(value)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


@lru_cache(maxsize=16)
def _icc_transform(icc: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform | None, str]:
    """Build (and memoise) a profile -> sRGB transform; None when the profile is sRGB already."""
    profile = ImageCms.ImageCmsProfile(BytesIO(icc))
    name = (profile.profile.profile_description or profile.profile.model or "unnamed").strip()
    if "srgb" in name.lower() and mode != "CMYK":
        return None, name
    transform = ImageCms.buildTransform(
        profile, _SRGB_PROFILE, mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
    )
    return transform, name


_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB_ICC_BYTES = _SRGB_PROFILE.tobytes()

_MODE_NAMES = {
    "1": "black-and-white (1-bit)",
    "L": "greyscale",
    "P": "palette",
    "PA": "palette",
    "LA": "greyscale",
    "La": "greyscale",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
}


def _to_srgb(im: Image.Image, notes: list[str] | None) -> Image.Image:
    """Return an sRGB 'RGB' image: widen odd modes, flatten transparency onto white, apply ICC.

    ``notes`` collects one short line per conversion (pass None to skip them on a second pass).
    """

    widened = False

    def note(text: str) -> None:
        if notes is not None and text not in notes:
            notes.append(text)

    icc = im.info.get("icc_profile") or None
    mode = im.mode
    if mode.startswith("I") or mode == "F":  # 16-bit / 32-bit greyscale: scale to 8 bits, not clip
        array = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I") else max(1.0, float(array.max()))
        im = Image.fromarray(np.clip(array * (255.0 / top) + 0.5, 0, 255).astype(np.uint8))  # 2-D -> "L"
        note(f"{'16-bit' if mode.startswith('I') else 'floating-point'} greyscale reduced to 8-bit")
        icc = None if mode == "F" else icc
        mode, widened = "L", True
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    target = "RGBA" if has_alpha else ("L" if mode == "1" else mode if mode in ("RGB", "L", "CMYK") else "RGB")
    if target != mode:
        if mode in _MODE_NAMES:
            note(f"{_MODE_NAMES[mode]} image converted to RGB")
            widened = True
        if mode in ("PA", "YCbCr", "LAB", "HSV"):
            icc = None  # a profile, if any, would not describe these channels
        im = im.convert(target)
        mode = target
    if mode == "RGBA":
        alpha = im.getchannel("A")
        if alpha.getextrema()[0] < 255:
            flat = Image.new("RGB", im.size, (255, 255, 255))
            flat.paste(im, mask=alpha)
            im = flat
            note("transparent areas placed on white")
        else:
            im = im.convert("RGB")
        mode = "RGB"
    if icc and mode in ("RGB", "L", "CMYK"):
        try:
            transform, name = _icc_transform(bytes(icc), mode)
        except Exception:
            note("embedded colour profile could not be used; colours kept as they are")
        else:
            if transform is not None:
                im = ImageCms.applyTransform(im, transform)
                label = "CMYK" if mode == "CMYK" else ("greyscale" if mode == "L" else "colours")
                note(f"{label} converted to sRGB using its embedded profile '{name[:60]}'")
                mode = "RGB"
    if mode == "CMYK":
        note("CMYK converted to RGB without a colour profile (colours may shift slightly)")
    elif mode == "L" and not widened:
        note("greyscale image converted to RGB")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def _downscaled(im: Image.Image, long_side: int, resample: Image.Resampling) -> Image.Image:
    """Shrink so the long side is at most ``long_side``; never enlarge."""
    width, height = im.size
    if max(width, height) <= long_side:
        return im
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return im.resize(size, resample, reducing_gap=3.0)


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


def _orientation_grids(windows: np.ndarray) -> np.ndarray:
    """N windows (N x S x S x 3 floats) -> N L2-normalised grids of unsigned orientation histograms."""
    gy, gx = np.gradient(windows, axis=(1, 2))
    jxx = (gx * gx).sum(axis=3)
    jyy = (gy * gy).sum(axis=3)
    jxy = (gx * gy).sum(axis=3)
    half_diff = 0.5 * (jxx - jyy)
    strength = np.sqrt(np.sqrt(0.5 * (jxx + jyy) + np.sqrt(half_diff * half_diff + jxy * jxy)))
    doubled_angle = np.arctan2(2.0 * jxy, jxx - jyy)                  # -pi..pi, i.e. 0..180 degrees
    position = (doubled_angle + np.pi) / (2.0 * np.pi) * STRUCTURE_BINS
    lower = np.floor(position).astype(np.int64) % STRUCTURE_BINS
    upper_share = position - np.floor(position)
    count, side = windows.shape[0], windows.shape[1]
    cell = side // STRUCTURE_GRID
    rows = np.minimum(np.arange(side) // cell, STRUCTURE_GRID - 1)
    cell_index = (rows[:, None] * STRUCTURE_GRID + rows[None, :]).ravel()
    base = (np.arange(count)[:, None] * STRUCTURE_LENGTH + cell_index[None, :] * STRUCTURE_BINS).ravel()
    lower = lower.reshape(count, -1).ravel()
    strength = strength.reshape(count, -1).ravel()
    upper_share = upper_share.reshape(count, -1).ravel()
    slots = np.concatenate([base + lower, base + (lower + 1) % STRUCTURE_BINS])
    shares = np.concatenate([strength * (1.0 - upper_share), strength * upper_share])
    hist = np.bincount(slots, weights=shares, minlength=count * STRUCTURE_LENGTH).reshape(count, STRUCTURE_LENGTH)
    norms = np.linalg.norm(hist, axis=1, keepdims=True)
    return np.divide(hist, norms, out=np.zeros_like(hist), where=norms > 0)


ROTATION_SOURCE_SIDE = 2 * STRUCTURE_SIDE   # tilted windows are cut from a copy this small (cheap to turn)


def structure_descriptors(small: Image.Image) -> np.ndarray:
    """len(STRUCTURE_WINDOWS) x STRUCTURE_LENGTH descriptors of a small sRGB image (rows L2-normalised)."""
    turnable = _downscaled(small, ROTATION_SOURCE_SIDE, Image.Resampling.BOX)
    windows = []
    for window in STRUCTURE_WINDOWS:
        source = turnable.rotate(window.angle, resample=Image.Resampling.BILINEAR) if window.angle else small
        box = window.box(source.width, source.height)
        windows.append(np.asarray(source.resize((STRUCTURE_SIDE, STRUCTURE_SIDE), Image.Resampling.BOX, box=box)))
    return _orientation_grids(np.stack(windows).astype(np.float64) / 255.0)


def encode_structure(descriptors: np.ndarray) -> str:
    """Descriptors as base64 of uint8 (each row scaled by its largest entry): ~7 KB of JSON per image."""
    peak = descriptors.max(axis=1, keepdims=True)
    scaled = np.divide(descriptors, peak, out=np.zeros_like(descriptors), where=peak > 0)
    return base64.b64encode(np.round(scaled * 255.0).astype(np.uint8).tobytes()).decode("ascii")


def decode_structure(text: str) -> np.ndarray | None:
    """The rows written by ``encode_structure``, L2-normalised again; None when absent or malformed."""
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
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


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
    thumb = _downscaled(small, LAYOUT_SIDE, Image.Resampling.BOX)
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


def _features_of(small: Image.Image) -> dict:
    """Hashes and colour statistics of the small sRGB image (features that don't need full size)."""
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
        "structure": encode_structure(structure_descriptors(small)),
        "layout": encode_layout(layout_thumbnail(small)),
    }


# --------------------------------------------------------------------------------------------
# Provenance: text in the file that may name the drawing a variation came from
# --------------------------------------------------------------------------------------------

_TEXT_KEYS = ("parameters", "prompt", "description", "comment", "source", "title")
_DC_FIELDS = ("description", "source", "title")
_DC_NAMESPACE = "http://purl.org/dc/elements/1.1/"
_PROVENANCE_LIMIT = 2000


def _as_text(value) -> str:
    if isinstance(value, bytes):
        if value.startswith((b"\xff\xfe", b"\xfe\xff")):
            return value.decode("utf-16", errors="replace")
        return value.decode("utf-8", errors="replace")
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):  # XP* tags as ints
        return bytes(value).decode("utf-16-le", errors="replace")
    return str(value)


def _user_comment(value) -> str:
    """EXIF UserComment: 8-byte charset header (ASCII/UNICODE/JIS/undefined) then the text."""
    if isinstance(value, str):
        return value
    raw = bytes(value)
    header, body = raw[:8], raw[8:]
    if header.startswith(b"UNICODE"):
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            return body.decode("utf-16", errors="replace")
        little = body[1:2] == b"\x00" if len(body) > 1 else True
        return body.decode("utf-16-le" if little else "utf-16-be", errors="replace")
    if header.startswith(b"JIS"):
        return body.decode("shift_jis", errors="replace")
    if header.startswith(b"ASCII") or header == b"\x00" * 8:
        return body.decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _xmp_texts(packet) -> list[str]:
    """dc:description / dc:source / dc:title from an XMP packet, parsed tolerantly."""
    text = _as_text(packet)[:262_144]
    found: list[str] = []
    if "<!DOCTYPE" not in text and "<!ENTITY" not in text:  # never expand entities
        start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
        body = text[start : end + len("</x:xmpmeta>")] if start != -1 and end != -1 else text
        body = re.sub(r"<\?xpacket[^>]*\?>", "", body).strip()
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            root = None
        if root is not None:
            for element in root.iter():
                for name in _DC_FIELDS:
                    attr = element.attrib.get(f"{{{_DC_NAMESPACE}}}{name}")
                    if attr:
                        found.append(attr)
                if isinstance(element.tag, str) and element.tag.startswith(f"{{{_DC_NAMESPACE}}}"):
                    if element.tag.split("}", 1)[1] in _DC_FIELDS:
                        found.append(" ".join(part.strip() for part in element.itertext() if part.strip()))
            return [item for item in found if item]
    for match in re.finditer(r"<dc:(description|source|title)\b[^>]*>(.*?)</dc:\1>", text, re.S | re.I):
        found.append(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))))
    for match in re.finditer(r"\bdc:(description|source|title)=\"([^\"]*)\"", text, re.I):
        found.append(html.unescape(match.group(2)))
    return [item for item in found if item.strip()]


def image_provenance(im: Image.Image) -> str:
    """Text in the file's metadata that may name its source (joined with ' | ', <= ~2000 chars).

    Image generators and editors leave the source drawing's name or the prompt in PNG text
    chunks, EXIF descriptions or XMP; pairing treats it as strong evidence. For a still PNG this
    loads the pixels (text chunks may come after them); for an animated PNG only the chunks up
    to the first frame are read, so as not to decode every frame.
    """
    with _pillow_warnings():
        return _provenance(im)


def _provenance(im: Image.Image) -> str:
    pieces: list[str] = []
    info = dict(im.info)
    if im.format == "PNG" and not getattr(im, "is_animated", False):
        try:  # text chunks may follow the pixels; ``text`` loads the image if that is not done yet
            info.update(getattr(im, "text", None) or {})
        except Exception:
            pass
    for key, value in info.items():
        if isinstance(key, str) and key.lower() in _TEXT_KEYS and isinstance(value, (str, bytes)):
            pieces.append(_as_text(value))
    try:
        exif = im.getexif()
        for tag in (0x010E, 0x9C9B, 0x9C9C):  # ImageDescription, XPTitle, XPComment
            if exif.get(tag):
                pieces.append(_as_text(exif[tag]))
        user_comment = exif.get_ifd(ExifTags.IFD.Exif).get(0x9286)
        if user_comment:
            pieces.append(_user_comment(user_comment))
    except Exception:  # malformed EXIF must not sink an otherwise good picture
        pass
    for key in ("xmp", "XML:com.adobe.xmp"):
        if info.get(key):
            pieces.extend(_xmp_texts(info[key]))
    seen: set[str] = set()
    kept: list[str] = []
    for piece in pieces:
        cleaned = " ".join(piece.replace("\x00", " ").split())
        if cleaned and cleaned.lower() not in seen:
            seen.add(cleaned.lower())
            kept.append(cleaned)
    joined = " | ".join(kept)
    return joined if len(joined) <= _PROVENANCE_LIMIT else joined[: _PROVENANCE_LIMIT - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def analyse_image(
    data: bytes, limits: ImageLimits = ImageLimits(), *, want_print_copy: bool = True
) -> AnalysedImage:
    """Validate one upload and describe it; raise ``ImageRejected`` if it cannot go in the book.

    Features come from a ~256 px decode (a JPEG ``draft`` decode, else a downscale of the one
    full decode), so they are the same whether or not a print copy is asked for — the cache
    keyed by content hash stays consistent.
    """
    with _pillow_warnings():
        return _analyse(bytes(data), limits, want_print_copy)


def check_file_size(size: int, limits: ImageLimits = ImageLimits()) -> None:
    """Reject by size alone — callers check the listed size before reading a huge upload into memory."""
    if size == 0:
        raise _reject("empty_file", "This file is empty (0 bytes) — it may not have finished uploading.")
    if size > limits.max_bytes:
        raise _reject(
            "file_too_large",
            f"This file is {_human_bytes(size)}, more than the {_human_bytes(limits.max_bytes)} we accept; "
            "please upload a smaller copy (a JPEG export usually is).",
        )


def _analyse(data: bytes, limits: ImageLimits, want_print_copy: bool) -> AnalysedImage:
    check_file_size(len(data), limits)
    sniffed = _sniff(data)
    if sniffed is None:
        looks = "it looks like a text document" if _looks_like_text(data) else "its contents are not a picture"
        raise _reject(
            "not_an_image",
            f"This file is not a picture we can read ({looks}), whatever its name says; "
            "please upload a PNG, JPEG or WebP image.",
        )
    if sniffed.startswith("!"):
        kind = sniffed[1:]
        hint = " (the usual format of iPhone photos)" if kind == "HEIC" else ""
        raise _reject(
            "unsupported_format",
            f"This file is in {kind} format{hint}, which we can't use in the book; "
            "please save or export it as PNG, JPEG or WebP and upload it again.",
        )
    fmt = sniffed
    im = _open_checked(data, fmt)
    width, height = im.size
    if width * height > limits.max_pixels:
        raise _reject(
            "too_many_pixels",
            f"This picture is {_human_pixels(width, height)}, more than the "
            f"{_human_pixel_count(limits.max_pixels)} we can handle; please upload a smaller copy.",
        )
    if min(width, height) < limits.min_side:  # the short side is the same once turned upright
        raise _reject(
            "too_small",
            f"This picture is only {width}×{height} pixels; it needs to be at least {limits.min_side} "
            "pixels on each side to print well.",
        )
    source_mode = im.mode
    notes: list[str] = []
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1:
        notes.append(f"animated image: first of {frames} frames used")

    if fmt == "JPEG":  # DCT-domain downscale: the smallest 1/2^k decode whose long side >= 256
        stored_w, stored_h = im.size
        shrink = min(1.0, FEATURE_SIDE / max(stored_w, stored_h))
        im.draft("RGB", (max(1, math.ceil(stored_w * shrink)), max(1, math.ceil(stored_h * shrink))))
    _load_checked(im, data, fmt)
    if fmt == "PNG":
        damaged, ends_early = _png_integrity(data)
        if damaged:
            raise _decode_failure(data, fmt, ValueError("PNG chunk checksum mismatch"))
        if ends_early:
            notes.append("file ends early, after the complete picture (end marker missing)")
    orientation = _orientation(im)  # after load: a PNG's eXIf chunk may follow the pixels
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if orientation != 1:
        notes.append(f"turned upright using its EXIF orientation ({orientation})")
    provenance = image_provenance(im)
    if orientation != 1:
        ImageOps.exif_transpose(im, in_place=True)
    working = _to_srgb(im, notes)
    small = _downscaled(working, FEATURE_SIDE, Image.Resampling.BICUBIC)
    features = ImageFeatures(
        format=fmt,
        width=width,
        height=height,
        source_mode=source_mode,
        provenance=provenance,
        notes=notes,
        **_features_of(small),
    )
    if not want_print_copy:
        return AnalysedImage(features=features, print_jpeg=None)

    if fmt == "JPEG":  # second decode, as small as the print cap allows (DCT scaling is nearly free)
        full = _open_checked(data, fmt)
        stored_w, stored_h = full.size
        scale = min(1.0, limits.print_max_side / max(stored_w, stored_h))
        if scale < 0.5:
            full.draft("RGB", (math.ceil(stored_w * scale), math.ceil(stored_h * scale)))
        _load_checked(full, data, fmt)
        if orientation != 1:
            ImageOps.exif_transpose(full, in_place=True)
        working = _to_srgb(full, None)
    printable = _downscaled(working, limits.print_max_side, Image.Resampling.LANCZOS)
    buffer = BytesIO()
    # Baseline JPEG, tagged sRGB; comment=b"" stops Pillow copying a source "comment" text across.
    printable.save(
        buffer, format="JPEG", quality=90, progressive=False, icc_profile=_SRGB_ICC_BYTES, comment=b""
    )
    return AnalysedImage(
        features=features,
        print_jpeg=buffer.getvalue(),
        print_width=printable.width,
        print_height=printable.height,
    )
