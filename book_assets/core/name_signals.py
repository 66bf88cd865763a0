"""What a book's file names and embedded provenance say about which drawing a variation came from.

Pairing's strongest evidence after a reviewer's word: a variation whose provenance text names a
drawing's file, or whose file name shares the drawing's stem (``max.png`` <-> ``max_03.png``, ``Max
(2).png``) or its distinguishing words. Also the variation numbers that order a drawing's grid.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Sequence

import numpy as np

from .filenames import CONNECTIVES, GENERATOR_WORDS, TOOL_WORDS, filename_words, strip_extension

TOKEN_MATCH_CAP = 0.9            # best score from shared name words; a shared stem prefix scores 1.0
PROVENANCE_STEM_SCORE = 0.8      # stem mentioned ("max"), weaker than the full name ("max.png")

# Words that do not tell one drawing's name from another's.
GENERIC_TOKENS = TOOL_WORDS | GENERATOR_WORDS | CONNECTIVES
ROLE_FOLDERS = ("generated", "drawings")
_POSSESSIVE = re.compile(r"['’]s$")
_PROVENANCE_WORD_CHARS = re.compile(r"[\w\-]", re.UNICODE)
_MAX_ORDER_NUMBER_DIGITS = 6     # longer digit runs are timestamps or seeds, not a variation number


def _relative_parts(key: str) -> list[str]:
    """Path parts after the role folder (generated/ or drawings/); just the file name otherwise."""
    parts = [p for p in key.split("/") if p]
    for index, part in enumerate(parts):
        if part.lower() in ROLE_FOLDERS:
            return parts[index + 1:] or parts[-1:]
    return parts[-1:]


def _basename_stem(key: str) -> str:
    return strip_extension(key.rsplit("/", 1)[-1])


@lru_cache(maxsize=8192)
def _raw_words(key: str) -> tuple[str, ...]:
    """All lowercase words of a key's book-relative path, extension and uuids removed. Kept for the
    book's keys: a pairing reads each name's words three times (names, then each grid's order)."""
    return tuple(word.lower() for part in _relative_parts(key) for word in filename_words(part))


def name_tokens(key: str, *, keep_numbers: bool = False) -> list[str]:
    """Distinguishing name tokens of a key: generic words and single letters dropped.

    Numbers are dropped unless ``keep_numbers`` (then normalised, "03" -> "3"): pairing keeps them
    only where a drawing's own name has them ("child9_max" vs "child8_max").
    """
    tokens = []
    for word in _raw_words(key):
        word = _POSSESSIVE.sub("", word)     # "max's" names max
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


def order_key(key: str, drawing_key: str | None, similarity: float) -> tuple:
    number = _variation_number(key, drawing_key)
    if number is not None:
        return (0, number, 0.0, key)
    return (1, 0, -round(similarity, 9), key)


def filename_scores(generated_keys: Sequence[str], drawing_keys: Sequence[str]) -> np.ndarray:
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
        # A shared number alone ("lily_07" and "luna-7") is chance, not a name: it counts beside a shared
        # word ("child9_max" and "child9_max_v2", not "child8_max"), or for a drawing named by a number.
        words = np.array([not token.isdecimal() for token in vocabulary])
        word_shared = (generated_matrix[:, words] @ drawing_matrix[:, words].T) > 0
        number_named = drawing_matrix[:, words].sum(axis=1) == 0
        scores = np.where(word_shared | number_named[None, :], scores, 0.0)

    # Stem prefix: "max" -> "max_03", "Max (2)", "max2"; "IMG_0001" -> "IMG_0001_var2". Longest wins.
    # Stems of two or more characters, by their first two: a name is only tried against the stems it
    # starts like (1,000 random names x 100 drawings: 200,000 tries became a few hundred).
    stems_starting: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for col, stem in enumerate(_basename_stem(k).lower() for k in drawing_keys):
        if len(stem) >= 2:
            stems_starting[stem[:2]].append((col, stem))
    for row, key in enumerate(generated_keys):
        candidates = {_basename_stem(key).lower(), "/".join(_relative_parts(key)).lower()}
        best_length, best_columns = 0, []
        tried = [entry for start in {text[:2] for text in candidates} for entry in stems_starting.get(start, ())]
        for col, stem in tried:
            if not any(_prefix_match(text, stem) for text in candidates):
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


def provenance_scores(provenance: Sequence[str], drawing_keys: Sequence[str]) -> np.ndarray:
    """G x D: 1.0 when a variation's provenance text (PNG chunks, EXIF/XMP) names the drawing's file,
    0.8 for its stem alone."""
    scores = np.zeros((len(provenance), len(drawing_keys)))
    names = [k.rsplit("/", 1)[-1].lower() for k in drawing_keys]
    stems = [_basename_stem(k).lower() for k in drawing_keys]
    stem_usable = [len(s) >= 3 and any(ch.isalpha() for ch in s) for s in stems]
    for row, text in enumerate(provenance):
        text = (text or "").lower()
        if not text:
            continue
        for col in range(len(drawing_keys)):
            if names[col] in text and _mentions(text, names[col]):
                scores[row, col] = 1.0
            elif stem_usable[col] and stems[col] in text and _mentions(text, stems[col]):
                scores[row, col] = PROVENANCE_STEM_SCORE
    return scores
