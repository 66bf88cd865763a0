"""What a typesetter does to words before they are set: curly quotes and apostrophes, and the
non-breaking spaces that keep a number with its noun ("7 drawings") and a one-letter word with the
word after it ("a cat", Russian "и Луна"), so neither hangs alone at a line end."""
from __future__ import annotations

import re

NBSP = "\u00a0"

_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)|(?<=s)'(?=\s|$)")       # Max's, don't, the twins' hats
_OPEN_SINGLE = re.compile(r"(?:(?<=^)|(?<=[\s(\[“—–-]))'")
_OPEN_DOUBLE = re.compile(r'(?:(?<=^)|(?<=[\s(\[‘—–-]))"')
_NUMBER_NOUN = re.compile(r"(?<!\S)(\d+(?:[.,]\d+)*) (?=\w)")
_ONE_LETTER = re.compile(r"(?<!\S)(\w) (?=\w)")


def smart_quotes(text: str) -> str:
    """Straight quotes and apostrophes to curly ones: "Max's" -> “Max’s”."""
    text = _APOSTROPHE.sub("\u2019", text)
    text = _OPEN_SINGLE.sub("\u2018", text)
    text = text.replace("'", "\u2019")
    text = _OPEN_DOUBLE.sub("\u201c", text)
    return text.replace('"', "\u201d")


def tie_short_words(text: str) -> str:
    """A number and a one-letter word are tied to the next word with a no-break space."""
    text = _NUMBER_NOUN.sub(lambda m: m.group(1) + NBSP, text)
    return _ONE_LETTER.sub(lambda m: m.group(1) + NBSP, text)


def typeset(text: str) -> str:
    """Text as it is set on the page: curly quotes, numbers and one-letter words tied."""
    return tie_short_words(smart_quotes(text))


def mid_sentence(name: str) -> str:
    """A name as it reads inside a sentence: "The Purple Monster" -> "the Purple Monster"."""
    first, _, rest = name.partition(" ")
    return f"{first.lower()} {rest}" if rest and first in ("The", "A", "An") else name
