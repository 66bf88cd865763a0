"""Words in file names, read one way for pairing (which drawing a variation names) and for the story
(what a drawing is called).

A name is split at separators, camelCase and letter/digit boundaries; its extension, UUIDs and
long hex strings go, and an apostrophe inside a word keeps the word whole ("Max's"). What each
use then leaves out differs for a reason: the words tools add to file names are never part of a
name (``TOOL_WORDS``, both uses); image generators' words and connectives do not tell drawings
apart, so pairing leaves them out too, while a drawing's name keeps them ("Max the Monster").
"""
from __future__ import annotations

import re

TOOL_WORDS = frozenset(
    """
    img image images dsc dscn scan scanned photo pic picture screenshot untitled file export copy final edit
    edited version ver v draft new small large orig original hd hires upscale upscaled drawing drawings
    png jpg jpeg webp
    """.split()
)
"""Words cameras, scanners, editors and exports put in file names (compared in lower case)."""

GENERATOR_WORDS = frozenset(
    """
    variation variations var vars variant variants gen generated generation ai output out result sample
    render rendered draw sd dalle mj midjourney seed step steps style styled
    """.split()
)
"""Words image generators put in a variation's name: they never say which drawing it came from."""

CONNECTIVES = frozenset("the an of and by".split())

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_HEX_BLOB = re.compile(r"^(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}$", re.I)
_CHUNK = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")     # letters and digits, joined by inner apostrophes


def strip_extension(name: str) -> str:
    """``"max.png"`` -> ``"max"``; a dot followed by more than five characters is no extension."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and 1 <= len(ext) <= 5 and ext.isalnum() else name


def filename_words(name: str) -> list[str]:
    """The words of one file or folder name, in their own case: ``"MaxTheDog-v2.png"`` ->
    ``["Max", "The", "Dog", "v", "2"]``."""
    words: list[str] = []
    for chunk in _CHUNK.findall(_UUID.sub(" ", strip_extension(name))):
        if not _HEX_BLOB.match(chunk):
            words.extend(_split_chunk(chunk))
    return words


def _split_chunk(chunk: str) -> list[str]:
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
