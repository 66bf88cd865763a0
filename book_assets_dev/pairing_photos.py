"""A realistic pairing corpus: real photographs drawn as a child would, and renditions of the photographs.

    book-assets eval-pairing --corpus photos [--split eval|fit] [--quick]

Image models turn a child's drawing into a picture of what the drawing shows: a realistic or
painterly rendition, not an edit of the drawing. This corpus reproduces that the other way round,
from real photographs that installable packages ship (``photo_sources``):

- the *drawing* is a child-like drawing of the photograph (``child_drawing``): a few crude flat
  crayon-coloured regions, thick wobbly dark outlines, some regions left as paper, crayon texture,
  then a phone photo (or scan) of the paper: tilt, table margin, uneven warm light, noise;
- each *variation* is a rendition of the photograph (``make_rendition``): one base (``photo``,
  ``painted``, ``cartoon``, ``sepia``, ``hue``) and 0-2 edits (``reframe``, ``rotate``, ``mirror``,
  ``noise``, ``jpeg60``, ``background``), at strengths 1-3, at image-model sizes (often a 1024 px
  square centre crop);
- a few *distractors* per book are renditions of a photograph whose drawing is not in the book
  (their truth is ``None``: pairing should leave them unpaired or flag them).

The sources are split deterministically into a ``fit`` half and an ``eval`` half, so weights fitted
on one half are scored on photographs they never saw. Books are named under the three regimes of
``pairing_eval`` (``name_book``) and scored with ``core.pairing.pair_images`` on features that
``imaging.analyse_image`` computes from the real encoded bytes.

Never add scikit-image's bundled ``data`` photographs or a desktop-wallpaper package here: hidden
acceptance sets are built from those.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from scipy import ndimage

from . import pairing_eval as pe
from book_assets.core.pairing import pair_images

# --------------------------------------------------------------------------------------------
# Sources: real colour photographs shipped inside installable packages
# --------------------------------------------------------------------------------------------

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_HFS = Path("/usr/share/doc/opencv-doc/examples/hfs/data")
INSTALL_HINT = ("apt-get update && apt-get install -y opencv-doc   (Debian: photographs in opencv's examples)\n"
                "  .venv/bin/python -m pip install scikit-learn matplotlib   (china.jpg, flower.jpg, grace_hopper.jpg)\n"
                "  or `make eval-pairing`, which installs opencv-doc when missing")

# (name, origin, where) for every photograph the corpus may use; each was looked at. Kept: real
# colour photographs, one of each near-duplicate pair (aloeL not aloeR, leuvenA not leuvenB,
# rubberwhale1 not 2, ela_original not ela_modified, graf1 not graf3, left not right, aero1 not
# aero3). Left out: logos, text, charts, chessboards, digits, sudoku, renders (Blender_Suzanne),
# clip art (HappyFish), paintings (starry_night), greyscale sets (basketball, box_in_scene, blox,
# the stereo calibration pairs) and the near-black light box (pca_test1).
_OPENCV_PHOTOS = (
    "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg", "butterfly.jpg",
    "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg", "leuvenA.jpg",
    "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
    "squirrel_cls.jpg", "stuff.jpg",
)
_OPENCV_HFS_PHOTOS = {"000.jpg": "hfs-robin", "001.jpg": "hfs-lake", "002.jpg": "hfs-tree"}
_PACKAGE_PHOTOS = (  # (name, python package, path inside the package)
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)
SPLITS = ("fit", "eval", "all")
MIN_PHOTOS_FULL = 8        # per split, for the full evaluation (needs opencv-doc)


class PhotoSourcesMissing(RuntimeError):
    """Fewer source photographs than asked for: the message names the install commands."""


@dataclass(frozen=True)
class PhotoSource:
    name: str      # unique, stable: decides the split
    origin: str    # "opencv-doc", "scikit-learn", "matplotlib"
    path: Path     # a JPEG/PNG file, possibly gzipped (.gz)

    @property
    def split(self) -> str:
        return split_of(self.name)


def _catalogue() -> list[tuple[str, str, Callable[[], Path | None]]]:
    """Every known source as (name, origin, locate) whether installed or not."""
    entries: list[tuple[str, str, Callable[[], Path | None]]] = []
    for file in _OPENCV_PHOTOS:
        entries.append((file.rsplit(".", 1)[0], "opencv-doc", lambda f=file: _existing(OPENCV_DATA / f)))
    for file, name in _OPENCV_HFS_PHOTOS.items():
        entries.append((name, "opencv-doc", lambda f=file: _existing(OPENCV_HFS / f)))
    for name, package, inner in _PACKAGE_PHOTOS:
        origin = {"sklearn": "scikit-learn"}.get(package, package)
        entries.append((name, origin, lambda p=package, i=inner: _in_package(p, i)))
    return entries


def _existing(path: Path) -> Path | None:
    """The file, or its gzipped twin (Debian compresses some files in doc packages)."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _in_package(package: str, inner: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = _existing(Path(location) / inner)
        if found:
            return found
    return None


@lru_cache(maxsize=None)
def _split_table() -> dict[str, str]:
    """Catalogue names ordered by a hash, alternately fit and eval: balanced, and a photo's half
    never depends on which packages happen to be installed."""
    names = sorted((name for name, _, _ in _catalogue()), key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    return {name: ("fit" if i % 2 == 0 else "eval") for i, name in enumerate(names)}


def split_of(name: str) -> str:
    return _split_table().get(name) or ("fit" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "eval")


def photo_sources(split: str = "all", *, minimum: int = 1) -> list[PhotoSource]:
    """The installed source photographs of one half (``fit``/``eval``) or ``all``, sorted by name.

    Raises ``PhotoSourcesMissing`` (naming the install commands) when fewer than ``minimum`` are found.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    found = []
    for name, origin, locate in _catalogue():
        path = locate()
        if path is not None and (split == "all" or split_of(name) == split):
            found.append(PhotoSource(name, origin, path))
    found.sort(key=lambda s: s.name)
    if len(found) < minimum:
        raise PhotoSourcesMissing(
            f"The photo corpus needs at least {minimum} source photographs in split {split!r}; "
            f"found {len(found)} ({', '.join(s.name for s in found) or 'none'}). Install them with:\n  {INSTALL_HINT}")
    return found


@lru_cache(maxsize=64)
def load_photo(path: Path) -> Image.Image:
    """The photograph as RGB (alpha flattened on white), decoded once."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            flat = Image.new("RGB", im.size, (255, 255, 255))
            flat.paste(im, (0, 0), im)
            return flat
        return im.convert("RGB")


# --------------------------------------------------------------------------------------------
# Photo -> child-like drawing
# --------------------------------------------------------------------------------------------

DRAWING_LONG_SIDE = 640
SEGMENT_LONG_SIDE = 224        # segmentation runs on a small copy; shapes are crude anyway
# Superpixels merged into a drawing's regions. About 7 px across at SEGMENT_LONG_SIDE: with 260 (about
# 14 px) a merged region's outline kept the superpixel grid's stair steps through smooth areas, and an
# apple or an orange came out as nested rectangles a person could not pair with its photograph.
SUPERPIXELS = 1000
LIGHTNESS_WEIGHT = np.array([0.6, 1.0, 1.0])
DRAWING_STYLES = ("line art", "part coloured", "fully coloured", "posterized")
# How often each style comes up in a book, in this order (fully coloured and posterized drawings are
# what a class hands in most; sparse line art of a cluttered scene is the rare, hard case).
STYLE_CYCLE = ("fully coloured", "posterized", "part coloured", "fully coloured", "posterized", "line art",
               "part coloured", "fully coloured", "posterized", "part coloured")
CRAYON_PALETTE = np.array([
    (222, 38, 38), (245, 120, 30), (252, 208, 40), (250, 236, 90), (58, 165, 62), (140, 200, 60),
    (40, 110, 215), (95, 190, 235), (135, 75, 185), (240, 135, 185), (125, 80, 40), (190, 130, 80),
    (250, 200, 160), (40, 35, 35), (140, 140, 140), (200, 60, 120), (90, 55, 35), (255, 160, 90),
], dtype=np.float64)
OUTLINE_INKS = ((30, 28, 30), (45, 40, 60), (60, 40, 30), (25, 35, 80), (70, 70, 75))
PAPER_COLOURS = ((252, 250, 245), (250, 246, 232), (244, 241, 230), (255, 255, 255), (247, 243, 225))


@dataclass
class _Segmentation:
    """Superpixels of one photograph and what merging them needs: computed once per photo."""

    small: np.ndarray          # float RGB 0..255 at SEGMENT_LONG_SIDE
    labels: np.ndarray         # superpixel index per pixel
    area: np.ndarray           # per superpixel
    lab: np.ndarray            # mean CIE Lab per superpixel
    rgb: np.ndarray            # mean RGB per superpixel
    edges: dict[tuple[int, int], int]   # adjacent superpixel pairs -> shared boundary length
    salience: np.ndarray       # per superpixel, 0..1: unlike the picture's border, near its centre


@lru_cache(maxsize=64)
def _segmentation(path: Path) -> _Segmentation:
    return _segment(load_photo(path))


def _segment(photo: Image.Image) -> _Segmentation:
    from skimage.color import rgb2lab
    from skimage.segmentation import slic

    scale = SEGMENT_LONG_SIDE / max(photo.size)
    size = (max(8, round(photo.width * scale)), max(8, round(photo.height * scale)))
    small = photo.resize(size, Image.Resampling.BOX).filter(ImageFilter.MedianFilter(3))
    rgb = np.asarray(small, dtype=np.float64)
    lab = rgb2lab(rgb / 255.0)
    labels = slic(lab, n_segments=SUPERPIXELS, compactness=6.0, sigma=1.0, start_label=0, convert2lab=False,
                  channel_axis=-1)
    count = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=count).astype(np.float64)
    mean_lab = np.stack([np.bincount(labels.ravel(), lab[..., c].ravel(), count) for c in range(3)], 1) / area[:, None]
    mean_rgb = np.stack([np.bincount(labels.ravel(), rgb[..., c].ravel(), count) for c in range(3)], 1) / area[:, None]
    edges: dict[tuple[int, int], int] = defaultdict(int)
    for a, b in ((labels[:, 1:], labels[:, :-1]), (labels[1:, :], labels[:-1, :])):
        differ = a != b
        pairs = np.stack([np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])], 1)
        uniq, counts = np.unique(pairs, axis=0, return_counts=True)
        for (i, j), n in zip(uniq.tolist(), counts.tolist()):
            edges[(i, j)] += n
    # Salience: colour distance to the closest border superpixel (backgrounds touch the border),
    # weighted by a centre prior; the subject keeps its own regions when the rest is merged.
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    distances = np.sqrt(((mean_lab[:, None, :] - mean_lab[None, border, :]) ** 2).sum(-1))
    to_border = 0.5 * distances.min(axis=1) + 0.5 * np.sqrt(((mean_lab - np.median(mean_lab[border], axis=0)) ** 2).sum(-1))
    ys, xs = np.mgrid[0:labels.shape[0], 0:labels.shape[1]]
    cy = np.bincount(labels.ravel(), ys.ravel(), count) / area / labels.shape[0] - 0.5
    cx = np.bincount(labels.ravel(), xs.ravel(), count) / area / labels.shape[1] - 0.5
    salience = to_border * np.exp(-(cx ** 2 + cy ** 2) / 0.18)
    salience = np.clip(salience / max(float(np.percentile(salience, 95)), 1e-6), 0.0, 1.0)
    return _Segmentation(rgb, labels, area, mean_lab, mean_rgb, dict(edges), salience)


def _merge_regions(seg: _Segmentation, target: int, small_fraction: float, subject_weight: float = 6.0,
                   similar: float = 12.0) -> np.ndarray:
    """Ward-style agglomeration of the superpixels down to ``target`` regions (small and similar
    ones first, the subject's outline last), then on while neighbours differ by less than
    ``similar`` (Lab), then every region under ``small_fraction`` of the picture into its closest
    neighbour. Returns the superpixel -> region map."""
    import heapq

    n = len(seg.area)
    parent = list(range(n))
    area = {i: float(seg.area[i]) for i in range(n)}
    weighted = seg.lab * LIGHTNESS_WEIGHT   # hue over shading, as a child sees it
    lab = {i: tuple(float(v) for v in weighted[i]) for i in range(n)}
    salient = {i: float(seg.salience[i]) for i in range(n)}
    version = {i: 0 for i in range(n)}
    neighbours: dict[int, dict[int, int]] = defaultdict(dict)
    for (i, j), length in seg.edges.items():
        neighbours[i][j] = length
        neighbours[j][i] = length
    total = float(seg.area.sum())

    def distance2(i: int, j: int) -> float:
        a, b = lab[i], lab[j]
        return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2

    def cost(i: int, j: int) -> float:
        ward = area[i] * area[j] / (area[i] + area[j]) * distance2(i, j)
        # Keep the subject's outline (a salience step) and some of its inside; shading merges first.
        return ward * (1.0 + subject_weight * (abs(salient[i] - salient[j]) + 0.3 * max(salient[i], salient[j])))

    heap = [(cost(i, j), i, j, 0, 0) for i in neighbours for j in neighbours[i] if i < j]
    heapq.heapify(heap)

    def merge(i: int, j: int) -> None:   # j into i
        a = area[i] + area[j]
        lab[i] = tuple((x * area[i] + y * area[j]) / a for x, y in zip(lab[i], lab[j]))
        salient[i] = (salient[i] * area[i] + salient[j] * area[j]) / a
        area[i] = a
        for k, length in neighbours.pop(j).items():
            if k == i:
                continue
            neighbours[k].pop(j, None)
            neighbours[i][k] = neighbours[i].get(k, 0) + length
            neighbours[k][i] = neighbours[i][k]
        neighbours[i].pop(j, None)
        parent[j] = i
        version[i] += 1
        del area[j], lab[j], salient[j], version[j]
        for k in neighbours[i]:
            heapq.heappush(heap, (cost(i, k), i, k, version[i], version[k]))

    alive = len(area)
    while alive > target and heap:
        _, i, j, vi, vj = heapq.heappop(heap)
        if i not in area or j not in area or version[i] != vi or version[j] != vj:
            continue   # stale: one side has merged since
        merge(i, j) if area[i] >= area[j] else merge(j, i)
        alive -= 1
    floor = max(3, target // 2)
    while alive > floor:   # below the target only near-identical colours still merge (shading bands)
        close = min(((distance2(a, b), a, b) for a in neighbours for b in neighbours[a] if a < b), default=None)
        if close is None or close[0] > similar ** 2:
            break
        _, i, j = close
        merge(i, j) if area[i] >= area[j] else merge(j, i)
        alive -= 1
    while True:   # no crumbs: a child does not colour a region the size of a grain of rice
        # ... unless it stands out (a ball on a table): salient regions may be smaller
        small = [i for i in area if area[i] < small_fraction * (1.0 - 0.75 * salient[i]) * total and neighbours[i]]
        if not small or len(area) <= 2:
            break
        i = min(small, key=lambda r: area[r])
        j = min(neighbours[i], key=lambda k: distance2(i, k))
        merge(j, i)

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    roots = [root(i) for i in range(n)]
    renumber = {r: k for k, r in enumerate(sorted(set(roots)))}
    return np.array([renumber[r] for r in roots], dtype=np.int32)


def _smooth_field(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field in -1..1 (bicubic-upscaled coarse noise)."""
    h, w = shape
    coarse = rng.uniform(-1.0, 1.0, (max(2, round(cells * h / max(h, w))) + 1, max(2, round(cells * w / max(h, w))) + 1))
    field = Image.fromarray(coarse.astype(np.float32), "F").resize((w, h), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(field, dtype=np.float64), -1.0, 1.0)


def _warp_labels(regions: np.ndarray, out_shape: tuple[int, int], amplitude: float, cells: int,
                 rng: np.random.Generator) -> np.ndarray:
    """The region map at drawing size, nearest-sampled through a smooth wobble (a hand is not a plotter)."""
    h, w = out_shape
    sy, sx = regions.shape[0] / h, regions.shape[1] / w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy += amplitude * _smooth_field(out_shape, cells, rng)
    xx += amplitude * _smooth_field(out_shape, cells, rng)
    coords = np.stack([np.clip((yy + 0.5) * sy - 0.5, 0, regions.shape[0] - 1),
                       np.clip((xx + 0.5) * sx - 0.5, 0, regions.shape[1] - 1)])
    return ndimage.map_coordinates(regions, coords, order=0, mode="nearest")


def _simplify(regions: np.ndarray, sigma: float) -> np.ndarray:
    """Round off every region's outline (per-region blur, then the most likely region wins)."""
    count = int(regions.max()) + 1
    best = np.full(regions.shape, -1.0)
    out = np.zeros_like(regions)
    for r in range(count):
        score = ndimage.gaussian_filter((regions == r).astype(np.float32), sigma)
        better = score > best
        out[better] = r
        best[better] = score[better]
    return out


def _streaks(shape: tuple[int, int], angle: float, length: float, rng: np.random.Generator) -> np.ndarray:
    """Crayon strokes: noise smeared along ``angle`` degrees, 0..1."""
    h, w = shape
    side = int(math.ceil(math.hypot(h, w))) + 2
    coarse = max(8, side // 2)   # strokes about two pixels wide
    noise = rng.random((coarse, coarse), dtype=np.float32)
    smeared = ndimage.uniform_filter1d(noise, size=max(3, int(length / 2)), axis=1)
    img = Image.fromarray(smeared, "F").rotate(angle, resample=Image.Resampling.BILINEAR)
    img = img.resize((side, side), Image.Resampling.BILINEAR)
    top, left = (side - h) // 2, (side - w) // 2
    field = np.asarray(img, dtype=np.float64)[top:top + h, left:left + w]
    lo, hi = np.percentile(field, (2, 98))
    return np.clip((field - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _crayon_colour(rgb: np.ndarray, saturation: float, snap: float, rng: random.Random) -> np.ndarray:
    """A region's mean colour as a child picks it: more saturated, often snapped to a crayon."""
    hsv = np.asarray(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8).reshape(1, 1, 3)).convert("HSV"),
                     dtype=np.float64).reshape(3)
    hsv[1] = min(255.0, hsv[1] * saturation + 25)
    hsv[2] = min(255.0, max(40.0, hsv[2] * rng.uniform(0.95, 1.2)))
    vivid = np.asarray(Image.fromarray(hsv.astype(np.uint8).reshape(1, 1, 3), "HSV").convert("RGB"),
                       dtype=np.float64).reshape(3)
    if rng.random() < snap:
        distance = np.sum((CRAYON_PALETTE - vivid) ** 2, axis=1)
        nearest = CRAYON_PALETTE[int(np.argsort(distance)[0 if rng.random() < 0.8 else 1])]
        vivid = vivid * 0.25 + nearest * 0.75
    return vivid


def child_drawing(photo: Image.Image | PhotoSource, rng: random.Random, *, style: str | None = None) -> Image.Image:
    """A child-like flat-colour drawing of ``photo`` with thick outlines, photographed on unevenly lit paper.

    Pass a ``PhotoSource`` to reuse its cached segmentation. ``style`` (``DRAWING_STYLES``) is drawn
    from ``rng`` when not given: sparse line art with a few coloured regions, part coloured, or fully
    coloured. Every parameter (region count, line weight, wobble, colours, paper, light) varies with ``rng``.
    """
    style = style or rng.choice(DRAWING_STYLES)
    if style == "posterized":
        image = load_photo(photo.path) if isinstance(photo, PhotoSource) else photo
        return _posterized_drawing(image, rng)
    if isinstance(photo, PhotoSource):
        seg = _segmentation(photo.path)
        image = load_photo(photo.path)
    else:
        seg = _segmentation_of_image(photo)
        image = photo
    nrng = np.random.default_rng(rng.getrandbits(64))
    target = {"line art": rng.randint(6, 12), "part coloured": rng.randint(8, 16),
              "fully coloured": rng.randint(10, 22)}[style]
    mapping = _merge_regions(seg, target, small_fraction=rng.uniform(0.006, 0.02),
                             subject_weight=rng.uniform(3.0, 12.0), similar=rng.uniform(6.0, 12.0))
    regions = _simplify(mapping[seg.labels], sigma=rng.uniform(2.5, 4.5))
    count = int(regions.max()) + 1

    scale = DRAWING_LONG_SIDE / max(image.size)
    w, h = max(64, round(image.width * scale)), max(64, round(image.height * scale))
    wobble = rng.uniform(4.0, 10.0)
    cells = rng.randint(8, 16)
    fill_map = _warp_labels(regions, (h, w), wobble, cells, nrng)
    line_map = _warp_labels(regions, (h, w), wobble, cells, nrng)   # colouring misses the lines a bit

    # Colours: region means, exaggerated, often a crayon; some regions stay white paper.
    area = np.bincount(regions.ravel(), minlength=count).astype(np.float64)
    mean = np.stack([np.bincount(regions.ravel(), seg.small[..., c].ravel(), count) for c in range(3)], 1) \
        / np.maximum(area, 1)[:, None]
    saturation, snap = rng.uniform(1.4, 2.2), rng.uniform(0.4, 0.95)
    brightness = mean.mean(axis=1)
    salience = np.bincount(regions.ravel(), seg.salience[seg.labels].ravel(), count) / np.maximum(area, 1)
    if style == "line art":   # a few regions coloured in, the subject first
        order = sorted(range(count), key=lambda r: -salience[r] * rng.uniform(0.5, 1.5))
        coloured = set(order[:rng.randint(0, 3)])
    elif style == "part coloured":
        coloured = {r for r in range(count) if rng.random() < 0.65}
    else:
        coloured = {r for r in range(count) if rng.random() < 0.95}
    for r in range(count):   # bright, big backgrounds (sky, a white wall) are often left as paper
        if r in coloured and brightness[r] > 200 and area[r] > 0.2 * area.sum() and rng.random() < 0.6:
            coloured.discard(r)
    paper = np.array(rng.choice(PAPER_COLOURS), dtype=np.float64)
    canvas = np.empty((h, w, 3))
    canvas[:] = paper
    angles = [rng.uniform(-70, 70) for _ in range(3)]
    streaks = [_streaks((h, w), a, rng.uniform(8, 26), nrng) for a in angles]
    pressure, grain = rng.uniform(0.6, 0.95), rng.uniform(0.1, 0.6)
    for r in sorted(coloured):
        mask = fill_map == r
        if not mask.any():
            continue
        colour = _crayon_colour(mean[r], saturation, snap, rng)
        texture = streaks[r % len(streaks)][mask]
        alpha = np.clip(pressure + grain * (texture - 0.5) + rng.uniform(-0.1, 0.1), 0.15, 1.0)[:, None]
        canvas[mask] = canvas[mask] * (1 - alpha) + colour * alpha

    # Thick dark wobbly outlines at region boundaries, their weight varying along the line.
    boundary = np.zeros((h, w), dtype=bool)
    boundary[:, 1:] |= line_map[:, 1:] != line_map[:, :-1]
    boundary[1:, :] |= line_map[1:, :] != line_map[:-1, :]
    distance = ndimage.distance_transform_edt(~boundary)
    weight = rng.uniform(1.2, 4.5) * (1.0 + 0.45 * _smooth_field((h, w), rng.randint(4, 9), nrng))
    ink_mask = distance <= weight
    ink = np.array(rng.choice(OUTLINE_INKS), dtype=np.float64)
    ink_alpha = np.clip(0.85 + 0.3 * (streaks[0] - 0.5), 0.6, 1.0)[ink_mask][:, None]
    canvas[ink_mask] = canvas[ink_mask] * (1 - ink_alpha) + ink * ink_alpha
    if rng.random() < 0.5:   # a few free strokes: grass, a sun's rays, a scribble in a corner
        _free_strokes(canvas, rng, nrng, ink)
    canvas += nrng.normal(0.0, 3.0, (h, w, 1))   # paper grain
    drawing = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    return _photograph_paper(drawing, rng, nrng)


def _posterized_drawing(image: Image.Image, rng: random.Random) -> Image.Image:
    """The plainest child-like rendering: the photo's own shapes in a handful of flat, bright colours,
    thick dark outlines where the colours meet, on photographed paper."""
    nrng = np.random.default_rng(rng.getrandbits(64))
    scale = DRAWING_LONG_SIDE / max(image.size)
    w, h = max(64, round(image.width * scale)), max(64, round(image.height * scale))
    small = image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS).filter(
        ImageFilter.GaussianBlur(rng.uniform(1.5, 3.5)))
    flat = small.quantize(rng.randint(5, 9), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    labels = np.asarray(flat.filter(ImageFilter.ModeFilter(rng.choice([5, 7, 9]))), dtype=np.int64)
    palette = np.array(flat.getpalette()[:3 * 256], dtype=np.float64).reshape(-1, 3)
    saturation, snap = rng.uniform(1.2, 1.9), rng.uniform(0.2, 0.8)
    colours = {int(k): _crayon_colour(palette[k], saturation, snap, rng) for k in np.unique(labels)}
    canvas = np.zeros((h, w, 3))
    for k, colour in colours.items():
        canvas[labels == k] = colour
    streaks = _streaks((h, w), rng.uniform(-70, 70), rng.uniform(8, 26), nrng)
    canvas *= (0.85 + 0.25 * streaks)[..., None]                         # crayon pressure
    boundary = np.zeros((h, w), dtype=bool)
    boundary[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    boundary[1:, :] |= labels[1:, :] != labels[:-1, :]
    ink_mask = ndimage.distance_transform_edt(~boundary) <= rng.uniform(1.5, 3.5)
    canvas[ink_mask] = np.array(rng.choice(OUTLINE_INKS), dtype=np.float64)
    canvas += nrng.normal(0.0, 3.0, (h, w, 1))                           # paper grain
    drawing = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    return _photograph_paper(drawing, rng, nrng)


def _free_strokes(canvas: np.ndarray, rng: random.Random, nrng: np.random.Generator, ink: np.ndarray) -> None:
    from PIL import ImageDraw

    h, w = canvas.shape[:2]
    layer = Image.new("L", (w, h), 0)
    pen = ImageDraw.Draw(layer)
    if rng.random() < 0.5:   # grass along the bottom
        y = h * rng.uniform(0.9, 0.98)
        x = rng.uniform(0, 20)
        while x < w:
            pen.line([(x, y), (x + rng.uniform(-6, 6), y - rng.uniform(10, 30))], fill=255, width=rng.randint(2, 4))
            x += rng.uniform(8, 20)
    else:   # a sun in a top corner
        cx, cy, r = rng.choice([0.1, 0.9]) * w, 0.1 * h, rng.uniform(0.05, 0.08) * w
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=rng.randint(3, 5))
        for k in range(rng.randint(6, 10)):
            a = 2 * math.pi * k / 8 + rng.uniform(-0.2, 0.2)
            pen.line([(cx + 1.3 * r * math.cos(a), cy + 1.3 * r * math.sin(a)),
                      (cx + 1.9 * r * math.cos(a), cy + 1.9 * r * math.sin(a))], fill=255, width=rng.randint(3, 5))
    mask = np.asarray(layer) > 0
    colour = ink if rng.random() < 0.5 else CRAYON_PALETTE[rng.randrange(len(CRAYON_PALETTE))]
    canvas[mask] = colour


def _photograph_paper(drawing: Image.Image, rng: random.Random, nrng: np.random.Generator) -> Image.Image:
    """A phone photo of the paper (tilt, table margin, uneven warm light, noise) or, sometimes, a scan."""
    w, h = drawing.size
    if rng.random() < 0.25:   # a flatbed scan: straight, even, a little grey
        out = np.asarray(drawing, dtype=np.float64) * rng.uniform(0.93, 1.0)
        out += nrng.normal(0.0, 2.0, out.shape)
        return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    margin = rng.uniform(0.02, 0.09)
    table = tuple(int(v) for v in rng.choice([(120, 85, 55), (150, 150, 150), (90, 95, 105), (170, 130, 90),
                                              (60, 60, 65), (200, 190, 175)]))
    cw, ch = round(w * (1 + 2 * margin)), round(h * (1 + 2 * margin))
    photo = Image.new("RGB", (cw, ch), table)
    photo.paste(drawing, ((cw - w) // 2 + rng.randint(-8, 8), (ch - h) // 2 + rng.randint(-8, 8)))
    photo = photo.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BICUBIC, fillcolor=table)
    zoom = rng.uniform(1.0, 1.0 + margin)   # the phone framed the paper more or less tightly
    cx, cy = cw / 2 + rng.uniform(-4, 4), ch / 2 + rng.uniform(-4, 4)
    photo = photo.crop((cx - cw / zoom / 2, cy - ch / zoom / 2, cx + cw / zoom / 2, cy + ch / zoom / 2))
    photo = photo.resize((w, h), Image.Resampling.BICUBIC)
    yy, xx = np.mgrid[0:h, 0:w]
    lx, ly = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.3, 1.3) * h
    distance = np.hypot(xx - lx, yy - ly) / math.hypot(w, h)
    light = 1.05 - rng.uniform(0.2, 0.5) * distance
    tint = np.array([1.0, rng.uniform(0.95, 0.99), rng.uniform(0.82, 0.93)])
    out = np.asarray(photo, dtype=np.float64) * light[..., None] * tint
    out += nrng.normal(0.0, rng.uniform(2.0, 6.0), out.shape)
    result = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    return result.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))


_IMAGE_SEGMENTATIONS: dict[str, _Segmentation] = {}


def _segmentation_of_image(photo: Image.Image) -> _Segmentation:
    """Segmentation of an in-memory photo, cached by content."""
    photo = photo.convert("RGB")
    digest = hashlib.sha256(photo.tobytes() + repr(photo.size).encode()).hexdigest()
    if digest not in _IMAGE_SEGMENTATIONS:
        if len(_IMAGE_SEGMENTATIONS) >= 64:
            _IMAGE_SEGMENTATIONS.clear()
        _IMAGE_SEGMENTATIONS[digest] = _segment(photo)
    return _IMAGE_SEGMENTATIONS[digest]


# --------------------------------------------------------------------------------------------
# Variations: renditions of the photograph, as image models make them
# --------------------------------------------------------------------------------------------

BASES = ("photo", "painted", "cartoon", "sepia", "hue")
EDITS = ("reframe", "rotate", "mirror", "noise", "jpeg60", "background")
# Every base alone, every edit on the photo and on at least one other base, and a few triples.
RENDITION_KINDS: tuple[tuple[str, ...], ...] = (
    ("photo",), ("painted",), ("cartoon",), ("sepia",), ("hue",),
    ("photo", "reframe"), ("photo", "rotate"), ("photo", "mirror"), ("photo", "noise"), ("photo", "jpeg60"),
    ("photo", "background"),
    ("painted", "reframe"), ("cartoon", "rotate"), ("hue", "mirror"), ("sepia", "noise"), ("painted", "jpeg60"),
    ("cartoon", "background"), ("hue", "reframe"), ("painted", "mirror"),
    ("painted", "reframe", "mirror"), ("cartoon", "rotate", "jpeg60"), ("hue", "background", "reframe"),
    ("sepia", "mirror", "noise"), ("photo", "reframe", "rotate"),
)
WORK_LONG_SIDE = 640          # renditions are computed at this size, then sized for output
OUTPUT_SQUARE = 1024
OUTPUT_LONG_SIDES = (768, 832, 896, 1024)
GEOMETRIC_EDITS = ("reframe", "rotate", "mirror", "background")   # before output sizing; noise, jpeg60 after


def _box_mean(a: np.ndarray, size: int) -> np.ndarray:
    return ndimage.uniform_filter(a, size=(size, size) + (1,) * (a.ndim - 2), mode="reflect")


def _kuwahara(rgb: np.ndarray, radius: int) -> np.ndarray:
    """Kuwahara filter: each pixel takes the mean of the calmest of its four quadrant windows (paint dabs)."""
    k = radius + 1
    half = radius // 2 + (radius % 2)
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)
    mean = _box_mean(rgb, k)
    mean_l = _box_mean(lum, k)
    var = _box_mean(lum * lum, k) - mean_l ** 2
    pad = ((half, half), (half, half))
    var_p = np.pad(var, pad, mode="edge")
    mean_p = np.pad(mean, pad + ((0, 0),), mode="edge")
    h, w = lum.shape
    best = np.full((h, w), np.inf)
    out = np.empty_like(rgb)
    for dy in (0, 2 * half):
        for dx in (0, 2 * half):
            v = var_p[dy:dy + h, dx:dx + w]
            better = v < best
            best[better] = v[better]
            out[better] = mean_p[dy:dy + h, dx:dx + w][better]
    return out


def _to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def _to_image(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def render_photo(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """The photograph re-rendered: sharper, a touch more contrast, a colour grade."""
    out = img.filter(ImageFilter.UnsharpMask(radius=rng.uniform(1.5, 3.0), percent=int(rng.uniform(60, 140)), threshold=2))
    out = ImageEnhance.Contrast(out).enhance(1.0 + rng.uniform(0.03, 0.08) * strength)
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.9, 1.1 + 0.08 * strength))
    grade = np.array([1.0 + rng.uniform(-0.03, 0.03) * strength for _ in range(3)])
    lift = rng.uniform(0, 4) * strength
    return _to_image(_to_array(out) * grade + lift)


def render_painted(img: Image.Image, rng: random.Random, strength: int, nrng: np.random.Generator) -> Image.Image:
    """Painterly: Kuwahara dabs, brush-stroke texture, richer colour."""
    radius = [3, 5, 7][strength - 1] + rng.randint(-1, 1)
    out = _to_image(_kuwahara(np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float32), radius))
    out = out.filter(ImageFilter.GaussianBlur(0.8))
    strokes = _streaks((img.height, img.width), rng.uniform(-60, 60), rng.uniform(10, 30), nrng)
    lum = 1.0 + rng.uniform(0.05, 0.12) * (strokes - 0.5)
    out = _to_image(_to_array(out) * lum[..., None])
    out = ImageEnhance.Color(out).enhance(rng.uniform(1.15, 1.5))
    return ImageEnhance.Contrast(out).enhance(rng.uniform(1.0, 1.15))


def render_cartoon(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """Cartoon: smoothed, posterized flat colours, dark edges."""
    full_size = img.size
    img = img.reduce(2)   # drawn at half size, then scaled up like a model's upsampler
    smooth = img.filter(ImageFilter.MedianFilter(3)).filter(ImageFilter.MedianFilter(3 if strength < 3 else 5))
    colours = [24, 12, 7][strength - 1] + rng.randint(-2, 2)
    flat = smooth.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    flat = ImageEnhance.Color(flat).enhance(rng.uniform(1.2, 1.6))
    grey = _to_array(smooth.convert("L"))
    magnitude = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    edges = magnitude > max(float(np.percentile(magnitude, rng.uniform(86, 92))), 120.0)
    if strength >= 2:
        edges = ndimage.binary_dilation(edges, iterations=1)
    out = _to_array(flat)
    out[edges] = out[edges] * 0.15 + np.array([20, 18, 24]) * 0.85
    return _to_image(out).resize(full_size, Image.Resampling.BICUBIC)


def render_sepia(img: Image.Image, rng: random.Random, strength: int, nrng: np.random.Generator) -> Image.Image:
    """Sepia toned; stronger means faded, vignetted and grainy."""
    a = _to_array(img)
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    toned = a @ matrix.T
    mix = [0.75, 0.95, 1.0][strength - 1]
    out = a * (1 - mix) + toned * mix
    if strength >= 2:
        out = 0.85 * out + rng.uniform(15, 35)   # faded blacks
    if strength == 3:
        h, w = out.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        vignette = 1.0 - 0.35 * (np.hypot(xx / w - 0.5, yy / h - 0.5) / 0.707) ** 2
        out = out * vignette[..., None] + nrng.normal(0, 8, (h, w, 1))
    return _to_image(out)


def render_hue(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """Hue rotated by 40-160 degrees (by strength), either way round."""
    low, high = [(40, 70), (70, 110), (110, 160)][strength - 1]
    shift = int(rng.choice([-1, 1]) * rng.uniform(low, high) * 256 / 360)
    hsv = np.asarray(img.convert("HSV")).astype(np.int64)
    hsv[..., 0] = (hsv[..., 0] + shift) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.95, 1.3), 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def edit_reframe(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """A crop keeping 60-85 % of each side at a random position, back to the same size."""
    w, h = img.size
    low, high = [(0.76, 0.85), (0.68, 0.78), (0.60, 0.70)][strength - 1]
    fx, fy = rng.uniform(low, high), rng.uniform(low, high)
    x0, y0 = rng.uniform(0, w * (1 - fx)), rng.uniform(0, h * (1 - fy))
    return img.crop((x0, y0, x0 + w * fx, y0 + h * fy)).resize(img.size, Image.Resampling.LANCZOS)


def edit_rotate(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """Rotated by 3-15 degrees either way; cropped to the largest upright rectangle, or filled."""
    low, high = [(3, 6), (6, 10), (10, 15)][strength - 1]
    angle = rng.choice([-1, 1]) * rng.uniform(low, high)
    w, h = img.size
    if rng.random() < 0.6:   # crop away the corners, as photo editors do
        rotated = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        a = math.radians(abs(angle))
        scale = 1.0 / (math.cos(a) + max(w / h, h / w) * math.sin(a))
        cw, ch = w * scale, h * scale
        box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
        return rotated.crop(box).resize(img.size, Image.Resampling.LANCZOS)
    # filled: the corners take the blurred edge colours (an outpainting tool, roughly)
    fill = img.resize((8, 8), Image.Resampling.BOX).resize(img.size, Image.Resampling.BICUBIC)
    fill = fill.filter(ImageFilter.GaussianBlur(20))
    mask = Image.new("L", img.size, 255).rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    rotated = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    # shrink the mask before softening it, or the black outside the rotated frame bleeds in as a line
    return Image.composite(rotated, fill, mask.filter(ImageFilter.MinFilter(7)).filter(ImageFilter.GaussianBlur(2)))


def edit_mirror(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    return ImageOps.mirror(img)


def edit_noise(img: Image.Image, rng: random.Random, strength: int, nrng: np.random.Generator) -> Image.Image:
    """Heavy sensor noise: luminance and colour, sigma 12-40."""
    sigma = [14, 24, 36][strength - 1] * rng.uniform(0.85, 1.15)
    a = _to_array(img)
    h, w = a.shape[:2]
    noise = nrng.normal(0, sigma, (h, w, 1)).astype(np.float32) + nrng.normal(0, sigma * 0.5, (h, w, 3)).astype(np.float32)
    return _to_image(a + noise)


def edit_jpeg60(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=60)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        return im.convert("RGB")


def _salience_mask(img: Image.Image) -> tuple[np.ndarray, bool]:
    """A soft 0..1 mask of the salient subject at ``img`` size (colour unlike the border, near the
    centre), or an ellipse when the salience is too weak or too spread to be a subject."""
    from skimage.color import rgb2lab

    small = img.resize((96, max(8, round(96 * img.height / img.width))), Image.Resampling.BOX)
    lab = rgb2lab(_to_array(small) / 255.0)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    distance = np.sqrt(((lab - np.median(border, axis=0)) ** 2).sum(-1))
    h, w = distance.shape
    yy, xx = np.mgrid[0:h, 0:w]
    prior = np.exp(-(((xx / w - 0.5) ** 2) + ((yy / h - 0.5) ** 2)) / 0.08)
    salience = ndimage.gaussian_filter(distance * prior, 2.0)
    mask = salience > 0.35 * salience.max()
    labels, count = ndimage.label(mask)
    if count:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
        mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=3))
    fraction = float(mask.mean())
    if not 0.12 <= fraction <= 0.65:
        return _ellipse(img.size), False
    soft = Image.fromarray((mask * 255).astype(np.uint8)).resize(img.size, Image.Resampling.BILINEAR)
    soft = soft.filter(ImageFilter.GaussianBlur(max(img.size) * 0.02))
    return np.asarray(soft, dtype=np.float64) / 255.0, True


def _ellipse(size: tuple[int, int], rx: float = 0.36, ry: float = 0.42, cx: float = 0.5, cy: float = 0.5) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx / w - cx) / rx, (yy / h - cy) / ry)
    return np.clip((1.15 - r) / 0.3, 0.0, 1.0)


def edit_background(img: Image.Image, rng: random.Random, strength: int) -> Image.Image:
    """The subject kept (a soft cut-out of the salient or central region) on a new tinted gradient."""
    w, h = img.size
    if rng.random() < 0.6:
        mask, _ = _salience_mask(img)
    else:
        mask = _ellipse(img.size, rng.uniform(0.3, 0.42), rng.uniform(0.34, 0.46),
                        rng.uniform(0.45, 0.55), rng.uniform(0.45, 0.55))
    first = np.array([rng.randint(40, 255) for _ in range(3)], dtype=np.float64)
    second = np.array([rng.randint(40, 255) for _ in range(3)], dtype=np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    if strength == 1:      # a soft vertical gradient
        t = (yy / h)[..., None]
    elif strength == 2:    # diagonal, stronger colours
        t = ((xx / w + yy / h) / 2)[..., None]
        first, second = first * 0.8, np.clip(second * 1.2, 0, 255)
    else:                  # radial with a glow
        t = np.clip(np.hypot(xx / w - 0.5, yy / h - 0.5) / 0.7, 0, 1)[..., None]
    scene = (1 - t) * first + t * second
    if strength == 3:
        for _ in range(12):   # bokeh dots
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.06) * w
            scene += (np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * r * r)) * rng.uniform(20, 60))[..., None]
    out = _to_array(img) * mask[..., None] + scene * (1 - mask[..., None])
    return _to_image(out)


def _sized_for_output(img: Image.Image, rng: random.Random) -> Image.Image:
    """Image-model sizes: often a 1024 px square centre crop, otherwise the photo's aspect at 768-1024 px."""
    w, h = img.size
    if rng.random() < 0.6:
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        return img.resize((OUTPUT_SQUARE, OUTPUT_SQUARE), Image.Resampling.BICUBIC, box=box)
    long_side = rng.choice(OUTPUT_LONG_SIDES)
    scale = long_side / max(w, h)
    return img.resize((max(64, round(w * scale)), max(64, round(h * scale))), Image.Resampling.BICUBIC)


def make_rendition(photo: Image.Image | PhotoSource, kinds: Sequence[str], strength: int,
                   rng: random.Random) -> Image.Image:
    """A rendition of ``photo``: ``kinds[0]`` is the base (``BASES``), the rest are edits (``EDITS``).

    The base and the geometric edits work at ``WORK_LONG_SIDE``; the picture is then sized as an
    image model outputs it; ``noise`` and ``jpeg60`` apply last, at output size.
    """
    image = load_photo(photo.path) if isinstance(photo, PhotoSource) else photo.convert("RGB")
    base, edits = kinds[0], list(kinds[1:])
    if base not in BASES or any(e not in EDITS for e in edits):
        raise ValueError(f"unknown rendition kind {'+'.join(kinds)!r}")
    nrng = np.random.default_rng(rng.getrandbits(64))
    scale = WORK_LONG_SIDE / max(image.size)
    work = image.resize((round(image.width * scale), round(image.height * scale)),
                        Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    if base == "photo":
        out = render_photo(work, rng, strength)
    elif base == "painted":
        out = render_painted(work, rng, strength, nrng)
    elif base == "cartoon":
        out = render_cartoon(work, rng, strength)
    elif base == "sepia":
        out = render_sepia(work, rng, strength, nrng)
    else:
        out = render_hue(work, rng, strength)
    for edit in edits:
        if edit == "reframe":
            out = edit_reframe(out, rng, strength)
        elif edit == "rotate":
            out = edit_rotate(out, rng, strength)
        elif edit == "mirror":
            out = edit_mirror(out, rng, strength)
        elif edit == "background":
            out = edit_background(out, rng, strength)
    out = _sized_for_output(out, rng)
    for edit in edits:
        if edit == "noise":
            out = edit_noise(out, rng, strength, nrng)
        elif edit == "jpeg60":
            out = edit_jpeg60(out, rng, strength)
    return out


# --------------------------------------------------------------------------------------------
# The corpus: books of drawings of photographs, their renditions and a few distractors
# --------------------------------------------------------------------------------------------

PHOTO_FULL = pe.CorpusSize(books=10, drawings_per_book=10, variations_per_drawing=10)
PHOTO_QUICK = pe.CorpusSize(books=1, drawings_per_book=3, variations_per_drawing=4)
DISTRACTOR_SHARE = (0.05, 0.10)    # of a book's variations: renditions of a photo not drawn in the book
DISTRACTOR = "distractor"          # the drawing kind reported for a distractor (its truth is None)

# Targets for the photo corpus (random names unless said otherwise).
TARGET_PHOTO_OVERALL = 0.97
TARGET_PHOTO_PER_KIND = 0.90
TARGET_PHOTO_UNFLAGGED_CORRECT = 0.995
TARGET_PHOTO_FLAG_RATE = 0.10
TARGET_PHOTO_ERRORS_FLAGGED = 0.95
TARGET_PHOTO_NAMED = 1.0
PHOTO_FLAG_TARGETS = pe.FlagTargets(TARGET_PHOTO_UNFLAGGED_CORRECT, TARGET_PHOTO_ERRORS_FLAGGED, TARGET_PHOTO_FLAG_RATE)


@dataclass
class PhotoVariation(pe.CorpusVariation):
    photo: str = ""                # the source photograph it renders


@dataclass
class PhotoBook(pe.CorpusBook):
    photos: list[str] | None = None              # source photograph of each drawing
    drawing_formats: list[str] | None = None     # "JPEG" (a phone photo of the paper) or "PNG"

    def drawing_bytes(self) -> list[bytes]:
        return [pe.encode(d, fmt) for d, fmt in zip(self.drawings, self.drawing_formats or ["PNG"] * len(self.drawings))]


def build_photo_book(number: int, size: pe.CorpusSize, seed: int, sources: Sequence[PhotoSource],
                     split: str = "eval") -> PhotoBook:
    """One book: drawings of distinct photographs, renditions of each, and a few distractors."""
    rng = random.Random(f"photo-book-{seed}-{split}-{number}")
    count = min(size.drawings_per_book, len(sources) - 1 if len(sources) > 1 else 1)
    chosen = rng.sample(list(sources), count)
    others = [s for s in sources if s not in chosen]
    styles = [STYLE_CYCLE[(number * 3 + i + seed) % len(STYLE_CYCLE)] for i in range(count)]
    drawings = [child_drawing(src, random.Random(f"photo-drawing-{seed}-{split}-{number}-{i}"), style=style)
                for i, (src, style) in enumerate(zip(chosen, styles))]
    formats = [rng.choices(["JPEG", "PNG"], weights=[7, 3])[0] for _ in chosen]
    variations: list[PhotoVariation] = []
    for d, src in enumerate(chosen):
        start = rng.randrange(len(RENDITION_KINDS))
        for v in range(size.variations_per_drawing):
            kinds = RENDITION_KINDS[(start + v) % len(RENDITION_KINDS)]
            strength = 1 + (v + d + number) % 3
            fmt = rng.choices(["PNG", "JPEG", "WEBP"], weights=[6, 3, 1])[0]
            image = make_rendition(src, kinds, strength, random.Random(f"photo-var-{seed}-{split}-{number}-{d}-{v}"))
            variations.append(PhotoVariation(0, d, kinds, strength, fmt, image, photo=src.name))
    if others:
        total = len(variations)
        extra = max(1, round(total * rng.uniform(*DISTRACTOR_SHARE)))
        for x in range(extra):
            src = rng.choice(others)
            kinds = rng.choice(RENDITION_KINDS)
            strength = rng.randint(1, 3)
            fmt = rng.choices(["PNG", "JPEG", "WEBP"], weights=[6, 3, 1])[0]
            image = make_rendition(src, kinds, strength, random.Random(f"photo-distractor-{seed}-{split}-{number}-{x}"))
            variations.insert(rng.randint(0, len(variations)),
                              PhotoVariation(0, None, kinds, strength, fmt, image, photo=src.name))
    for index, variation in enumerate(variations):
        variation.index = index
    return PhotoBook(number, styles, drawings, variations, photos=[s.name for s in chosen], drawing_formats=formats)


def _sources_for(split: str, sources: Sequence[PhotoSource] | None, minimum: int) -> list[PhotoSource]:
    if sources is not None:
        return sorted(sources, key=lambda s: s.name)
    return photo_sources(split, minimum=minimum)


def iter_photo_corpus(size: pe.CorpusSize = PHOTO_FULL, seed: int = 1, split: str = "eval", *,
                      sources: Sequence[PhotoSource] | None = None, minimum: int = 1) -> Iterator[PhotoBook]:
    """The photo corpus one book at a time (a full book's renditions take ~300 MB of pixels)."""
    chosen = _sources_for(split, sources, minimum)
    for number in range(size.books):
        yield build_photo_book(number, size, seed, chosen, split)


def build_photo_corpus(size: pe.CorpusSize = PHOTO_FULL, seed: int = 1, split: str = "eval", *,
                       sources: Sequence[PhotoSource] | None = None, minimum: int = 1) -> list[PhotoBook]:
    """Every book of the photo corpus (``CorpusBook``s whose distractors have ``drawing=None``).

    Books draw their photographs from ``split`` (``fit``, ``eval`` or ``all``), or from ``sources``.
    Same arguments, same pixels.
    """
    return list(iter_photo_corpus(size, seed, split, sources=sources, minimum=minimum))


# --------------------------------------------------------------------------------------------
# Evaluation and report
# --------------------------------------------------------------------------------------------


@dataclass
class PhotoOutcome(pe.Outcome):
    photo: str = ""    # the photograph the variation renders

    @property
    def base(self) -> str:
        return self.kind.split("+")[0]

    @property
    def edits(self) -> list[str]:
        return self.kind.split("+")[1:]


@dataclass
class PhotoEvalReport:
    size: pe.CorpusSize
    seed: int
    split: str
    sources: list[dict]
    outcomes: list[PhotoOutcome]
    timings: dict[str, float]

    def to_dict(self) -> dict:
        return {"corpus": "photos", "size": asdict(self.size), "seed": self.seed, "split": self.split,
                "sources": self.sources, "timings": self.timings, "outcomes": [asdict(o) for o in self.outcomes]}


@dataclass
class _Label:
    """What a variation is, without its pixels (crosses process boundaries cheaply)."""

    kind: str
    strength: int
    photo: str


@dataclass
class PreparedRegime:
    """One photo book under one naming regime, analysed: what pairing reads, and the truth."""

    book_id: str
    drawings: list  # list[Candidate], features from imaging.analyse_image on the encoded bytes
    generated: list
    truth: dict[str, str | None]
    labels: dict[str, _Label]
    drawing_kinds: dict[str, str]


@dataclass
class PreparedBook:
    """One photo book built in a worker: its regimes analysed, its counts and where its time went."""

    number: int
    drawings: int
    variations: int
    distractors: int
    regimes: dict[str, PreparedRegime]
    seconds: dict[str, float]
    analysed: int


def _prepare_book(number: int, size: pe.CorpusSize, seed: int, split: str,
                  sources: Sequence[PhotoSource], regimes: Sequence[str] = pe.REGIMES) -> PreparedBook:
    """Build one book, name it under each of ``regimes``, encode it and analyse every distinct file."""
    t0 = time.perf_counter()
    book = build_photo_book(number, size, seed, sources, split)
    t1 = time.perf_counter()
    drawing_bytes = book.drawing_bytes()
    cache = pe.FeatureCache()
    named_books, encode_s = {}, time.perf_counter() - t1
    for regime in regimes:
        t2 = time.perf_counter()
        named = pe.name_book(book, regime, seed, drawing_bytes)
        encode_s += time.perf_counter() - t2
        labels = {key: _Label(v.kind, v.strength, getattr(v, "photo", "")) for key, v in named.labels.items()}
        named_books[regime] = PreparedRegime(named.book_id, pe._candidates(named.drawings, cache),
                                             pe._candidates(named.generated, cache), dict(named.truth), labels,
                                             dict(named.drawing_kinds))
    seconds = {"generate": t1 - t0, "encode": encode_s, "features": cache.seconds}
    return PreparedBook(number, len(book.drawings), len(book.variations),
                        sum(v.drawing is None for v in book.variations), named_books, seconds, cache.analysed)


def prepared_books(size: pe.CorpusSize, seed: int, split: str, sources: Sequence[PhotoSource],
                   workers: int, regimes: Sequence[str] = pe.REGIMES) -> Iterator[PreparedBook]:
    """The photo corpus book by book, each named under ``regimes`` and analysed, built in ``workers``
    processes (the books in order, the same features whatever ``workers`` is)."""
    if workers <= 1 or size.books <= 1 or not _can_spawn():
        for number in range(size.books):
            yield _prepare_book(number, size, seed, split, sources, regimes)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked copy of a process with threads may deadlock. Books are seeded
    # one by one, so the pool changes nothing in the corpus.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_prepare_book, range(size.books), [size] * size.books, [seed] * size.books,
                            [split] * size.books, [list(sources)] * size.books, [tuple(regimes)] * size.books)


def _can_spawn() -> bool:
    """Spawned workers re-run the main script: not possible when it came from standard input."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or Path(main_file).is_file()


def default_workers() -> int:
    import os

    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def evaluate_photos(size: pe.CorpusSize = PHOTO_FULL, seed: int = 1, split: str = "eval", *,
                    sources: Sequence[PhotoSource] | None = None, minimum: int = MIN_PHOTOS_FULL,
                    workers: int | None = None, progress: Callable[[str], None] | None = None) -> PhotoEvalReport:
    """Build the photo corpus book by book, pair each book under every naming regime, score it.

    Books are built, encoded and analysed in ``workers`` processes (default: up to 2, the cores
    here); pairing and scoring stay in this one. The outcomes do not depend on ``workers``.
    """
    say = progress or (lambda message: None)
    started = time.perf_counter()
    chosen = _sources_for(split, sources, minimum)
    workers = default_workers() if workers is None else workers
    workers = 1 if size.books <= 1 else workers
    say(f"photo corpus: {len(chosen)} source photographs in split {split!r}: {', '.join(s.name for s in chosen)}"
        f" ({workers} worker{'s' if workers != 1 else ''})")
    outcomes: list[PhotoOutcome] = []
    seconds: dict[str, float] = defaultdict(float)
    pairing_ms: list[float] = []
    variations = analysed = 0
    for book in prepared_books(size, seed, split, chosen, workers):
        for key, value in book.seconds.items():
            seconds[key] += value
        variations += book.variations
        analysed += book.analysed
        for regime, named in book.regimes.items():
            t0 = time.perf_counter()
            result = pair_images(named.drawings, named.generated)
            pairing_ms.append((time.perf_counter() - t0) * 1000.0)
            for pair in result.pairs:
                label = named.labels[pair.generated]
                truth = named.truth[pair.generated]
                outcomes.append(PhotoOutcome(
                    regime, named.book_id, pair.generated, label.kind, label.strength,
                    named.drawing_kinds[truth] if truth is not None else DISTRACTOR, pe.pairing_correct(pair, truth),
                    float(pair.confidence), bool(pair.needs_review), ",".join(pair.signals), photo=label.photo))
        say(f"photo book {book.number + 1}/{size.books}: {book.drawings} drawings, {book.variations} variations "
            f"({book.distractors} distractors), paired under {len(pe.REGIMES)} regimes "
            f"({time.perf_counter() - started:.0f} s so far)")
    timings = {
        "total_s": round(time.perf_counter() - started, 1),
        "workers": workers,
        "generate_s": round(seconds["generate"], 1),
        "generate_ms_per_variation": round(1000.0 * seconds["generate"] / max(1, variations), 1),
        "encode_s": round(seconds["encode"], 1),
        "images_analysed": analysed,
        "features_s": round(seconds["features"], 1),
        "features_ms_per_image": round(1000.0 * seconds["features"] / max(1, analysed), 1),
        "pairing_ms_per_book_median": round(statistics.median(pairing_ms), 1) if pairing_ms else 0.0,
        "pairing_ms_per_book_max": round(max(pairing_ms), 1) if pairing_ms else 0.0,
    }
    described = [{"name": s.name, "origin": s.origin, "split": s.split,
                  "size": list(load_photo(s.path).size)} for s in chosen]
    return PhotoEvalReport(size, seed, split, described, outcomes, timings)


def format_photo_report(report: PhotoEvalReport) -> str:
    distractors, outcomes, none = pe.split_outcomes(report.outcomes)
    size = report.size
    lines = [
        f"Photo pairing evaluation: split {report.split!r} ({len(report.sources)} photographs: "
        f"{', '.join(s['name'] for s in report.sources)}), {size.books} books x up to {size.drawings_per_book} "
        f"drawings x {size.variations_per_drawing} renditions + distractors, seed {report.seed}, "
        f"{len(pe.REGIMES)} naming regimes ({len(outcomes)} pairings, {len(distractors)} distractor pairings)",
        "",
        "== Photo corpus: accuracy per kind (naming regime: none) ==",
        *pe._table("kind", pe._accuracy_rows(none, lambda o: o.kind), TARGET_PHOTO_PER_KIND),
        "",
        "== Photo corpus: accuracy per base (regime: none) ==",
        *pe._table("base", pe._accuracy_rows(none, lambda o: o.base), TARGET_PHOTO_PER_KIND),
        "",
        "== Photo corpus: accuracy per edit, any combination containing it (regime: none) ==",
        *pe._table("edit", [row for e in EDITS for row in pe._accuracy_rows(
            [o for o in none if e in o.edits], lambda o, e=e: e)], TARGET_PHOTO_PER_KIND),
        "",
        "== Photo corpus: accuracy per strength (regime: none) ==",
        *pe._table("strength", pe._accuracy_rows(none, lambda o: f"strength {o.strength}")),
        "",
        "== Photo corpus: accuracy per drawing style (regime: none) ==",
        *pe._table("drawing style", pe._accuracy_rows(none, lambda o: o.drawing_kind)),
        "",
        "== Photo corpus: accuracy per source photograph (regime: none) ==",
        *pe._table("photograph", pe._accuracy_rows(none, lambda o: o.photo)),
        "",
        "== Photo corpus: accuracy per naming regime ==",
        *pe._table("regime", pe._accuracy_rows(outcomes, lambda o: o.regime)),
        "",
        "== Photo corpus: distractors (renditions of a photograph not drawn in the book; truth none) ==",
        *(pe.distractor_lines(distractors) or ["no distractors (the split has no photograph left over for them)"]),
        "",
        "== Photo corpus: confidence calibration (regime: none, distractors excluded; bins of the reported "
        "confidence) ==",
        *pe.confidence_lines(none),
        "",
        "== Photo corpus: review flag (distractors excluded) ==",
        *pe.flag_lines("regime none", none, PHOTO_FLAG_TARGETS),
        *pe.flag_lines("all regimes", outcomes, PHOTO_FLAG_TARGETS),
        "",
        "== Photo corpus: timings ==",
    ]
    t = report.timings
    lines += [
        f"renditions and drawings generated in {t['generate_s']} s of CPU ({t['generate_ms_per_variation']} ms per "
        f"variation, drawings included); encoded in {t['encode_s']} s; {t['workers']} worker process(es)",
        f"{t['images_analysed']} distinct files analysed by imaging.analyse_image in {t['features_s']} s of CPU "
        f"({t['features_ms_per_image']} ms each)",
        f"pairing one book: median {t['pairing_ms_per_book_median']} ms, max {t['pairing_ms_per_book_max']} ms",
        f"total {t['total_s']} s (wall clock)",
        "",
        "== Photo corpus: targets ==",
    ]
    lines += pe.target_lines(none, outcomes, overall=TARGET_PHOTO_OVERALL, per_kind=TARGET_PHOTO_PER_KIND,
                             kind_label="kind")
    return "\n".join(lines)


def run_photos(args, out=None) -> PhotoEvalReport:
    """``eval-pairing --corpus photos``: the photo corpus report (raises ``PhotoSourcesMissing``)."""
    out = out or sys.stdout
    quick = bool(getattr(args, "quick", False))
    report = evaluate_photos(PHOTO_QUICK if quick else PHOTO_FULL, getattr(args, "seed", 1),
                             getattr(args, "split", "eval") or "eval", minimum=1 if quick else MIN_PHOTOS_FULL,
                             progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(format_photo_report(report), file=out)
    return report
