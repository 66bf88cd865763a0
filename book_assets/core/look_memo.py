"""Look log-odds of image pairs kept from a book's last pairing, so a rebuild scores only new images.

Comparing looks is what pairing spends its time on: every variation against every drawing and
every variation against every other (the siblings), ~1 M pairs in a 1,000-image book, and the
variations still unsure against their likeliest drawings' surest ones (the anchors, a few of each
row: pairs not asked for are NaN, never scored, and are scored when a later pairing asks), and those
on a new backdrop against their likeliest drawings' variations by their subjects (``subject_match``).
A pair's log-odds depend only on the two images' features and the look model, and an image's features
only on its content — named by its print copy key, which is content-addressed and carries the feature
version. So a rebuild copies the pairs of images it saw before and scores only the rows of new
probes and the columns of new sources: one added variation costs one row and one column. Each
value is computed by the same ``look_logits`` call a cold pairing makes (it is element-wise per pair),
so the pairing is the same as a cold one — ``test_pairing`` holds it.

The memo is a small npz in the work area (``looks/<book>/<model digest>.npz``): a book's images'
ids and the four matrices. Unreadable or of another layout, it is ignored and everything is scored.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np

from .derived import input_digest
from .look_model import LookModel

LOOK_MEMO_FORMAT = 7        # bump when looks.py (or subject.py) changes what a pair scores, so no stale memo is used


class LookMatrixName(StrEnum):
    """The look matrices a pairing keeps (their names in the stored memo)."""

    DRAWINGS = "drawings"      # every variation x every drawing
    SIBLINGS = "siblings"      # every variation x every variation, whole frames only
    ANCHORS = "anchors"        # unsure variations x the surest variations of their likeliest drawings
    SUBJECTS = "subjects"      # unsure variations on a new backdrop x their likeliest drawings' variations


@dataclass(frozen=True)
class LookMatrix:
    """Log-odds for every probe x source, rows and columns named by content id."""

    probes: tuple[str, ...]
    sources: tuple[str, ...]
    values: np.ndarray


Score = Callable[[np.ndarray], np.ndarray]     # P x S mask of pairs to score -> P x S holding their values


@dataclass
class LookMemo:
    """The last pairing's matrices (``previous``, by name) and this pairing's (``kept``), with counts."""

    previous: dict[str, LookMatrix] = field(default_factory=dict)
    kept: dict[str, LookMatrix] = field(default_factory=dict)
    scored: int = 0            # pairs scored in this pairing
    reused: int = 0            # pairs copied from the previous one
    scored_by: dict[str, int] = field(default_factory=dict)    # of ``scored``, per matrix name

    def matrix(self, name: LookMatrixName, probe_ids: Sequence[str], source_ids: Sequence[str], score: Score,
               wanted: np.ndarray | None = None) -> np.ndarray:
        """The probe x source matrix ``name``: pairs known from the previous pairing copied, the rest
        scored by ``score``; with ``wanted`` (a mask), only those pairs, the others NaN unless known.
        NaN in a stored matrix is a pair never scored. An empty id is never taken as known."""
        n_probes, n_sources = len(probe_ids), len(source_ids)
        values = np.full((n_probes, n_sources), np.nan)
        old = self.previous.get(name)
        old_row = _positions(probe_ids, old.probes if old else ())
        old_col = _positions(source_ids, old.sources if old else ())
        known_rows, known_cols = np.flatnonzero(old_row >= 0), np.flatnonzero(old_col >= 0)
        if known_rows.size and known_cols.size:
            values[np.ix_(known_rows, known_cols)] = old.values[np.ix_(old_row[known_rows], old_col[known_cols])]
        needed = np.isnan(values)
        if wanted is not None:
            needed &= wanted
        scored = int(needed.sum())
        if scored:
            values[needed] = score(needed)[needed]
        reused = int((~np.isnan(values)).sum()) - scored
        self.scored += scored
        self.scored_by[name] = self.scored_by.get(name, 0) + scored
        self.reused += reused
        self.kept[name] = LookMatrix(tuple(probe_ids), tuple(source_ids), values)
        return values.copy()

    def changed(self) -> bool:
        """Whether ``kept`` differs from ``previous`` (then it is worth storing): pairs were scored, or
        images came or went."""
        return self.scored > 0 or self.kept.keys() != self.previous.keys() or any(
            (m.probes, m.sources) != (self.previous[n].probes, self.previous[n].sources) for n, m in self.kept.items())


def _positions(ids: Sequence[str], old_ids: Sequence[str]) -> np.ndarray:
    where = {name: i for i, name in enumerate(old_ids) if name}
    return np.array([where.get(name, -1) if name else -1 for name in ids], dtype=np.int64)


def memo_name(model: LookModel) -> str:
    """The memo's file name: a digest of the look model and the memo format, so a refitted model or a
    change of the looks never reads an old memo."""
    return f"{input_digest({'format': LOOK_MEMO_FORMAT, 'model': asdict(model)})}.npz"


SPARSE_BELOW = 0.5      # a matrix with fewer of its pairs scored is stored as those pairs alone


def dump_memo(matrices: dict[str, LookMatrix]) -> bytes:
    """The matrices as an npz: ids, and each matrix's values, whole or, where most pairs were never
    scored (the anchors', the subjects': a few dozen rows of a 1,000 x 1,000), as the scored pairs'
    places and values (a 1,000-variation book's memo: 18 MB whole, 8 MB so)."""
    arrays = {}
    for name, matrix in matrices.items():
        arrays[f"{name}.probes"] = np.array(matrix.probes, dtype=str)
        arrays[f"{name}.sources"] = np.array(matrix.sources, dtype=str)
        scored = np.isfinite(matrix.values)
        if scored.size and scored.mean() < SPARSE_BELOW:
            rows, cols = np.nonzero(scored)
            arrays[f"{name}.rows"], arrays[f"{name}.cols"] = rows.astype(np.int32), cols.astype(np.int32)
            arrays[f"{name}.scored"] = matrix.values[rows, cols]
        else:
            arrays[f"{name}.values"] = matrix.values
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _values(stored: np.lib.npyio.NpzFile, name: str, shape: tuple[int, int]) -> np.ndarray:
    """A stored matrix's values, whole (NaN where never scored), from either form ``dump_memo`` writes."""
    if f"{name}.values" in stored.files:
        return np.asarray(stored[f"{name}.values"], dtype=np.float64)
    values = np.full(shape, np.nan)
    values[stored[f"{name}.rows"], stored[f"{name}.cols"]] = stored[f"{name}.scored"]
    return values


def load_memo(data: bytes) -> dict[str, LookMatrix]:
    """The stored matrices; {} when the bytes are not a memo this code wrote (then all is scored again)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            names = {key.rsplit(".", 1)[0] for key in stored.files}
            matrices = {}
            for name in names:
                probes, sources = (tuple(stored[f"{name}.{ids}"].tolist()) for ids in ("probes", "sources"))
                matrices[name] = LookMatrix(probes, sources, _values(stored, name, (len(probes), len(sources))))
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        return {}
    if any(m.values.shape != (len(m.probes), len(m.sources)) for m in matrices.values()):
        return {}
    return matrices
