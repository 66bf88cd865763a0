"""Arrange a drawing's variations into a colour-harmonious grid.

The arrangement is an *assignment*, not a sort: each tile's Lab colour is mapped to a point in
2-D colour space (the two main axes of the set's colours), the points are scaled onto the grid,
and tiles are assigned to cells with the Hungarian method so that similar colours land near each
other in both directions. A few deterministic swap passes then polish neighbour harmony
directly. A sort (by hue, say) only orders tiles along one axis, so vertical neighbours end up
``columns`` steps apart in that order; the assignment uses both grid axes.

Harmony is reported next to the mean harmony of seeded random arrangements of the same tiles,
so the number means something on its own ("0.82 against 0.61 for chance").
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

GRID_SHAPES: tuple[tuple[int, int], ...] = ((2, 2), (3, 3), (4, 3), (4, 4))  # (columns, rows)
MAX_PER_PAGE = 16
RANDOM_ARRANGEMENTS = 64      # random permutations averaged for ``random_harmony``
MAX_SWAP_PASSES = 6           # each pass tries every pair of filled cells once
DELTA_E_CAP = 100.0           # a CIE76 difference at or above this counts as "no harmony at all"

Lab = tuple[float, float, float]


def grid_for(count: int) -> tuple[int, int]:
    """Smallest grid shape (columns, rows) that holds ``count`` tiles (1..16)."""
    for columns, rows in GRID_SHAPES:
        if count >= 1 and count <= columns * rows:
            return columns, rows
    raise ValueError(f"a grid holds 1 to {MAX_PER_PAGE} tiles, not {count}")


def split_for_pages(count: int) -> list[int]:
    """Chunk sizes for ``count`` tiles: as few pages as possible, balanced, each <= 16.

    Balanced because 17 tiles as 16 + 1 leaves a lonely tile on a page of its own; 9 + 8 gives
    two pages that look alike. Never drops a tile: the sizes always sum to ``count``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    if count == 0:
        return []
    pages = math.ceil(count / MAX_PER_PAGE)
    base, extra = divmod(count, pages)
    return [base + 1 if page < extra else base for page in range(pages)]


@dataclass
class Arrangement:
    cells: list[int | None]   # row-major cell index -> tile index (None = empty cell)
    columns: int
    rows: int
    harmony: float            # mean neighbour colour harmony of this arrangement (higher is better)
    random_harmony: float     # the same score averaged over seeded random arrangements


def pair_harmony(lab_a: Sequence[float], lab_b: Sequence[float]) -> float:
    """Harmony of two touching tiles: 1 for the same colour, 0 at a CIE76 ΔE of 100 or more."""
    delta_e = math.dist(lab_a, lab_b)
    return 1.0 - min(delta_e, DELTA_E_CAP) / DELTA_E_CAP


def _neighbour_pairs(columns: int, rows: int) -> list[tuple[int, int]]:
    """Row-major index pairs of horizontally and vertically adjacent cells."""
    pairs = []
    for row in range(rows):
        for column in range(columns):
            cell = row * columns + column
            if column + 1 < columns:
                pairs.append((cell, cell + 1))
            if row + 1 < rows:
                pairs.append((cell, cell + columns))
    return pairs


def harmony_score(cells: Sequence[int | None], colours_lab: Sequence[Lab],
                  columns: int, rows: int) -> float:
    """Mean harmony over adjacent pairs of filled cells; 1.0 when no two tiles touch."""
    if len(cells) != columns * rows:
        raise ValueError(f"{len(cells)} cells do not make a {columns}x{rows} grid")
    total, pairs = 0.0, 0
    for a, b in _neighbour_pairs(columns, rows):
        tile_a, tile_b = cells[a], cells[b]
        if tile_a is None or tile_b is None:
            continue
        total += pair_harmony(colours_lab[tile_a], colours_lab[tile_b])
        pairs += 1
    return total / pairs if pairs else 1.0


def _colour_plane(colours: np.ndarray) -> np.ndarray:
    """Project Lab colours onto their two main axes (PCA), as an (n, 2) array.

    Lab is already perceptually uniform, so the axes are not standardised: a set that only
    varies in lightness gets lightness as its first axis and nothing as its second.
    The sign of each axis is fixed (largest loading positive) so results are deterministic.
    """
    centred = colours - colours.mean(axis=0)
    if len(colours) < 2 or not np.any(centred):
        return np.zeros((len(colours), 2))
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    for axis in axes:
        if axis[np.argmax(np.abs(axis))] < 0:
            axis *= -1
    plane = centred @ axes.T
    if plane.shape[1] < 2:
        plane = np.hstack([plane, np.zeros((len(colours), 2 - plane.shape[1]))])
    return plane


def _scale_to_span(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Min-max scale onto [low, high]; a constant axis goes to the middle."""
    spread = values.max() - values.min()
    if spread < 1e-9:
        return np.full_like(values, (low + high) / 2.0)
    return low + (values - values.min()) / spread * (high - low)


def _assign(plane: np.ndarray, centres: np.ndarray) -> list[int]:
    """Tile index per filled cell, minimising the squared distance of tile point to cell centre."""
    scaled = np.column_stack([
        _scale_to_span(plane[:, 0], centres[:, 0].min(), centres[:, 0].max()),
        _scale_to_span(plane[:, 1], centres[:, 1].min(), centres[:, 1].max()),
    ])
    cost = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # tiles x cells
    tile_rows, cell_columns = linear_sum_assignment(cost)
    order = [0] * len(centres)
    for tile, cell in zip(tile_rows, cell_columns):
        order[cell] = int(tile)
    return order


def _polish(order: list[int], harmony: np.ndarray, neighbours: list[list[int]]) -> list[int]:
    """Deterministic pairwise swaps among filled cells while they raise total harmony."""
    order = list(order)
    filled = len(order)

    def local(cell: int, tile: int, skip: int) -> float:
        return sum(harmony[tile, order[other]] for other in neighbours[cell] if other != skip)

    for _ in range(MAX_SWAP_PASSES):
        improved = False
        for a in range(filled):
            for b in range(a + 1, filled):
                tile_a, tile_b = order[a], order[b]
                # The a-b edge (if any) keeps its value under a swap, so it is skipped.
                before = local(a, tile_a, b) + local(b, tile_b, a)
                after = local(a, tile_b, b) + local(b, tile_a, a)
                if after > before + 1e-12:
                    order[a], order[b] = tile_b, tile_a
                    improved = True
        if not improved:
            break
    return order


def arrange_by_colour(colours_lab: Sequence[Lab], columns: int, rows: int, *,
                      seed: int = 0) -> Arrangement:
    """Place tiles (given by their mean Lab colours) on a columns x rows grid by colour.

    Tiles fill the first ``len(colours_lab)`` cells in reading order, so empty cells sit at the
    end of the last row. The result depends only on the colours, the shape and ``seed``.
    """
    count = len(colours_lab)
    capacity = columns * rows
    if columns < 1 or rows < 1:
        raise ValueError(f"grid shape must be positive, not {columns}x{rows}")
    if count > capacity:
        raise ValueError(f"{count} tiles do not fit a {columns}x{rows} grid")
    if count == 0:
        return Arrangement([None] * capacity, columns, rows, 1.0, 1.0)

    colours = np.asarray(colours_lab, dtype=float).reshape(count, 3)
    centres = np.array([(cell % columns, cell // columns) for cell in range(count)], dtype=float)
    differences = np.linalg.norm(colours[:, None, :] - colours[None, :, :], axis=2)
    harmony = 1.0 - np.minimum(differences, DELTA_E_CAP) / DELTA_E_CAP
    adjacency: list[list[int]] = [[] for _ in range(count)]
    for a, b in _neighbour_pairs(columns, rows):
        if a < count and b < count:
            adjacency[a].append(b)
            adjacency[b].append(a)

    def padded(order: list[int]) -> list[int | None]:
        return [*order, *([None] * (capacity - count))]

    # Two starts: main colour axis across the rows, or down the columns; keep the better.
    plane = _colour_plane(colours)
    best_cells: list[int | None] | None = None
    best_score = -1.0
    for start_plane in (plane, plane[:, ::-1]):
        order = _polish(_assign(start_plane, centres), harmony, adjacency)
        cells = padded(order)
        score = harmony_score(cells, colours_lab, columns, rows)
        if score > best_score + 1e-12:
            best_cells, best_score = cells, score

    rng = np.random.default_rng(seed)
    random_scores = [
        harmony_score(padded([int(tile) for tile in rng.permutation(count)]), colours_lab, columns, rows)
        for _ in range(RANDOM_ARRANGEMENTS)
    ]
    assert best_cells is not None
    return Arrangement(best_cells, columns, rows, best_score, float(np.mean(random_scores)))
