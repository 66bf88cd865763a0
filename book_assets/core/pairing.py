"""Pair every AI-generated variation with the one drawing it came from.

A variation on the wrong page is the mistake a parent spots at once, so pairing weighs several
kinds of evidence, strongest first, and says how sure it is:

1. a reviewer's override (``pairs.csv``) - certain;
2. provenance text inside the file (PNG chunks, EXIF/XMP) naming a drawing;
3. file-name tokens and stems (``max.png`` <-> ``max_03.png``, ``Max (2).png``);
4. visual similarity - perceptual hashes (robust to recolouring, made mirror-proof by also
   comparing against the drawing's mirrored hash) blended with colour histograms (robust to
   mirroring and reframing, blind to recolouring);
5. upload-time proximity, a tie-breaker only.

Signals are combined per variation into one 0..1 score per drawing, using only the signals that
actually tell the drawings apart for that variation, then assigned globally with
``scipy.optimize.linear_sum_assignment`` so no drawing silently absorbs everything. Confidence is
a logistic of the winning score and its margin over the runner-up, tuned on synthetic books so
that "0.9" is right about nine times in ten.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .imaging import ImageFeatures

SIGNAL_OVERRIDE = "override"
SIGNAL_PROVENANCE = "provenance"
SIGNAL_FILENAME = "filename"
SIGNAL_VISUAL = "visual"
SIGNAL_UPLOAD_TIME = "upload-time"

# Relative weights of the evidence signals. Provenance outweighs everything below it together,
# so a file that names its source is never out-voted by looks; names outweigh looks.
SIGNAL_WEIGHTS: dict[str, float] = {
    SIGNAL_PROVENANCE: 8.0,
    SIGNAL_FILENAME: 4.0,
    SIGNAL_VISUAL: 2.0,
}
# Upload time only tips near-ties in the assignment (at most this much of the 0..1 scale); it is
# left out of the margin and confidence, so a coin-flip stays flagged even when time tipped it.
UPLOAD_TIME_TIE_WEIGHT = 0.02

# Confidence = sigmoid(margin * (A + B * score) + C): a lead means more when the winner really
# matches; a dead heat (margin 0) gives 0.31. Fitted by maximum likelihood on 60 synthetic books
# (2,696 variations with random names plus 5 % strays from other books, features from
# imaging.analyse_image), checked on 60 other books.
CONFIDENCE_MARGIN_COEF = 9.8
CONFIDENCE_MARGIN_X_SCORE_COEF = 87.2
CONFIDENCE_BIAS = -0.81

# 95 % of unrelated drawings score below this visually; the yardstick when a book has one drawing.
VISUAL_UNRELATED_SCORE = 0.30
# A visual lead this large for a different drawing contradicts the name/provenance decision.
VISUAL_CONFLICT_MARGIN = 0.25
CONFLICT_CONFIDENCE_CAP = 0.5
UPLOAD_TIME_SCALE_S = 3600.0
HASH_UNRELATED_BITS = 24.0
TOKEN_MATCH_CAP = 0.9            # best score from shared name words; a shared stem prefix scores 1.0
HASH_WEIGHT = 0.5                # visual = HASH_WEIGHT * hash similarity + (1 - HASH_WEIGHT) * colour
PROVENANCE_STEM_SCORE = 0.8      # stem mentioned ("max"), weaker than the full name ("max.png")

GENERIC_TOKENS = frozenset(
    """
    variation variations var vars variant variants gen generated generation img image images pic
    picture photo copy final v ai edit edited output out result sample render rendered version ver
    new the an of and by png jpg jpeg webp drawing drawings draw sd dalle mj midjourney seed step
    steps style styled scan scanned upscaled upscale hires hd
    """.split()
)
_ROLE_FOLDERS = ("generated", "drawings")
_UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_HEX_BLOB_RE = re.compile(r"^(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}$", re.I)
_SPLIT_RE = re.compile(r"[\W_]+", re.UNICODE)
_PROVENANCE_WORD_CHARS = re.compile(r"[\w\-]", re.UNICODE)
_MAX_ORDER_NUMBER_DIGITS = 6     # longer digit runs are timestamps or seeds, not a variation number


@dataclass(frozen=True)
class Candidate:
    """One image of a book as pairing sees it."""

    key: str                 # bucket key, e.g. "books/b1/generated/max_03.png"
    features: ImageFeatures
    uploaded: float = 0.0    # epoch seconds (weak signal); 0 = unknown


@dataclass
class Pair:
    """Where one variation goes, how sure we are, and why."""

    generated: str
    drawing: str | None      # None only when it could not be paired at all (e.g. the book has no drawings)
    confidence: float        # 0..1, calibrated: "0.9" should be right ~9 times in 10
    needs_review: bool
    signals: list[str]       # which evidence decided, strongest first
    runner_up: str | None    # second-best drawing
    margin: float            # score - runner-up score (0..1 scale); negative when the better drawing was
                             # full, or upload time tipped a near-tie
    reason: str = ""         # plain sentence when unpaired or flagged
    score: float = 0.0       # combined evidence (0..1) for the chosen drawing, for review tables


@dataclass
class PairingResult:
    """One ``Pair`` per generated image (input order) plus each drawing's ordered variations."""

    pairs: list[Pair]
    # drawing key -> its variations in book order; filled by ``pair_images``. Left empty (e.g. when
    # rebuilt from a manifest), ``variations_of`` falls back to file-name numbers, then keys.
    ordered_variations: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def variations_of(self, drawing_key: str) -> list[str]:
        """Variations of one drawing: by the number in the file name, else most similar first, ties by key."""
        if drawing_key in self.ordered_variations:
            return list(self.ordered_variations[drawing_key])
        members = [p.generated for p in self.pairs if p.drawing == drawing_key]
        return sorted(members, key=lambda key: _order_key(key, drawing_key, 0.0))

    @property
    def unpaired(self) -> list[str]:
        return [p.generated for p in self.pairs if p.drawing is None]

    @property
    def needs_review(self) -> list[Pair]:
        return [p for p in self.pairs if p.needs_review]


# --------------------------------------------------------------------------------------------
# Overrides (pairs.csv)
# --------------------------------------------------------------------------------------------


def parse_overrides(csv_text: str, book_prefix: str, known_keys: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Read a reviewer's ``pairs.csv`` into {generated_key: drawing_key}; never raises.

    Cells may hold full keys, paths relative to the book (``generated/x.png``) or bare file names
    when unique. Every row that cannot be used is explained in a plain sentence instead; when a
    generated image is listed twice with different drawings, the later line wins (and is reported).
    """
    prefix = book_prefix if not book_prefix or book_prefix.endswith("/") else book_prefix + "/"
    index = _KeyIndex(prefix, known_keys)
    overrides: dict[str, str] = {}
    problems: list[str] = []
    source_line: dict[str, int] = {}
    try:
        rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    except csv.Error as exc:
        return {}, [f"pairs.csv could not be read as CSV ({exc}); no overrides were used."]

    numbered = [(number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        return {}, []
    header = numbered[0][1]
    columns = [cell.strip().lower() for cell in header]
    if "generated" in columns and "drawing" in columns:
        gen_col, drw_col = columns.index("generated"), columns.index("drawing")
        data = numbered[1:]
    elif len(header) >= 2 and all(
        len(index.resolve(cell.strip(), role)) == 1 for cell, role in zip(header[:2], ("generated", "drawings"))
    ):
        problems.append('pairs.csv has no header line "generated,drawing"; its first row was read as a pair.')
        gen_col, drw_col = 0, 1
        data = numbered
    else:
        found = ",".join(cell.strip() for cell in header)[:80]
        return {}, [
            f'pairs.csv must start with the header line "generated,drawing" but starts with "{found}"; '
            "no overrides were used."
        ]

    for line, row in data:
        cells = [row[c].strip() if c < len(row) else "" for c in (gen_col, drw_col)]
        if not all(cells):
            problems.append(f"pairs.csv line {line}: needs both a generated image and a drawing; skipped.")
            continue
        resolved: list[str] = []
        for name, role in zip(cells, ("generated", "drawings")):
            matches = index.resolve(name, role)
            if len(matches) == 1:
                resolved.append(matches[0])
            elif matches:
                shown = ", ".join(index.display(m) for m in matches[:3])
                problems.append(
                    f'pairs.csv line {line}: "{name}" matches more than one file ({shown}); '
                    "write its path to choose. Skipped."
                )
            else:
                problems.append(f'pairs.csv line {line}: there is no file "{name}" in this book; skipped.')
        if len(resolved) != 2:
            continue
        generated_key, drawing_key = resolved
        if generated_key == drawing_key:
            problems.append(f"pairs.csv line {line}: pairs a file with itself; skipped.")
            continue
        if index.role_of(drawing_key) == "generated" or index.role_of(generated_key) == "drawings":
            problems.append(
                f"pairs.csv line {line}: the first column must name a generated image and the second a "
                f"drawing, but it pairs {index.display(generated_key)} with {index.display(drawing_key)}; skipped."
            )
            continue
        if generated_key in overrides:
            earlier = source_line[generated_key]
            if overrides[generated_key] == drawing_key:
                problems.append(f"pairs.csv line {line}: repeats line {earlier}; the repeat changes nothing.")
                continue
            problems.append(
                f"pairs.csv line {line}: {index.display(generated_key)} was already paired on line "
                f"{earlier}; the later line wins."
            )
        overrides[generated_key] = drawing_key
        source_line[generated_key] = line
    return overrides, problems


class _KeyIndex:
    """The book's keys, indexed once so each pairs.csv cell resolves without scanning every key."""

    def __init__(self, prefix: str, known_keys: Iterable[str]):
        self.prefix = prefix
        self.keys = sorted({k for k in known_keys if k.startswith(prefix)})
        self.key_set = set(self.keys)
        self.by_name: dict[str, list[str]] = {}
        for key in self.keys:
            self.by_name.setdefault(key.rsplit("/", 1)[-1].lower(), []).append(key)

    def display(self, key: str) -> str:
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def role_of(self, key: str) -> str | None:
        first = self.display(key).split("/", 1)[0].lower()
        return first if first in _ROLE_FOLDERS else None

    def resolve(self, name: str, role: str) -> list[str]:
        """Keys a cell may mean: exact key, book-relative path, then a unique (case-insensitive) tail."""
        if not name or any(ord(ch) < 32 for ch in name):
            return []
        cleaned = name.replace("\\", "/")
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        for attempt in (cleaned, self.prefix + cleaned.lstrip("/")):
            if attempt in self.key_set:
                return [attempt]
        same_name = self.by_name.get(cleaned.rsplit("/", 1)[-1].lower(), [])
        for case_sensitive in (True, False):
            wanted = "/" + (cleaned if case_sensitive else cleaned.lower()).lstrip("/")
            matches = [k for k in same_name if (k if case_sensitive else k.lower()).endswith(wanted)]
            if len(matches) > 1:
                matches = [k for k in matches if self.role_of(k) == role] or matches
            if matches:
                return matches
        return []


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------


def _relative_parts(key: str) -> list[str]:
    """Path parts after the role folder (generated/ or drawings/); just the file name otherwise."""
    parts = [p for p in key.split("/") if p]
    for index, part in enumerate(parts):
        if part.lower() in _ROLE_FOLDERS:
            return parts[index + 1:] or parts[-1:]
    return parts[-1:]


def _strip_extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and 1 <= len(ext) <= 5 and ext.isalnum() else name


def _basename_stem(key: str) -> str:
    return _strip_extension(key.rsplit("/", 1)[-1])


def _split_words(chunk: str) -> list[str]:
    """Split one alphanumeric chunk at camelCase and letter/digit boundaries (Unicode-aware)."""
    words: list[str] = []
    current = ""
    for index, ch in enumerate(chunk):
        if current:
            prev = current[-1]
            nxt = chunk[index + 1] if index + 1 < len(chunk) else ""
            boundary = (
                (prev.isdigit() != ch.isdigit())
                or (prev.islower() and ch.isupper())
                or (prev.isupper() and ch.isupper() and nxt.islower())
            )
            if boundary:
                words.append(current)
                current = ""
        current += ch
    if current:
        words.append(current)
    return words


def _raw_words(key: str) -> list[str]:
    """All lowercase words of a key's book-relative path, extension and uuids removed."""
    words: list[str] = []
    for part in _relative_parts(key):
        text = _UUID_RE.sub(" ", _strip_extension(part))
        for chunk in _SPLIT_RE.split(text):
            if not chunk or _HEX_BLOB_RE.match(chunk):
                continue
            words.extend(word.lower() for word in _split_words(chunk))
    return words


def name_tokens(key: str, *, keep_numbers: bool = False) -> list[str]:
    """Distinguishing name tokens of a key: generic words and single letters dropped.

    Numbers are dropped unless ``keep_numbers`` (then normalised, "03" -> "3"): pairing keeps them
    only where a drawing's own name has them ("child9_max" vs "child8_max").
    """
    tokens = []
    for word in _raw_words(key):
        if word.isdecimal():
            if not keep_numbers or len(word) > _MAX_ORDER_NUMBER_DIGITS:
                continue
            word = str(int(word))
        elif len(word) < 2 or word in GENERIC_TOKENS:
            continue
        if word not in tokens:
            tokens.append(word)
    return tokens


def _variation_number(key: str, drawing_key: str | None) -> int | None:
    """The variation's number: the last number in its name that is not part of the drawing's name."""
    own = [int(w) for w in _raw_words(key) if w.isdecimal() and len(w) <= _MAX_ORDER_NUMBER_DIGITS]
    if drawing_key:
        for number in (int(w) for w in _raw_words(drawing_key) if w.isdecimal()):
            if number in own:
                own.remove(number)
    return own[-1] if own else None


def _order_key(key: str, drawing_key: str | None, similarity: float) -> tuple:
    number = _variation_number(key, drawing_key)
    if number is not None:
        return (0, number, 0.0, key)
    return (1, 0, -round(similarity, 9), key)


def _filename_scores(generated_keys: Sequence[str], drawing_keys: Sequence[str]) -> np.ndarray:
    """G x D name agreement in 0..1: max of an IDF-weighted token Jaccard and a stem-prefix match."""
    n_gen, n_drw = len(generated_keys), len(drawing_keys)
    scores = np.zeros((n_gen, n_drw))
    if n_gen == 0 or n_drw == 0:
        return scores
    drawing_tokens = [name_tokens(k, keep_numbers=True) for k in drawing_keys]
    document_freq = Counter(t for tokens in drawing_tokens for t in tokens)
    vocabulary = sorted(document_freq)
    if vocabulary:
        column = {t: i for i, t in enumerate(vocabulary)}
        weights = np.array([math.log1p(n_drw / document_freq[t]) for t in vocabulary])
        drawing_matrix = np.zeros((n_drw, len(vocabulary)))
        for row, tokens in enumerate(drawing_tokens):
            drawing_matrix[row, [column[t] for t in tokens]] = 1.0
        generated_matrix = np.zeros((n_gen, len(vocabulary)))
        for row, key in enumerate(generated_keys):
            hits = [column[t] for t in name_tokens(key, keep_numbers=True) if t in column]
            generated_matrix[row, hits] = 1.0
        shared = generated_matrix @ (drawing_matrix * weights).T
        union = (generated_matrix @ weights)[:, None] + (drawing_matrix @ weights)[None, :] - shared
        # Shared words are weaker evidence than a shared stem, so they stay below a prefix match.
        scores = TOKEN_MATCH_CAP * np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)

    # Stem prefix: "max" -> "max_03", "Max (2)", "max2"; "IMG_0001" -> "IMG_0001_var2". Longest wins.
    drawing_stems = [_basename_stem(k).lower() for k in drawing_keys]
    for row, key in enumerate(generated_keys):
        candidates = {_basename_stem(key).lower(), "/".join(_relative_parts(key)).lower()}
        best_length, best_columns = 0, []
        for col, stem in enumerate(drawing_stems):
            if len(stem) < 2 or not any(_prefix_match(text, stem) for text in candidates):
                continue
            if len(stem) > best_length:
                best_length, best_columns = len(stem), [col]
            elif len(stem) == best_length:
                best_columns.append(col)
        for col in best_columns:
            scores[row, col] = 1.0
    return scores


def _prefix_match(text: str, stem: str) -> bool:
    if not text.startswith(stem):
        return False
    if len(text) == len(stem):
        return True
    nxt = text[len(stem)]
    if not nxt.isalnum():
        return True
    return stem[-1].isalpha() and nxt.isdigit()


def _mentions(text: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``text`` as a whole token (no letter, digit, _ or - either side)."""
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        before_ok = start == 0 or not _PROVENANCE_WORD_CHARS.match(text[start - 1])
        after_ok = end == len(text) or not _PROVENANCE_WORD_CHARS.match(text[end])
        if before_ok and after_ok:
            return True
        start = text.find(needle, start + 1)
    return False


def _provenance_scores(generated: Sequence[Candidate], drawing_keys: Sequence[str]) -> np.ndarray:
    """G x D: 1.0 when the provenance names the drawing's file, 0.8 for its stem alone."""
    scores = np.zeros((len(generated), len(drawing_keys)))
    names = [k.rsplit("/", 1)[-1].lower() for k in drawing_keys]
    stems = [_basename_stem(k).lower() for k in drawing_keys]
    stem_usable = [len(s) >= 3 and any(ch.isalpha() for ch in s) for s in stems]
    for row, candidate in enumerate(generated):
        text = (candidate.features.provenance or "").lower()
        if not text:
            continue
        for col in range(len(drawing_keys)):
            if names[col] in text and _mentions(text, names[col]):
                scores[row, col] = 1.0
            elif stem_usable[col] and stems[col] in text and _mentions(text, stems[col]):
                scores[row, col] = PROVENANCE_STEM_SCORE
    return scores


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


def _hash_similarity(distance: np.ndarray) -> np.ndarray:
    """0 bits -> 1.0; from ~24 differing bits on (unrelated images differ in 20-34) -> 0."""
    return np.clip(1.0 - distance / HASH_UNRELATED_BITS, 0.0, 1.0)


def _visual_scores(generated: Sequence[Candidate], drawings: Sequence[Candidate]) -> np.ndarray:
    """G x D look-alike score in 0..1, mirror-invariant, robust to recolouring or to reframing."""
    g_ph, g_ok = _hashes(c.features.phash for c in generated)
    d_ph, d_ok = _hashes(c.features.phash for c in drawings)
    d_phm, d_okm = _hashes(c.features.phash_mirror for c in drawings)
    g_dh, g_okd = _hashes(c.features.dhash for c in generated)
    d_dh, d_okd = _hashes(c.features.dhash for c in drawings)
    direct_ph = _hamming(g_ph, d_ph)
    mirrored_ph = np.where(d_okm[None, :], _hamming(g_ph, d_phm), direct_ph)
    # dhash has no mirrored twin: it sharpens the direct comparison, the mirrored one uses phash only.
    has_dhash = g_okd[:, None] & d_okd[None, :]
    direct = np.where(has_dhash, 0.5 * (direct_ph + _hamming(g_dh, d_dh)), direct_ph)
    hash_sim = _hash_similarity(np.minimum(direct, mirrored_ph))
    hash_ok = g_ok[:, None] & d_ok[None, :]

    colour_sim, colour_ok = _colour_similarity(generated, drawings)
    both = hash_ok & colour_ok
    # Equal parts: hashes carry recoloured copies, colours carry reframed ones (tuned on synthetic books).
    blended = HASH_WEIGHT * hash_sim + (1.0 - HASH_WEIGHT) * colour_sim
    visual = np.where(both, blended, np.where(hash_ok, hash_sim, colour_sim))
    return np.where(hash_ok | colour_ok, visual, 0.0)


def _colour_similarity(generated: Sequence[Candidate], drawings: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """1 - Hellinger distance between colour histograms (a matrix product of square roots)."""
    lengths = Counter(len(c.features.colour_hist) for c in (*generated, *drawings) if c.features.colour_hist)
    shape = (len(generated), len(drawings))
    if not lengths:
        return np.zeros(shape), np.zeros(shape, dtype=bool)
    bins = lengths.most_common(1)[0][0]

    def matrix(items: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        rows = np.zeros((len(items), bins))
        ok = np.zeros(len(items), dtype=bool)
        for i, c in enumerate(items):
            hist = np.asarray(c.features.colour_hist, dtype=np.float64)
            total = hist.sum() if hist.shape == (bins,) else 0.0
            if total > 0 and np.all(hist >= 0):
                rows[i], ok[i] = np.sqrt(hist / total), True
        return rows, ok

    g_rows, g_ok = matrix(generated)
    d_rows, d_ok = matrix(drawings)
    bhattacharyya = np.clip(g_rows @ d_rows.T, 0.0, 1.0)
    return 1.0 - np.sqrt(1.0 - bhattacharyya), g_ok[:, None] & d_ok[None, :]


def _upload_time_scores(generated: Sequence[Candidate], drawings: Sequence[Candidate]) -> np.ndarray:
    g_time = np.array([c.uploaded for c in generated], dtype=np.float64)
    d_time = np.array([c.uploaded for c in drawings], dtype=np.float64)
    known = (g_time > 0)[:, None] & (d_time > 0)[None, :]
    closeness = np.exp(-np.abs(g_time[:, None] - d_time[None, :]) / UPLOAD_TIME_SCALE_S)
    return np.where(known, closeness, 0.0)


# --------------------------------------------------------------------------------------------
# Pairing
# --------------------------------------------------------------------------------------------


def _confidence(score: float, margin: float) -> float:
    z = margin * (CONFIDENCE_MARGIN_COEF + CONFIDENCE_MARGIN_X_SCORE_COEF * score) + CONFIDENCE_BIAS
    z = min(max(z, -50.0), 50.0)
    return 1.0 / (1.0 + math.exp(-z))


def _name(key: str | None) -> str:
    return key.rsplit("/", 1)[-1] if key else "?"


def pair_images(
    drawings: Sequence[Candidate],
    generated: Sequence[Candidate],
    overrides: Mapping[str, str] | None = None,
    *,
    review_below: float = 0.6,
    capacity: int | None = None,
) -> PairingResult:
    """Assign every generated image to one drawing; one ``Pair`` per input, in input order.

    Deterministic: inputs are sorted by key before scoring and solving, so shuffled input gives the
    same pairs. ``capacity`` caps variations per drawing (overrides count towards it); the default
    max(16, 2 * ceil(G / D)) lets real, uneven books fit while no drawing can absorb everything.
    """
    overrides = dict(overrides or {})
    unique_drawings: dict[str, Candidate] = {}
    for candidate in drawings:
        unique_drawings.setdefault(candidate.key, candidate)
    drawing_list = [unique_drawings[k] for k in sorted(unique_drawings)]
    drawing_keys = [c.key for c in drawing_list]
    drawing_index = {k: i for i, k in enumerate(drawing_keys)}
    n_gen, n_drw = len(generated), len(drawing_list)

    if n_drw == 0:
        reason = "This book has no drawings to pair it with."
        pairs = [Pair(c.key, None, 0.0, True, [], None, 0.0, reason) for c in generated]
        return PairingResult(pairs)

    order = sorted(range(n_gen), key=lambda i: (generated[i].key, i))
    gen_sorted = [generated[i] for i in order]
    gen_keys = [c.key for c in gen_sorted]

    signal_scores = {
        SIGNAL_PROVENANCE: _provenance_scores(gen_sorted, drawing_keys),
        SIGNAL_FILENAME: _filename_scores(gen_keys, drawing_keys),
        SIGNAL_VISUAL: _visual_scores(gen_sorted, drawing_list),
    }
    evidence, null_score = _combine(signal_scores, n_drw)
    signal_scores[SIGNAL_UPLOAD_TIME] = _upload_time_scores(gen_sorted, drawing_list)
    tie_broken = evidence + UPLOAD_TIME_TIE_WEIGHT * signal_scores[SIGNAL_UPLOAD_TIME]

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
    used = np.bincount(assigned[fixed], minlength=n_drw)
    _solve(tie_broken, assigned, fixed, np.maximum(capacity - used, 0))
    full = np.bincount(assigned[assigned >= 0], minlength=n_drw) >= capacity

    visual = signal_scores[SIGNAL_VISUAL]
    pairs_sorted: list[Pair] = []
    for row, key in enumerate(gen_keys):
        pairs_sorted.append(
            _explain(row, key, assigned[row], fixed[row], bad_override.get(row), evidence, null_score,
                     signal_scores, drawing_keys, full, capacity, review_below)
        )

    ordered: dict[str, list[str]] = {}
    for col, drawing_key in enumerate(drawing_keys):
        rows = [r for r in range(n_gen) if assigned[r] == col]
        rows.sort(key=lambda r: _order_key(gen_keys[r], drawing_key, float(visual[r, col])))
        ordered[drawing_key] = [gen_keys[r] for r in rows]

    pairs: list[Pair | None] = [None] * n_gen
    for position, original in enumerate(order):
        pairs[original] = pairs_sorted[position]
    return PairingResult([p for p in pairs if p is not None], ordered)


def _combine(signal_scores: Mapping[str, np.ndarray], n_drw: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean per row over the signals that tell this row's drawings apart.

    Also returns, per row, the score an unrelated drawing would get (the yardstick for a book
    with a single drawing, where nothing can be "told apart").
    """
    any_scores = next(iter(signal_scores.values()))
    total = np.zeros_like(any_scores)
    weight_sum = np.zeros(any_scores.shape[0])
    null_total = np.zeros(any_scores.shape[0])
    for name, scores in signal_scores.items():
        weight = SIGNAL_WEIGHTS[name]
        if n_drw > 1:
            informative = (scores.max(axis=1) - scores.min(axis=1)) > 1e-9
        else:
            informative = scores[:, 0] > 1e-9
        total += np.where(informative[:, None], weight * scores, 0.0)
        weight_sum += np.where(informative, weight, 0.0)
        if name == SIGNAL_VISUAL:
            null_total += np.where(informative, weight * VISUAL_UNRELATED_SCORE, 0.0)
    safe = np.where(weight_sum > 0, weight_sum, 1.0)
    return total / safe[:, None], null_total / safe


def _solve(combined: np.ndarray, assigned: np.ndarray, fixed: np.ndarray, remaining: np.ndarray) -> None:
    """Fill ``assigned`` for the rows not fixed by overrides, respecting per-drawing capacity."""
    free_rows = np.flatnonzero(~fixed)
    if free_rows.size == 0:
        return
    scores = combined[free_rows]
    # Everyone on their favourite is optimal whenever it fits; only solve when capacity binds.
    favourite = np.argmax(scores, axis=1)
    if np.all(np.bincount(favourite, minlength=combined.shape[1]) <= remaining):
        assigned[free_rows] = favourite
        return
    slots = min(int(remaining.sum()), free_rows.size)
    if slots == 0:
        return
    # Each drawing needs at most min(remaining, rows) replicated columns.
    reps = np.minimum(remaining, free_rows.size)
    column_owner = np.repeat(np.arange(combined.shape[1]), reps)
    cost = -scores[:, column_owner]
    rows, cols = linear_sum_assignment(cost)
    assigned[free_rows[rows]] = column_owner[cols]


def _explain(
    row: int,
    key: str,
    col: int,
    is_override: bool,
    bad_override: str | None,
    evidence: np.ndarray,
    null_score: np.ndarray,
    signal_scores: Mapping[str, np.ndarray],
    drawing_keys: Sequence[str],
    full: np.ndarray,
    capacity: int,
    review_below: float,
) -> Pair:
    """Turn one assignment into a Pair: runner-up, margin, calibrated confidence, signals and reason."""
    scores = evidence[row]
    n_drw = len(drawing_keys)
    if col < 0:
        best = int(np.argmax(scores))
        reason = (
            f"Every drawing already has its {capacity} variations, so it was left out; "
            f"it looks most like {_name(drawing_keys[best])}."
        )
        return Pair(key, None, 0.0, True, [], drawing_keys[best], 0.0, reason)

    others = np.delete(np.arange(n_drw), col)
    runner = int(others[np.argmax(scores[others])]) if others.size else None
    runner_score = float(scores[runner]) if runner is not None else float(null_score[row])
    score = float(scores[col])
    margin = score - runner_score
    runner_key = drawing_keys[runner] if runner is not None else None

    if is_override:
        return Pair(key, drawing_keys[col], 1.0, False, [SIGNAL_OVERRIDE], runner_key, round(margin, 6), "",
                    round(score, 6))

    signals = []
    for name in (SIGNAL_PROVENANCE, SIGNAL_FILENAME, SIGNAL_VISUAL, SIGNAL_UPLOAD_TIME):
        values = signal_scores[name][row]
        if name == SIGNAL_UPLOAD_TIME:
            decisive = (
                runner is not None and margin < UPLOAD_TIME_TIE_WEIGHT and values[col] > values[runner] + 1e-9
            )
        elif runner is None:
            decisive = values[col] > 1e-9
        else:
            decisive = values[col] > values[runner] + 1e-9 and values.max() - values.min() > 1e-9
        if decisive:
            signals.append(name)

    confidence = _confidence(score, margin)
    reason = ""
    visual = signal_scores[SIGNAL_VISUAL][row]
    look_best = int(np.argmax(visual))
    named_by = [s for s in signals if s in (SIGNAL_PROVENANCE, SIGNAL_FILENAME)]
    if named_by and look_best != col and visual[look_best] - visual[col] > VISUAL_CONFLICT_MARGIN:
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
        if runner_key is not None and score < VISUAL_UNRELATED_SCORE:
            reason = f"Looks like none of the drawings; the closest is {_name(drawing_keys[col])}."
        elif runner_key is not None and margin < 0.1:
            reason = f"Looks almost equally like {_name(drawing_keys[col])} and {_name(runner_key)}."
        elif runner_key is not None:
            reason = (
                f"Probably from {_name(drawing_keys[col])}, but {_name(runner_key)} is a close second."
            )
        else:
            reason = f"Looks only faintly like {_name(drawing_keys[col])}, the book's only drawing."
    if bad_override is not None:
        reason = (f"pairs.csv names {_name(bad_override)}, which is not a drawing of this book. " + reason).strip()
        confidence = min(confidence, CONFLICT_CONFIDENCE_CAP)
    confidence = round(min(max(confidence, 0.0), 0.999), 4)
    if not signals:
        signals = [SIGNAL_VISUAL]
    return Pair(key, drawing_keys[col], confidence, confidence < review_below, signals, runner_key,
                round(margin, 6), reason, round(score, 6))
