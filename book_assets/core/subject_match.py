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

import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from .looks import (ASPECT_BUCKET, EDGE_GRID, LAYOUT_GRID, LAYOUT_SOURCE_WINDOWS, WHOLE_FRAME, PreparedLooks,
                    detail_correlation, sample_many, sampled_points, upright_windows)

BACKDROP_WEIGHT = 0.02        # of a subject sample's: the backdrop's samples beside the subject's (1 + this)
SUBJECT_PROBE_BLOCK = 128     # probes scored at once (with LAYOUT_SOURCE_WINDOWS at a time: 2 MB a product)
SUBJECT_RIM = 1               # thumbnail pixels off the subject's rim (a soft cut-out's edge is half backdrop)


def subject_likeness(probes: PreparedLooks, backdrops: Mapping[int, np.ndarray], sources: PreparedLooks,
                     wanted: np.ndarray) -> np.ndarray:
    """P x S: for each ``wanted`` pair whose probe has a backdrop (``backdrops``: probe row -> its mask)
    and whose source has a layout, the best over the source's upright windows (the probe's mirror image
    too) of the subject-weighed correlation of light plus that of edges (-2..2); NaN elsewhere. Probes
    of one aspect (to ASPECT_BUCKET, as the anchor pass buckets them) are scored together against
    every source any of them wants, SUBJECT_PROBE_BLOCK probes by a block of sources in one matrix
    product: faster than one thin product per probe, though it scores pairs nobody asked for."""
    likeness = np.full(wanted.shape, np.nan)
    by_aspect: dict[int, list[int]] = defaultdict(list)
    for row in sorted(backdrops):
        if wanted[row].any():
            by_aspect[round(math.log(probes.aspect[row]) / ASPECT_BUCKET)].append(row)
    for bucket, rows in by_aspect.items():
        aspect = math.exp(bucket * ASPECT_BUCKET)
        columns = np.flatnonzero(wanted[rows].any(axis=0) & sources.layout_ok)
        if columns.size == 0:
            continue

        def windows_for(source_aspect: float, aspect: float = aspect):
            return upright_windows(source_aspect, aspect)

        probe_blocks = [_probe_rows(probes, backdrops, np.array(rows[start:start + SUBJECT_PROBE_BLOCK]))
                        for start in range(0, len(rows), SUBJECT_PROBE_BLOCK)]
        # A block of sources at a time (their windows' samples stay in cache), against every probe.
        per_block = max(1, LAYOUT_SOURCE_WINDOWS // len(windows_for(1.0)))
        for start in range(0, columns.size, per_block):
            block_columns = columns[start:start + per_block]
            light = sample_many(sources, block_columns, windows_for, light_only=True)[0]   # (sources x windows) x G*G
            edges = sample_many(sources, block_columns, windows_for, edges=True)[0]
            for block, (light_weights, probe_light), (edge_weights, probe_edges) in probe_blocks:
                score = detail_correlation(light_weights, probe_light, light)
                score += detail_correlation(edge_weights, probe_edges, edges)
                best = score.reshape(block_columns.size, -1, score.shape[1]).max(axis=1)          # over windows
                best = best.reshape(block_columns.size, block.size, len(WHOLE_FRAME)).max(axis=2)   # and mirror
                likeness[np.ix_(block, block_columns)] = best.T
    likeness[~wanted] = np.nan
    return likeness


def _probe_rows(probes: PreparedLooks, backdrops: Mapping[int, np.ndarray], block: np.ndarray
                ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A block of probes, with the weights and samples of their light and of their edges (each
    (2 x block) x samples: every probe's frame, then its mirror image)."""
    weights = [_subject_weights(backdrops[row], float(probes.aspect[row])) for row in block]
    light_weights, edge_weights = (np.concatenate(of_grid) for of_grid in zip(*weights))
    return (block, (light_weights, sample_many(probes, block, _whole_frame, light_only=True)[0]),
            (edge_weights, sample_many(probes, block, _whole_frame, edges=True)[0]))


def _whole_frame(aspect: float):
    return WHOLE_FRAME


def _subject_weights(backdrop: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """The probe's weights on the layout grid and on the edge grid (2 x samples each: the frame, then its
    mirror image): 1 + BACKDROP_WEIGHT inside the subject (its rim taken off), BACKDROP_WEIGHT outside."""
    subject = ndimage.binary_erosion(~backdrop, iterations=SUBJECT_RIM).astype(np.float32)[None, ..., None]
    return tuple(sampled_points(subject, WHOLE_FRAME, aspect, grid)[:, 0, 0].reshape(len(WHOLE_FRAME), -1)
                 + BACKDROP_WEIGHT for grid in (LAYOUT_GRID, EDGE_GRID))
