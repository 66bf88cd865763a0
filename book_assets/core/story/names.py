"""What things are called in the text: drawings (from their file names), colours, numbers.

A drawing's name comes from its file name ("max_the_monster-2.png" -> "Max the Monster"); colours
get names a child knows ("sky blue"), chosen by CIEDE2000; numbers are written as words, which
children read more easily than digits.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..colour import delta_e_2000, parse_hex_colour, srgb_to_lab
from ..filenames import TOOL_WORDS, filename_words

# ---------------------------------------------------------------------------------------------
# drawings, from their file names
# ---------------------------------------------------------------------------------------------

_SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}


def name_from_filename(filename: str) -> str:
    """A human name from a file name: ``"max_the_monster-2.png"`` -> ``"Max the Monster"``.

    Directories and the extension go, camelCase and separators become spaces, numbers and
    camera/tool words ("IMG", "copy", "final") go. Returns "" when nothing name-like is left.
    """
    basename = filename.replace("\\", "/").rsplit("/", 1)[-1]
    words = [word for word in filename_words(basename)
             if not word.isdigit() and word.lower() not in TOOL_WORDS and any(ch.isalpha() for ch in word)]
    return " ".join(_title_case(word, first=index == 0) for index, word in enumerate(words))


def _title_case(word: str, *, first: bool) -> str:
    lower = word.lower()
    if not first and lower in _SMALL_WORDS:
        return lower
    if word.isupper() or word.islower():
        word = lower
    return word[0].upper() + word[1:]


# ---------------------------------------------------------------------------------------------
# colours
# ---------------------------------------------------------------------------------------------

# Names a child knows, each anchored on a typical sRGB value.
_COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "cherry red": (210, 30, 40),
    "bright orange": (245, 130, 30),
    "sunny yellow": (255, 215, 20),
    "lime green": (165, 215, 55),
    "leafy green": (55, 160, 60),
    "forest green": (30, 95, 50),
    "sea green": (40, 185, 170),
    "sky blue": (115, 185, 235),
    "ocean blue": (25, 80, 200),
    "midnight blue": (25, 30, 85),
    "grape purple": (115, 55, 160),
    "lilac": (185, 160, 220),
    "hot pink": (220, 40, 190),
    "candy pink": (245, 125, 180),
    "peach": (250, 195, 155),
    "cocoa brown": (110, 65, 35),
    "sandy tan": (210, 180, 130),
    "snowy white": (250, 250, 248),
    "cloudy grey": (155, 158, 162),
    "inky black": (25, 25, 30),
}
_PAPER_COLOURS = {"snowy white"}   # the paper a drawing is on, not the drawing's colour


_COLOUR_LABS = {name: tuple(srgb_to_lab(rgb)) for name, rgb in _COLOUR_NAMES.items()}


def colour_name(hex_colour: str) -> str:
    """The nearest child-friendly colour name ("sunny yellow", "sky blue", ...) by CIEDE2000."""
    lab = srgb_to_lab(parse_hex_colour(hex_colour))
    return min(_COLOUR_LABS, key=lambda name: delta_e_2000(lab, _COLOUR_LABS[name]))


def drawing_colour_names(colours: Sequence[str], limit: int = 2) -> list[str]:
    """Distinct colour names of a drawing, most common first; paper white only if nothing else is there."""
    names: list[str] = []
    for hex_colour in colours:
        try:
            name = colour_name(hex_colour)
        except ValueError:
            continue
        if name not in names:
            names.append(name)
    inked = [name for name in names if name not in _PAPER_COLOURS]
    return (inked or names)[:limit]


# ---------------------------------------------------------------------------------------------
# numbers and short names
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                 "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_word(count: int) -> str:
    """English words for 0–99 (children read words more easily than digits); digits beyond."""
    if 0 <= count < 20:
        return _NUMBER_WORDS[count]
    if 20 <= count < 100:
        tens, ones = divmod(count, 10)
        return _TENS_WORDS[tens - 2] + (f"-{_NUMBER_WORDS[ones]}" if ones else "")
    return str(count)


_NOT_SHORT_NAMES = {"the", "a", "an", "sir", "mr", "mrs", "ms", "miss", "dr", "mister", "lady", "lord",
                    "king", "queen", "prince", "princess", "captain", "professor", "little", "big",
                    "baby", "tiny", "old", "young", "mama", "papa", "uncle", "aunt", "auntie"}


def short_name(name: str) -> str:
    """What the text calls a friend after the first mention: "Max the Monster" -> "Max", "Sir Wiggles" stays."""
    first = name.split(" ", 1)[0]
    if first == name or len(first) < 3 or first.lower() in _NOT_SHORT_NAMES:
        return name
    return first
