"""A hostile corpus: uploads an attacker, a broken phone or an extracted zip would put in a book
folder, each with the verdict the pipeline must reach (issue 12's classes).

``hostile_files()`` gives plain objects (any backend); ``LOCAL_ONLY`` adds what only a file system
can hold (a symbolic link, a name that is not UTF-8), written by ``write_local_only``. Every
expected verdict is a rejection code of ``report.json`` (``rejected[].reason``), or ``ACCEPTED``
for files that are bad only in what they carry (an XXE or billion-laughs XMP, a mislabelled
extension) — they must be read safely and used — or ``CONFIG`` for a hostile ``book.toml`` /
``pairs.csv``, which is listed in ``config_files`` while the book uses its defaults.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

from .samples import draw_subject

ACCEPTED = "accepted"       # read safely and used (placed, or listed as unpaired)
CONFIG = "config"           # a settings file: accounted for in config_files, its problems reported


@dataclass(frozen=True)
class Hostile:
    relative: str           # path under books/<id>/
    data: bytes
    expected: str           # a rejection reason code, ACCEPTED or CONFIG
    why: str                # the class of attack or accident


def _png(image: Image.Image, text: dict[str, str] | None = None, *, itxt: dict[str, str] | None = None,
         ztxt: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (ztxt or {}).items():
        info.add_text(key, value, zip=True)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG signature and IHDR claiming ``width`` × ``height``, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int, real: int = 64) -> bytes:
    """A ``real``-pixel JPEG whose SOF header is rewritten to claim ``width`` × ``height``."""
    data = bytearray(_jpeg(Image.new("RGB", (real, real), (120, 40, 200))))
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_zlib_bomb(width: int = 7000, height: int = 7000, *, alpha: bool = False) -> bytes:
    """A real, complete PNG of ``width`` × ``height`` black pixels (RGB, or RGBA with ``alpha``): ~0.14 MB
    that inflates to ~147 MB of rows at 7000 × 7000 RGB (issue 12, item 10). Within the pixel cap, so only
    the decode-memory bound limits it: the RGB one decodes within the bound, a 7000 × 7000 RGBA one is refused."""
    row = b"\x00" * (1 + (4 if alpha else 3) * width)   # filter byte + RGB(A) samples
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_of_many_chunks(chunks: int = 3_000_000, side: int = 600) -> bytes:
    """A small real picture behind ``chunks`` empty private ancillary chunks: a 36 MB file of nothing
    (issue 12, item 10) that a decoder must walk without holding anything per chunk."""
    picture = _png(draw_subject("monster", side, seed=11))
    empty = _chunk(b"prVt", b"")
    at = 8 + 25                                     # after the signature and IHDR
    return picture[:at] + empty * chunks + picture[at:]


XXE_XMP = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
           '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>&secret;</dc:description>'
           '</rdf:Description></rdf:RDF></x:xmpmeta>')
LAUGHS_XMP = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
              + ']><x:xmpmeta xmlns:x="adobe:ns:meta/"><d>&lol9;</d></x:xmpmeta>')
BACKTRACKING_XMP = "<!DOCTYPE x>" + "<dc:description>" * 4000 + "<rdf:li" * 20000      # issue 12, item 1


def hostile_files() -> list[Hostile]:
    """Every class of bad upload that an object store can hold, with its expected verdict."""
    picture = draw_subject("monster", 600, seed=5)
    good_png = _png(picture)
    good_jpeg = _jpeg(picture)
    gif, bmp, tiff = io.BytesIO(), io.BytesIO(), io.BytesIO()
    Image.new("P", (200, 200), 3).save(gif, "GIF")
    Image.new("RGB", (200, 200), (9, 9, 9)).save(bmp, "BMP")
    Image.new("RGB", (200, 200), (9, 9, 9)).save(tiff, "TIFF")
    deep_toml = "x = " + "[" * 500 + "]" * 500 + "\n"
    return [
        Hostile("generated/empty.png", b"", "empty_file", "an upload that never finished"),
        Hostile("generated/half.jpg", good_jpeg[: len(good_jpeg) // 2], "truncated", "cut short"),
        Hostile("generated/half.png", good_png[: len(good_png) // 2], "truncated", "cut short (PNG)"),
        Hostile("generated/claims_7000.jpg", jpeg_claiming(7000, 7000), "truncated",
                "a JPEG header promising far more pixels than its bytes hold"),
        Hostile("generated/header_bomb.png", png_header_bomb(), "decompression_bomb",
                "a PNG header claiming 10 gigapixels"),
        Hostile("generated/zlib_bomb.png", png_zlib_bomb(7000, 7000, alpha=True), "over_memory_bound",
                "0.2 MB inflating to 7000×7000 RGBA: within the pixel cap, over the decode-memory bound"),
        Hostile("generated/scan.gif", gif.getvalue(), "unsupported_format", "a foreign image format"),
        Hostile("generated/scan.bmp", bmp.getvalue(), "unsupported_format", "a foreign image format"),
        Hostile("generated/scan.tiff", tiff.getvalue(), "unsupported_format", "a foreign image format"),
        Hostile("generated/letter.png", b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n", "unsupported_format",
                "a PDF named like a picture (its content names it: a format we do not print)"),
        Hostile("drawings/notes.jpg", b"<html><script>alert(1)</script></html>", "not_an_image",
                "HTML named like a picture"),
        Hostile("generated/tiny.png", _png(Image.new("RGB", (16, 16), (1, 2, 3))), "too_small", "a thumbnail"),
        Hostile("generated/text_bomb.png", _png(Image.new("RGB", (300, 300), (50, 90, 10)),
                                               ztxt={"parameters": "x" * 3_000_000}),
                "metadata_too_large", "a zlib bomb in a text chunk: 3 MB of text in a few KB"),
        Hostile("generated/monster_long_text.png", _png(draw_subject("monster", 600, seed=10),
                                                        {"parameters": "x" * 1_200_000}),
                ACCEPTED, "1.2 MB of plain text: big but honest (bounded by the file size cap), only its "
                          "first 2,000 characters read as provenance"),
        Hostile("generated/monster_xxe.png", _png(draw_subject("monster", 600, seed=6),
                                                  itxt={"XML:com.adobe.xmp": XXE_XMP}),
                ACCEPTED, "XXE in XMP: never expanded, no file read"),
        Hostile("generated/monster_laughs.png", _png(draw_subject("monster", 600, seed=7),
                                                     itxt={"XML:com.adobe.xmp": LAUGHS_XMP}),
                ACCEPTED, "billion laughs in XMP: never expanded"),
        Hostile("generated/monster_backtrack.png", _png(draw_subject("monster", 600, seed=8),
                                                        itxt={"XML:com.adobe.xmp": BACKTRACKING_XMP}),
                ACCEPTED, "XMP that made a regex backtrack for minutes"),
        Hostile("generated/really_a_png.jpg", _png(draw_subject("monster", 600, seed=9)), ACCEPTED,
                "mislabelled: content, not extension, decides"),
        Hostile("generated/panorama.png", _png(Image.new("RGB", (6400, 64), (200, 40, 40))), ACCEPTED,
                "a strip 100 times wider than high: its pairing thumbnail is one pixel high (it once failed the book)"),
        Hostile("stray.png", good_png, "unexpected_location", "outside drawings/ and generated/"),
        Hostile(".DS_Store", b"\x00\x00\x00\x01Bud1", "system_file", "made by the computer"),
        Hostile("generated/._monster.png", b"\x00\x05\x16\x07", "system_file", "an AppleDouble file"),
        Hostile("book.toml", deep_toml.encode(), CONFIG, "a book.toml nested 500 deep"),
        Hostile("pairs.csv", b'generated,drawing\n"generated/x.png,drawings/y.jpg\n' + b"a,b,c\n" * 50, CONFIG,
                "a pairs.csv with a stray quote and bad rows"),
    ]


# What only a local folder can hold; written by write_local_only, expected verdict by relative path.
LOCAL_ONLY = {
    "generated/linked.png": ("symlink", "a link to a file outside the bucket"),
    "generated/caf\\xe9.png": ("unsafe_name", "a name that is not UTF-8 (from an extracted zip)"),
}


def write_local_only(book_folder: Path, outside: Path) -> None:
    """A symlink to a file outside the bucket, and a file whose name is not valid UTF-8."""
    outside.write_bytes(_png(draw_subject("cat", 300, seed=1)))
    (book_folder / "generated").mkdir(parents=True, exist_ok=True)
    (book_folder / "generated" / "linked.png").symlink_to(outside)
    with open(os.path.join(os.fsencode(book_folder / "generated"), b"caf\xe9.png"), "wb") as handle:
        handle.write(_png(draw_subject("cat", 300, seed=2)))
