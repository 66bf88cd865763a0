"""Reading level: Flesch–Kincaid grade, with a syllable count good enough for it.

The writer picks, of a few candidate sentences, the one that keeps a page easiest to read, and
the page-layout stage reports the book's mean level.
"""
from __future__ import annotations

import re

from .names import number_word

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def count_syllables(word: str) -> int:
    """Vowel-group heuristic: good to about ±1 syllable, which is what Flesch–Kincaid expects."""
    word = word.lower().replace("’", "'")
    if word.isdigit():
        if len(word) > 2:
            return len(word)     # rough: one syllable a digit
        return sum(count_syllables(part) for part in number_word(int(word)).replace("-", " ").split())
    word = re.sub(r"'s$", "", word)
    if len(word) <= 3:
        return 1
    groups = len(_VOWEL_GROUPS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and groups > 1:
        groups -= 1          # silent final e: "cake", "stone"
    elif word.endswith(("es", "ed")) and not word.endswith(("ted", "ded", "ses", "zes", "ces", "ges", "ches", "shes")) \
            and groups > 1:
        groups -= 1          # "names", "jumped"
    return max(groups, 1)


def reading_level(text: str) -> float:
    """Flesch–Kincaid grade level; 0.0 for text without words. Very simple text scores below zero."""
    words = _WORD.findall(text)
    if not words:
        return 0.0
    sentences = max(len([part for part in re.split(r"[.!?]+", text) if _WORD.search(part)]), 1)
    syllables = sum(count_syllables(word) for word in words)
    return 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59
