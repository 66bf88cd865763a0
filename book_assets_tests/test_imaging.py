"""Unit tests of book_assets.core.imaging: one real bad file per rejection code, then the
conversions (orientation, CMYK, ICC, alpha, animation), provenance and the features."""
from __future__ import annotations

import json
import pickle
import struct
import time
import zlib
from io import BytesIO
from pathlib import Path
from tempfile import NamedTemporaryFile

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps, JpegImagePlugin, PngImagePlugin

from book_assets.core.imaging import (
    HIST_BINS,
    REJECTION_REASONS,
    AnalysedImage,
    ImageFeatures,
    ImageLimits,
    ImageRejected,
    analyse_image,
    hex_colour,
    image_provenance,
    srgb_to_lab,
)

# --------------------------------------------------------------------------------------------
# fixtures: small real images
# --------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buffer = BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def drawing(size: tuple[int, int] = (320, 240), seed: int = 1, palette=None) -> Image.Image:
    """A child's-drawing-like picture: white paper, thick dark outlines, flat colour fills."""
    rng = np.random.default_rng(seed)
    palette = palette or [(230, 60, 50), (50, 120, 220), (250, 200, 40), (60, 170, 80)]
    im = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(im)
    width, height = size
    for index in range(6):
        x0, y0 = rng.integers(0, width * 3 // 4), rng.integers(0, height * 3 // 4)
        x1 = x0 + rng.integers(width // 8, width // 3)
        y1 = y0 + rng.integers(height // 8, height // 3)
        shape = draw.ellipse if index % 2 else draw.rectangle
        shape((x0, y0, x1, y1), fill=palette[index % len(palette)], outline=(20, 20, 20), width=max(2, width // 80))
    return im


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height (CRC recomputed) — a bomb without the bytes."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def rgb_icc_profile(description: str, red_xyz, green_xyz, blue_xyz, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC RGB display profile (built by hand; no profile files needed)."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz_tag(xyz) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in xyz)

    ascii_text = description.encode("ascii") + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
    desc += b"\0" * 8 + b"\0\0" + b"\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz_tag((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz_tag(red_xyz)),
        (b"gXYZ", xyz_tag(green_xyz)),
        (b"bXYZ", xyz_tag(blue_xyz)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, payload in tags:
        while len(payload) % 4:
            payload += b"\0"
        table += signature + struct.pack(">II", offset + len(body), len(payload))
        body += payload
    size = offset + len(body)
    header = struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24
    header += struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


SRGB_D50 = {  # sRGB primaries adapted to D50, as in every sRGB ICC profile
    "red": (0.4361, 0.2225, 0.0139),
    "green": (0.3851, 0.7169, 0.0971),
    "blue": (0.1431, 0.0606, 0.7141),
}


def hamming(hex_a: str, hex_b: str) -> int:
    return imagehash.hex_to_hash(hex_a) - imagehash.hex_to_hash(hex_b)


def assert_sentence(message: str) -> None:
    assert len(message) > 25 and message[0].isupper() and message.rstrip().endswith("."), message
    assert "Traceback" not in message and "PIL" not in message


def rejected(data: bytes, limits: ImageLimits = ImageLimits()) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        analyse_image(data, limits)
    assert_sentence(caught.value.message)
    return caught.value


# --------------------------------------------------------------------------------------------
# rejections: a real bad file for every reason code
# --------------------------------------------------------------------------------------------


def test_reason_codes_are_the_agreed_set():
    assert set(REJECTION_REASONS) == {
        "empty_file", "file_too_large", "unsupported_format", "not_an_image", "truncated",
        "corrupt", "decompression_bomb", "metadata_too_large", "too_many_pixels", "too_small", "over_memory_bound",
    }
    for sentence in REJECTION_REASONS.values():
        assert_sentence(sentence)


def test_empty_file():
    error = rejected(b"")
    assert error.code == "empty_file" and "0 bytes" in error.message


def test_file_too_large_is_checked_before_decoding():
    data = encode(drawing(), "PNG")
    error = rejected(data, ImageLimits(max_bytes=1000))
    assert error.code == "file_too_large" and "KB" in error.message
    # checked before sniffing/decoding: even garbage of that size gets this code
    assert rejected(b"x" * 2000, ImageLimits(max_bytes=1000)).code == "file_too_large"


def test_text_file_named_png_is_not_an_image(tmp_path: Path):
    path = tmp_path / "dragon.png"
    path.write_text("Once upon a time there was a dragon.\n" * 20)
    error = rejected(path.read_bytes())
    assert error.code == "not_an_image" and "text" in error.message


@pytest.mark.parametrize(
    ("fmt", "named"),
    [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")],
)
def test_real_files_in_other_formats_are_unsupported(fmt: str, named: str):
    error = rejected(encode(drawing((100, 80)), fmt))
    assert error.code == "unsupported_format"
    assert named in error.message and "PNG, JPEG or WebP" in error.message


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200, "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 200, "AVIF"),
        (b"8BPS\x00\x01" + b"\x00" * 200, "PSD"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + b" " * 200, "PDF"),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10" + b"\x00" * 200, "ICO"),
    ],
)
def test_sniffed_formats_are_unsupported(data: bytes, named: str):
    error = rejected(data)
    assert error.code == "unsupported_format" and named in error.message


def test_heic_message_helps_iphone_users():
    error = rejected(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    assert "iPhone" in error.message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files(fmt: str):
    data = encode(drawing((400, 300)), fmt)
    error = rejected(data[: len(data) * 2 // 3])
    assert error.code == "truncated" and "cut short" in error.message


def test_truncated_progressive_jpeg_with_draft_decode():
    data = encode(drawing((1200, 900)), "JPEG", progressive=True)
    assert rejected(data[: len(data) // 2]).code == "truncated"
    assert rejected(data[:-2]).code == "truncated"  # only the end-of-image marker missing


def test_corrupt_middle_bytes_png():
    data = bytearray(encode(drawing((400, 300)), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 32] = bytes(byte ^ 0x5A for byte in data[middle : middle + 32])
    error = rejected(bytes(data))
    assert error.code == "corrupt" and "damaged" in error.message


def test_corrupt_jpeg_header():
    data = bytearray(encode(drawing((200, 150)), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 4 : sof + 9] = b"\x00" * 5  # precision and dimensions zeroed
    assert rejected(bytes(data)).code == "corrupt"


@pytest.mark.parametrize("side", [10_000, 60_000])  # warning range (>89 MP) and error range (>179 MP)
def test_decompression_bomb_declared_in_header(side: int):
    error = rejected(png_with_declared_size(side, side))
    assert error.code == "decompression_bomb" and "megapixels" in error.message


def test_too_many_pixels_from_header():
    error = rejected(encode(drawing((200, 100)), "PNG"), ImageLimits(max_pixels=10_000))
    assert error.code == "too_many_pixels" and "200×100" in error.message


def test_too_small():
    error = rejected(encode(Image.new("RGB", (40, 30), "red"), "PNG"))
    assert error.code == "too_small"
    assert "40×30" in error.message and "64" in error.message


# --------------------------------------------------------------------------------------------
# accepted images: conversions and the print copy
# --------------------------------------------------------------------------------------------


def reopen(result: AnalysedImage) -> Image.Image:
    assert result.print_jpeg is not None
    im = Image.open(BytesIO(result.print_jpeg))
    assert im.format == "JPEG" and im.mode == "RGB"
    assert not im.info.get("progressive") and not im.info.get("progression")
    assert im.size == (result.print_width, result.print_height)
    im.load()
    return im


def test_exif_orientation_6_swaps_width_and_height():
    stored = Image.new("RGB", (200, 100), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 100, 100))  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    result = analyse_image(encode(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert (result.features.width, result.features.height) == (100, 200)
    assert any("orientation" in note for note in result.features.notes)
    upright = reopen(result)
    assert upright.size == (100, 200)
    top, bottom = upright.getpixel((50, 20)), upright.getpixel((50, 180))
    assert top[0] > 200 and top[2] < 60  # orientation 6 = turn clockwise: stored left is now the top
    assert bottom[2] > 200 and bottom[0] < 60
    assert upright.getexif().get(0x0112) is None  # the print copy must not be rotated twice


def test_cmyk_jpeg_becomes_rgb_print_copy():
    cmyk = Image.new("CMYK", (120, 90), (0, 255, 255, 0))  # printer's red
    result = analyse_image(encode(cmyk, "JPEG"))
    assert result.features.source_mode == "CMYK"
    assert any("CMYK" in note for note in result.features.notes)
    red, green, blue = reopen(result).getpixel((60, 45))
    assert red > 200 and green < 60 and blue < 60


def test_embedded_icc_profile_is_converted_to_srgb():
    swapped = rgb_icc_profile("Swapped primaries", SRGB_D50["blue"], SRGB_D50["green"], SRGB_D50["red"])
    data = encode(Image.new("RGB", (100, 100), (255, 0, 0)), "PNG", icc_profile=swapped)
    result = analyse_image(data)
    assert any("Swapped primaries" in note for note in result.features.notes)
    red, green, blue = reopen(result).getpixel((50, 50))
    assert blue > 200 and red < 60  # this profile's 'red' channel is sRGB blue


def test_srgb_profile_is_left_alone():
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = analyse_image(encode(drawing(), "PNG", icc_profile=srgb))
    assert result.features.notes == []


def test_rgba_flattens_onto_white():
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((200, 0, 0, 255), (30, 30, 70, 70))
    result = analyse_image(encode(im, "PNG"))
    assert any("white" in note for note in result.features.notes)
    copy = reopen(result)
    assert min(copy.getpixel((5, 5))) > 245  # was fully transparent black
    assert copy.getpixel((50, 50))[0] > 180
    assert result.features.dominant_colours[0] == "#ffffff"


def test_palette_with_transparency_flattens_onto_white():
    im = Image.new("P", (80, 80), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    im.paste(1, (20, 20, 60, 60))
    result = analyse_image(encode(im, "PNG", transparency=0))
    assert result.features.source_mode == "P"
    assert min(reopen(result).getpixel((2, 2))) > 245


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((100, 100), 32768, dtype=np.uint16))
    assert grey.mode.startswith("I")
    result = analyse_image(encode(grey, "PNG"))
    assert any("16-bit" in note for note in result.features.notes)
    value = reopen(result).getpixel((50, 50))
    assert all(120 <= channel <= 136 for channel in value)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_image_keeps_first_frame_with_note(fmt: str):
    frames = [Image.new("RGB", (96, 96), colour) for colour in ((220, 30, 30), (30, 200, 30), (30, 30, 220))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    result = analyse_image(data)
    assert "animated image: first of 3 frames used" in result.features.notes
    red, green, blue = reopen(result).getpixel((48, 48))
    assert red > 180 and green < 70 and blue < 70


def test_print_copy_is_capped_and_never_upscaled():
    limits = ImageLimits(print_max_side=500)
    big = analyse_image(encode(drawing((1200, 800)), "PNG"), limits)
    assert (big.print_width, big.print_height) == (500, 333)
    small = analyse_image(encode(drawing((300, 200)), "PNG"), limits)
    assert (small.print_width, small.print_height) == (300, 200)
    assert (small.features.width, small.features.height) == (300, 200)


def test_jpeg_print_copy_uses_dct_scaling_then_exact_cap():
    result = analyse_image(encode(drawing((2400, 1600)), "JPEG"), ImageLimits(print_max_side=1000))
    assert (result.print_width, result.print_height) == (1000, 667)
    assert (result.features.width, result.features.height) == (2400, 1600)
    reopen(result)


def test_without_print_copy_features_are_identical():
    for fmt in ("JPEG", "PNG"):
        data = encode(drawing((640, 480)), fmt)
        with_copy = analyse_image(data)
        without = analyse_image(data, want_print_copy=False)
        assert without.print_jpeg is None
        assert without.features == with_copy.features


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------


def test_provenance_from_png_text_chunk():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a friendly dragon, img2img from drawings/dragon_03.png, strength 0.55")
    info.add_text("Software", "not a source")
    result = analyse_image(encode(drawing(), "PNG", pnginfo=info))
    assert "dragon_03.png" in result.features.provenance
    assert "not a source" not in result.features.provenance


def test_provenance_from_exif_image_description_and_user_comment():
    exif = Image.Exif()
    exif[0x010E] = "Variation of drawings/cat.jpg"
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00made from owl_7.png"
    result = analyse_image(encode(drawing(), "JPEG", exif=exif.tobytes()))
    assert "Variation of drawings/cat.jpg" in result.features.provenance
    assert "made from owl_7.png" in result.features.provenance
    assert "ASCII" not in result.features.provenance
    assert " | " in result.features.provenance


XMP_PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:source="drawings/robot_2.jpg">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Robot, watercolour style</rdf:li></rdf:Alt></dc:description>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Robot &amp; friend</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG"])
def test_provenance_from_xmp_packet(fmt: str):
    result = analyse_image(encode(drawing(), fmt, xmp=XMP_PACKET.encode("utf-8")))
    provenance = result.features.provenance
    assert "drawings/robot_2.jpg" in provenance
    assert "Robot, watercolour style" in provenance
    assert "Robot & friend" in provenance


def test_provenance_from_broken_xmp_falls_back_to_tolerant_scan():
    info = PngImagePlugin.PngInfo()
    broken = '<x:xmpmeta><rdf:Description><dc:source>drawings/fox.png</dc:source><unclosed></x:xmpmeta>'
    info.add_itxt("XML:com.adobe.xmp", broken)
    im = Image.open(BytesIO(encode(drawing(), "PNG", pnginfo=info)))
    im.load()
    assert image_provenance(im) == "drawings/fox.png"


XMP_CPU_BOUND_S = 1.0     # stated bound for reading one hostile 256 KB packet (linear scan: ~5 ms here)


@pytest.mark.parametrize("packet", [
    "<!DOCTYPE x><x:xmpmeta>" + "<dc:description>" * 16_000,              # openings never closed
    "<x:xmpmeta>" + "<dc:title>a</dc:source>" * 11_000,                    # mismatched closings
    "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>]>"
    "<x:xmpmeta><dc:title>&b;&b;&b;</dc:title></x:xmpmeta>",              # entities: never expanded
], ids=["unclosed", "mismatched", "entities"])
def test_hostile_xmp_is_read_in_bounded_work_and_never_expanded(packet):
    """A 963-byte PNG carrying such a packet once cost ~84 s of CPU in a backtracking regex."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet, zip=True)
    data = encode(drawing(), "PNG", pnginfo=info)
    started = time.process_time()
    result = analyse_image(data, want_print_copy=False)
    assert time.process_time() - started < XMP_CPU_BOUND_S
    assert "aaaaaaaaaa" not in result.features.provenance and len(result.features.provenance) <= 2000


def test_a_jpeg_header_promising_far_more_than_its_data_is_truncated():
    """libjpeg paints the missing part grey and only warns; the file size gives it away."""
    data = bytearray(encode(drawing(), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 7000, 7000)            # claims 7000×7000 with ~2 KB of data
    with pytest.raises(ImageRejected) as rejected:
        analyse_image(bytes(data), want_print_copy=False)
    assert rejected.value.code == "truncated" and "7,000×7,000" in rejected.value.message
    flat = BytesIO()
    Image.new("L", (3000, 3000), 255).save(flat, "JPEG", quality=10, progressive=True, optimize=True)
    assert analyse_image(flat.getvalue(), want_print_copy=False).features.width == 3000   # tiny but whole


def test_a_png_with_a_huge_text_chunk_is_refused_in_plain_words():
    """Pillow caps a PNG's text at 1 MB (a zlib bomb in a zTXt chunk); that is not a damaged file."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 3_000_000, zip=True)          # ~4 KB on disk, 3 MB unpacked
    with pytest.raises(ImageRejected) as rejected:
        analyse_image(encode(drawing(), "PNG", pnginfo=info), want_print_copy=False)
    assert rejected.value.code == "metadata_too_large" and "1 MB of hidden text" in rejected.value.message


def test_provenance_from_text_chunk_after_the_pixels():
    data = encode(drawing(), "PNG")
    payload = b"Source\x00drawings/late_chunk.png"
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    iend = data.rfind(b"IEND") - 4
    assert data.find(b"IDAT") < iend
    result = analyse_image(data[:iend] + chunk + data[iend:])
    assert result.features.provenance == "drawings/late_chunk.png"


def test_damaged_exif_does_not_reject_the_picture():
    broken_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff"  # IFD claims 65535 entries
    result = analyse_image(encode(drawing(), "JPEG", exif=broken_exif))
    assert result.features.provenance == "" and result.features.width == 320


def test_provenance_empty_and_trimmed():
    assert analyse_image(encode(drawing(), "PNG"), want_print_copy=False).features.provenance == ""
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "word " * 2000)
    provenance = analyse_image(encode(drawing(), "PNG", pnginfo=info), want_print_copy=False).features.provenance
    assert 1000 < len(provenance) <= 2000


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------


def features(im: Image.Image, fmt: str = "PNG") -> ImageFeatures:
    return analyse_image(encode(im, fmt), want_print_copy=False).features


def hue_rotated(im: Image.Image, shift: int) -> Image.Image:
    """Recolour the way a variation does: every hue moves, the drawing stays."""
    hue, saturation, value = im.convert("HSV").split()
    hue = hue.point(lambda h: (h + shift) % 256)
    return Image.merge("HSV", (hue, saturation, value)).convert("RGB")


def test_phash_small_for_recoloured_copy_large_for_unrelated():
    original = drawing(seed=3)
    base = features(original)
    recoloured = features(hue_rotated(original, 100))
    unrelated = features(drawing(seed=11))
    assert recoloured.dominant_colours[1:] != base.dominant_colours[1:]  # really recoloured
    assert hamming(base.phash, recoloured.phash) <= 8
    assert hamming(base.phash, unrelated.phash) >= 20
    assert len(base.phash) == len(base.dhash) == len(base.phash_mirror) == 16


def test_phash_mirror_matches_phash_of_mirrored_image():
    original = drawing(seed=5)
    base = features(original)
    mirrored = features(ImageOps.mirror(original))
    assert hamming(mirrored.phash, base.phash_mirror) <= 2
    assert hamming(base.phash, mirrored.phash_mirror) <= 2
    assert hamming(base.phash, mirrored.phash) >= 10  # plain phash is blind to mirroring


def test_colour_histogram_and_dominant_colours():
    im = Image.new("RGB", (200, 100), (255, 255, 255))
    im.paste((230, 30, 30), (0, 0, 150, 100))  # 75 % red, 25 % white
    found = features(im)
    assert len(found.colour_hist) == HIST_BINS
    assert sum(found.colour_hist) == pytest.approx(1.0, abs=1e-9)
    assert sorted(found.colour_hist, reverse=True)[:2] == pytest.approx([0.75, 0.25], abs=0.02)
    assert found.dominant_colours[:2] == ["#e61e1e", "#ffffff"]
    assert found.mean_lab[0] > 50 and found.mean_lab[1] > 30  # light-ish and reddish


def test_features_round_trip_through_json():
    found = features(drawing())
    assert ImageFeatures.from_dict(json.loads(json.dumps(found.to_dict()))) == found


def test_features_cross_a_process_boundary_small_and_unchanged():
    found = features(drawing())
    sent = pickle.dumps(found)
    assert pickle.loads(sent) == found and len(sent) < 32_000         # fits a pipe's 64 kB buffer
    assert found.structure.nbytes + found.layout.nbytes > 2 * len(sent)


def _orientation_grids_reference(windows: np.ndarray) -> np.ndarray:
    """The shape descriptors' first, straightforward form (np.gradient over N x S x S x 3 floats,
    colour sums by ``.sum(axis=3)``), against which the look model was fitted."""
    from book_assets.core.imaging.features import STRUCTURE_BINS, STRUCTURE_GRID, STRUCTURE_LENGTH

    values = windows.astype(np.float64) / 255.0
    gy, gx = np.gradient(values, axis=(1, 2))
    jxx, jyy, jxy = (gx * gx).sum(axis=3), (gy * gy).sum(axis=3), (gx * gy).sum(axis=3)
    half_diff = 0.5 * (jxx - jyy)
    strength = np.sqrt(np.sqrt(0.5 * (jxx + jyy) + np.sqrt(half_diff * half_diff + jxy * jxy)))
    position = (np.arctan2(2.0 * jxy, jxx - jyy) + np.pi) / (2.0 * np.pi) * STRUCTURE_BINS
    lower = np.floor(position).astype(np.int64) % STRUCTURE_BINS
    upper_share = position - np.floor(position)
    count, side = windows.shape[:2]
    rows = np.minimum(np.arange(side) // (side // STRUCTURE_GRID), STRUCTURE_GRID - 1)
    cell_index = (rows[:, None] * STRUCTURE_GRID + rows[None, :]).ravel()
    base = (np.arange(count)[:, None] * STRUCTURE_LENGTH + cell_index[None, :] * STRUCTURE_BINS).ravel()
    lower, strength, upper_share = lower.ravel(), strength.ravel(), upper_share.ravel()
    slots = np.concatenate([base + lower, base + (lower + 1) % STRUCTURE_BINS])
    shares = np.concatenate([strength * (1.0 - upper_share), strength * upper_share])
    hist = np.bincount(slots, weights=shares, minlength=count * STRUCTURE_LENGTH).reshape(count, STRUCTURE_LENGTH)
    norms = np.linalg.norm(hist, axis=1, keepdims=True)
    return np.divide(hist, norms, out=np.zeros_like(hist), where=norms > 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shape_descriptors_equal_their_straightforward_form_bit_for_bit(seed: int):
    """The vectorised orientation grids change no descriptor value, so the fitted look model holds."""
    from book_assets.core.imaging.features import STRUCTURE_SIDE, _orientation_grids

    rng = np.random.default_rng(seed)
    noisy = rng.integers(0, 256, size=(5, STRUCTURE_SIDE, STRUCTURE_SIDE, 3), dtype=np.uint8)
    drawn = np.stack([np.asarray(drawing((STRUCTURE_SIDE, STRUCTURE_SIDE), seed=seed * 10 + i)) for i in range(5)])
    flat = np.full((1, STRUCTURE_SIDE, STRUCTURE_SIDE, 3), 128, dtype=np.uint8)     # no edges: zero rows
    windows = np.concatenate([noisy, drawn, flat])
    fast = _orientation_grids(windows)
    assert np.array_equal(fast, _orientation_grids_reference(windows))
    assert np.count_nonzero(fast[-1]) == 0 and np.allclose(np.linalg.norm(fast[:-1], axis=1), 1.0)


def _window_pixels_reference(small: Image.Image) -> np.ndarray:
    """The descriptor windows' first form: one Pillow resize per window (what the look model was fitted on)."""
    from book_assets.core.imaging.decode import downscaled
    from book_assets.core.imaging.features import ROTATION_SOURCE_SIDE, STRUCTURE_SIDE, STRUCTURE_WINDOWS

    turnable = downscaled(small, ROTATION_SOURCE_SIDE, Image.Resampling.BOX)
    windows = []
    for window in STRUCTURE_WINDOWS:
        source = turnable.rotate(window.angle, resample=Image.Resampling.BILINEAR) if window.angle else small
        box = window.box(source.width, source.height)
        windows.append(np.asarray(source.resize((STRUCTURE_SIDE, STRUCTURE_SIDE), Image.Resampling.BOX, box=box)))
    return np.stack(windows)


def test_shared_resize_passes_give_every_window_pixel_for_pixel():
    """Every upright window of every picture shape up to 256 px (wide, tall, square; noise, so any
    rounding difference shows) equals its own Pillow resize, so the descriptors and the fitted look
    model are unchanged."""
    from book_assets.core.imaging.features import STRUCTURE_WINDOWS, _WindowResizer

    rng = np.random.default_rng(11)
    shapes = [(256, side) for side in range(1, 257)] + [(side, 256) for side in range(1, 256)] + [(97, 40), (40, 97)]
    shared = 0
    for width, height in shapes:
        small = Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))
        reference = _window_pixels_reference(small)
        resized = _WindowResizer(small)
        for index, window in enumerate(STRUCTURE_WINDOWS):
            if not window.angle:
                assert np.array_equal(resized(window.box(width, height)), reference[index]), (width, height, window)
        shared += resized.share_columns
    assert shared == 257            # the wide and square shapes (256 + 97 x 40) took the shared passes


def test_shape_descriptors_of_real_pictures_equal_the_one_resize_per_window_form():
    from book_assets.core.imaging.features import _orientation_grids, structure_descriptors

    for seed, size in [(1, (256, 256)), (2, (256, 171)), (3, (171, 256)), (4, (256, 64))]:
        small = drawing(size, seed=seed)
        assert np.array_equal(structure_descriptors(small), _orientation_grids(_window_pixels_reference(small)))


@pytest.mark.parametrize("size", [(256, 256), (200, 200), (256, 255), (255, 256)])
def test_repeated_windows_computed_once_give_the_straightforward_descriptors(size):
    """A square picture's squares are all its whole frame: computed once and copied, every row still
    equals the straightforward form over all windows (noise, so any difference shows)."""
    from book_assets.core.imaging.features import STRUCTURE_LENGTH, STRUCTURE_WINDOWS, structure_descriptors

    small = Image.fromarray(np.random.default_rng(size[0] * size[1]).integers(0, 256, size=(size[1], size[0], 3),
                                                                               dtype=np.uint8))
    fast = structure_descriptors(small)
    assert fast.shape == (len(STRUCTURE_WINDOWS), STRUCTURE_LENGTH)
    assert np.array_equal(fast, _orientation_grids_reference(_window_pixels_reference(small)))


def test_jpeg_features_come_from_a_draft_decode(monkeypatch: pytest.MonkeyPatch):
    drafts: list[tuple] = []
    original_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original_draft(self, mode, size)
        drafts.append((mode, size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    picture = drawing((2048, 1536), seed=7)
    data = encode(picture, "JPEG", quality=92)
    from_draft = analyse_image(data, want_print_copy=False).features
    assert drafts == [("RGB", (256, 192), (256, 192))]  # decoded at 1/8 scale, not 2048x1536

    full = Image.open(BytesIO(data))
    full.load()  # full-size decode, passed on losslessly as PNG
    from_full = analyse_image(encode(full, "PNG"), want_print_copy=False).features
    assert hamming(from_draft.phash, from_full.phash) <= 4
    assert hamming(from_draft.dhash, from_full.dhash) <= 6
    l1 = sum(abs(a - b) for a, b in zip(from_draft.colour_hist, from_full.colour_hist))
    assert l1 < 0.1
    assert np.allclose(from_draft.mean_lab, from_full.mean_lab, atol=1.0)


# --------------------------------------------------------------------------------------------
# colour helpers
# --------------------------------------------------------------------------------------------


def test_srgb_to_lab_reference_values():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]], dtype=np.uint8))
    expected = [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86]]
    assert np.allclose(lab, expected, atol=0.05)
    assert srgb_to_lab(np.zeros((2, 3, 3))).shape == (2, 3, 3)


def test_hex_colour():
    assert hex_colour((255, 0, 16.4)) == "#ff0010"
    assert hex_colour(np.array([300.0, -5.0, 127.5])) == "#ff0080"


# --------------------------------------------------------------------------------------------
# the review thumbnail of a pass-through JPEG
# --------------------------------------------------------------------------------------------


def _thumbnail_before_validation_made_it(jpeg: bytes, px: int) -> bytes:
    """The review thumbnail as the book step drew it before validation could hand one over."""
    with Image.open(BytesIO(jpeg)) as image:
        image.draft("RGB", (px, px))
        small = image.convert("RGB")
        small.thumbnail((px, px), Image.Resampling.LANCZOS)
    return encode(small, "JPEG", quality=80)


@pytest.mark.parametrize("size", [(3000, 2000), (2000, 3000), (1800, 1800), (1024, 768), (800, 600), (260, 200)])
@pytest.mark.parametrize("extras", [{}, {"comment": b"from the class camera"}, {"xmp": XMP_PACKET.encode("utf-8")},
                                    {"exif": Image.Exif().tobytes(), "dpi": (300, 300)}])
def test_pass_through_jpeg_preview_is_the_thumbnail_of_its_print_copy_byte_for_byte(size, extras):
    """``preview_jpeg`` (from validation's own draft decode) is what the review panel would draw from
    the stored print copy; where that draw would decode at another scale there is none."""
    from book_assets.core.review import thumbnail_jpeg_bytes

    data = encode(drawing(size, seed=size[0]), "JPEG", quality=90, **extras)
    result = analyse_image(data, review_px=200)
    assert result.print_jpeg is not None and result.print_width == size[0]      # passed through
    expected = _thumbnail_before_validation_made_it(result.print_jpeg, 200)
    if result.preview_jpeg is not None:
        assert result.preview_jpeg == expected
    else:
        # features decode 1800 px at 1/4 (450 px), the thumbnail at 1/8 (225 px); 1024 x 768 at 1/4 and 1/2
        assert size in ((1800, 1800), (1024, 768))
    assert analyse_image(data, review_px=200).features == analyse_image(data).features
    assert analyse_image(data).preview_jpeg is None          # only when asked for
    with NamedTemporaryFile(suffix=".jpg") as copy:          # the book step's own drawing: unchanged bytes
        copy.write(result.print_jpeg)
        copy.flush()
        assert thumbnail_jpeg_bytes(copy.name, 200) == expected


def test_no_preview_for_a_print_copy_made_anew():
    for data in (encode(drawing((640, 480)), "PNG"), encode(drawing((640, 480)), "JPEG", progressive=True),
                 encode(drawing((4000, 3000)), "JPEG")):
        assert analyse_image(data, review_px=200).preview_jpeg is None
