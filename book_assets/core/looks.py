"""How alike two images look: the similarity channels that pairing weighs.

Each channel compares P probe images (variations) with S sources (drawings, or variations already
placed) and gives a P x S matrix in 0..1. No single channel survives everything an image model
does to a drawing, so pairing combines them with weights fitted on labelled corpora
(``look_model``):

- ``shape``: same edges in the same places (colour-blind orientation histograms), best over
  crops, tilts and the mirror image of either side;
- ``contain``: the source's inked cells are present in the probe (a new or busy background costs
  little); ``contained_in``: the probe's edges are present in the source (a subject cut out and
  set on a plain background);
- ``hash``: perceptual and difference hashes (recolouring, noise), mirror included;
- ``colour``: colour histograms (Hellinger);
- ``layout`` / ``layout_colour`` / ``layout_chroma``: the big shapes of light and dark, of colour, and
  of colourfulness whatever the hue (a hue-shifted rendition keeps it), sampled from
  the source through windows (reframes to 60 %, tilts to 15 degrees, mirror) and correlated with
  the probe's whole frame. A flat-colour drawing and a photo-like rendition of what it shows share
  little fine structure but the same big shapes. ``layout_detail`` weighs that correlation by where
  the probe has detail, so a subject set on a new plain or gradient background is judged on itself.
  ``layout_edges``: where the big shapes meet (edge strength over light and colour, on a finer grid),
  through the same windows. An outline-only drawing has next to no big shapes of its own, but its lines
  lie where the photo-like rendition's regions meet. These five are read at one window per pair, the
  one where light, colour and edges agree best together: a true pair agrees at the window that shows
  what the variation shows, where a wrong drawing's best window for light is rarely its best for colour;
- ``centre`` / ``centre_colour`` / ``centre_chroma`` / ``centre_edges``: the same correlations over the
  centre disc of the frame only (about half of it), each at its best window: a subject kept and set on a
  new background, or a reframe that cut the edges away, is judged where the subject is.
"""
from __future__ import annotations

import copy
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy import sparse

from .imaging import (
    STRUCTURE_BINS,
    STRUCTURE_GRID,
    STRUCTURE_LENGTH,
    STRUCTURE_WINDOWS,
    ImageFeatures,
    inscribed_scale,
    mirrored_structure,
)

LOOK_CHANNELS = ("shape", "contain", "contained_in", "hash", "colour", "layout", "layout_colour", "layout_detail",
                 "layout_chroma", "layout_edges", "centre", "centre_colour", "centre_chroma", "centre_edges")
SHAPE_CHANNELS = ("shape", "contain", "contained_in")
FALLBACK_CHANNELS = ("hash", "colour")   # images described before shape and layout features existed

HASH_UNRELATED_BITS = 24.0
LAYOUT_GRID = 12                          # samples per side of a layout window
EDGE_GRID = 20                            # samples per side of an edge-map window (lines are thin beside shapes)
# Layout windows on the source: (scale, positions per side) and the tilts tried at full and 0.85 scale.
LAYOUT_SCALES = ((1.0, 1), (0.85, 3), (0.72, 4), (0.6, 5))
LAYOUT_TILTS = (-14.0, -7.0, 7.0, 14.0)
# Between the variations of one book (the sibling pass: every variation against every other) only
# whole frames and their mirrors are compared, so a book of 1,000 variations stays a matter of a second.
SIBLING_LAYOUT_SCALES = ((1.0, 1),)
CENTRE_RADIUS = 0.4                       # the centre disc, in frame widths and heights: about half the frame
DETAIL_FLOOR = 0.5                        # L* units per sample: smooth areas still count a little
FLAT_SPREAD = 1e-3                        # L* (or edge) units per sample: a window varying less is blank
ASPECT_BUCKET = 0.05                      # probes whose log aspect ratios differ less share windows
SHAPE_PROBE_BLOCK = 128                   # probes whose crops are matched at once in the anchor pass (bounds memory)
LAYOUT_PROBE_BLOCK = 128                  # probes scored against the sources' windows at once (bounds memory)
LAYOUT_SOURCE_WINDOWS = 2048              # source windows sampled at once (~35 drawings': bounds memory)


@dataclass(frozen=True)
class Window:
    """A region of a source image seen as a probe's whole frame: centre and size as fractions of the
    source, a tilt in degrees, and whether it is mirrored."""

    cx: float
    cy: float
    width: float
    height: float
    tilt: float = 0.0
    mirrored: bool = False


class CellScale(Enum):
    """How a shape descriptor's cells are scaled before two are compared (``PreparedLooks.descriptors``)."""
    RAW = "raw"                      # as described: strong edges count most
    EACH_CELL = "each cell"          # every cell normalised on its own (a cell matches whatever its contrast)
    BY_EDGES = "by edges"            # cells weighted by their share of the image's edges (judged where the ink is)


class PreparedLooks:
    """The look features of some images stacked into arrays, for matrix products (a feature that is
    missing, or not an array of the expected shape, counts as absent)."""

    def __init__(self, features: Sequence[ImageFeatures], *, whole_frames_only: bool = False):
        """``whole_frames_only``: keep each image's whole-frame descriptors and not its crops and tilts,
        all the sibling pass compares (``look_channels(..., sibling=True)``), for 1/37 of the work."""
        n = len(features)
        windows = 1 if whole_frames_only else len(STRUCTURE_WINDOWS)
        self.size = n
        self.whole_frames_only = whole_frames_only
        self.shape_ok = np.zeros(n, dtype=bool)
        self.unit = np.zeros((n, windows, STRUCTURE_LENGTH), dtype=np.float32)
        for index, feature in enumerate(features):
            if _has_structure(feature):
                self.unit[index], self.shape_ok[index] = feature.structure[:windows], True
        cells = self.unit.reshape(n, windows, STRUCTURE_GRID * STRUCTURE_GRID, STRUCTURE_BINS)
        norms = np.sqrt(np.einsum("...i,...i->...", cells, cells))[..., None]
        # each cell's scale for ``descriptors`` (a 36th of the descriptors' size, which it spares twice)
        self.cell_inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 1e-6)
        self.cell_square = norms * norms
        self.phash, ph_ok = _hashes(f.phash for f in features)
        self.phash_mirror, phm_ok = _hashes(f.phash_mirror for f in features)
        self.dhash, self.dhash_ok = _hashes(f.dhash for f in features)
        self.hash_ok, self.hash_mirror_ok = ph_ok, phm_ok
        self.histograms, self.colour_ok = _histogram_rows(features)
        # float32, as they are sampled (``sampled_points``): the features' uint8 Lab in half the memory of float64
        self.layouts = [layout_thumbnail(f) for f in features]
        self.layout_ok = np.array([t is not None for t in self.layouts], dtype=bool)
        self.edges = edge_maps(self.layouts)
        self.aspect = np.array([f.width / f.height if f.width > 0 and f.height > 0 else 1.0 for f in features])
        self._frame_rows: FrameRows | None = None

    def frame_rows(self) -> "FrameRows":
        """The correlation rows of every image's whole frame and mirror image (``FrameRows``), worked out
        on first use: a book's variations are the probes of the drawing, sibling and anchor passes, and
        sampling and correlating 1,000 frames each time was ~0.2 s of a pairing."""
        if self._frame_rows is None:
            self._frame_rows = FrameRows.of(self)
        return self._frame_rows

    def subset(self, rows: Sequence[int]) -> "PreparedLooks":
        """These looks for ``rows`` only (in that order), sliced instead of prepared again: the anchor
        pass compares a few hundred of a book's variations with a few hundred others."""
        index = np.asarray(rows, dtype=np.int64)
        if _every(index, self.size):
            return self
        part = object.__new__(PreparedLooks)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == self.size:
                value = value[index]
            elif isinstance(value, list):
                value = [value[i] for i in index]
            elif isinstance(value, FrameRows):
                value = value.take(index)
            setattr(part, name, value)
        part.size = index.size
        return part

    def with_layouts(self, replaced: dict[int, np.ndarray]) -> "PreparedLooks":
        """These looks with the layout thumbnails of some images (``replaced``: row -> thumbnail, each
        image one that has a layout) replaced, their edge maps and frame rows made again and the rest
        shared: the anchor pass's probes, some zoomed in on their subjects (``subject``)."""
        if not replaced:
            return self
        index = np.array(sorted(replaced))
        looks = copy.copy(self)
        looks.layouts, looks.edges = list(self.layouts), list(self.edges)
        for row in index:
            looks.layouts[row] = replaced[row].astype(np.float32)
        for row, edges in zip(index, edge_maps([looks.layouts[row] for row in index])):
            looks.edges[row] = edges
        if self._frame_rows is not None:
            looks._frame_rows = self._frame_rows.replaced(index, FrameRows.of(looks, index))
        return looks

    def descriptors(self, scale: CellScale, windows: slice = slice(None), rows: np.ndarray | None = None) -> np.ndarray:
        """The shape descriptors of images ``rows`` (all: None) through ``windows``, scaled cell by cell as
        ``scale`` says. Scaled when asked, a block of images at a time, not kept: each scaled form of a
        book's 1,000 variations is 40 MB, and memory a pairing touches for the first time costs more
        than the scaling (each Dagster step is a fresh process)."""
        images = slice(None) if rows is None else _run(rows)
        unit = self.unit[images, windows]
        if scale is CellScale.RAW:
            return unit
        per_cell = (unit.reshape(*unit.shape[:2], STRUCTURE_GRID * STRUCTURE_GRID, STRUCTURE_BINS)
                    * self.cell_inverse[images, windows])
        if scale is CellScale.BY_EDGES:
            per_cell *= self.cell_square[images, windows]
        return per_cell.reshape(unit.shape)

    @property
    def full_ok(self) -> np.ndarray:
        """Images with every feature the full look model needs."""
        return self.shape_ok & self.layout_ok & self.hash_ok & self.colour_ok


WHOLE_FRAME = (Window(0.5, 0.5, 1.0, 1.0), Window(0.5, 0.5, 1.0, 1.0, mirrored=True))


@dataclass(frozen=True)
class FrameRows:
    """Images' whole frames and mirror images as correlation rows (``_correlation_rows``: name -> images
    x 2 x length, the frame then its mirror image) and their detail weights (images x 2 x points); zero
    for an image without a layout."""

    rows: dict[str, np.ndarray]
    detail: np.ndarray

    @classmethod
    def of(cls, looks: PreparedLooks, index: np.ndarray | None = None) -> "FrameRows":
        """The rows of every image of ``looks``, or of the images ``index`` only (in that order)."""
        images = np.arange(looks.size) if index is None else np.asarray(index)
        present = np.flatnonzero(looks.layout_ok[images])           # positions among ``images``
        planes = sample_many(looks, images[present], lambda aspect: WHOLE_FRAME)
        correlations = _correlation_rows(
            planes, sample_many(looks, images[present], lambda aspect: WHOLE_FRAME, edges=True))
        by_image = {name: cls._by_image(rows, present, images.size) for name, rows in correlations.items()}
        return cls(by_image, cls._by_image(_detail_weights(planes[0]), present, images.size))

    @staticmethod
    def _by_image(rows: np.ndarray, present: np.ndarray, size: int) -> np.ndarray:
        """Rows 2i, 2i + 1 of the ``present`` images -> size x 2 x length, zeros for the others."""
        out = np.zeros((size, 2, rows.shape[-1]), dtype=rows.dtype)
        out[present] = rows.reshape(present.size, 2, -1)
        return out

    def take(self, index: np.ndarray) -> "FrameRows":
        """These rows for the images ``index`` only."""
        return FrameRows({name: rows[index] for name, rows in self.rows.items()}, self.detail[index])

    def replaced(self, index: np.ndarray, new: "FrameRows") -> "FrameRows":
        """These rows with those of the images ``index`` replaced by ``new``'s (in ``index`` order)."""
        rows = {name: values.copy() for name, values in self.rows.items()}
        for name, values in rows.items():
            values[index] = new.rows[name]
        detail = self.detail.copy()
        detail[index] = new.detail
        return FrameRows(rows, detail)

    def of_images(self, index: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The rows of images ``index`` as 2 x len(index) rows each (the frame of image i at 2i, its
        mirror image at 2i + 1), and their detail weights likewise."""
        return ({name: rows[index].reshape(2 * index.size, -1) for name, rows in self.rows.items()},
                self.detail[index].reshape(2 * index.size, -1))


def _has_structure(feature: ImageFeatures) -> bool:
    descriptors = feature.structure
    return isinstance(descriptors, np.ndarray) and descriptors.shape == (len(STRUCTURE_WINDOWS), STRUCTURE_LENGTH)


def _has_layout(feature: ImageFeatures) -> bool:
    return isinstance(feature.layout, np.ndarray)


def layout_thumbnail(feature: ImageFeatures) -> np.ndarray | None:
    """The image's layout thumbnail (H x W x L*a*b*, float32) as the looks compare it; None without one."""
    return feature.layout.astype(np.float32) if _has_layout(feature) else None


def full_looks_ok(features: Sequence[ImageFeatures]) -> np.ndarray:
    """``PreparedLooks(features).full_ok`` without preparing anything: a rebuild whose pairs are all
    known asks only this of its 1,000 variations (preparing them is ~100 MB and half a second)."""
    shape_ok = np.array([_has_structure(f) for f in features], dtype=bool)
    layout_ok = np.array([_has_layout(f) for f in features], dtype=bool)
    return shape_ok & layout_ok & _hashes(f.phash for f in features)[1] & _histogram_rows(features)[1]


Block = tuple[np.ndarray, np.ndarray]     # (probe rows, source columns): every pair between them


def look_channels(probes: PreparedLooks, sources: PreparedLooks, *, sibling: bool = False,
                  blocks: Sequence[Block] | None = None) -> np.ndarray:
    """P x S x len(LOOK_CHANNELS) similarities (0..1; 0 where a feature is missing); ``sibling``: whole
    frames and mirrors only (variation against variation). Each channel is written straight into the
    one array: a book's sibling pass (1,000 x 1,000 pairs) holds it once, not once more per channel,
    and in float32 (56 MB, not 112: a similarity needs no more digits, and fresh memory is slow).

    ``blocks``: only the pairs inside them are compared (the rest of the array is left 0), each image's
    own work (a source's ~60 windows) still done once: the anchor pass compares each unsure variation
    with the anchors of its likeliest drawings only, a tenth of all pairs in a 100-drawing book."""
    blocks = [(np.arange(probes.size), np.arange(sources.size))] if blocks is None else blocks
    # channel by channel in memory (each written whole and fast), seen as P x S x channels
    by_channel = np.zeros((len(LOOK_CHANNELS), probes.size, sources.size), dtype=np.float32)
    column = dict(zip(LOOK_CHANNELS, by_channel))
    hashes, colours = _hash_likeness(probes, sources), _colour_similarity(probes, sources)   # cheap: all pairs
    _shape_likeness(probes, sources, blocks, {name: column[name] for name in SHAPE_CHANNELS},
                    whole_frames_only=sibling)
    for rows, cols in blocks:
        cells = _pairs_of(rows, cols)
        column["hash"][cells], column["colour"][cells] = hashes[cells], colours[cells]
    _layout_likeness(probes, sources, SIBLING_LAYOUT_SCALES if sibling else LAYOUT_SCALES,
                     () if sibling else LAYOUT_TILTS, {name: column[name] for name in LAYOUT_CHANNELS}, blocks)
    return np.moveaxis(by_channel, 0, -1)


def pair_blocks(wanted: np.ndarray) -> list[Block]:
    """The True cells of a P x S mask as blocks: the columns that want the same rows share one (all of
    a dense mask is one block; one new row and column of a known matrix, two)."""
    columns = np.flatnonzero(wanted.any(axis=0))
    if columns.size == 0:
        return []
    patterns, which = np.unique(np.packbits(wanted[:, columns], axis=0).T, axis=0, return_inverse=True)
    which = which.ravel()
    blocks = []
    for pattern in range(len(patterns)):
        cols = columns[which == pattern]
        blocks.append((np.flatnonzero(wanted[:, cols[0]]), cols))
    return blocks


def _run(index: np.ndarray) -> slice | np.ndarray:
    """A run of consecutive indices as a slice (assignments through slices are several times faster)."""
    if index.size and index[-1] - index[0] == index.size - 1 and bool(np.all(np.diff(index) == 1)):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _every(index: np.ndarray, size: int) -> bool:
    """Whether ``index`` is 0..size-1 in order (then arrays are used as they are, not copied)."""
    run = _run(index)
    return isinstance(run, slice) and run == slice(0, size)


def _pairs_of(rows: np.ndarray, cols: np.ndarray) -> tuple:
    """The index of every (row, column) pair of a P x S array, as slices where the indices run on."""
    rows, cols = _run(rows), _run(cols)
    if isinstance(rows, slice) or isinstance(cols, slice):
        return rows, cols
    return np.ix_(rows, cols)


def fallback_channels(channels: np.ndarray) -> np.ndarray:
    """The FALLBACK_CHANNELS columns of a ``look_channels`` result."""
    return channels[:, :, [LOOK_CHANNELS.index(name) for name in FALLBACK_CHANNELS]]


# --------------------------------------------------------------------------------------------
# Shape
# --------------------------------------------------------------------------------------------


def _mirrored(frames: np.ndarray) -> np.ndarray:
    """N x L descriptors of the mirror images: a reordering of each descriptor, so a mirror image's dot
    product with a window is the image's with the mirrored window."""
    return mirrored_structure(frames).astype(np.float32, copy=False)


SHORT_AXIS = 8     # a last axis this short is reduced slice by slice (``_max_last``)


def _max_last(values: np.ndarray) -> np.ndarray:
    """``values.max(axis=-1)``, the same maxima: numpy reduces a short last axis element by element
    (30 ms for the sibling pass's 1,000 x 1,000 frames and mirrors), so such an axis is taken as a
    few whole-array maxima instead (2 ms)."""
    if values.shape[-1] > SHORT_AXIS:
        return values.max(axis=-1)
    best = values[..., 0].copy()
    for index in range(1, values.shape[-1]):
        np.maximum(best, values[..., index], out=best)
    return best


def _with_mirrors(frames: np.ndarray) -> np.ndarray:
    """2N x L: the whole-frame descriptors, then their mirror images'."""
    return np.concatenate([frames, _mirrored(frames)])


def _zoomed_in(probe_frames: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A x B: best dot product of each probe's whole frame (or its mirror image) with any window of
    each target (``target``: B x W x L): the probe shows part of the target."""
    n_a, n_b, windows = probe_frames.shape[0], target.shape[0], target.shape[1]
    products = (_with_mirrors(probe_frames) @ target.reshape(-1, STRUCTURE_LENGTH).T).reshape(2, n_a, n_b, windows)
    return np.maximum(*_max_last(products))                            # best window, then frame or mirror


def _zoomed_out(probe: np.ndarray, target_frames: np.ndarray) -> np.ndarray:
    """A x B: best dot product of any crop of each probe (``probe``: A x W x L, window 0 its whole frame)
    with each target's whole frame or its mirror image: the target shown smaller (zoomed out). The
    whole frame goes into the product too (no copy of the crops) and is dropped from the maximum."""
    n_a, windows, n_b = probe.shape[0], probe.shape[1], target_frames.shape[0]
    products = (probe.reshape(-1, STRUCTURE_LENGTH) @ _with_mirrors(target_frames).T).reshape(n_a, windows, 2 * n_b)
    best_crops = products[:, 1:].max(axis=1)
    return np.maximum(best_crops[:, :n_b], best_crops[:, n_b:])


def _best_window_match(probe: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A x B: best dot product of the probe's whole frame with any target window (mirrors included),
    or of any probe window with the target's whole frame (the target shown smaller, i.e. zoomed out).
    Mirrors are taken on the whole frames (the probe's, and the target's), never window by window."""
    if probe.shape[0] == 0 or target.shape[0] == 0:
        return np.zeros((probe.shape[0], target.shape[0]))
    zoomed_in = _zoomed_in(probe[:, 0, :], target)
    if probe.shape[1] == 1:                                                  # whole frames only
        return zoomed_in.astype(np.float64)
    return np.maximum(zoomed_in, _zoomed_out(probe, target[:, 0, :])).astype(np.float64)


ProbeChunk = tuple[np.ndarray, np.ndarray]    # (probes, each one's targets: probes x width, padded)


def _probe_chunks(wanted: np.ndarray) -> list[ProbeChunk]:
    """The probes of a P x S ``wanted`` mask that want any target, SHAPE_PROBE_BLOCK at a time, probes
    wanting alike counts together (little padding); each probe's wanted targets first, in order, padded
    to the chunk's widest probe with unwanted ones (computed, never read)."""
    counts = wanted.sum(axis=1)
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    chunks = []
    for start in range(0, order.size, SHAPE_PROBE_BLOCK):
        chunk = order[start:start + SHAPE_PROBE_BLOCK]
        width = int(counts[chunk].max())
        chunks.append((chunk, np.argsort(~wanted[chunk], axis=1, kind="stable")[:, :width]))
    return chunks


def _zoomed_out_by_probe(crops_of: Callable[[np.ndarray], np.ndarray], n_probes: int, target_frames: np.ndarray,
                         chunks: Sequence[ProbeChunk]) -> np.ndarray:
    """P x S ``_zoomed_out`` at the pairs ``chunks`` hold (``_probe_chunks``; other cells: whatever padding
    gave, or 0), probe by probe: each probe's crops (``crops_of(probes)``: their window stacks) against
    the frames of the targets it is compared with, in one batched product per chunk. Grouped by target
    instead (as the blocks are), each block would copy its probes' whole window stacks, eight times over
    in the anchor pass; here each probe's stack is read once and only whole frames are gathered."""
    n_s = target_frames.shape[0]
    both = _with_mirrors(target_frames)                                      # 2S x L
    out = np.zeros((n_probes, n_s), dtype=np.float32)
    for chunk, partners in chunks:
        width = partners.shape[1]
        frames = both[np.concatenate([partners, partners + n_s], axis=1)]   # chunk x 2 width x L
        best_crops = np.matmul(crops_of(chunk), frames.transpose(0, 2, 1))[:, 1:].max(axis=1)
        out[chunk[:, None], partners] = np.maximum(best_crops[:, :width], best_crops[:, width:])
    return out


WHOLE_FRAME_WINDOW = slice(0, 1)   # of an image's shape descriptors (``STRUCTURE_WINDOWS``): its whole frame
# SHAPE_CHANNELS: how the probe's and the source's descriptors are scaled for each
SHAPE_SCALES = {"shape": (CellScale.RAW, CellScale.RAW), "contain": (CellScale.EACH_CELL, CellScale.BY_EDGES),
                "contained_in": (CellScale.BY_EDGES, CellScale.EACH_CELL)}


def _shape_likeness(probes: PreparedLooks, sources: PreparedLooks, blocks: Sequence[Block],
                    out: dict[str, np.ndarray], *, whole_frames_only: bool = False) -> None:
    """SHAPE_CHANNELS, each P x S, written into ``out``'s zeroed arrays for the pairs in ``blocks``: same
    edges; the source's ink in the probe; the probe's edges in the source (mirror and reframe proof).
    One block (a dense pass) is one product per kind. Many blocks (the anchor pass: each unsure
    variation against eight drawings' anchors) compare whole frames block by block and the probes'
    crops probe by probe (``_zoomed_out_by_probe``)."""
    if not whole_frames_only and (probes.whole_frames_only or sources.whole_frames_only):
        raise ValueError("looks prepared with whole frames only cannot be compared window by window")
    frames = WHOLE_FRAME_WINDOW if whole_frames_only else slice(None)
    by_probe = not whole_frames_only and len(blocks) > 1
    wanted = np.zeros((probes.size, sources.size), dtype=bool)
    for rows, cols in blocks:
        wanted[_pairs_of(rows, cols)] = True
    known = wanted & probes.shape_ok[:, None] & sources.shape_ok[None, :]
    chunks = _probe_chunks(wanted) if by_probe else []
    for name, scales in SHAPE_SCALES.items():
        _shape_channel(out[name], probes, sources, scales, blocks, frames, chunks if by_probe else None, wanted)
        out[name][~known] = 0.0


def _shape_channel(out: np.ndarray, probes: PreparedLooks, sources: PreparedLooks, scales: tuple[CellScale, CellScale],
                   blocks: Sequence[Block], frames: slice, chunks: Sequence[ProbeChunk] | None, wanted: np.ndarray) -> None:
    """One of SHAPE_CHANNELS into ``out``, the probes' and the sources' descriptors scaled as ``scales``
    says, SHAPE_PROBE_BLOCK probes' at a time (a book's 1,000 variations' crops, scaled, are 40 MB);
    ``chunks`` (``_probe_chunks``): the probes' crops are matched probe by probe."""
    probe_scale, source_scale = scales
    # the probes' whole frames, scaled once for all blocks (the anchor pass has one per drawing pattern)
    probe_frames = probes.descriptors(probe_scale, WHOLE_FRAME_WINDOW)[:, 0] if chunks is not None else None
    for rows, cols in blocks:
        source = sources.descriptors(source_scale, frames, cols)
        if probe_frames is not None:
            out[_pairs_of(rows, cols)] = _zoomed_in(probe_frames[rows], source)
            continue
        for start in range(0, rows.size, SHAPE_PROBE_BLOCK):
            part = rows[start:start + SHAPE_PROBE_BLOCK]
            out[_pairs_of(part, cols)] = _best_window_match(probes.descriptors(probe_scale, frames, part), source)
    if chunks is not None:
        target_frames = sources.descriptors(source_scale, WHOLE_FRAME_WINDOW)[:, 0]
        crops = _zoomed_out_by_probe(lambda chunk: probes.descriptors(probe_scale, rows=chunk), probes.size,
                                     target_frames, chunks)
        np.maximum(out, crops, out=out, where=wanted)


# --------------------------------------------------------------------------------------------
# Hashes and colour
# --------------------------------------------------------------------------------------------


def _hashes(values: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hex hashes as uint64 plus a validity mask (bad or missing hashes are simply not used)."""
    out, valid = [], []
    for value in values:
        try:
            number = int(value, 16) if value and len(value) <= 16 else None
        except (TypeError, ValueError):
            number = None
        out.append(number or 0)
        valid.append(number is not None)
    return np.array(out, dtype=np.uint64), np.array(valid, dtype=bool)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.float64)


def _hash_likeness(probes: PreparedLooks, sources: PreparedLooks) -> np.ndarray:
    """Perceptual-hash similarity, 0 bits -> 1.0, from ~24 differing bits on (unrelated: 20-34) -> 0."""
    direct_ph = _hamming(probes.phash, sources.phash)
    mirrored_ph = np.where(sources.hash_mirror_ok[None, :], _hamming(probes.phash, sources.phash_mirror), direct_ph)
    # dhash has no mirrored twin: it sharpens the direct comparison, the mirrored one uses phash only.
    has_dhash = probes.dhash_ok[:, None] & sources.dhash_ok[None, :]
    direct = np.where(has_dhash, 0.5 * (direct_ph + _hamming(probes.dhash, sources.dhash)), direct_ph)
    similarity = np.clip(1.0 - np.minimum(direct, mirrored_ph) / HASH_UNRELATED_BITS, 0.0, 1.0)
    return np.where(probes.hash_ok[:, None] & sources.hash_ok[None, :], similarity, 0.0)


def _histogram_rows(features: Sequence[ImageFeatures]) -> tuple[np.ndarray, np.ndarray]:
    """Square roots of the normalised colour histograms (rows), and which are usable."""
    lengths = Counter(len(f.colour_hist) for f in features if f.colour_hist)
    bins = lengths.most_common(1)[0][0] if lengths else 1
    rows = np.zeros((len(features), bins))
    ok = np.zeros(len(features), dtype=bool)
    for i, feature in enumerate(features):
        hist = np.asarray(feature.colour_hist, dtype=np.float64)
        total = hist.sum() if hist.shape == (bins,) else 0.0
        if total > 0 and np.all(hist >= 0):
            rows[i], ok[i] = np.sqrt(hist / total), True
    return rows, ok


def _colour_similarity(probes: PreparedLooks, sources: PreparedLooks) -> np.ndarray:
    """1 - Hellinger distance between colour histograms (a matrix product of square roots)."""
    if probes.histograms.shape[1] != sources.histograms.shape[1]:
        return np.zeros((probes.size, sources.size))
    bhattacharyya = np.clip(probes.histograms @ sources.histograms.T, 0.0, 1.0)
    similarity = 1.0 - np.sqrt(1.0 - bhattacharyya)
    return np.where(probes.colour_ok[:, None] & sources.colour_ok[None, :], similarity, 0.0)


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def layout_windows(source_aspect: float, probe_aspect: float, scales=LAYOUT_SCALES, tilts=LAYOUT_TILTS) -> tuple[Window, ...]:
    """The source regions a probe of ``probe_aspect`` may show (``upright_windows``), each also mirrored."""
    upright = upright_windows(source_aspect, probe_aspect, scales, tilts)
    return upright + tuple(Window(w.cx, w.cy, w.width, w.height, w.tilt, True) for w in upright)


@lru_cache(maxsize=1024)
def upright_windows(source_aspect: float, probe_aspect: float, scales=LAYOUT_SCALES, tilts=LAYOUT_TILTS
                    ) -> tuple[Window, ...]:
    """The source regions a probe of ``probe_aspect`` may show, none mirrored: the largest region of the
    probe's shape, then smaller ones across the source, tilted ones at the two largest scales. A mirrored
    window's samples are its upright twin's, columns reversed, so the layout channels compare the probe's
    mirror image with the upright windows instead: each source is sampled through half the windows."""
    if probe_aspect > source_aspect:
        width, height = 1.0, source_aspect / probe_aspect
    else:
        width, height = probe_aspect / source_aspect, 1.0
    windows = []
    for scale, steps in scales:
        w, h = width * scale, height * scale
        xs = [0.5] if steps == 1 else [w / 2 + (1 - w) * i / (steps - 1) for i in range(steps)]
        ys = [0.5] if steps == 1 else [h / 2 + (1 - h) * i / (steps - 1) for i in range(steps)]
        windows.extend(Window(x, y, w, h) for y in ys for x in xs)
        if scale >= 0.85:
            for tilt in tilts:
                shrink = inscribed_scale(probe_aspect, 1.0, tilt)
                windows.append(Window(0.5, 0.5, w * shrink, h * shrink, tilt))
    return tuple(windows)


def _window_sampler(windows: tuple[Window, ...], source_aspect: float, rows: int, cols: int, grid: int
                    ) -> tuple[np.ndarray, ...]:
    """Bilinear sampling of every window's grid x grid points in a rows x cols thumbnail:
    (top row, left column, row weight, column weight) per point, edges clamped."""
    u = (np.arange(grid) + 0.5) / grid - 0.5
    grid_x, grid_y = np.meshgrid(u, u)
    cx, cy, width, height, tilt, mirrored = (np.array([getattr(w, name) for w in windows], dtype=np.float64)[:, None, None]
                                             for name in ("cx", "cy", "width", "height", "tilt", "mirrored"))
    x = np.where(mirrored > 0, -grid_x, grid_x) * width * source_aspect    # in units of the source's height
    y = grid_y * height
    # A probe turned counter-clockwise by ``tilt`` (as Pillow's rotate turns) shows a source region
    # whose sample grid is turned clockwise in image coordinates (y grows downwards).
    angle = np.radians(tilt)
    x_turned = x * np.cos(angle) - y * np.sin(angle)
    y_turned = x * np.sin(angle) + y * np.cos(angle)
    xs = np.clip(((cx + x_turned / source_aspect) * cols - 0.5).ravel(), 0.0, cols - 1.0)
    ys = np.clip(((cy + y_turned) * rows - 0.5).ravel(), 0.0, rows - 1.0)
    top = np.minimum(np.floor(ys).astype(np.int64), max(rows - 2, 0))
    left = np.minimum(np.floor(xs).astype(np.int64), max(cols - 2, 0))
    return top, left, ys - top, xs - left


def sampled_points(thumbnails: np.ndarray, windows: Sequence[Window], aspect: float, grid: int) -> np.ndarray:
    """(W x G x G points) x N x channels: N thumbnails of one shape and aspect, each seen through every
    window. In float32, as the correlations that use the samples are (``_unit_rows``): one sparse matrix
    product (``_sampling_matrix``) with the thumbnails side by side, 2.5 x faster than gathering the
    four corners of every point."""
    count, rows, cols = thumbnails.shape[:3]
    weights = _sampling_matrix(tuple(windows), round(float(aspect), 4), rows, cols, grid)
    side_by_side = np.moveaxis(thumbnails.reshape(count, rows * cols, -1), 1, 0).reshape(rows * cols, -1)
    return (weights @ side_by_side).reshape(len(windows) * grid * grid, count, -1)


@lru_cache(maxsize=128)
def _sampling_matrix(windows: tuple[Window, ...], source_aspect: float, rows: int, cols: int, grid: int
                     ) -> sparse.csr_matrix:
    """(windows x grid x grid points) x (rows x cols pixels): each point's bilinear weights on its four
    nearest pixels (``_window_sampler``), float32."""
    top, left, fy, fx = _window_sampler(windows, source_aspect, rows, cols, grid)
    below, right = np.minimum(top + 1, rows - 1), np.minimum(left + 1, cols - 1)
    corners = np.stack([top * cols + left, top * cols + right, below * cols + left, below * cols + right], axis=1)
    weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1).astype(np.float32)
    shape = (top.size, rows * cols)
    if rows < 2 or cols < 2:          # a point's corners coincide: scipy sums them
        return sparse.csr_matrix((weights.ravel(), (np.repeat(np.arange(top.size), 4), corners.ravel())), shape=shape)
    # Each point's four corners are distinct and ascending, so these rows are already the canonical
    # form scipy would sort them into, in a third less time (a photo book's many aspect ratios make
    # hundreds of these matrices).
    return sparse.csr_matrix((weights.ravel(), corners.ravel().astype(np.int32),
                              np.arange(0, corners.size + 1, 4, dtype=np.int32)), shape=shape)


def sample_many(looks: PreparedLooks, indices: np.ndarray, windows_for: Callable[[float], Sequence[Window]],
                 *, edges: bool = False, light_only: bool = False) -> np.ndarray:
    """Planes of samples, 3 x (len(indices) * W) x G*G: L*, a* and b* each as contiguous rows (the
    correlations reduce each on its own, several times faster than interleaved), image by image in
    ``indices`` order, each seen through ``windows_for(its aspect)``; ``light_only``: L* alone (one
    plane); ``edges``: the edge maps, 1 x (len(indices) * W) x EDGE_GRID*EDGE_GRID. Images sharing a
    thumbnail shape and aspect (a camera's photos, an image tool's squares) are sampled in one product: a
    book's thousand variations are a handful of operations, not a thousand."""
    thumbnails, grid, channels = (looks.edges, EDGE_GRID, 1) if edges else (looks.layouts, LAYOUT_GRID, 3)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for position, index in enumerate(indices):
        groups[(thumbnails[index].shape, round(float(looks.aspect[index]), 4))].append(position)
    light_only = light_only and not edges
    if light_only:
        channels = 1
    out = None
    for (_, aspect), positions in groups.items():
        stack = np.stack([thumbnails[indices[p]] for p in positions])
        if light_only:
            stack = stack[..., :1]
        by_plane = sampled_points(stack, windows_for(aspect), aspect, grid).transpose(2, 1, 0)   # one copy
        if len(groups) == 1:                      # one shape: already in ``indices`` order
            return np.ascontiguousarray(by_plane).reshape(channels, -1, grid * grid)
        if out is None:
            out = np.empty((channels, len(indices), by_plane.shape[2]), dtype=by_plane.dtype)
        out[:, positions] = by_plane
    if out is None:
        return np.empty((channels, 0, grid * grid), dtype=np.float32)
    return out.reshape(channels, -1, grid * grid)


EDGE_MAP_CHUNK = 16        # thumbnails of one shape whose edge maps are worked out at once


def edge_maps(thumbnails: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
    """Each Lab layout thumbnail's rows x cols edge strength (``_edge_strength``; None stays None).
    Thumbnails of one shape go EDGE_MAP_CHUNK at a time: one by one, a book's 1,000 were ~0.1 s of
    call overhead; all at once, one big stack costs a fresh process page faults."""
    out: list[np.ndarray | None] = [None] * len(thumbnails)
    by_shape: dict[tuple, list[int]] = defaultdict(list)
    for index, thumbnail in enumerate(thumbnails):
        if thumbnail is not None:
            by_shape[thumbnail.shape].append(index)
    for indices in by_shape.values():
        for start in range(0, len(indices), EDGE_MAP_CHUNK):
            chunk = indices[start:start + EDGE_MAP_CHUNK]
            strengths = _edge_strength(np.stack([thumbnails[i] for i in chunk]).astype(np.float32, copy=False))
            for index, strength in zip(chunk, strengths):
                out[index] = strength
    return out


def _edge_strength(stack: np.ndarray) -> np.ndarray:
    """N x rows x cols x 3 Lab -> N x rows x cols: the gradient's length over L*, a* and b* together, so
    a line between two regions of one lightness but different colours counts. Float32: sampled through
    ~60 windows per source. The gradient is ``np.gradient``'s (central differences, one-sided at the
    borders), written out: its checks cost more than the sums on thumbnails this small. Across a
    thumbnail one pixel thin (a panorama 100 times wider than high) nothing changes: zero, where
    ``np.gradient`` raised."""
    gy, gx = np.empty_like(stack), np.empty_like(stack)
    for g, axis in ((gy, 1), (gx, 2)):
        if stack.shape[axis] < 2:
            g.fill(0.0)
            continue

        def at(part: slice) -> tuple:
            return (slice(None),) * axis + (part,)
        np.subtract(stack[at(slice(2, None))], stack[at(slice(None, -2))], out=g[at(slice(1, -1))])
        g[at(slice(1, -1))] /= 2.0
        np.subtract(stack[at(slice(1, 2))], stack[at(slice(0, 1))], out=g[at(slice(0, 1))])
        np.subtract(stack[at(slice(-1, None))], stack[at(slice(-2, -1))], out=g[at(slice(-1, None))])
    gx *= gx
    gy *= gy
    gx += gy
    return np.sqrt(gx[..., 0] + gx[..., 1] + gx[..., 2])


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (in place: callers pass rows of their own), float32 for the matrix
    products. A flat row (spread below FLAT_SPREAD per sample: a blank area, whose samples differ only
    by float rounding) stays zero, not noise blown up."""
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    flat = FLAT_SPREAD * math.sqrt(max(rows.shape[1], 1))
    rows *= np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > flat)
    return rows.astype(np.float32, copy=False)


def _centred(rows: np.ndarray) -> np.ndarray:
    """Rows less their means: new rows, whatever ``rows`` is a view of."""
    return rows - rows.mean(axis=1, keepdims=True)


def _edge_vectors(samples: np.ndarray) -> np.ndarray:
    """N x points edge samples -> zero-mean unit rows (a correlation)."""
    return _unit_rows(_centred(samples.reshape(samples.shape[0], -1)))


def _layout_vectors(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3 x N x points planes (``sample_many``) -> (light, colour, chroma) rows, each zero-mean and unit-length
    (a correlation). Colour is a* and b* side by side, each centred on its own. Chroma (how colourful,
    whatever the hue) survives a hue shift that colour does not."""
    light, a, b = planes
    chroma = np.hypot(a, b)
    colour = np.concatenate([a, b], axis=1)
    points = a.shape[1]
    colour[:, :points] -= a.mean(axis=1, keepdims=True)
    colour[:, points:] -= b.mean(axis=1, keepdims=True)
    return _unit_rows(_centred(light)), _unit_rows(colour), _unit_rows(_centred(chroma))


def _detail_weights(light: np.ndarray) -> np.ndarray:
    """N x G*G light samples -> weights, mean 1: where a probe's light changes (its subject), against
    smooth areas (a plain or gradient background that replaced the drawing's own surroundings)."""
    grid = math.isqrt(light.shape[1])
    gy, gx = np.gradient(light.reshape(-1, grid, grid), axis=(1, 2))
    detail = np.hypot(gx, gy).reshape(light.shape[0], -1) + DETAIL_FLOOR
    return (detail / detail.mean(axis=1, keepdims=True)).astype(np.float32)


def detail_correlation(weights: np.ndarray, probe_light: np.ndarray, source_light: np.ndarray, *,
                        pairwise: bool = False) -> np.ndarray:
    """Weighted Pearson correlations of source windows' light with probes' light, weighted by the
    probe's detail: every source row with every probe row (N x P), or, ``pairwise``, row for row (all
    three ``...`` x samples). The source's weighted mean and spread depend on the probe, so every
    window with every probe takes three matrix products where a plain correlation takes one."""
    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("...i,...i->...", a, b) if pairwise else a @ b.T

    total = weights.sum(axis=-1)
    probe = probe_light - (np.einsum("...i,...i->...", weights, probe_light) / total)[..., None]
    weighted = weights * probe
    probe_spread = np.sqrt(np.einsum("...i,...i->...", weighted, probe))
    numerator = cross(source_light, weighted)
    source_sum = cross(source_light, weights)
    denominator = cross(source_light * source_light, weights)
    # spread = sqrt(max(square - sum^2 / total, 0)), times the probe's: in place (every window x P)
    source_sum *= source_sum
    source_sum /= total
    denominator -= source_sum
    np.sqrt(np.maximum(denominator, 0.0, out=denominator), out=denominator)
    denominator *= probe_spread
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 1e-6)


JOINT_WINDOW_BY = ("light", "colour", "edges")   # the correlations whose sum picks a pair's one window


@lru_cache(maxsize=8)
def _centre_points(grid: int) -> np.ndarray:
    """Which of a grid x grid window's samples (row by row) lie in the centre disc of the frame."""
    u = (np.arange(grid) + 0.5) / grid - 0.5
    across, down = np.meshgrid(u, u)
    return (np.hypot(across, down) <= CENTRE_RADIUS).ravel()


def _correlation_rows(planes: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Zero-mean unit rows of N windows' samples (``sample_many``: 3 x N x points of L*a*b*, 1 x N x
    points of edges): light, colour, chroma and edges over the whole window, and over its centre disc
    (``centre_`` + the same names)."""
    light, colour, chroma = _layout_vectors(planes)
    centre_light, centre_colour, centre_chroma = _layout_vectors(planes[:, :, _centre_points(math.isqrt(planes.shape[2]))])
    edges = edges[0]
    return {"light": light, "colour": colour, "chroma": chroma, "edges": _edge_vectors(edges),
            "centre_light": centre_light, "centre_colour": centre_colour, "centre_chroma": centre_chroma,
            "centre_edges": _edge_vectors(edges[:, _centre_points(math.isqrt(edges.shape[1]))])}


# look channel <- correlation: read at the pair's joint window, and at each correlation's own best window
_AT_JOINT_WINDOW = {"layout": "light", "layout_colour": "colour", "layout_chroma": "chroma", "layout_edges": "edges",
                    "layout_detail": "detail"}
_AT_OWN_BEST_WINDOW = {"centre": "centre_light", "centre_colour": "centre_colour", "centre_chroma": "centre_chroma",
                       "centre_edges": "centre_edges"}
LAYOUT_CHANNELS = tuple(_AT_JOINT_WINDOW) + tuple(_AT_OWN_BEST_WINDOW)


def _layout_likeness(probes: PreparedLooks, sources: PreparedLooks, scales, tilts,
                     out: dict[str, np.ndarray], blocks: Sequence[Block]) -> None:
    """LAYOUT_CHANNELS, each P x S, written into ``out``'s zeroed arrays for the pairs in ``blocks``:
    correlations of each probe's whole frame with windows of each source. Light, colour, light where the
    probe has detail, chroma and edges are read at one window per pair (where light, colour and edges
    agree best together); the centre-disc correlations each at their best."""
    probe_rows = np.flatnonzero(probes.layout_ok)
    source_cols = np.flatnonzero(sources.layout_ok)
    if probe_rows.size == 0 or source_cols.size == 0:
        return
    # each probe's whole frame and its mirror image (rows 2i and 2i + 1), against upright windows only
    probe, probe_weights = probes.frame_rows().of_images(probe_rows)
    probe_bucket = np.array([round(math.log(probes.aspect[row]) / ASPECT_BUCKET) for row in probe_rows])
    probe_position = np.full(probes.size, -1)
    probe_position[probe_rows] = np.arange(probe_rows.size)
    source_position = np.full(sources.size, -1)
    source_position[source_cols] = np.arange(source_cols.size)
    block_cols = [_positions_in(source_position, cols) for _, cols in blocks]
    for bucket in sorted(set(probe_bucket.tolist())):
        probe_aspect = math.exp(bucket * ASPECT_BUCKET)
        in_bucket = [(positions, cols) for positions, cols in (
            (_positions_in(probe_position, rows, probe_bucket == bucket), cols)
            for (rows, _), cols in zip(blocks, block_cols)) if positions.size and cols.size]

        def windows_for(aspect: float) -> tuple[Window, ...]:
            return upright_windows(aspect, probe_aspect, scales, tilts)

        # A block of sources at a time, LAYOUT_SOURCE_WINDOWS windows in all (a source's float32 rows of
        # every window are ~0.45 MB), against every probe compared with them: never all sources at once.
        per_block = max(1, LAYOUT_SOURCE_WINDOWS // len(windows_for(1.0)))
        for start in range(0, source_cols.size, per_block):
            sampled = np.arange(start, min(start + per_block, source_cols.size))
            source = _window_rows(sources, source_cols[sampled], windows_for)
            windows_per_source = source["light"].shape[0] // sampled.size     # every source has as many
            for positions, cols in in_bucket:
                at = cols[(cols >= start) & (cols < start + sampled.size)] - start
                if at.size == 0:
                    continue
                run = _run(at)
                if isinstance(run, slice):       # consecutive sources (a drawing's anchors): views, not copies
                    windows = slice(run.start * windows_per_source, run.stop * windows_per_source)
                else:
                    windows = (at[:, None] * windows_per_source + np.arange(windows_per_source)).ravel()
                these = {name: rows[windows] for name, rows in source.items()}
                _layout_block(probe, probe_weights, these, positions, probe_rows, source_cols[start + at], out)


def _window_rows(looks: PreparedLooks, indices: np.ndarray, windows_for: Callable[[float], Sequence[Window]]
                 ) -> dict[str, np.ndarray]:
    """The correlation rows (``_correlation_rows``) of images ``indices``, each seen through
    ``windows_for(its aspect)``. When that is every image's whole frame alone (the sibling pass, between
    images of one aspect: an image tool's squares), they are the images' frame rows, worked out already."""
    if all(tuple(windows_for(round(float(looks.aspect[i]), 4))) == WHOLE_FRAME[:1] for i in indices):
        return {name: rows[indices, 0] for name, rows in looks.frame_rows().rows.items()}
    return _correlation_rows(sample_many(looks, indices, windows_for), sample_many(looks, indices, windows_for, edges=True))


def _positions_in(position: np.ndarray, index: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Where the images ``index`` stand among those compared (``position``: -1 for images without the
    features), in ``index`` order, those without dropped (and, given ``keep``, those it marks False)."""
    at = position[index]
    at = at[at >= 0]
    return at if keep is None else at[keep[at]]


def _layout_block(probe: dict[str, np.ndarray], probe_weights: np.ndarray, source: dict[str, np.ndarray],
                  positions: np.ndarray, probe_rows: np.ndarray, source_cols: np.ndarray,
                  out: dict[str, np.ndarray]) -> None:
    """The layout channels of the probes at ``positions`` (their frames and mirror images: correlation
    rows 2i, 2i + 1) against every source whose upright window rows ``source`` holds,
    LAYOUT_PROBE_BLOCK probes at a time. Each correlation is sources x windows x (frames, then mirror
    images) (~6 MB for 128 probes against 35 drawings' ~60 windows), so the best window of each pair
    is a reduction over the middle axis, several times faster in numpy than over a short last one; at
    most four are held at once. Chroma and the detail-weighted light are worked out at each pair's one
    window only (``_at_pair_window``), except in the sibling pass, whose sources have one window. A
    pair's windows are its upright ones, then its mirrored ones, and a tie goes to the first."""
    windows_per_source = source["light"].shape[0] // source_cols.size
    for start in range(0, positions.size, LAYOUT_PROBE_BLOCK):
        chunk = positions[start:start + LAYOUT_PROBE_BLOCK]
        count = chunk.size
        rows = np.concatenate([2 * chunk, 2 * chunk + 1])         # frames, then mirror images
        cells = _pairs_of(probe_rows[chunk], source_cols)
        shape = (source_cols.size, windows_per_source, 2 * count)

        def by_window(name: str, *, clamped: bool = True) -> np.ndarray:
            if name == "detail":
                values = detail_correlation(probe_weights[rows], probe["light"][rows], source["light"])
            else:
                values = source[name] @ probe[name][rows].T
            return (np.maximum(values, 0.0, out=values) if clamped else values).reshape(shape)

        held = {name: by_window(name) for name in JOINT_WINDOW_BY}
        agreement = held[JOINT_WINDOW_BY[0]] + held[JOINT_WINDOW_BY[1]]
        for name in JOINT_WINDOW_BY[2:]:
            agreement += held[name]
        best = agreement.argmax(axis=1)[:, None, :]                         # per side, its best window
        side_best = _at_window(agreement, best)
        mirrored = side_best[:, count:] > side_best[:, :count]
        # each pair's side (its probe's frame or mirror image: a column of ``best``) and window
        side = np.where(mirrored, np.arange(count, 2 * count), np.arange(count))
        window = np.take_along_axis(best[:, 0], side, axis=1)
        for channel, name in _AT_JOINT_WINDOW.items():
            if name in held or windows_per_source == 1:      # whole frames: one product serves all pairs
                values = (held.pop(name) if name in held else by_window(name))[
                    np.arange(window.shape[0])[:, None], window, side]
            else:
                values = np.maximum(_at_pair_window(name, probe, probe_weights, source, rows[side], window), 0.0)
            out[channel][cells] = np.minimum(values, 1.0).T
        for channel, name in _AT_OWN_BEST_WINDOW.items():
            values = by_window(name, clamped=False).max(axis=1)      # clamped once reduced: the same best
            out[channel][cells] = np.clip(np.maximum(values[:, :count], values[:, count:]), 0.0, 1.0).T


def _at_pair_window(name: str, probe: dict[str, np.ndarray], probe_weights: np.ndarray, source: dict[str, np.ndarray],
                    probe_row: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Sources x probes: correlation ``name`` of each pair at its one window (``window``, sources x probes)
    with its probe row (``probe_row``: the frame's or the mirror image's); a correlation read at one window
    per pair is not worth working out at every window."""
    sources, windows = window.shape[0], source["light"].shape[0] // window.shape[0]
    of = "light" if name == "detail" else name
    source_rows = source[of].reshape(sources, windows, -1)[np.arange(sources)[:, None], window]
    if name == "detail":
        return detail_correlation(probe_weights[probe_row], probe["light"][probe_row], source_rows, pairwise=True)
    return np.einsum("spi,spi->sp", source_rows, probe[name][probe_row])


def _at_window(values: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``values`` (sources x windows x probes) at each pair's ``window`` (sources x 1 x probes); one
    window (the sibling pass's whole frames) is simply taken."""
    if values.shape[1] == 1:
        return values[:, 0]
    return np.take_along_axis(values, window, axis=1)[:, 0]
