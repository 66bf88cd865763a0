"""How well a subject set on a new backdrop matches other pictures: its light and its edges, weighed
where the subject is, against every window of theirs.

A rendition cut out of its picture and set on a tinted gradient (often reframed, or hue-shifted, too)
looks, as a whole frame, like every other rendition on such a backdrop: the sibling pass heard those
from other drawings, and they outvoted its own. Its subject, though, is the same picture as its
siblings' (a photo-like one, a painted one, a sepia one): where its mask (``subject.backdrop_masks``)
says the subject is, its light (hue-blind) and its edges correlate with theirs through the window that
shows what it shows. Backdrop samples keep a little weight (``BACKDROP_WEIGHT``), so a subject is not
judged on a handful of samples.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from .looks import EDGE_GRID, LAYOUT_GRID, WHOLE_FRAME, PreparedLooks, detail_correlation, sample_many, sampled_points, upright_windows

BACKDROP_WEIGHT = 0.02        # of a subject sample's: the backdrop's samples beside the subject's (1 + this)
SUBJECT_PROBE_BLOCK = 128     # probes scored at once (bounds memory: ~60,000 source windows x 256 columns, ~60 MB a product)
SUBJECT_RIM = 1               # pixels of the thumbnail taken off the subject's rim (a soft cut-out's edge is half backdrop)


def subject_likeness(probes: PreparedLooks, backdrops: Mapping[int, np.ndarray], sources: PreparedLooks,
                     wanted: np.ndarray) -> np.ndarray:
    """P x S: for each ``wanted`` pair whose probe has a backdrop (``backdrops``: probe row -> its mask)
    and whose source has a layout, the best over the source's upright windows (the probe's mirror image
    too) of the subject-weighed correlation of light plus that of edges (-2..2); NaN elsewhere. Probes
    of one aspect are scored together against the sources any of them wants, in blocks of
    SUBJECT_PROBE_BLOCK: one matrix product per block, faster than one thin product per probe though
    it scores pairs nobody asked for."""
    likeness = np.full(wanted.shape, np.nan)
    by_aspect: dict[float, list[int]] = defaultdict(list)
    for row in sorted(backdrops):
        if wanted[row].any():
            by_aspect[round(float(probes.aspect[row]), 4)].append(row)
    for aspect, rows in by_aspect.items():
        columns = np.flatnonzero(wanted[rows].any(axis=0) & sources.layout_ok)
        if columns.size == 0:
            continue
        def windows_for(source_aspect: float, aspect: float = aspect):
            return upright_windows(source_aspect, aspect)
        light = sample_many(sources, columns, windows_for, light_only=True)[0]   # (columns x windows) x samples
        edges = sample_many(sources, columns, windows_for, edges=True)[0]
        for start in range(0, len(rows), SUBJECT_PROBE_BLOCK):
            block = np.array(rows[start:start + SUBJECT_PROBE_BLOCK])
            light_weights, edge_weights = (np.concatenate(weights) for weights in
                                           zip(*(_subject_weights(backdrops[row], aspect) for row in block)))
            score = detail_correlation(light_weights, sample_many(probes, block, _whole_frame, light_only=True)[0],
                                       light)
            score += detail_correlation(edge_weights, sample_many(probes, block, _whole_frame, edges=True)[0], edges)
            best = score.reshape(columns.size, -1, block.size, len(WHOLE_FRAME)).max(axis=(1, 3))
            likeness[np.ix_(block, columns)] = best.T
    likeness[~wanted] = np.nan
    return likeness


def _whole_frame(aspect: float):
    return WHOLE_FRAME


def _subject_weights(backdrop: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """The probe's weights on the layout grid and on the edge grid (2 x samples each: the frame, then its
    mirror image): 1 + BACKDROP_WEIGHT inside the subject (its rim taken off), BACKDROP_WEIGHT outside."""
    subject = ndimage.binary_erosion(~backdrop, iterations=SUBJECT_RIM).astype(np.float32)[None, ..., None]
    return tuple(sampled_points(subject, WHOLE_FRAME, aspect, grid)[:, 0, 0].reshape(len(WHOLE_FRAME), -1)
                 + BACKDROP_WEIGHT for grid in (LAYOUT_GRID, EDGE_GRID))
