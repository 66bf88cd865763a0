"""Open and decode an accepted upload safely, and make it sRGB.

Pillow's decompression-bomb guard stays on (its warning becomes a rejection), truncated files are
rejected, EXIF orientation is applied, CMYK/palette/alpha/16-bit images become sRGB 'RGB' (with
their ICC profile where they have one), and the print copy is written from here.
"""
from __future__ import annotations

import math
import re
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from io import BytesIO

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps

from .rejections import ImageLimits, ImageRejected, human_bytes, human_pixel_count, human_pixels, reject
from .sniff import ACCEPTED_FORMATS

# --------------------------------------------------------------------------------------------
# Cut short or damaged: the container structure tells them apart
# --------------------------------------------------------------------------------------------


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


def decode_failure(data: bytes, fmt: str, error: BaseException) -> ImageRejected:
    detail = str(error).lower()
    if "max_text_chunk" in detail or "max_text_memory" in detail:   # Pillow's cap on PNG text chunks
        return reject(
            "metadata_too_large",
            "This PNG carries more than 1 MB of hidden text (metadata) beside the picture — far more than a "
            "picture needs, so it is not opened. Please save or export it again without the extra data.",
        )
    if "truncated" in detail or _looks_truncated(data, fmt):
        return reject(
            "truncated",
            f"This {fmt if fmt != 'WEBP' else 'WebP'} file ({human_bytes(len(data))}) is cut short, so part of "
            "the picture is missing — it may not have finished uploading; please upload it again.",
        )
    return reject(
        "corrupt",
        f"This {fmt if fmt != 'WEBP' else 'WebP'} file is damaged and cannot be read as a picture; "
        "please open it on your device and save or export it again.",
    )


# --------------------------------------------------------------------------------------------
# Opening and decoding
# --------------------------------------------------------------------------------------------


@contextmanager
def pillow_warnings() -> Iterator[None]:
    """Pillow's bomb warning becomes an exception; its UserWarnings (e.g. "Corrupt EXIF data")
    are silenced, so a damaged metadata block never decides a picture's fate, whatever the
    process-wide warning filters say. (Warning filters are process-global: not thread-safe, so
    the pixel limit is re-checked explicitly after opening.)"""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\..*)?$")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _bomb_rejection(pixels_text: str) -> ImageRejected:
    return reject(
        "decompression_bomb",
        f"This file says its picture is {pixels_text}, which is far too big to open safely; "
        "it may be damaged or made to crash image software. Please upload a normal-sized copy.",
    )


# Even a flat, progressive JPEG needs at least one bit per 8×8 block of luminance (its DC code), so a
# file with fewer bytes than pixels / 512 cannot hold its whole picture.
JPEG_MIN_PIXELS_PER_BYTE = 512


def open_checked(data: bytes, fmt: str) -> Image.Image:
    """Open (header only) with Pillow's bomb guard on, its warning turned into a rejection."""
    if fmt == "PNG":
        check_png_chunk_count(data)
    try:
        with pillow_warnings():
            im = Image.open(BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        pixels = human_pixel_count(int(found.group(1))) if found else "enormous"
        raise _bomb_rejection(pixels) from None
    except Exception as error:  # Pillow raises many types for bad headers
        raise decode_failure(data, fmt, error) from None
    width, height = im.size
    # Belt and braces: catch_warnings is process-global, so re-check the guard ourselves.
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise _bomb_rejection(human_pixels(width, height))
    if fmt == "JPEG" and len(data) < width * height // JPEG_MIN_PIXELS_PER_BYTE:
        # libjpeg fills a picture whose data ends early with grey and only warns, so Pillow never raises
        raise reject("truncated", f"This JPEG says it is {human_pixels(width, height)} but holds only "
                                  f"{human_bytes(len(data))} of picture data — far too little for that size, so "
                                  "most of it is missing; please upload it again.")
    return im


DECODE_MEMORY_BOUND = 400 * 1024 * 1024
"""Most memory one picture may take while it is decoded and made sRGB, in bytes.

Validation decodes pictures in parallel on small (2-core) machines beside Dagster and the PDF
writer, so each decode has a ceiling two of them can share inside a gigabyte. 400 MB holds what
cameras, phones and image tools really make — a 20-megapixel photo with an Adobe RGB profile
(~240 MB), a 4096 × 4096 upscale with transparency (~290 MB), a JPEG at the 60-megapixel cap
(decoded at half size or less by DCT scaling), an RGB PNG up to the cap (~350 MB) — and refuses,
from the header before any pixel is decoded, what would take more: a transparent or 16-bit picture
of more than ~24 megapixels, or a few-hundred-kB zlib bomb inflating to such a picture.
book_assets_tests/test_decode_memory.py measures it."""

# What Pillow keeps per pixel in each mode (RGB is stored in 4 bytes), and the widest working
# copy each mode can still need while it becomes sRGB RGB (to_srgb): a converted copy (4), an
# alpha channel (1) and the picture flattened on white (4); 16-bit and float greyscale go
# through two float64 arrays (8 + 8), an 8-bit one (1) and RGB (4).
_STORED_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_WIDENED_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def decode_memory(width: int, height: int, mode: str, info: dict, print_side: int) -> int:
    """Bytes the decoded picture and its working copies may take at once (an upper estimate): the
    raster, its sRGB working copy, and the print copy's resize (Pillow resamples in two passes, so
    it holds a print-wide, full-height intermediate beside the result)."""
    stored = _STORED_BYTES_PER_PIXEL.get(mode, 4)
    if mode in _WIDENED_MODES:
        working = 8 + 8 + 1 + 4
    elif mode in _ALPHA_MODES or "transparency" in info:
        working = 4 + 1 + 4
    elif mode != "RGB" or _converts_colours(info.get("icc_profile"), mode):
        working = 4                                  # one converted (or colour-managed) copy
    else:
        working = 0                                  # RGB without a profile is used as decoded
    scale = min(1.0, print_side / max(width, height))
    out_w, out_h = math.ceil(width * scale), math.ceil(height * scale)
    resize = 4 * (max(out_w, out_h) * max(width, height) + out_w * out_h) if scale < 1 else 0
    return width * height * (stored + working) + resize


def _converts_colours(icc: bytes | None, mode: str) -> bool:
    """True when the embedded profile makes to_srgb build a colour-managed copy (not for sRGB)."""
    if not icc:
        return False
    try:
        return _icc_transform(bytes(icc), mode)[0] is not None
    except Exception:       # an unusable profile is ignored by to_srgb too
        return False


def check_decode_memory(im: Image.Image, fmt: str, limits: ImageLimits) -> None:
    """Refuse, from the header (after any reduced decode was asked for), a picture whose decode
    would take more than DECODE_MEMORY_BOUND."""
    needed = decode_memory(*im.size, im.mode, im.info, limits.print_max_side)
    if needed > DECODE_MEMORY_BOUND:
        name = fmt if fmt != "WEBP" else "WebP"
        raise reject(
            "over_memory_bound",
            f"This {name} picture is {human_pixels(*im.size)}; opening it would take about "
            f"{human_bytes(needed)} of memory, more than the {human_bytes(DECODE_MEMORY_BOUND)} we allow for one "
            "picture. Please upload a smaller copy (a JPEG export of the same size usually works).",
        )


# A real PNG has a few dozen chunks besides its picture data; Pillow keeps every private chunk it
# meets (about 100 bytes each, whatever its size), so a file of millions of empty ones costs
# hundreds of MB before a pixel is read.
MAX_PNG_CHUNKS = 10_000


def check_png_chunk_count(data: bytes) -> None:
    """Refuse a PNG of more than MAX_PNG_CHUNKS chunks other than picture data (header walk only)."""
    pos, size, others = 8, len(data), 0
    while pos + 8 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND" or length > 0x7FFFFFFF:
            return
        if kind != b"IDAT":
            others += 1
            if others > MAX_PNG_CHUNKS:
                raise reject(
                    "over_memory_bound",
                    f"This PNG holds more than {MAX_PNG_CHUNKS:,} blocks of extra data beside its picture; "
                    "reading them would take far more memory than a picture needs. Please save or export it again.",
                )
        pos += 12 + length


def load_checked(im: Image.Image, data: bytes, fmt: str, limits: ImageLimits) -> None:
    """Decode the pixels, if they fit the memory bound; LOAD_TRUNCATED_IMAGES stays False so a
    short file raises here."""
    check_decode_memory(im, fmt, limits)
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb_rejection(human_pixels(*im.size)) from None
    except Exception as error:
        raise decode_failure(data, fmt, error) from None


def exif_orientation(im: Image.Image) -> int:
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


def to_srgb(im: Image.Image, notes: list[str] | None) -> Image.Image:
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


def downscaled(im: Image.Image, long_side: int, resample: Image.Resampling, *,
               reducing_gap: float = 3.0) -> Image.Image:
    """Shrink so the long side is at most ``long_side``; never enlarge. ``reducing_gap``: Pillow first
    box-reduces by a whole factor while the image stays at least this many times the target."""
    width, height = im.size
    if max(width, height) <= long_side:
        return im
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return im.resize(size, resample, reducing_gap=reducing_gap)


def check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    """Reject pictures with more pixels than we handle, or too few to print well."""
    if width * height > limits.max_pixels:
        raise reject(
            "too_many_pixels",
            f"This picture is {human_pixels(width, height)}, more than the "
            f"{human_pixel_count(limits.max_pixels)} we can handle; please upload a smaller copy.",
        )
    if min(width, height) < limits.min_side:  # the short side is the same once turned upright
        raise reject(
            "too_small",
            f"This picture is only {width}×{height} pixels; it needs to be at least {limits.min_side} "
            "pixels on each side to print well.",
        )


def check_png_chunks(data: bytes) -> list[str]:
    """Reject a PNG whose critical chunk fails its checksum; a note when it only lacks its end marker."""
    damaged, ends_early = _png_integrity(data)
    if damaged:
        raise decode_failure(data, "PNG", ValueError("PNG chunk checksum mismatch"))
    return ["file ends early, after the complete picture (end marker missing)"] if ends_early else []


def shrink_on_decode(im: Image.Image, long_side: int) -> None:
    """Ask a JPEG for its smallest DCT-scaled decode (1/2 .. 1/8, nearly free) whose long side is
    still at least ``long_side``."""
    stored_w, stored_h = im.size
    scale = min(1.0, long_side / max(stored_w, stored_h))
    im.draft("RGB", (max(1, math.ceil(stored_w * scale)), max(1, math.ceil(stored_h * scale))))


def print_copy(data: bytes, fmt: str, working: Image.Image, orientation: int,
               limits: ImageLimits) -> Image.Image:
    """The upright sRGB picture at the print cap. A JPEG is decoded a second time, as small as the cap
    allows; other formats reuse ``working``, their one full decode."""
    if fmt == "JPEG":
        full = open_checked(data, fmt)
        if limits.print_max_side / max(full.size) <= 0.5:   # a DCT-scaled decode is at most half size
            shrink_on_decode(full, limits.print_max_side)
        load_checked(full, data, fmt, limits)
        if orientation != 1:
            ImageOps.exif_transpose(full, in_place=True)
        working = to_srgb(full, None)
    return downscaled(working, limits.print_max_side, Image.Resampling.LANCZOS)


def encode_print_jpeg(printable: Image.Image) -> bytes:
    """Baseline JPEG, tagged sRGB; comment=b"" stops Pillow copying a source "comment" text across."""
    buffer = BytesIO()
    printable.save(
        buffer, format="JPEG", quality=90, progressive=False, icc_profile=_SRGB_ICC_BYTES, comment=b""
    )
    return buffer.getvalue()


def small_jpeg(decoded: Image.Image, px: int, quality: int) -> bytes:
    """A JPEG of ``decoded`` at most ``px`` a side (LANCZOS). comment=b"": the bytes never depend on
    a text comment the source carried, so one made from an upload's own decode equals one made from
    its print copy (which has none)."""
    small = decoded.convert("RGB")
    small.thumbnail((px, px), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    small.save(buffer, "JPEG", quality=quality, comment=b"")
    return buffer.getvalue()


def same_draft_decode(data: bytes, decoded: Image.Image, px: int) -> bool:
    """True when a JPEG ``draft("RGB", (px, px))`` of ``data`` decodes at the scale ``decoded`` was
    decoded at (its pixels then are the ones that decode would give): a header-only probe."""
    with Image.open(BytesIO(data), formats=["JPEG"]) as probe:
        probe.draft("RGB", (px, px))
        return probe.size == decoded.size and probe.mode == decoded.mode


# JPEG segments a pass-through print copy keeps: the JFIF header (APP0), the ICC profile (APP2) and
# Adobe's colour-transform flag (APP14), which decide how the pixels decode. Everything else before
# the picture data (EXIF with GPS and camera details, XMP, IPTC, comments) is private or unused.
_KEPT_APP_MARKERS = {0xE0, 0xE2, 0xEE}


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The same JPEG, byte for byte in its picture data, without its metadata segments (no decode)."""
    out = bytearray(data[:2])
    pos = 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        if marker == 0xDA:                      # start of scan: the rest is picture data
            out += data[pos:]
            return bytes(out)
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if 0xE0 <= marker <= 0xEF and marker not in _KEPT_APP_MARKERS or marker == 0xFE:
            pos = end
            continue
        out += data[pos:end]
        pos = end
    raise ValueError("no picture data (start of scan) in this JPEG")


def passes_through(im: Image.Image, source_mode: str, stored_size: tuple[int, int], orientation: int, frames: int,
                   limits: ImageLimits) -> bool:
    """True when a JPEG upload can go to print as it is: baseline, 3-channel, sRGB (or untagged,
    which means sRGB), upright, one frame and no larger than the print cap. Nothing to decode at
    full size and nothing to encode: the PDF embeds its bytes (less the metadata). ``source_mode``
    and ``stored_size`` are the file's, from before a reduced (draft) decode changed ``im``'s."""
    if im.format != "JPEG" or source_mode != "RGB" or orientation != 1 or frames != 1:
        return False
    if im.info.get("progressive") or im.info.get("progression") or max(stored_size) > limits.print_max_side:
        return False
    icc = im.info.get("icc_profile")
    if not icc:
        return True
    try:
        return _icc_transform(bytes(icc), "RGB")[0] is None
    except Exception:   # an unusable profile: the decoded copy notes it
        return False
