"""What things are called in the text: drawings (from their file names), colours, numbers.

A drawing's name comes from its file name ("max_the_monster-2.png" -> "Max the Monster"); colours
get names a child knows ("sky blue"), chosen by CIEDE2000; numbers are written as words, which
children read more easily than digits.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..colour import nearest_by_delta_e, parse_hex_colour, srgb_to_lab
from ..filenames import NameKind, read_file_name

# ---------------------------------------------------------------------------------------------
# drawings, from their file names
# ---------------------------------------------------------------------------------------------

_SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}


def name_from_filename(filename: str) -> str:
    """A human name from a file name: ``"max_the_monster-2.png"`` -> ``"Max the Monster"``.

    Directories and the extension go, camelCase and separators become spaces, numbers and
    camera/tool words ("IMG", "copy", "final") go; an image tool's name gives its prompt's subject
    ("DALL·E … - a cute purple monster with big teeth" -> "The Purple Monster"). Returns "" when the
    name is a counter, date, hash or camera name ("IMG_2231", "109257f7….jpg").
    """
    kind, words = read_file_name(filename)
    if kind is NameKind.PROMPT:
        words = ["the", *words]
    return " ".join(_title_case(word, first=index == 0) for index, word in enumerate(words))


class NameSource(StrEnum):
    """Where the name a drawing goes by in the book came from."""

    BOOK_TOML = "book.toml"
    FILE_NAME = "file name"
    PROMPT = "prompt"          # the subject of an image tool's prompt carried in the file name
    INVENTED = "invented"      # the file name means nothing (or no font has its letters): we made one up


@dataclass(frozen=True)
class DrawingName:
    """The name a drawing goes by in the book, and where it came from."""

    key: str
    name: str
    source: NameSource

    @property
    def named_by_us(self) -> bool:
        """True when the maker did not write this name: the drawings_named_by_us check lists it."""
        return self.source in (NameSource.PROMPT, NameSource.INVENTED)

    def explanation(self) -> str:
        """Why the drawing has this name, in a sentence the maker reads."""
        why = {NameSource.PROMPT: "taken from the image tool's prompt in its file name",
               NameSource.INVENTED: "made up, because its file name is not a name or no font has its letters",
               NameSource.FILE_NAME: "made from its file name",
               NameSource.BOOK_TOML: "its title in book.toml"}[self.source]
        return f"{self.key} is called “{self.name}”: {why}."


# Warm, short names that read the same in many languages; a book takes them in a seeded order.
INVENTED_NAMES = (
    "Pip", "Momo", "Lulu", "Kiki", "Bobo", "Tilly", "Nino", "Coco", "Zuzu", "Olli", "Fifi", "Rolo", "Mimi",
    "Tiko", "Bibi", "Lola", "Teo", "Nala", "Dani", "Suki", "Timo", "Rosa", "Milo", "Luca", "Ella", "Noa",
    "Remi", "Kobi", "Tess", "Bruno", "Lila", "Otto", "Juno", "Nico", "Mina", "Ivo", "Yuki", "Pia", "Leo", "Ada",
)


def name_drawings(drawings: Sequence[tuple[str, str]], *, seed: str = "",
                  usable: Callable[[str], bool] = lambda name: True) -> list[DrawingName]:
    """The name of every drawing, given (key, title from book.toml or "") in book order.

    The maker's title wins, then a name made from the file name, then a prompt's subject; a drawing
    whose file name means nothing — or whose name no font can print (``usable``) — gets a warm
    invented name that no other drawing in the book has. Two drawings whose prompts name the same
    subject become "Pip the Purple Monster" and "Momo the Purple Monster". Deterministic per seed.
    """
    chosen: list[tuple[str, str, NameSource]] = []
    for key, title in drawings:
        if title and usable(title):
            chosen.append((key, title, NameSource.BOOK_TOML))
            continue
        kind, _ = read_file_name(key)
        name = name_from_filename(key)
        if name and usable(name):
            chosen.append((key, name, NameSource.PROMPT if kind is NameKind.PROMPT else NameSource.FILE_NAME))
        else:
            chosen.append((key, "", NameSource.INVENTED))
    taken = {name.split(" ", 1)[0].lower() for _, name, _ in chosen if name}
    spare = _invented_names(seed, taken)
    prompt_counts: dict[str, int] = {}
    for _, name, source in chosen:
        if source is NameSource.PROMPT:
            prompt_counts[name] = prompt_counts.get(name, 0) + 1
    named: list[DrawingName] = []
    for key, name, source in chosen:
        if source is NameSource.INVENTED:
            name = next(spare)
        elif source is NameSource.PROMPT and prompt_counts[name] > 1:
            name = f"{next(spare)} {name[0].lower()}{name[1:]}"     # "Pip the Purple Monster"
        named.append(DrawingName(key, name, source))
    return named


def _invented_names(seed: str, taken: set[str]) -> Iterator[str]:
    """Invented names in an order fixed by ``seed``, none already in the book; after the list,
    the list again with "Little"/"Big"/"Baby" in front."""
    names = list(INVENTED_NAMES)
    random.Random(hashlib.sha256(seed.encode()).digest()).shuffle(names)
    for prefix in ("", "Little ", "Big ", "Baby ", "Young ", "Old "):
        for name in names:
            if (prefix + name).split(" ", 1)[0].lower() not in taken or prefix:
                yield prefix + name
    counter = 0
    while True:
        counter += 1
        yield f"{names[counter % len(names)]} {number_word(counter + 1).title()}"


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
_COLOUR_LAB_ROWS = np.array(list(_COLOUR_LABS.values()), dtype=np.float64)


def colour_name(hex_colour: str) -> str:
    """The nearest child-friendly colour name ("sunny yellow", "sky blue", ...) by CIEDE2000."""
    lab = srgb_to_lab(parse_hex_colour(hex_colour))
    return list(_COLOUR_LABS)[nearest_by_delta_e(lab, _COLOUR_LAB_ROWS)]


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
