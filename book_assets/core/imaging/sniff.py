"""The bytes decide what a file is, never its name: magic-byte format detection and the size cap.

Only JPEG, PNG and WebP are accepted; every other recognised format is named in the rejection so
a parent knows what to export instead (an iPhone's HEIC, a PDF, a Photoshop file ...).
"""
from __future__ import annotations

from .rejections import ImageLimits, human_bytes, reject

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

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


def check_file_size(size: int, limits: ImageLimits = ImageLimits()) -> None:
    """Reject by size alone — callers check the listed size before reading a huge upload into memory."""
    if size == 0:
        raise reject("empty_file", "This file is empty (0 bytes) — it may not have finished uploading.")
    if size > limits.max_bytes:
        raise reject(
            "file_too_large",
            f"This file is {human_bytes(size)}, more than the {human_bytes(limits.max_bytes)} we accept; "
            "please upload a smaller copy (a JPEG export usually is).",
        )


def accepted_format(data: bytes) -> str:
    """The accepted format the content is in ("JPEG" | "PNG" | "WEBP"); rejects anything else."""
    sniffed = _sniff(data)
    if sniffed is None:
        looks = "it looks like a text document" if _looks_like_text(data) else "its contents are not a picture"
        raise reject(
            "not_an_image",
            f"This file is not a picture we can read ({looks}), whatever its name says; "
            "please upload a PNG, JPEG or WebP image.",
        )
    if sniffed.startswith("!"):
        kind = sniffed[1:]
        hint = " (the usual format of iPhone photos)" if kind == "HEIC" else ""
        raise reject(
            "unsupported_format",
            f"This file is in {kind} format{hint}, which we can't use in the book; "
            "please save or export it as PNG, JPEG or WebP and upload it again.",
        )
    return sniffed
