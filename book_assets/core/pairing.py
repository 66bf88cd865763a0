"""Pair every AI-generated variation with the one drawing it came from.

A variation on the wrong page is the mistake a parent spots at once, so pairing weighs several
kinds of evidence, strongest first, and says how sure it is:

1. a reviewer's override (``pairs.csv``, read by ``pairs_csv``) - certain;
2. provenance text inside the file (PNG chunks, EXIF/XMP) naming a drawing (``name_signals``);
3. file-name tokens and stems (``max.png`` <-> ``max_03.png``, ``Max (2).png``; ``name_signals``);
4. looks - the similarity channels of ``looks`` (shape, ink, hashes, colour, and the layout of
   light and colour seen through reframing, tilting and mirroring windows) weighed by the fitted
   ``look_model``, each drawing's less its baseline (how alike it looks to other drawings' variations);
   then the evidence of each variation's look-alike variations joins its own
   (renditions of one drawing resemble each other far more than they resemble the drawing; one set
   on a new backdrop finds its look-alikes by its subject, ``subject_match``), and a
   variation still unsure is compared, through every window, with its likeliest drawings' surest
   variations;
5. upload-time proximity, a tie-breaker only.

Evidence is added as log-odds per (variation, drawing) with "none of these drawings" as one more
choice, so each row's softmax is a probability: the confidence is the probability of being right
(fitted by ``book-assets eval-pairing --fit`` on labelled generated and photo corpora), the margin
is the lead over the runner-up. Assignment is global (``scipy.optimize.linear_sum_assignment`` on
log-probabilities) with a per-drawing capacity, so no drawing silently absorbs everything.
Then the book is judged rather than a pair (``look_alike_groups``): a group of look-alike variations
split onto a drawing that holds another picture's group joins the rest of it, a drawing left with few or
no variations takes the unsure group that looks most like it, and two patterns of variations whose drawing
is likely not in the book are held. A pair more likely wrong than right is held out of the book for a
reviewer (``PairStatus``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .imaging import ImageFeatures
from .look_alike_groups import FirstSolve, GroupMove, Placements, kept_log_probability, move_groups
from .look_memo import LookMatrixName, LookMemo
from .look_model import FITTED_MODEL, LookModel
from .looks import Block, PreparedLooks, fallback_channels, full_looks_ok, layout_thumbnail, look_channels, pair_blocks
from .name_signals import filename_scores, order_key, provenance_scores
from .subject import new_backdrops, plain_backdrops, zoomed_to_subjects
from .subject_match import subject_likeness

SIGNAL_OVERRIDE = "override"
SIGNAL_PROVENANCE = "provenance"
SIGNAL_FILENAME = "filename"
SIGNAL_VISUAL = "visual"
SIGNAL_UPLOAD_TIME = "upload-time"

# Evidence is added up as log-odds per (variation, drawing). Provenance outweighs a file name and a
# name outweighs looks: looks are clipped to LOOK_SPAN below the row's best look, so a file that
# names its source is never out-voted by looks alone (a strong disagreement is flagged instead).
PROVENANCE_LOGIT = 30.0
FILENAME_LOGIT = 16.0
LOOK_SPAN = 10.0
# The look model (weights per similarity channel, the "none of these" log-odds, the sibling pass's
# weight and sharpness, the calibration) is fitted by ``book-assets eval-pairing --fit`` and lives in
# look_model.json.
LOOK_UNKNOWN_LOGIT = -50.0       # no usable look features at all
# The sibling pass: each variation's evidence is joined by that of the variations most like it.
SIBLING_NEIGHBOURS = 5          # each variation hears its five most alike variations
SIBLING_STEPS = 3               # rounds of passing evidence along those links
# The anchor pass: a variation the first pass is unsure of is compared, through every window, with
# this many of each drawing's most confidently placed variations.
ANCHORS_PER_DRAWING = 3
ANCHOR_CANDIDATES = 8            # an unsure variation hears the anchors of its eight likeliest drawings
SUBJECT_CANDIDATES = ANCHOR_CANDIDATES   # and a subject on a new backdrop is compared with their variations
ANCHOR_TIE = 0.95               # an anchor also speaks for a drawing at least this likely, relative to its own,
                                # on the pooled evidence's own scale (before the calibration flattens it)
# A drawing's baseline (``_centred_on_drawings``) is read from at least this many variations with full looks,
# each one whose best drawing leads this drawing by at least this many log-odds (e times as likely): a
# variation nearly as like this drawing as its best may be this drawing's (twin drawings: both its best),
# and a drawing with fewer such variations (every variation of the book is its own) keeps its log-odds.
DRAWING_BASELINE_MIN_VARIATIONS = 4
DRAWING_BASELINE_MARGIN = 1.0
# Upload time only tips near-ties in the assignment (log-probability units), and is named as a
# deciding signal only when the two best drawings were this close in probability.
UPLOAD_TIME_TIE_WEIGHT = 0.05
UPLOAD_TIME_TIE_MARGIN = 0.05
# Looks beyond LOOK_SPAN only break exact ties in the assignment: at most 0.06 log-probability units.
LOOK_TIE_WEIGHT = 0.001
LOG_PROBABILITY_FLOOR = -60.0
# Flag for review below this probability of being right; chosen on the seed-2 corpus, where it
# flags every error while flagging about 4 % of pairs (0.8 or 0.9 let 6 % of the errors through).
REVIEW_BELOW = 0.95
# Hold a variation out of the book below this probability of being right (the rounded confidence
# the tables show): a wrong page is the mistake a parent spots at once, so a pair more likely wrong
# than right waits for a reviewer instead of being printed.
HOLD_BELOW = 0.5
# When names or provenance decide but the looks alone are at least this sure of another drawing.
LOOK_CONFLICT_PROBABILITY = 0.9
CONFLICT_CONFIDENCE_CAP = 0.5
UPLOAD_TIME_SCALE_S = 3600.0


@dataclass(frozen=True)
class Candidate:
    """One image of a book as pairing sees it."""

    key: str                 # bucket key, e.g. "books/b1/generated/max_03.png"
    features: ImageFeatures
    uploaded: float = 0.0    # epoch seconds (weak signal); 0 = unknown
    content_id: str = ""     # names the features' content (the print copy key) for a LookMemo; "" = none


class PairStatus(StrEnum):
    """Whether a variation is printed, and if not, why; the value is the stable code in tables and reports."""

    PLACED = "placed"                          # in its drawing's grid
    HELD = "held"                              # more likely wrong than right: kept out until a reviewer decides
    REVIEWER_EXCLUDED = "reviewer_excluded"    # pairs.csv says it comes from no drawing of this book
    UNPAIRED = "unpaired"                      # no drawing could take it (none in the book, or every one full)


@dataclass
class Pair:
    """Where one variation goes, how sure we are, and why."""

    generated: str
    drawing: str | None      # None when unpaired or excluded by a reviewer; for a HELD pair the best drawing
                             # (shown to the reviewer, never printed)
    confidence: float        # 0..1, calibrated: "0.9" should be right ~9 times in 10
    needs_review: bool
    signals: list[str]       # which evidence decided, strongest first
    runner_up: str | None    # second-best drawing
    margin: float            # score - runner-up score (0..1 scale); negative when the better drawing was
                             # full, or upload time tipped a near-tie
    reason: str = ""         # plain sentence when unpaired or flagged
    score: float = 0.0       # combined evidence (0..1) for the chosen drawing, for review tables
    status: PairStatus = PairStatus.PLACED   # only PLACED pairs are printed

    @property
    def placed(self) -> bool:
        return self.status is PairStatus.PLACED


@dataclass
class PairingResult:
    """One ``Pair`` per generated image (input order) plus each drawing's ordered variations."""

    pairs: list[Pair]
    # drawing key -> its variations in book order; filled by ``pair_images``. Left empty (e.g. when
    # rebuilt from a manifest), ``variations_of`` falls back to file-name numbers, then keys.
    ordered_variations: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def variations_of(self, drawing_key: str) -> list[str]:
        """The variations printed with one drawing (held and excluded ones never are): by the number in
        the file name, else most similar first, ties by key."""
        placed = {p.generated for p in self.pairs if p.placed and p.drawing == drawing_key}
        if drawing_key in self.ordered_variations:
            return [key for key in self.ordered_variations[drawing_key] if key in placed]
        return sorted(placed, key=lambda key: order_key(key, drawing_key, 0.0))

    @property
    def unpaired(self) -> list[str]:
        return [p.generated for p in self.pairs if p.status is PairStatus.UNPAIRED]

    @property
    def held(self) -> list[Pair]:
        return [p for p in self.pairs if p.status is PairStatus.HELD]

    @property
    def excluded(self) -> list[Pair]:
        """Variations a reviewer said belong to no drawing of this book."""
        return [p for p in self.pairs if p.status is PairStatus.REVIEWER_EXCLUDED]

    @property
    def needs_review(self) -> list[Pair]:
        return [p for p in self.pairs if p.needs_review]


# --------------------------------------------------------------------------------------------
# Looks and upload time (names and provenance: ``name_signals``)
# --------------------------------------------------------------------------------------------


def look_logits(probes: PreparedLooks, sources: PreparedLooks, model: LookModel = FITTED_MODEL, *,
                sibling: bool = False, blocks: Sequence[Block] | None = None) -> np.ndarray:
    """P x S log-odds that each probe was made from each source, from its looks alone.

    A linear model over the similarity channels of ``looks``, fitted by maximum likelihood on the
    labelled corpora (``book-assets eval-pairing --fit``); pairs where either image lacks the newer
    features use the hash-and-colour fallback model. ``blocks`` (``pair_blocks``: none overlaps another):
    score only the pairs in them, the others NaN.
    """
    channels = look_channels(probes, sources, sibling=sibling, blocks=blocks)
    # channel by channel, in the channels' float32: mixed with float64 weights, the product would copy them all
    weights = model.weight_vector().astype(channels.dtype)
    logits = np.tensordot(weights, np.moveaxis(channels, -1, 0), axes=1).astype(np.float64)
    full = probes.full_ok[:, None] & sources.full_ok[None, :]
    if not full.all():
        logits = np.where(full, logits, fallback_channels(channels) @ model.fallback_weight_vector())
    known = (probes.hash_ok | probes.colour_ok)[:, None] & (sources.hash_ok | sources.colour_ok)[None, :]
    if not known.all():
        logits = np.where(known, logits, LOOK_UNKNOWN_LOGIT)
    if blocks is None or sum(rows.size * cols.size for rows, cols in blocks) == logits.size:
        return logits
    scored = np.full(logits.shape, np.nan)
    for rows, cols in blocks:
        scored[np.ix_(rows, cols)] = logits[np.ix_(rows, cols)]
    return scored


def _upload_time_scores(generated: Sequence[Candidate], drawings: Sequence[Candidate]) -> np.ndarray:
    g_time = np.array([c.uploaded for c in generated], dtype=np.float64)
    d_time = np.array([c.uploaded for c in drawings], dtype=np.float64)
    known = (g_time > 0)[:, None] & (d_time > 0)[None, :]
    closeness = np.exp(-np.abs(g_time[:, None] - d_time[None, :]) / UPLOAD_TIME_SCALE_S)
    return np.where(known, closeness, 0.0)


# --------------------------------------------------------------------------------------------
# Pairing
# --------------------------------------------------------------------------------------------


def _name(key: str | None) -> str:
    return key.rsplit("/", 1)[-1] if key else "?"


@dataclass
class _Evidence:
    """Everything known about the variation x drawing pairs of one book."""

    provenance: np.ndarray    # G x D, 0..1
    filename: np.ndarray      # G x D, 0..1
    looks: np.ndarray         # G x D, log-odds from looks (the look-alike variations' evidence included)
    upload: np.ndarray        # G x D, 0..1 closeness in upload time
    null_logit: np.ndarray    # G: log-odds that the variation came from none of these drawings

    def logits(self) -> np.ndarray:
        """Names and provenance outrank looks: looks only span LOOK_SPAN below the row's best look."""
        looks = np.maximum(self.looks, self.looks.max(axis=1, keepdims=True) - LOOK_SPAN)
        return looks + FILENAME_LOGIT * self.filename + PROVENANCE_LOGIT * self.provenance

    def posterior(self) -> np.ndarray:
        """G x (D + 1) probabilities: each drawing, then "none of them" (the last column)."""
        return _softmax(np.concatenate([self.logits(), self.null_logit[:, None]], axis=1))

    def look_posterior(self) -> np.ndarray:
        return _softmax(np.concatenate([self.looks, self.null_logit[:, None]], axis=1))

    def named(self) -> np.ndarray:
        """G: variations whose file name or provenance names some drawing (those outrank looks, so the
        look passes leave them be)."""
        return (self.filename.max(axis=1) > 0) | (self.provenance.max(axis=1) > 0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(logits))


def pair_images(
    drawings: Sequence[Candidate],
    generated: Sequence[Candidate],
    overrides: Mapping[str, str | None] | None = None,
    *,
    review_below: float = REVIEW_BELOW,
    capacity: int | None = None,
    model: LookModel = FITTED_MODEL,
    memo: LookMemo | None = None,
) -> PairingResult:
    """Assign every generated image to one drawing; one ``Pair`` per input, in input order.

    Deterministic: inputs are sorted by key before scoring and solving, so shuffled input gives the
    same pairs. ``capacity`` caps variations per drawing (overrides count towards it); the default
    max(16, 2 * ceil(G / D)) lets real, uneven books fit while no drawing can absorb everything.
    An override to None (``pairs_csv.parse_overrides``' "none of these") excludes the variation; a pair more
    likely wrong than right (confidence below ``HOLD_BELOW``) is held out of the book. ``model`` is
    the fitted look model; the fitting command passes candidates of its own. ``memo`` (for that model)
    holds the look log-odds of the book's last pairing: only pairs with a new image are scored.
    """
    memo = memo if memo is not None else LookMemo()
    overrides = dict(overrides or {})
    excluded = {key for key, target in overrides.items() if target is None}
    if any(c.key in excluded for c in generated):
        # Taken out before scoring: an excluded variation fills no drawing's place and is nobody's sibling.
        kept = pair_images(drawings, [c for c in generated if c.key not in excluded],
                           {k: v for k, v in overrides.items() if v is not None},
                           review_below=review_below, capacity=capacity, model=model, memo=memo)
        others = iter(kept.pairs)
        return PairingResult([_excluded_pair(c.key) if c.key in excluded else next(others) for c in generated],
                             kept.ordered_variations)
    unique_drawings: dict[str, Candidate] = {}
    for candidate in drawings:
        unique_drawings.setdefault(candidate.key, candidate)
    drawing_list = [unique_drawings[k] for k in sorted(unique_drawings)]
    drawing_keys = [c.key for c in drawing_list]
    drawing_index = {k: i for i, k in enumerate(drawing_keys)}
    n_gen, n_drw = len(generated), len(drawing_list)

    if n_drw == 0:
        reason = "This book has no drawings to pair it with."
        pairs = [Pair(c.key, None, 0.0, True, [], None, 0.0, reason, status=PairStatus.UNPAIRED) for c in generated]
        return PairingResult(pairs)

    order = sorted(range(n_gen), key=lambda i: (generated[i].key, i))
    gen_sorted = [generated[i] for i in order]
    gen_keys = [c.key for c in gen_sorted]

    prepared = _PreparedLooksOnce(drawing_list)
    full_looks = full_looks_ok([c.features for c in gen_sorted])
    look_null = np.where(full_looks, model.null_logit, model.fallback_null_logit)
    drawing_looks = _centred_on_drawings(
        _memo_looks(memo, LookMatrixName.DRAWINGS, gen_sorted, drawing_list, model, prepared), full_looks,
        model.drawing_centring)
    evidence = _Evidence(
        provenance=provenance_scores([c.features.provenance or "" for c in gen_sorted], drawing_keys),
        filename=filename_scores(gen_keys, drawing_keys),
        looks=drawing_looks.copy(),
        upload=_upload_time_scores(gen_sorted, drawing_list),
        null_logit=look_null,
    )

    if capacity is None:
        capacity = max(16, 2 * math.ceil(n_gen / n_drw))
    capacity = max(0, int(capacity))

    assigned = np.full(n_gen, -1, dtype=np.int64)
    fixed = np.zeros(n_gen, dtype=bool)
    bad_override: dict[int, str] = {}
    for row, key in enumerate(gen_keys):
        if key in overrides:
            target = overrides[key]
            if target in drawing_index:
                assigned[row], fixed[row] = drawing_index[target], True
            else:
                bad_override[row] = target
    remaining = _room_left(assigned[fixed], capacity, n_drw)
    # A drawing's variations resemble each other: each one's evidence is joined by its look-alikes'.
    neighbours = _add_sibling_evidence(
        evidence, lambda: _memo_looks(memo, LookMatrixName.SIBLINGS, gen_sorted, gen_sorted, model, prepared,
                                      sibling=True),
        assigned, fixed, model, lambda: _subject_matches(evidence, gen_sorted, fixed, memo, prepared))
    # Pooled evidence is surer than any one image's: scale it so the confidences stay calibrated. A
    # book the sibling pass cannot pool (one drawing, or one variation) keeps the look model's own
    # log-odds, which are fitted to be calibrated pair by pair.
    calibration = model.calibration if neighbours is not None else 1.0
    evidence.looks *= calibration
    evidence.null_logit = evidence.null_logit * calibration
    _solve(evidence, assigned, fixed, remaining)
    # The book's holds read what each variation had before the anchor pass let the unsure vouch for each other.
    first_probability = np.exp(kept_log_probability(_drawing_log_probabilities(evidence.posterior()), assigned))
    first = FirstSolve(assigned.copy(), first_probability, drawing_looks - look_null[:, None])
    # A variation still unsure is compared, through every window, with its likeliest drawings' surest ones.
    # Only they are placed again, into the room the others leave: evidence added to some rows only must
    # not decide which of the others a full drawing keeps.
    spoken_for = _add_anchor_evidence(evidence, gen_sorted, assigned, fixed, model, memo, prepared, look_null,
                                      drawing_looks, calibration)
    if spoken_for is not None:
        kept = np.ones(n_gen, dtype=bool)
        kept[spoken_for] = False
        assigned[spoken_for] = -1
        _solve(evidence, assigned, kept, _room_left(assigned[kept], capacity, n_drw))
    moves = move_groups(_placements(evidence, assigned, fixed, first), neighbours, capacity, HOLD_BELOW)
    full = np.bincount(assigned[assigned >= 0], minlength=n_drw) >= capacity

    posterior, look_posterior = evidence.posterior(), evidence.look_posterior()
    pairs_sorted = [
        _explain(row, key, int(assigned[row]), bool(fixed[row]), bad_override.get(row), evidence, posterior,
                 look_posterior, drawing_keys, full, capacity, review_below, moves.get(row))
        for row, key in enumerate(gen_keys)
    ]

    ordered: dict[str, list[str]] = {}
    for col, drawing_key in enumerate(drawing_keys):
        rows = [r for r in range(n_gen) if assigned[r] == col]
        rows.sort(key=lambda r: order_key(gen_keys[r], drawing_key, float(evidence.looks[r, col])))
        ordered[drawing_key] = [gen_keys[r] for r in rows]

    pairs: list[Pair | None] = [None] * n_gen
    for position, original in enumerate(order):
        pairs[original] = pairs_sorted[position]
    return PairingResult([p for p in pairs if p is not None], ordered)


def _room_left(placed_on: np.ndarray, capacity: int, n_drw: int) -> np.ndarray:
    """Per drawing, how many more variations it may take beside those placed on it (-1: none)."""
    return np.maximum(capacity - np.bincount(placed_on[placed_on >= 0], minlength=n_drw), 0)


class _PreparedLooksOnce:
    """The PreparedLooks of some candidates, made once per pairing: a book's variations are the probes
    against the drawings and then both the probes and the sources of the sibling pass and the anchor
    pass, and each making of 1,000 variations' is ~100 MB and half a second. Known by the candidates
    themselves (not their places in a list), so any list of them is cut from a preparation that holds
    them all. The sibling pass needs only whole frames: when no full preparation of those candidates is
    at hand (a rebuild scoring one new variation against the rest), it gets a whole-frames one."""

    def __init__(self, drawings: Sequence[Candidate]) -> None:
        self._made: dict[tuple[tuple[int, ...], bool], PreparedLooks] = {}
        self._subjects: dict[tuple[int, ...], PreparedLooks] = {}
        self._drawings = list(drawings)
        self._backdrops: dict[int, np.ndarray | None] = {}     # id(candidate) -> its smooth backdrop, or None

    def __call__(self, candidates: Sequence[Candidate], rows: Iterable[int], *,
                 whole_frames_only: bool = False, subjects: bool = False) -> PreparedLooks:
        """``subjects``: each picture zoomed in on its subject where it stands on a smooth backdrop
        (``subject.zoomed_to_subjects``), as the anchor pass probes them."""
        rows = list(rows)
        chosen = [candidates[row] for row in rows]
        ids = tuple(id(candidate) for candidate in chosen)
        if subjects:
            if ids not in self._subjects:
                self._subjects[ids] = zoomed_to_subjects(self(candidates, rows), self.backdrops(chosen))
            return self._subjects[ids]
        full = (ids, False)
        key = (ids, True) if whole_frames_only and full not in self._made else full
        if key not in self._made:
            self._made[key] = self._sliced(ids) or PreparedLooks([c.features for c in chosen],
                                                                 whole_frames_only=key[1])
        return self._made[key]

    def backdrops(self, candidates: Sequence[Candidate]) -> dict[int, np.ndarray]:
        """Which of ``candidates`` stand on a smooth backdrop (``subject.plain_backdrops``), by their place
        in the list, with their masks; each candidate worked out once, from its thumbnail alone (a
        preparation of these candidates would copy every feature of theirs)."""
        missing = list({id(c): c for c in candidates if id(c) not in self._backdrops}.values())
        if missing:
            found = plain_backdrops([layout_thumbnail(c.features) for c in missing], range(len(missing)))
            self._backdrops.update({id(c): found.get(row) for row, c in enumerate(missing)})
        return {row: self._backdrops[id(c)] for row, c in enumerate(candidates) if self._backdrops[id(c)] is not None}

    def new_backdrops(self, candidates: Sequence[Candidate]) -> dict[int, np.ndarray]:
        """Of ``candidates``, by their place in the list, those on a new backdrop (``subject.new_backdrops``:
        not a drawing's paper), with their masks."""
        return new_backdrops([layout_thumbnail(c.features) for c in candidates], self.backdrops(candidates),
                             [layout_thumbnail(c.features) for c in self._drawings])

    def _sliced(self, ids: tuple[int, ...]) -> PreparedLooks | None:
        """These candidates cut from a full preparation that holds them all, if one was made."""
        for (made_ids, whole_frames_only), looks in self._made.items():
            if not whole_frames_only:
                position = {made: index for index, made in enumerate(made_ids)}
                if all(i in position for i in ids):
                    return looks.subset([position[i] for i in ids])
        return None


def _memo_looks(memo: LookMemo, name: LookMatrixName, probes: Sequence[Candidate], sources: Sequence[Candidate],
                model: LookModel, prepared: _PreparedLooksOnce, *, sibling: bool = False, subjects: bool = False,
                wanted: np.ndarray | None = None) -> np.ndarray:
    """``look_logits`` of probes x sources (of the ``wanted`` pairs only: the others NaN), scoring only
    the pairs ``memo`` does not know; ``subjects``: the probes zoomed in on their subjects."""
    def score(needed: np.ndarray) -> np.ndarray:
        rows, cols = np.flatnonzero(needed.any(axis=1)), np.flatnonzero(needed.any(axis=0))
        scored = look_logits(prepared(probes, rows.tolist(), whole_frames_only=sibling, subjects=subjects),
                             prepared(sources, cols.tolist(), whole_frames_only=sibling), model, sibling=sibling,
                             blocks=pair_blocks(needed[np.ix_(rows, cols)]))
        if scored.shape == needed.shape:
            return scored
        values = np.full(needed.shape, np.nan)
        values[np.ix_(rows, cols)] = scored
        return values

    return memo.matrix(name, [c.content_id for c in probes], [c.content_id for c in sources], score, wanted)


def _centred_on_drawings(looks: np.ndarray, full: np.ndarray, weight: float) -> np.ndarray:
    """Variation x drawing look log-odds, each drawing's less ``weight`` x its baseline.

    Some drawings look a little like everything (a colourful one, beside photo-like renditions) and some
    like nothing much (an outline on white paper), so a rendition of the outline loses to the colourful
    drawing on looks alone. A drawing's baseline is how alike it looks to the variations that look clearly
    more like another drawing (by DRAWING_BASELINE_MARGIN; their median log-odds, against the median
    drawing's): measured on the others, it holds in an uneven book, where most variations are one
    drawing's, and twin drawings stay twins. A drawing measured on fewer than
    DRAWING_BASELINE_MIN_VARIATIONS keeps its log-odds (nothing is known of its baseline), and so do all
    when fewer than two are measured. Only the rows ``full`` (every look feature: the fallback model's
    log-odds are on another scale) are measured and moved."""
    rows = np.flatnonzero(full)
    if weight == 0 or looks.shape[1] < 2 or rows.size == 0:
        return looks
    measured = looks[rows]
    elsewhere = measured <= measured.max(axis=1, keepdims=True) - DRAWING_BASELINE_MARGIN
    known = np.flatnonzero(elsewhere.sum(axis=0) >= DRAWING_BASELINE_MIN_VARIATIONS)
    if known.size < 2:
        return looks
    baseline = np.array([np.median(measured[elsewhere[:, col], col]) for col in known])
    centred = looks.copy()
    centred[np.ix_(rows, known)] -= weight * (baseline - np.median(baseline))
    return centred


def _subject_matches(evidence: _Evidence, generated: Sequence[Candidate], fixed: np.ndarray, memo: LookMemo,
                     prepared: _PreparedLooksOnce) -> np.ndarray | None:
    """G x G: how well each variation its own evidence leaves unsure (below REVIEW_BELOW, not a
    reviewer's) and that stands on a new backdrop (``subject.new_backdrops``: a smooth one that is not
    a drawing's own paper) matches, by its subject, each other variation
    (``subject_match.subject_likeness``); NaN for every other pair. None when no variation is such."""
    n_gen, n_drw = evidence.looks.shape
    if n_gen < 2 or n_drw < 2:
        return None
    posterior = evidence.posterior()[:, :n_drw]
    looks = prepared(generated, range(n_gen))
    unsure = np.flatnonzero(~fixed & (posterior.max(axis=1) < REVIEW_BELOW))
    backdrops = {int(unsure[at]): mask for at, mask in prepared.new_backdrops([generated[r] for r in unsure]).items()}
    if not backdrops:
        return None
    rows = np.array(sorted(backdrops))
    # Compared with the variations of any drawing one of them may be from, sampled once for all of them.
    likeliest = np.argsort(-posterior[rows], axis=1, kind="stable")[:, :min(SUBJECT_CANDIDATES, n_drw)]
    wanted = np.zeros((n_gen, n_gen), dtype=bool)
    wanted[rows] = np.isin(np.argmax(posterior, axis=1), likeliest)[None, :]
    wanted[rows, rows] = False
    ids = [c.content_id for c in generated]
    matches = memo.matrix(LookMatrixName.SUBJECTS, ids, ids,
                          lambda needed: subject_likeness(looks, backdrops, looks, needed), wanted)
    matches[~wanted] = np.nan
    return matches


def _add_sibling_evidence(
    evidence: _Evidence, sibling_looks: Callable[[], np.ndarray], assigned: np.ndarray, fixed: np.ndarray,
    model: LookModel, subject_matches: Callable[[], np.ndarray | None] = lambda: None
) -> np.ndarray | None:
    """Let each variation's look evidence be joined by that of the variations most like it; returns each
    variation's SIBLING_NEIGHBOURS look-alikes (G x k rows), or None when there is nothing to pool (fewer
    than two variations or drawings, or the pass is off).

    Renditions of one drawing resemble each other far more than any of them resembles the child's
    drawing, so a rendition that alone looks a little more like the wrong drawing is carried by its
    siblings: label propagation over a graph linking each variation to its SIBLING_NEIGHBOURS most
    alike ones, weighted by how alike (``model.sibling_sharpness``) against a silent neighbour as alike
    as "none of these", for SIBLING_STEPS rounds. A reviewer's placement (an override) speaks with full
    weight for its drawing. How much the siblings count (``model.sibling_weight``) is fitted with the
    look model.
    """
    n_gen, n_drw = evidence.looks.shape
    if n_gen < 2 or n_drw < 2 or model.sibling_weight == 0:
        return None
    alike = sibling_looks()       # variation x variation look log-odds
    np.fill_diagonal(alike, -np.inf)
    k = min(SIBLING_NEIGHBOURS, n_gen - 1)
    neighbours = np.argpartition(-alike, k - 1, axis=1)[:, :k]
    by_subject = subject_matches()
    if by_subject is not None:
        _link_by_subject(neighbours, by_subject, alike)
    # One more, silent neighbour at the "none of these" log-odds: a variation that resembles none of
    # the others (a stray) mostly hears silence instead of its unrelated neighbours.
    closeness = np.take_along_axis(alike, neighbours, axis=1)
    weights = _softmax(model.sibling_sharpness * np.concatenate(
        [closeness, evidence.null_logit[:, None]], axis=1))[:, :k]
    # Each variation's choices (the drawings, then "none of these") as log-odds; a neighbour votes with
    # its log-probabilities, so a neighbour sure of a drawing lifts it and a neighbour that looks
    # like none of them (a stray) lifts "none".
    base = np.concatenate([evidence.looks, evidence.null_logit[:, None]], axis=1)
    if fixed.any():
        base[fixed] = np.where(np.arange(n_drw + 1)[None, :] == assigned[fixed][:, None], 0.0, -LOOK_SPAN)
    spread = base
    for _ in range(SIBLING_STEPS):
        votes = np.maximum(_log_softmax(spread), -LOOK_SPAN)
        spread = base + model.sibling_weight * np.einsum("gk,gkd->gd", weights, votes[neighbours])
    evidence.looks[~fixed] = spread[~fixed, :n_drw]
    evidence.null_logit = np.where(fixed, evidence.null_logit, spread[:, n_drw])
    return neighbours


def _link_by_subject(neighbours: np.ndarray, subject_matches: np.ndarray, alike: np.ndarray) -> None:
    """Each row of ``neighbours`` (G x k) with subject matches becomes the k variations its subject
    matches best, made up, if fewer were matched, with its most alike whole frames."""
    k = neighbours.shape[1]
    for row in np.flatnonzero(np.isfinite(subject_matches).any(axis=1)):
        matched = np.flatnonzero(np.isfinite(subject_matches[row]))
        best = matched[np.argsort(-subject_matches[row, matched], kind="stable")[:k]]
        if best.size < k:
            others = np.argsort(-alike[row], kind="stable")
            others = others[~np.isin(others, best) & (others != row)]
            best = np.concatenate([best, others[:k - best.size]])
        neighbours[row] = best


def _add_anchor_evidence(
    evidence: _Evidence, generated: Sequence[Candidate], assigned: np.ndarray, fixed: np.ndarray, model: LookModel,
    memo: LookMemo, prepared: _PreparedLooksOnce, look_null: np.ndarray, drawing_looks: np.ndarray,
    calibration: float = 1.0
) -> np.ndarray | None:
    """Let each variation the first pass is unsure of hear from the surest variations of its likeliest
    drawings.

    Renditions of one picture resemble each other more than any resembles the child's drawing, but a
    reframed one, or one whose subject was set on a new background, resembles its siblings' whole
    frames too little for the whole-frame sibling pass. So each variation placed with less than
    REVIEW_BELOW (or not placed), and whose name and provenance name no drawing (those outrank looks),
    is compared through every reframing, tilting and mirroring window (and zoomed in on its subject when
    it stands on a smooth background, new or a drawing's paper: ``subject``) with the ANCHORS_PER_DRAWING most
    confidently placed variations (a reviewer's placements first) of each of its ANCHOR_CANDIDATES
    likeliest drawings (the drawing alone speaks for the others). A drawing's best anchor, or the
    drawing itself, speaks for it, as the look model scores the pair, against "none of these" (the
    look model's, plus ``model.anchor_null_offset``); the vote, as
    log-probabilities at ``model.anchor_sharpness``, joins the evidence with weight
    ``model.anchor_weight``. All three numbers are fitted. ``calibration``: what the pooled evidence was
    scaled by (1.0: not scaled). Returns the rows whose evidence changed (None when none did): only
    they are placed again.
    """
    n_gen, n_drw = evidence.looks.shape
    if model.anchor_weight == 0 or n_gen < 2 or n_drw < 2:
        return None
    posterior = evidence.posterior()
    placed = assigned >= 0
    sureness = np.where(fixed, 2.0, np.where(placed, posterior[np.arange(n_gen), np.maximum(assigned, 0)], 0.0))
    named = evidence.named()
    unsure = np.flatnonzero(~fixed & ~named & (sureness < REVIEW_BELOW))
    anchors = np.concatenate([members[np.argsort(-sureness[members], kind="stable")[:ANCHORS_PER_DRAWING]]
                              for members in (np.flatnonzero(assigned == col) for col in range(n_drw))])
    if unsure.size == 0 or anchors.size == 0:
        return None

    speaks_for = _anchors_speak_for(posterior[anchors, :n_drw], assigned[anchors], fixed[anchors], calibration)
    # Only the anchors of a variation's ANCHOR_CANDIDATES likeliest drawings are compared with it: the
    # others' drawings are far behind already, and in a book of 100 drawings they are nine pairs in ten.
    candidates = min(ANCHOR_CANDIDATES, n_drw)
    likeliest = np.argsort(-posterior[unsure, :n_drw], axis=1, kind="stable")[:, :candidates]
    is_candidate = np.zeros((unsure.size, n_drw), dtype=bool)
    np.put_along_axis(is_candidate, likeliest, True, axis=1)
    wanted = (is_candidate.astype(np.int32) @ speaks_for.T.astype(np.int32)) > 0
    # Scored with the rest, dropped after: a variation is no anchor for itself, but taking its pair out
    # first would give each anchor's column a pattern of its own, and the anchors of one drawing would
    # be compared a column at a time instead of together.
    alike = _memo_looks(memo, LookMatrixName.ANCHORS, [generated[r] for r in unsure], [generated[r] for r in anchors],
                        model, prepared, subjects=True, wanted=wanted)
    alike[~wanted | (unsure[:, None] == anchors[None, :])] = -np.inf
    # The drawing itself stands in too, as the look model scores it: a drawing whose only anchor is
    # the variation itself (a book of one variation per drawing) is not outvoted for lack of one.
    best = drawing_looks[unsure].copy()
    for column, drawing in zip(*np.nonzero(speaks_for)):
        np.maximum(best[:, drawing], alike[:, column], out=best[:, drawing])
    null = look_null[unsure] + model.anchor_null_offset
    votes = np.maximum(_log_softmax(model.anchor_sharpness * np.concatenate([best, null[:, None]], axis=1)),
                       -LOOK_SPAN)
    evidence.looks[unsure] += model.anchor_weight * votes[:, :n_drw]
    evidence.null_logit = evidence.null_logit.copy()
    evidence.null_logit[unsure] += model.anchor_weight * votes[:, n_drw]
    return unsure


def _drawing_log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """G x D: the log of each drawing's probability (the "none of these" column dropped), floored above 0."""
    return np.log(np.maximum(probabilities[:, :-1], 1e-300))


def _placements(evidence: _Evidence, assigned: np.ndarray, fixed: np.ndarray, first: FirstSolve | None) -> Placements:
    """What the book-level moves read: log-probabilities, the solve's drawings, which pairs are sure (a
    reviewer's, or at REVIEW_BELOW or above), which the looks decided (the book may move the unsure of them),
    and the first solve (None: the each-other hold does not apply)."""
    log_posterior = _drawing_log_probabilities(evidence.posterior())
    placed = assigned >= 0
    sure = placed & (fixed | (kept_log_probability(log_posterior, assigned) >= math.log(REVIEW_BELOW)))
    by_looks = placed & ~fixed & ~evidence.named()
    return Placements(log_posterior, assigned, sure, by_looks, first)


def _anchors_speak_for(posterior: np.ndarray, placed_on: np.ndarray, fixed: np.ndarray,
                       calibration: float) -> np.ndarray:
    """Anchors x drawings: which drawings each anchor speaks for. Its own (``placed_on``), and any other
    it finds as likely, to ANCHOR_TIE: one placed on a coin flip between twin drawings speaks for both;
    a reviewer's placement (``fixed``) only for its own. ``posterior``'s log-odds are the pooled evidence
    times ``calibration`` (a tenth, say), so the tie is judged at ANCHOR_TIE ** calibration: at 0.95 on
    that flattened scale, most drawings of a book were "as likely" to an anchor and all spoke with its
    voice (a rendition on a new background then heard the same from its drawing and the wrong one)."""
    n_anchors, n_drw = posterior.shape
    own = posterior[np.arange(n_anchors), placed_on][:, None]
    speaks_for = posterior >= ANCHOR_TIE ** calibration * own
    speaks_for[np.arange(n_anchors), placed_on] = True
    speaks_for[fixed] = np.arange(n_drw)[None, :] == placed_on[fixed][:, None]
    return speaks_for


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _solve(evidence: _Evidence, assigned: np.ndarray, fixed: np.ndarray, remaining: np.ndarray) -> None:
    """Fill ``assigned`` for the rows not fixed by overrides, most probable overall, within capacity."""
    free_rows = np.flatnonzero(~fixed)
    if free_rows.size == 0:
        return
    log_posterior = _drawing_log_probabilities(evidence.posterior())
    look_log_posterior = _drawing_log_probabilities(evidence.look_posterior())
    # Upload time only tips near-ties (a few per cent of probability), never outvotes evidence; the
    # unclipped looks break the ties LOOK_SPAN's clipping makes (which variations move when a drawing
    # is full: those least like it).
    scores = (np.maximum(log_posterior, LOG_PROBABILITY_FLOOR) + UPLOAD_TIME_TIE_WEIGHT * evidence.upload
              + LOOK_TIE_WEIGHT * np.maximum(look_log_posterior, LOG_PROBABILITY_FLOOR))[free_rows]
    # Everyone on their favourite is optimal whenever it fits; only solve when capacity binds.
    favourite = np.argmax(scores, axis=1)
    if np.all(np.bincount(favourite, minlength=scores.shape[1]) <= remaining):
        assigned[free_rows] = favourite
        return
    slots = min(int(remaining.sum()), free_rows.size)
    if slots == 0:
        return
    # Each drawing needs at most min(remaining, rows) replicated columns.
    reps = np.minimum(remaining, free_rows.size)
    column_owner = np.repeat(np.arange(scores.shape[1]), reps)
    rows, cols = linear_sum_assignment(-scores[:, column_owner])
    assigned[free_rows[rows]] = column_owner[cols]


def _explain(
    row: int,
    key: str,
    col: int,
    is_override: bool,
    bad_override: str | None,
    evidence: _Evidence,
    posterior: np.ndarray,
    look_posterior: np.ndarray,
    drawing_keys: Sequence[str],
    full: np.ndarray,
    capacity: int,
    review_below: float,
    moved: GroupMove | None = None,
) -> Pair:
    """Turn one assignment into a Pair: runner-up, margin, calibrated confidence, signals and reason;
    ``moved``: why the book moved it (``look_alike_groups``), if it did."""
    n_drw = len(drawing_keys)
    probabilities = posterior[row, :n_drw]
    if col < 0:
        best = int(np.argmax(probabilities))
        reason = (
            f"Every drawing already has its {capacity} variations, so it was left out; "
            f"it looks most like {_name(drawing_keys[best])}."
        )
        return Pair(key, None, 0.0, True, [], drawing_keys[best], 0.0, reason, status=PairStatus.UNPAIRED)

    others = np.delete(np.arange(n_drw), col)
    runner = int(others[np.argmax(probabilities[others])]) if others.size else None
    score = float(probabilities[col])
    none_of_them = float(posterior[row, n_drw])
    runner_score = float(probabilities[runner]) if runner is not None else none_of_them
    margin = score - runner_score
    runner_key = drawing_keys[runner] if runner is not None else None

    if is_override:
        return Pair(key, drawing_keys[col], 1.0, False, [SIGNAL_OVERRIDE], runner_key, round(margin, 6), "",
                    round(score, 6))

    signals = []
    looks = evidence.looks[row]
    for name, values in ((SIGNAL_PROVENANCE, evidence.provenance[row]), (SIGNAL_FILENAME, evidence.filename[row]),
                         (SIGNAL_VISUAL, looks), (SIGNAL_UPLOAD_TIME, evidence.upload[row])):
        if name == SIGNAL_UPLOAD_TIME:
            decisive = runner is not None and abs(margin) < UPLOAD_TIME_TIE_MARGIN and values[col] > values[runner] + 1e-9
        elif runner is None:
            decisive = values[col] > 1e-9 if name != SIGNAL_VISUAL else looks[col] > evidence.null_logit[row]
        else:
            decisive = values[col] > values[runner] + 1e-9
        if decisive:
            signals.append(name)

    confidence = score
    reason = ""
    looks_alone = look_posterior[row] if n_drw > 1 else None
    look_best = int(np.argmax(looks))
    named_by = [s for s in signals if s in (SIGNAL_PROVENANCE, SIGNAL_FILENAME)]
    if (named_by and looks_alone is not None and look_best != col
            and looks_alone[look_best] >= LOOK_CONFLICT_PROBABILITY):
        confidence = min(confidence, CONFLICT_CONFIDENCE_CAP)
        what = "provenance" if named_by[0] == SIGNAL_PROVENANCE else "name"
        reason = (
            f"Its {what} points to {_name(drawing_keys[col])} but it looks more like "
            f"{_name(drawing_keys[look_best])}."
        )
    elif margin < 0 and runner is not None and full[runner]:
        reason = (
            f"Looks more like {_name(runner_key)}, which already has {capacity} variations, "
            f"so it went to {_name(drawing_keys[col])}."
        )
    elif confidence < review_below:
        if runner_key is not None and none_of_them >= score:
            reason = f"Looks like none of the drawings; the closest is {_name(drawing_keys[col])}."
        elif runner_key is not None and abs(margin) < 0.1:
            reason = f"Looks almost equally like {_name(drawing_keys[col])} and {_name(runner_key)}."
        elif runner_key is not None:
            reason = (
                f"Probably from {_name(drawing_keys[col])}, but {_name(runner_key)} is a close second."
            )
        else:
            reason = f"Looks only faintly like {_name(drawing_keys[col])}, the book's only drawing."
    if moved is not None:
        signals = [moved.value]
        drawing, closer = _name(drawing_keys[col]), _name(runner_key) if margin < 0 and runner_key else None
        if moved is GroupMove.EMPTY_DRAWING:
            alone = f" (alone it looks most like {closer})" if closer else ""
            reason = (f"Proposed for {drawing}, which had few or no variations: it and its look-alike "
                      f"variations are sure of no drawing{alone}.")
        elif moved is GroupMove.NO_DRAWING:
            reason = (f"Held out of the book: it and its look-alike variations match none of the drawings well, "
                      f"and each leans to a drawing that already has another picture's variations (this one to "
                      f"{drawing}): their own drawing may be missing from the book (not uploaded yet, or rejected).")
        elif moved is GroupMove.EACH_OTHER:
            reason = (f"Held out of the book: {drawing} has only a few variations, and none of them looks like it "
                      f"by itself; they are sure of it only because they look like each other. Its own variations "
                      f"may not be uploaded yet.")
        else:
            alone = f" (alone it looks most like {closer}, which holds another picture's variations)" if closer else ""
            reason = f"Proposed for {drawing}, with most of the variations most like it{alone}."
    if bad_override is not None:
        reason = (f"pairs.csv names {_name(bad_override)}, which is not a drawing of this book. " + reason).strip()
        confidence = min(confidence, CONFLICT_CONFIDENCE_CAP)
    confidence = round(min(max(confidence, 0.0), 0.999), 4)
    if not signals:
        signals = [SIGNAL_VISUAL]
    book_holds = moved is not None and moved.holds
    if book_holds:
        # the book's pattern outweighs the pair's own odds: more likely wrong than right
        confidence = min(confidence, CONFLICT_CONFIDENCE_CAP)
    held = confidence < HOLD_BELOW or book_holds
    if held and not book_holds:
        reason = f"{_held_reason(drawing_keys[col], score, runner_key, runner_score)} {reason}".strip()
    return Pair(key, drawing_keys[col], confidence, held or confidence < review_below, signals, runner_key,
                round(margin, 6), reason, round(score, 6), PairStatus.HELD if held else PairStatus.PLACED)


def _held_reason(drawing: str, probability: float, runner_up: str | None, runner_probability: float) -> str:
    """Why a pair is held, naming the two closest drawings with their probabilities, most likely first."""
    def odds(probability: float) -> str:
        return f"{probability:.2f}" if probability >= 0.005 else "< 0.01"

    head = f"Held out of the book: it is more likely not from {_name(drawing)} than from it;"
    if runner_up is None:
        return f"{head} the closest drawing is {_name(drawing)} ({odds(probability)})."
    closest = sorted([(probability, drawing), (runner_probability, runner_up)], key=lambda c: -c[0])
    return f"{head} the closest drawings are " + " and ".join(f"{_name(k)} ({odds(p)})" for p, k in closest) + "."


def _excluded_pair(key: str) -> Pair:
    """A variation a reviewer said comes from no drawing of this book: certain, left out, nothing to review."""
    return Pair(key, None, 1.0, False, [SIGNAL_OVERRIDE], None, 0.0,
                "pairs.csv says it is from none of this book's drawings, so it was left out.",
                status=PairStatus.REVIEWER_EXCLUDED)
