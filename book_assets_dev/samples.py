"""The sample book: child-like drawings, their "AI" variations and a few bad uploads.

Everything is drawn here with Pillow from a fixed seed (no downloads), so the demo and the tests
build the same book on every machine. The variations use the transformations real image tools
apply: recolouring, restyling, mirroring, reframing, new backgrounds and noise. File names mix the
three regimes found in real buckets: helpful names, provenance in PNG text chunks, random names.
"""
from __future__ import annotations

import io
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps, PngImagePlugin

SAMPLE_BOOK_ID = "max-and-friends"
DRAWING_SIZE = 1800      # px; a 5.5 in frame at >= 300 PPI
VARIATION_SIZE = 1200    # px; a 2x2 grid cell (~3.8 in) at >= 300 PPI

PAPER = (250, 246, 236)


@dataclass(frozen=True)
class SampleDrawing:
    stem: str
    subject: str
    variations: int
    naming: str        # "helpful" | "provenance" | "random"


SAMPLE_DRAWINGS = (
    SampleDrawing("max", "monster", 9, "helpful"),
    SampleDrawing("luna", "cat", 4, "helpful"),
    SampleDrawing("pip", "fish", 6, "provenance"),
    SampleDrawing("rory", "dragon", 12, "provenance"),
    SampleDrawing("sunny", "house", 5, "random"),
    SampleDrawing("zoom", "rocket", 14, "random"),
    SampleDrawing("bella", "flower", 8, "helpful"),
)

BOOK_TOML = '''\
title = "Max and Friends"
author = "Ms. Rivera's Class"
dedication = "For every child who ever drew a monster under the bed."
age_range = [4, 7]
profile = "kdp-8.5x8.5"
page_order = ["max.jpg", "luna.jpg", "pip.jpg", "rory.jpg", "sunny.jpg", "zoom.jpg", "bella.jpg"]

[drawings."max.jpg"]
title = "Max the Monster"
text = "Max is a big purple monster who lives under the stairs. He is not scary at all. He just wants someone to share his socks with."

[drawings."rory.jpg"]
title = "Rory the Dragon"
text = "Rory can breathe fire, but only very small fire, just enough to toast marshmallows for all of his friends."
'''


def _wobbly(points: list[tuple[float, float]], rng: random.Random, amount: float) -> list[tuple[float, float]]:
    return [(x + rng.uniform(-amount, amount), y + rng.uniform(-amount, amount)) for x, y in points]


def _ellipse(cx, cy, rx, ry, n=48) -> list[tuple[float, float]]:
    return [(cx + rx * math.cos(2 * math.pi * i / n), cy + ry * math.sin(2 * math.pi * i / n)) for i in range(n + 1)]


def _blob(draw, rng, cx, cy, rx, ry, fill, outline=(40, 30, 30), width=14):
    pts = _wobbly(_ellipse(cx, cy, rx, ry), rng, min(rx, ry) * 0.05)
    pts[-1] = pts[0]
    draw.polygon(pts, fill=fill)
    draw.line(pts, fill=outline, width=width, joint="curve")


def _scribble_fill(draw, rng, box, colour, lines=40, width=10):
    x0, y0, x1, y1 = box
    for _ in range(lines):
        a = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        b = (a[0] + rng.uniform(-120, 120), a[1] + rng.uniform(-40, 40))
        draw.line([a, b], fill=colour, width=width)


def _draw_monster(d, r, s):
    _blob(d, r, s * .5, s * .58, s * .28, s * .3, (128, 70, 170))
    for ex in (.4, .6):
        _blob(d, r, s * ex, s * .45, s * .06, s * .07, (255, 255, 255), width=8)
        _blob(d, r, s * ex, s * .46, s * .025, s * .03, (20, 20, 20), width=4)
    d.line([(s * .4, s * .68), (s * .5, s * .72), (s * .6, s * .68)], fill=(40, 30, 30), width=12)
    for hx in (.33, .67):
        d.polygon([(s * hx - 40, s * .32), (s * hx + 40, s * .32), (s * hx, s * .18)], fill=(250, 200, 60), outline=(40, 30, 30))


def _draw_cat(d, r, s):
    _blob(d, r, s * .5, s * .65, s * .22, s * .2, (245, 150, 40))
    _blob(d, r, s * .5, s * .38, s * .17, s * .15, (245, 150, 40))
    for ex in (.36, .64):
        d.polygon([(s * ex - 50, s * .3), (s * ex + 50, s * .3), (s * ex, s * .16)], fill=(245, 150, 40), outline=(40, 30, 30), width=10)
    for ex in (.44, .56):
        _blob(d, r, s * ex, s * .36, s * .025, s * .035, (60, 160, 60), width=5)
    for k in (-1, 1):
        d.line([(s * .5, s * .43), (s * .5 + k * s * .2, s * .4)], fill=(40, 30, 30), width=6)
    d.arc([s * .62, s * .55, s * .92, s * .85], 200, 340, fill=(245, 150, 40), width=40)


def _draw_fish(d, r, s):
    d.rectangle([0, s * .55, s, s], fill=(120, 190, 235))
    _blob(d, r, s * .45, s * .5, s * .3, s * .16, (250, 110, 120))
    d.polygon([(s * .72, s * .5), (s * .9, s * .36), (s * .9, s * .64)], fill=(250, 180, 60), outline=(40, 30, 30), width=12)
    _blob(d, r, s * .27, s * .47, s * .03, s * .03, (20, 20, 20), width=4)
    for i in range(5):
        _blob(d, r, s * (.15 + .15 * i), s * (.25 - .02 * i), s * .03, s * .03, (200, 230, 255), width=5)


def _draw_dragon(d, r, s):
    _blob(d, r, s * .45, s * .62, s * .3, s * .18, (60, 170, 80))
    _blob(d, r, s * .75, s * .42, s * .12, s * .1, (60, 170, 80))
    d.polygon([(s * .35, s * .5), (s * .2, s * .2), (s * .5, s * .45)], fill=(90, 200, 120), outline=(40, 30, 30), width=10)
    for i in range(5):
        x = s * (.25 + .09 * i)
        d.polygon([(x, s * .46), (x + 30, s * .38), (x + 60, s * .46)], fill=(230, 60, 50))
    d.polygon([(s * .86, s * .42), (s * .98, s * .36), (s * .98, s * .48)], fill=(250, 120, 30))
    _blob(d, r, s * .77, s * .4, s * .02, s * .02, (20, 20, 20), width=4)


def _draw_house(d, r, s):
    d.ellipse([s * .72, s * .06, s * .92, s * .26], fill=(252, 220, 60), outline=(230, 150, 40), width=10)
    d.rectangle([s * .22, s * .45, s * .68, s * .85], fill=(230, 90, 80), outline=(40, 30, 30), width=14)
    d.polygon([(s * .16, s * .47), (s * .45, s * .2), (s * .74, s * .47)], fill=(110, 70, 50), outline=(40, 30, 30))
    d.rectangle([s * .4, s * .65, s * .5, s * .85], fill=(90, 60, 40))
    d.rectangle([s * .27, s * .52, s * .36, s * .6], fill=(150, 210, 250), outline=(40, 30, 30), width=8)
    d.rectangle([0, s * .85, s, s], fill=(90, 180, 70))


def _draw_rocket(d, r, s):
    d.rectangle([0, 0, s, s], fill=(30, 35, 80))
    for _ in range(40):
        x, y = r.uniform(0, s), r.uniform(0, s)
        d.ellipse([x - 6, y - 6, x + 6, y + 6], fill=(255, 250, 200))
    _blob(d, r, s * .5, s * .5, s * .1, s * .28, (220, 220, 230))
    d.polygon([(s * .4, s * .7), (s * .3, s * .82), (s * .42, s * .78)], fill=(220, 50, 50))
    d.polygon([(s * .6, s * .7), (s * .7, s * .82), (s * .58, s * .78)], fill=(220, 50, 50))
    _blob(d, r, s * .5, s * .42, s * .04, s * .04, (90, 170, 240), width=8)
    d.polygon([(s * .45, s * .78), (s * .55, s * .78), (s * .5, s * .95)], fill=(255, 170, 30))


def _draw_flower(d, r, s):
    d.line([(s * .5, s * .55), (s * .52, s * .95)], fill=(50, 140, 60), width=24)
    _blob(d, r, s * .62, s * .78, s * .08, s * .035, (60, 160, 70), width=8)
    for i in range(7):
        a = 2 * math.pi * i / 7
        _blob(d, r, s * .5 + math.cos(a) * s * .16, s * .38 + math.sin(a) * s * .16, s * .09, s * .09, (240, 110, 190), width=8)
    _blob(d, r, s * .5, s * .38, s * .09, s * .09, (250, 210, 50), width=10)


SUBJECTS: dict[str, Callable] = {
    "monster": _draw_monster, "cat": _draw_cat, "fish": _draw_fish, "dragon": _draw_dragon,
    "house": _draw_house, "rocket": _draw_rocket, "flower": _draw_flower,
}


def draw_subject(subject: str, size: int = DRAWING_SIZE, seed: int = 0) -> Image.Image:
    """A child-like drawing on slightly uneven paper."""
    rng = random.Random(f"{subject}-{seed}")
    base = 600
    img = Image.new("RGB", (base, base), PAPER)
    draw = ImageDraw.Draw(img)
    SUBJECTS[subject](draw, rng, base)
    _scribble_fill(draw, rng, (0, base * .9, base, base), (200, 190, 170), lines=12, width=3)
    img = img.resize((size, size), Image.Resampling.BICUBIC)
    # photographed paper: a soft light falloff from one corner
    shade = Image.radial_gradient("L").resize((size, size)).point(lambda v: 255 - v // 8)
    return Image.composite(img, Image.new("RGB", img.size, (220, 214, 200)), shade)


def _recolour(img, rng):
    h, s, v = img.convert("HSV").split()
    shift = rng.randint(40, 200)
    return Image.merge("HSV", (h.point(lambda x: (x + shift) % 256), s, v)).convert("RGB")


def _restyle(img, rng):
    out = ImageOps.posterize(img, 3).filter(ImageFilter.SMOOTH_MORE)
    return ImageEnhance.Color(out).enhance(rng.uniform(1.3, 1.8))


def _mirror(img, rng):
    return ImageOps.mirror(img)


def _reframe(img, rng):
    w, h = img.size
    f = rng.uniform(0.72, 0.88)
    x0, y0 = rng.uniform(0, w * (1 - f)), rng.uniform(0, h * (1 - f))
    return img.crop((int(x0), int(y0), int(x0 + w * f), int(y0 + h * f))).resize(img.size)


def _new_background(img, rng):
    grey = img.convert("L")
    mask = grey.point(lambda v: 255 if v < 200 else 0).filter(ImageFilter.MaxFilter(5))
    bg = Image.new("RGB", img.size, tuple(rng.randint(150, 255) for _ in range(3)))
    return Image.composite(img, bg, mask)


def _noise(img, rng):
    return Image.blend(img, Image.effect_noise(img.size, 40).convert("RGB"), 0.12)


TRANSFORMS = (_recolour, _restyle, _mirror, _reframe, _new_background, _noise)


def make_variation(drawing: Image.Image, index: int, seed: str) -> Image.Image:
    """Apply one or two transformations, the way an image model's variations differ from their source."""
    rng = random.Random(f"{seed}-{index}")
    out = drawing.resize((VARIATION_SIZE, VARIATION_SIZE), Image.Resampling.LANCZOS)
    first = TRANSFORMS[index % len(TRANSFORMS)]
    out = first(out, rng)
    if index >= len(TRANSFORMS):
        second = rng.choice([t for t in TRANSFORMS if t is not first])
        out = second(out, rng)
    return out


def _png_bytes(img: Image.Image, text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info, compress_level=1)
    return buf.getvalue()


def _jpeg_bytes(img: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def bad_uploads() -> dict[str, bytes]:
    """Uploads that must end up rejected, each with its reason, relative to the book folder."""
    ok_jpeg = _jpeg_bytes(draw_subject("cat", 400, seed=9))
    gif = io.BytesIO()
    Image.new("P", (200, 200), 3).save(gif, "GIF")
    tiny = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 100, 50)).save(tiny, "PNG")
    return {
        "generated/upload_cut_short.jpg": ok_jpeg[: len(ok_jpeg) // 2],   # truncated
        "drawings/old_scan.gif": gif.getvalue(),                          # unsupported format
        "generated/empty.png": b"",                                       # empty file
        "drawings/notes.png": b"Remember to bring crayons on Friday!\n",  # not an image
        "generated/thumb.png": tiny.getvalue(),                           # too small
        ".DS_Store": b"\x00\x00\x00\x01Bud1",                             # a file the computer made
    }


def _variation_name(spec: SampleDrawing, index: int) -> str:
    """The file name a variation gets under its drawing's naming regime."""
    token = uuid.UUID(int=random.Random(f"{spec.stem}{index}").getrandbits(128))
    if spec.naming == "helpful":
        return f"{spec.stem}_{index + 1:02d}.png"
    if spec.naming == "provenance":
        return f"user_a-{spec.subject}-{token}_{index}.png"
    return f"{token.hex[:12]}.{'jpg' if index % 3 == 2 else 'png'}"


def sample_truth(drawings: tuple[SampleDrawing, ...] = SAMPLE_DRAWINGS) -> dict[str, str]:
    """Ground truth of the sample: generated path -> drawing path (both relative to the book folder)."""
    return {
        f"generated/{_variation_name(spec, i)}": f"drawings/{spec.stem}.jpg"
        for spec in drawings for i in range(spec.variations)
    }


def sample_book_files(
    drawings: tuple[SampleDrawing, ...] = SAMPLE_DRAWINGS, *, include_bad: bool = True, include_config: bool = True
) -> dict[str, bytes]:
    """Every file of the sample book, keyed by path relative to ``books/<id>/``."""
    files: dict[str, bytes] = {}
    for number, spec in enumerate(drawings):
        drawing = draw_subject(spec.subject, seed=number)
        files[f"drawings/{spec.stem}.jpg"] = _jpeg_bytes(drawing)
        for i in range(spec.variations):
            variation = make_variation(drawing, i, seed=spec.stem)
            name = _variation_name(spec, i)
            if name.endswith(".jpg"):
                files[f"generated/{name}"] = _jpeg_bytes(variation, 90)
            elif spec.naming == "provenance":
                text = {"parameters": f"a {spec.subject} in a new style, variation {i + 1}", "Source": f"{spec.stem}.jpg"}
                files[f"generated/{name}"] = _png_bytes(variation, text)
            else:
                files[f"generated/{name}"] = _png_bytes(variation)
    if include_config:
        files["book.toml"] = BOOK_TOML.encode()
    if include_bad:
        files.update(bad_uploads())
    return files


def upload_book(bucket, book_id: str, files: dict[str, bytes]) -> list[str]:
    """Upload ``files`` (paths relative to the book folder) as ``books/<book_id>/…``; return the keys."""
    keys = []
    for relative, data in sorted(files.items()):
        key = f"books/{book_id}/{relative}"
        bucket.write_bytes(key, data)
        keys.append(key)
    return keys


def write_sample_book(bucket, book_id: str = SAMPLE_BOOK_ID) -> list[str]:
    """Upload the sample book into ``bucket`` (any Bucket); return the keys written."""
    return upload_book(bucket, book_id, sample_book_files())
