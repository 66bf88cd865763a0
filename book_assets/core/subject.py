"""Where a picture's subject is, when it stands on a new, smooth background.

Image tools often cut a drawing's subject out and set it on a tinted gradient. Such a rendition
resembles its siblings little as a whole frame (most of it is the new background, and every such
background looks like every other), but its subject is the same picture as theirs. So the anchor
pass (``pairing._add_anchor_evidence``) sees it zoomed in on its subject: the part of its layout
thumbnail that stands out of a smooth surface fitted to its border, grown to the frame's shape (a
probe's shape decides the windows it is compared through; one shape keeps that work as it was).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Sequence

import numpy as np

from .looks import PreparedLooks

BORDER_PIXELS = 2             # the ring of the thumbnail a background is fitted to
SMOOTH_BORDER = 6.0           # L*a*b* units: a ring whose median step from the fit is larger is no plain background
SUBJECT_STEP = 15.0           # L*a*b* units from the fitted background: a pixel of the subject
SUBJECT_TRIM = 3.0            # percent of the subject's pixels left out at each side (stray bokeh, noise)
MIN_SUBJECT_SHARE = 0.05      # of the frame: less is specks on a background, not a subject
MAX_ZOOM_SHARE = 0.8          # of the frame: a zoom keeping more of it is no zoom
MIN_SIDE = 8                  # pixels of the thumbnail: a smaller subject is too small to compare


@lru_cache(maxsize=64)
def _border_fit(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a thumbnail of this size: the border ring (a mask), the quadratic surface's terms at every
    pixel, and the least-squares solve from the ring's pixels to the surface (made once per size: a
    book's thumbnails share a few)."""
    down, across = np.mgrid[0:height, 0:width]
    u, v = across / max(width - 1, 1) - 0.5, down / max(height - 1, 1) - 0.5
    ring = ((across < BORDER_PIXELS) | (down < BORDER_PIXELS)
            | (across >= width - BORDER_PIXELS) | (down >= height - BORDER_PIXELS))
    terms = np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], axis=-1)
    return ring, terms, np.linalg.pinv(terms[ring])


def _trimmed_span(counts: np.ndarray) -> tuple[int, int]:
    """The first and one past the last index of a histogram, SUBJECT_TRIM percent left out at each end."""
    cumulative = np.cumsum(counts)
    cut = cumulative[-1] * SUBJECT_TRIM / 100.0
    return int(np.searchsorted(cumulative, cut, side="right")), int(np.searchsorted(cumulative, cumulative[-1] - cut)) + 1


Frame = tuple[slice, slice]


def subject_frame(layout: np.ndarray) -> Frame | None:
    """The rows and columns of a layout thumbnail (H x W x L*a*b*) that frame its subject at the
    thumbnail's own shape, or None when its border is no smooth background or no subject stands
    out of it (most pictures: nothing to zoom into)."""
    return subject_frames([layout])[0]


def subject_frames(layouts: Sequence[np.ndarray]) -> list[Frame | None]:
    """``subject_frame`` of each thumbnail; the border test (which most pictures fail) is made for all
    thumbnails of one size at once."""
    frames: list[Frame | None] = [None] * len(layouts)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, layout in enumerate(layouts):
        if min(layout.shape[:2]) >= 2 * BORDER_PIXELS + MIN_SIDE:
            by_size[layout.shape[:2]].append(index)
    for (height, width), indices in by_size.items():
        ring, terms, solve = _border_fit(height, width)
        pictures = np.stack([layouts[i] for i in indices]).reshape(len(indices), height * width, 3)
        borders = pictures[:, ring.ravel()].astype(np.float64)                             # N x ring x 3
        surfaces = solve @ borders                                                          # N x terms x 3
        steps = np.linalg.norm(borders - terms[ring] @ surfaces, axis=-1)
        plain = np.flatnonzero(np.median(steps, axis=1) <= SMOOTH_BORDER)   # most pictures fail here
        if plain.size == 0:
            continue
        # each plain-bordered picture's fitted background (float32, as the thumbnails): M x pixels x 3
        fitted = np.matmul(terms.reshape(1, height * width, -1).astype(np.float32), surfaces[plain].astype(np.float32))
        difference = pictures[plain] - fitted
        subjects = np.einsum("mpc,mpc->mp", difference, difference) > SUBJECT_STEP ** 2
        for at, subject in zip(plain, subjects.reshape(-1, height, width)):
            frames[indices[at]] = _framed(subject)
    return frames


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


def zoomed_to_subjects(looks: PreparedLooks) -> PreparedLooks:
    """``looks`` with each layout thumbnail that has a subject on a new background cut to its
    ``subject_frames`` frame; only the layouts change: shape descriptors, hashes and colours stay the
    whole picture's."""
    rows = np.flatnonzero(looks.layout_ok)
    frames = subject_frames([looks.layouts[row] for row in rows])
    return looks.with_layouts({row: np.ascontiguousarray(looks.layouts[row][frame])
                               for row, frame in zip(rows, frames) if frame is not None})
