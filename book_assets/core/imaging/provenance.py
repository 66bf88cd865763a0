"""Text in the file that may name the drawing a variation came from.

Image generators and editors leave the source drawing's name or the prompt in PNG text chunks
(``parameters``, ``prompt``, ...), EXIF descriptions and comments, or XMP ``dc:`` fields; pairing
treats it as strong evidence. Malformed metadata never sinks a picture: it just says nothing.
"""
from __future__ import annotations

import html
import re
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedElementTree

from PIL import ExifTags, Image

from .decode import pillow_warnings

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


XMP_LIMIT = 262_144      # characters of an XMP packet read at most (real dc: fields sit in the first few KB)
_TAG = re.compile(r"<[^>]*>")
_DC_ATTRIBUTE = re.compile(r"\bdc:(description|source|title)=\"([^\"]*)\"", re.I)


def _xmp_texts(packet) -> list[str]:
    """dc:description / dc:source / dc:title from an XMP packet, parsed tolerantly and in linear time.

    Well-formed XMP goes through defusedxml, which refuses DTDs and entities outright (no expansion,
    no outbound fetch). Anything else — a DOCTYPE, broken markup — is scanned for dc: elements and
    attributes with plain searches that never look at a character twice per field, so a hostile
    packet costs milliseconds, not minutes."""
    text = _as_text(packet)[:XMP_LIMIT]
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    body = text[start : end + len("</x:xmpmeta>")] if start != -1 and end != -1 else text
    body = re.sub(r"<\?xpacket[^>]*\?>", "", body).strip()
    try:
        root = DefusedElementTree.fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return _scanned_dc_texts(text)
    found: list[str] = []
    for element in root.iter():
        for name in _DC_FIELDS:
            attr = element.attrib.get(f"{{{_DC_NAMESPACE}}}{name}")
            if attr:
                found.append(attr)
        if isinstance(element.tag, str) and element.tag.startswith(f"{{{_DC_NAMESPACE}}}"):
            if element.tag.split("}", 1)[1] in _DC_FIELDS:
                found.append(" ".join(part.strip() for part in element.itertext() if part.strip()))
    return [item for item in found if item]


def _scanned_dc_texts(text: str) -> list[str]:
    """dc: elements and attributes found by searching forwards only (markup that is not well-formed)."""
    lower, found = text.lower(), []
    for name in _DC_FIELDS:
        opening, closing, position = f"<dc:{name}", f"</dc:{name}>", 0
        while (start := lower.find(opening, position)) != -1:
            content_start = lower.find(">", start) + 1
            content_end = lower.find(closing, content_start) if content_start else -1
            if content_end == -1:
                break            # no closing tag after this one: none after any later opening either
            found.append(html.unescape(_TAG.sub(" ", text[content_start:content_end])))
            position = content_end + len(closing)
    found.extend(html.unescape(match.group(2)) for match in _DC_ATTRIBUTE.finditer(text))
    return [item for item in found if item.strip()]


def image_provenance(im: Image.Image) -> str:
    """Text in the file's metadata that may name its source (joined with ' | ', <= ~2000 chars).

    Image generators and editors leave the source drawing's name or the prompt in PNG text
    chunks, EXIF descriptions or XMP; pairing treats it as strong evidence. For a still PNG this
    loads the pixels (text chunks may come after them); for an animated PNG only the chunks up
    to the first frame are read, so as not to decode every frame.
    """
    with pillow_warnings():
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
