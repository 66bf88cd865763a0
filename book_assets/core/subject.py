"""Where a picture's subject is, when it stands on a smooth backdrop, and whether that backdrop is new.

Image tools often cut a drawing's subject out and set it on a tinted gradient, and an edit of a
drawing keeps the drawing's paper around a subject a reframe has moved or grown. Either is seen by
its subject in the anchor pass (``pairing._add_anchor_evidence``): zoomed in on it (the subject's
frame grown to the picture's shape: a probe's shape decides the windows it is compared through).
A subject on a *new* backdrop (not a drawing's paper) resembles its siblings little as a whole frame
(most of it is the new backdrop, and every such backdrop looks like every other), so the sibling pass
also matches it through its mask (``subject_match``). The backdrop is the smooth surface fitted to
the thumbnail's border, robustly: after a reframe the subject often runs off the edge, so the fit
keeps the border pixels near it and drops the rest, a few rounds over. What stays near that surface
and touches the border is the backdrop; a photograph's sky or wall is near a smooth surface too but
has texture, where a generated backdrop or a sheet of paper has none (``SMOOTH_BACKDROP``).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import ndimage

from .looks import PreparedLooks

BORDER_PIXELS = 2             # the ring of the thumbnail a backdrop is fitted to
BACKDROP_INLIER = 8.0         # L*a*b* units from the fitted surface: a ring pixel of the backdrop
FIT_ROUNDS = 4                # fits, each to the ring pixels near the last (a subject cut by the border drops out)
MIN_FIT_PIXELS = 12           # ring pixels a fit needs (six terms, three channels)
MIN_BACKDROP_RING = 0.4       # of the ring: less near the fit is a picture filling its frame, no backdrop
SUBJECT_STEP = 15.0           # L*a*b* units from the fitted surface: a pixel of the subject
MIN_BACKDROP_SHARE = 0.15     # of the frame: less is a border strip, not a backdrop
MAX_MATCHED_BACKDROP = 0.85   # of the frame: a subject on a new backdrop larger than this is too small to match by
SMOOTH_BACKDROP = 1.0         # L* units, median |Laplacian| inside the backdrop: a photograph's sky or wall has more
NEW_BACKDROP = 10.0           # L*a*b* units: a backdrop this near a drawing's border colour is its paper
SUBJECT_TRIM = 3.0            # percent of the subject's pixels left out at each side (stray bokeh, noise)
MIN_SUBJECT_SHARE = 0.05      # of the frame: less is specks on a backdrop, not a subject
MAX_ZOOM_SHARE = 0.8          # of the frame: a zoom keeping more of it is no zoom
MIN_SIDE = 8                  # pixels of the thumbnail: a smaller subject is too small to compare
MIN_THUMBNAIL = 2 * BORDER_PIXELS + MIN_SIDE


@lru_cache(maxsize=64)
def _border_fit(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For a thumbnail of this size: the border ring (a mask) and the quadratic surface's terms at every
    pixel (made once per size: a book's thumbnails share a few)."""
    down, across = np.mgrid[0:height, 0:width]
    u, v = across / max(width - 1, 1) - 0.5, down / max(height - 1, 1) - 0.5
    ring = ((across < BORDER_PIXELS) | (down < BORDER_PIXELS)
            | (across >= width - BORDER_PIXELS) | (down >= height - BORDER_PIXELS))
    terms = np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], axis=-1)
    return ring, terms


def _trimmed_span(counts: np.ndarray) -> tuple[int, int]:
    """The first and one past the last index of a histogram, SUBJECT_TRIM percent left out at each end."""
    cumulative = np.cumsum(counts)
    cut = cumulative[-1] * SUBJECT_TRIM / 100.0
    return int(np.searchsorted(cumulative, cut, side="right")), int(np.searchsorted(cumulative, cumulative[-1] - cut)) + 1


Frame = tuple[slice, slice]


def subject_frame(layout: np.ndarray) -> Frame | None:
    """The rows and columns of a layout thumbnail (H x W x L*a*b*) that frame its subject at the
    thumbnail's own shape, or None when it stands on no smooth backdrop (most pictures: nothing to
    zoom into) or fills most of the frame."""
    (backdrop,) = backdrop_masks([layout])
    return None if backdrop is None else _framed(~backdrop)


def backdrop_masks(layouts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """Each layout thumbnail's backdrop (H x W, True where it is), or None when the picture stands on no
    smooth backdrop. All thumbnails of one size are worked out at once."""
    masks: list[np.ndarray | None] = [None] * len(layouts)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, layout in enumerate(layouts):
        if min(layout.shape[:2]) >= MIN_THUMBNAIL:
            by_size[layout.shape[:2]].append(index)
    for (height, width), indices in by_size.items():
        ring, terms = _border_fit(height, width)
        # float32 for the pixels (their L*a*b* is whole numbers and halves); the fit itself in float64
        pictures = np.stack([layouts[i] for i in indices]).astype(np.float32, copy=False).reshape(len(indices), -1, 3)
        surfaces, near_ring = _robust_fit(terms[ring], pictures[:, ring.ravel()].astype(np.float64))
        step = np.matmul(terms.reshape(height * width, -1).astype(np.float32), surfaces.astype(np.float32))
        step -= pictures                                                                    # N x pixels x 3
        near = (np.einsum("npc,npc->np", step, step) < SUBJECT_STEP ** 2).reshape(-1, height, width)
        seeds = np.zeros_like(near)
        seeds[:, ring] = near_ring
        backdrops = _reaching(near, seeds & near)
        texture = _texture(pictures[..., 0].reshape(-1, height, width), backdrops)
        kept = ((near_ring.mean(axis=1) >= MIN_BACKDROP_RING) & (backdrops.mean(axis=(1, 2)) >= MIN_BACKDROP_SHARE)
                & (texture <= SMOOTH_BACKDROP))
        for at in np.flatnonzero(kept):
            masks[indices[at]] = backdrops[at]
    return masks


def plain_backdrops(layouts: Sequence[np.ndarray | None], rows: Iterable[int]) -> dict[int, np.ndarray]:
    """Of ``rows`` (of ``layouts``), those standing on a smooth backdrop (``backdrop_masks``), with its mask."""
    rows = [int(row) for row in rows if layouts[row] is not None]
    return {row: mask for row, mask in zip(rows, backdrop_masks([layouts[row] for row in rows])) if mask is not None}


def new_backdrops(layouts: Sequence[np.ndarray | None], backdrops: Mapping[int, np.ndarray],
                  drawing_layouts: Sequence[np.ndarray | None]) -> dict[int, np.ndarray]:
    """Of the pictures standing on a smooth backdrop (``backdrops``: row of ``layouts`` -> its mask,
    ``plain_backdrops``), those on a new one, around a subject large enough to match by: a backdrop at
    most MAX_MATCHED_BACKDROP of the frame, around a picture whose border colour (its ring's median) is
    more than NEW_BACKDROP from every drawing's. An edit of a drawing on plain paper stands on that
    paper, as the drawing does, and resembles it as a whole frame (so in a book of drawings on paper,
    most pictures are settled by their border colour alone)."""
    rows = [row for row, mask in backdrops.items() if mask.mean() <= MAX_MATCHED_BACKDROP]
    borders = _border_colours([layout for layout in drawing_layouts if layout is not None])
    if borders.size and rows:
        nearest = np.linalg.norm(_border_colours([layouts[row] for row in rows])[:, None] - borders[None], axis=-1)
        rows = [row for row, distance in zip(rows, nearest.min(axis=1)) if distance > NEW_BACKDROP]
    return {row: backdrops[row] for row in rows}


def _border_colours(layouts: Sequence[np.ndarray]) -> np.ndarray:
    """N x 3: each thumbnail's border colour (its ring's median), thumbnails of one size at once."""
    colours = np.zeros((len(layouts), 3))
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, layout in enumerate(layouts):
        by_size[layout.shape[:2]].append(index)
    for size, indices in by_size.items():
        ring = _border_fit(*size)[0]
        colours[indices] = np.median(np.stack([layouts[i] for i in indices])[:, ring], axis=1)
    return colours


def _robust_fit(terms: np.ndarray, ring_pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quadratic surfaces (N x terms x 3) fitted to each picture's ring pixels (N x R x 3), each round
    to the pixels within BACKDROP_INLIER of the last round's surface; and which ring pixels are near
    the last surface (N x R). A picture left with too few pixels to fit has none near."""
    near = np.ones(ring_pixels.shape[:2], dtype=bool)
    outer = (terms[:, :, None] * terms[:, None, :]).reshape(len(terms), -1)            # R x terms^2
    regularised = 1e-9 * np.eye(terms.shape[1])
    for _ in range(FIT_ROUNDS):
        weights = near.astype(np.float64)
        normal = (weights @ outer).reshape(-1, terms.shape[1], terms.shape[1]) + regularised
        rhs = np.tensordot(terms, weights[..., None] * ring_pixels, axes=([0], [1])).transpose(1, 0, 2)
        surfaces = np.linalg.solve(normal, rhs)                                           # N x terms x 3
        few = near.sum(axis=1) < MIN_FIT_PIXELS
        step = ring_pixels - np.tensordot(terms, surfaces, axes=([1], [1])).transpose(1, 0, 2)
        near = np.einsum("nrc,nrc->nr", step, step) < BACKDROP_INLIER ** 2
        near[few] = False
    return surfaces, near


_IN_ONE_PICTURE = np.zeros((3, 3, 3), dtype=bool)
_IN_ONE_PICTURE[1] = ndimage.generate_binary_structure(2, 1)       # 4-connected, never across pictures
_LAPLACIAN = np.array([[[0, 1, 0], [1, -4, 1], [0, 1, 0]]], dtype=np.float64)


def _reaching(near: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """N x H x W: the regions of ``near`` (4-connected, each picture on its own) holding a seed."""
    regions, _ = ndimage.label(near, structure=_IN_ONE_PICTURE)
    kept = np.zeros(regions.max() + 1, dtype=bool)
    kept[regions[seeds]] = True
    kept[0] = False
    return kept[regions]


def _texture(light: np.ndarray, backdrops: np.ndarray) -> np.ndarray:
    """N: the median |Laplacian| of L* inside each backdrop (its rim left out); infinite where none is left."""
    inside = ndimage.binary_erosion(backdrops, structure=_IN_ONE_PICTURE)
    values = np.sort(np.where(inside, np.abs(ndimage.correlate(light, _LAPLACIAN, mode="reflect")), np.inf)
                     .reshape(len(light), -1), axis=1)
    count = inside.sum(axis=(1, 2))
    at = np.arange(len(light))
    middle = (values[at, np.maximum(count - 1, 0) // 2] + values[at, count // 2]) / 2
    return np.where(count > 0, middle, np.inf)


def _framed(subject: np.ndarray) -> Frame | None:
    """The frame of the pixels that stand out (``subject``, H x W), at the thumbnail's shape; None when
    too few stand out or the frame would keep most of the picture."""
    height, width = subject.shape
    if subject.mean() < MIN_SUBJECT_SHARE:
        return None
    top, bottom = _trimmed_span(subject.sum(axis=1))
    left, right = _trimmed_span(subject.sum(axis=0))
    top, left = max(0, top - 1), max(0, left - 1)                     # a pixel of margin each side
    bottom, right = min(height, bottom + 1), min(width, right + 1)
    zoom = max((bottom - top) / height, (right - left) / width)
    rows_kept, cols_kept = max(MIN_SIDE, round(zoom * height)), max(MIN_SIDE, round(zoom * width))
    if rows_kept * cols_kept > MAX_ZOOM_SHARE * height * width:
        return None
    first_row = int(min(max(0, round((top + bottom - rows_kept) / 2)), height - rows_kept))
    first_col = int(min(max(0, round((left + right - cols_kept) / 2)), width - cols_kept))
    return slice(first_row, first_row + rows_kept), slice(first_col, first_col + cols_kept)


def zoomed_to_subjects(looks: PreparedLooks, backdrops: Mapping[int, np.ndarray]) -> PreparedLooks:
    """``looks`` with the layout thumbnail of each row of ``backdrops`` (row -> its backdrop, as
    ``plain_backdrops`` finds them) cut to its subject's frame; only the layouts change: shape
    descriptors, hashes and colours stay the whole picture's."""
    frames = {row: _framed(~backdrop) for row, backdrop in backdrops.items()}
    return looks.with_layouts({row: np.ascontiguousarray(looks.layouts[row][frame])
                               for row, frame in frames.items() if frame is not None})
