"""The words of the book: the maker's ``book.toml``, and an offline writer for pages without text.

``book.toml`` sits next to ``drawings/`` in a book folder. Every setting is optional::

    title = "Max and Friends"
    author = "Ms. Rivera's Class"
    dedication = "For every child who ever drew a monster."
    age_range = [4, 7]                    # youngest and oldest reader, in years
    profile = "kdp-8.5x8.5"               # print profile name
    page_order = ["max.png", "luna.png"]  # drawings in story order; others follow, by name
    [drawings."max.png"]                  # keyed by the path below drawings/
    title = "Max the Monster"
    text = "Max lives under the stairs and loves purple socks."

Paths in ``page_order`` and ``[drawings."..."]`` are relative to ``drawings/`` (a leading
``drawings/`` or ``./`` is tolerated). A bad file never stops the book: :func:`parse_book_config`
keeps what it can, uses defaults for the rest and explains each problem in a plain sentence.

When a drawing has no text, :func:`write_story` writes some from what is known about it (its
name from the file name, its colours, how many variations it has, its place in the story). The
writer is deterministic for a seed and uses short sentences and short words, so the text reads
at about grade 1–3 (Flesch–Kincaid), right for 3- to 7-year-olds.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import tomllib
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from .colour import delta_e_2000, parse_hex_colour, srgb_to_lab  # noqa: F401 - colour helpers used here

# ---------------------------------------------------------------------------------------------
# book.toml
# ---------------------------------------------------------------------------------------------


@dataclass
class DrawingConfig:
    title: str = ""          # e.g. "Max the Monster"
    text: str = ""           # the story text for this drawing's page


@dataclass
class BookConfig:
    title: str = ""
    author: str = ""
    dedication: str = ""
    age_range: tuple[int, int] = (3, 7)
    profile: str = "kdp-8.5x8.5"
    paper: str = "white"                  # white | cream | premium-colour: sets the cover's spine width
    copyright: str = ""                   # the copyright line on page 2
    page_order: list[str] = field(default_factory=list)              # paths relative to drawings/
    drawings: dict[str, DrawingConfig] = field(default_factory=dict)  # keyed by path relative to drawings/


_TEXT_SETTINGS = ("title", "author", "dedication", "profile", "paper", "copyright")
_KNOWN_SETTINGS = set(_TEXT_SETTINGS) | {"age_range", "page_order", "drawings"}
_MAX_READER_AGE = 18


def _type_word(value: object) -> str:
    """How a TOML value looks to a person, for problem sentences."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def normalize_drawing_path(path: str) -> str:
    """The path below ``drawings/`` that config keys use (tolerates ``./`` and ``drawings/`` prefixes)."""
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if path.startswith("drawings/"):
        path = path[len("drawings/"):]
    return path


def parse_book_config(toml_text: str) -> tuple[BookConfig, list[str]]:
    """Read ``book.toml``; never raises. Bad or unknown settings fall back to defaults, each with a problem sentence."""
    config = BookConfig()
    problems: list[str] = []
    try:
        data = tomllib.loads(toml_text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as error:
        problems.append(f"book.toml could not be read ({error}), so the book uses default settings.")
        return config, problems

    for key in sorted(set(data) - _KNOWN_SETTINGS):
        problems.append(f"book.toml has a setting called '{key}' that the book does not use; it was ignored.")

    for key in _TEXT_SETTINGS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, str):
            setattr(config, key, value.strip())
        else:
            problems.append(f"In book.toml, '{key}' should be text in quotes but is {_type_word(value)}; "
                            f"the default was used.")

    if "age_range" in data:
        config.age_range, problem = _parse_age_range(data["age_range"], config.age_range)
        if problem:
            problems.append(problem)

    if "page_order" in data:
        config.page_order = _parse_page_order(data["page_order"], problems)

    if "drawings" in data:
        config.drawings = _parse_drawings(data["drawings"], problems)

    return config, problems


def _parse_age_range(value: object, default: tuple[int, int]) -> tuple[tuple[int, int], str]:
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(age, int) and not isinstance(age, bool) for age in value))
    if ok and 0 <= value[0] <= value[1] <= _MAX_READER_AGE:
        return (value[0], value[1]), ""
    return default, (f"In book.toml, 'age_range' should be two whole numbers of years such as [4, 7] "
                     f"(youngest first, at most {_MAX_READER_AGE}); the default {list(default)} was used.")


def _parse_page_order(value: object, problems: list[str]) -> list[str]:
    if not isinstance(value, list):
        problems.append(f"In book.toml, 'page_order' should be a list of drawing file names but is "
                        f"{_type_word(value)}; the drawings are in name order instead.")
        return []
    order: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not normalize_drawing_path(entry):
            problems.append(f"In book.toml, 'page_order' holds {_type_word(entry)} ({entry!r}) where a "
                            f"drawing file name was expected; it was skipped.")
            continue
        path = normalize_drawing_path(entry)
        if path in order:
            problems.append(f"In book.toml, '{path}' appears more than once in 'page_order'; "
                            f"only its first place was kept.")
            continue
        order.append(path)
    return order


def _parse_drawings(value: object, problems: list[str]) -> dict[str, DrawingConfig]:
    if not isinstance(value, dict):
        problems.append(f"In book.toml, 'drawings' should be tables such as [drawings.\"max.png\"] but is "
                        f"{_type_word(value)}; it was ignored.")
        return {}
    drawings: dict[str, DrawingConfig] = {}
    for raw_path, settings in value.items():
        path = normalize_drawing_path(raw_path)
        if not isinstance(settings, dict) or not path:
            problems.append(f"In book.toml, the entry for drawing '{raw_path}' should be a table with a "
                            f"title and text; it was ignored.")
            continue
        drawing = DrawingConfig()
        for key, setting in settings.items():
            if key not in ("title", "text"):
                problems.append(f"In book.toml, drawing '{raw_path}' has a setting called '{key}' that the "
                                f"book does not use; it was ignored.")
            elif not isinstance(setting, str):
                problems.append(f"In book.toml, the {key} of drawing '{raw_path}' should be text in quotes "
                                f"but is {_type_word(setting)}; it was ignored.")
            else:
                setattr(drawing, key, setting.strip())
        drawings[path] = drawing
    return drawings


# ---------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------

_SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
# Tokens that cameras, scanners and image tools add to file names: they are not part of a name.
_NOISE_WORDS = {"img", "image", "dsc", "dscn", "scan", "scanned", "photo", "pic", "picture", "copy",
                "final", "edit", "edited", "version", "v", "draft", "new", "small", "large", "orig",
                "original", "screenshot", "untitled", "drawing", "file", "export", "jpg", "jpeg", "png"}
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LETTER_DIGIT_BOUNDARY = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_SEPARATORS = re.compile(r"[\s_\-.+~()\[\]{},;!@#$%^&=]+")


def name_from_filename(filename: str) -> str:
    """A human name from a file name: ``"max_the_monster-2.png"`` -> ``"Max the Monster"``.

    Directories and the extension go, camelCase and separators become spaces, numbers and
    camera/tool words ("IMG", "copy", "final") go. Returns "" when nothing name-like is left.
    """
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = _EXTENSION.sub("", stem)
    stem = _CAMEL_BOUNDARY.sub(" ", stem)
    stem = _LETTER_DIGIT_BOUNDARY.sub(" ", stem)
    tokens = [token for token in _SEPARATORS.split(stem) if token]
    words = [token for token in tokens
             if not token.isdigit() and token.lower().strip("'") not in _NOISE_WORDS]
    words = [word for word in words if any(ch.isalpha() for ch in word)]
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
# the writer
# ---------------------------------------------------------------------------------------------


@dataclass
class DrawingFacts:
    key: str                       # bucket key of the drawing
    name: str                      # human name from the file name (may be "")
    colours: list[str]             # dominant colours as hex, most common first
    variation_count: int


# One sentence per template; {name} is the drawing's name, {prev} the one before it,
# {c1}/{c2} colour names, {count} a number word. Short words keep the reading level low.
_OPENINGS = [
    "Once upon a time, there was {name}.",
    "Our story starts with {name}.",
    "Say hello to {name}!",
    "This book begins with {name}.",
    "The first friend we meet is {name}.",
    "Come and meet {name}, who starts our tale.",
    "In a land of paper and crayons lived {name}.",
    "Long ago, in a house full of crayons, lived {name}.",
    "One sunny day, we met {name}.",
    "Here is {name}, the first friend in our book.",
    "Open the book and wave to {name}!",
    "At the start of our tale, we find {name}.",
]
_MIDDLES = [
    "Next, we meet {name}.",
    "Then along came {name}.",
    "Just down the road lives {name}.",
    "{prev} has a friend called {name}.",
    "Around the corner, {name} was waiting.",
    "{prev} waves hello to {name}.",
    "Now it is time to meet {name}.",
    "Here comes {name}!",
    "Over the hill lives {name}.",
    "Knock, knock, {name} is at the door!",
    "Then {name} joined the fun.",
    "Along the path, we find {name}.",
    "{prev} runs off to find {name}.",
    "Look who is next, it is {name}!",
    "Not far from {prev} lives {name}.",
    "Turn the page to meet {name}.",
]
_LAST_ARRIVALS = [
    "Last of all, we meet {name}.",
    "Our last friend is {name}.",
    "At the very end, along came {name}.",
    "The last friend to say hello is {name}.",
    "Now meet {name}, the last friend in our book.",
    "Last but not least, here is {name}.",
]
_ENDINGS = [
    "And that is the end of our story.",
    "Now all the friends are sleepy, so good night!",
    "{name} says good night to every friend.",
    "They all played until the sun went down.",
    "Now it is time to close the book and dream.",
    "And they were all friends for ever and ever.",
]
_ONE_COLOUR = [
    "{name} is {c1} from top to toe.",
    "{name} loves to be {c1}.",
    "Can you find the {c1} on {name}?",
    "{name} is as {c1} as can be.",
    "The colour {c1} makes {name} glad.",
    "{name} wears {c1} every day.",
    "Lots of {c1} makes {name} bright.",
    "{name} likes {c1} best of all.",
    "See how {c1} {name} is?",
    "{name} shines in {c1}.",
    "A splash of {c1} is just right for {name}.",
    "{name} picked {c1} today.",
]
_TWO_COLOURS = [
    "{name} is {c1} and {c2}.",
    "{name} likes {c1} best, and {c2} too.",
    "Can you spot the {c1} and the {c2}?",
    "{name} is made of {c1} and {c2}.",
    "A bit of {c1} and a bit of {c2} make {name}.",
    "{name} has {c1} and {c2} all over.",
    "{name} mixes {c1} with {c2}.",
    "There is {c1} on {name}, and {c2} too.",
    "Look at all the {c1} and {c2}!",
    "{name} wears {c1} with a dash of {c2}.",
    "Find the {c1}, then find the {c2}.",
    "{name} loves {c1} and {c2} the most.",
]
_MANY_LOOKS = [
    "Look, {name} can be drawn in {count} different ways!",
    "There are {count} more pictures of {name} to find.",
    "{name} dressed up {count} times, just for fun.",
    "Count them all, {name} is here {count} more times.",
    "Can you see {name} {count} more times?",
    "{name} tried on {count} new looks.",
    "Here are {count} new ways to see {name}.",
    "{name} likes to change, and did it {count} times.",
    "{count} times over, {name} got a new look.",
    "Which of the {count} new looks of {name} do you like best?",
    "{name} can hide in {count} new ways.",
    "Turn the page to find {name} {count} more times.",
]
_ONE_LOOK = [
    "{name} also has one new look.",
    "There is one more picture of {name} to find.",
    "Look, {name} got one new look!",
    "Can you find {name} one more time?",
    "Turn the page to see {name} once more.",
    "{name} dressed up one more time, just for fun.",
]
_WARM = [
    "{name} likes to run and jump.",
    "{name} is kind to all.",
    "We all smile when {name} is near.",
    "{name} has a big, warm heart.",
    "{name} loves to sing and dance.",
    "{name} gives the best hugs.",
    "{name} is brave and good.",
    "{name} likes to share.",
    "{name} likes a nap in the sun.",
    "{name} can hop, skip and spin.",
    "{name} loves to play all day.",
    "It is fun to be friends with {name}.",
    "{name} tells the best jokes.",
    "{name} likes cake and milk.",
]

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


_LEADING_ARTICLE = re.compile(r"^(The|A|An) ")
_FALLBACK_NAMES = ["Little Friend", "Buddy", "Sunny", "Pip", "Dot", "Scribble", "Doodle", "Squiggle"]


def story_names(facts: Sequence[DrawingFacts]) -> list[str]:
    """The name used for each drawing in the text; drawings without a usable name get a friendly one."""
    taken = {fact.name.strip() for fact in facts if fact.name.strip()}
    spare = iter([name for name in _FALLBACK_NAMES if name not in taken])
    names: list[str] = []
    for index, fact in enumerate(facts):
        name = fact.name.strip()
        if not name:
            name = next(spare, f"Friend Number {number_word(index + 1).title()}")
        names.append(name)
    return names


_NOT_SHORT_NAMES = {"the", "a", "an", "sir", "mr", "mrs", "ms", "miss", "dr", "mister", "lady", "lord",
                    "king", "queen", "prince", "princess", "captain", "professor", "little", "big",
                    "baby", "tiny", "old", "young", "mama", "papa", "uncle", "aunt", "auntie"}


def short_name(name: str) -> str:
    """What the text calls a friend after the first mention: "Max the Monster" -> "Max", "Sir Wiggles" stays."""
    first = name.split(" ", 1)[0]
    if first == name or len(first) < 3 or first.lower() in _NOT_SHORT_NAMES:
        return name
    return first


def _seeded_rng(facts: Sequence[DrawingFacts], seed: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join([seed, *(fact.key for fact in facts)]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _TemplatePool:
    """Templates in a seeded order; every template is used once before any is used again."""

    def __init__(self, templates: Sequence[str], rng: random.Random):
        self._templates = list(templates)
        rng.shuffle(self._templates)
        self._used: set[str] = set()

    def candidates(self) -> Iterator[str]:
        """Unused templates in seeded order; once all are used, all of them again."""
        if len(self._used) == len(self._templates):
            self._used.clear()
        yield from (template for template in self._templates if template not in self._used)
        yield from (template for template in self._templates if template in self._used)

    def take(self, template: str) -> None:
        self._used.add(template)


def _fill(template: str, values: dict[str, str]) -> str:
    """Fill a template; names mid-sentence lose a capital article ("lived the Dragon")."""
    def substitute(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if match.start() > 0:
            value = _LEADING_ARTICLE.sub(lambda article: article.group(1).lower() + " ", value)
        return value

    sentence = re.sub(r"\{(\w+)\}", substitute, template)
    return sentence[0].upper() + sentence[1:]


def _pick(pool: _TemplatePool, values: dict[str, str], used: set[str], page_so_far: Sequence[str | None] = (),
          *, choices: int = 4) -> str | None:
    """The next unused sentence; of the next few candidates, the one that keeps the page easiest to read."""
    options: list[tuple[str, str]] = []
    for template in pool.candidates():
        if "{prev}" in template and values["prev"] == short_name(values["name"]):
            continue             # "Max waves hello to Max" reads wrong (two drawings, one name)
        sentence = _fill(template, values)
        if sentence not in used:
            options.append((template, sentence))
            if len(options) == choices:
                break
    if not options:
        return None
    before = [sentence for sentence in page_so_far if sentence]
    template, sentence = min(options, key=lambda option: reading_level(" ".join([*before, option[1]])))
    pool.take(template)
    used.add(sentence)
    return sentence


def write_story(facts: Sequence[DrawingFacts], *, age_range: tuple[int, int] = (3, 7),
                seed: str = "") -> list[str]:
    """One short page text (2–4 sentences) per drawing, from what is known about it.

    The first page opens the story, middle pages link to the friend before, the last page
    closes it. No sentence repeats anywhere in the book. Younger readers (oldest age <= 5) get
    at most three sentences a page. Deterministic for the same facts and seed.
    """
    rng = _seeded_rng(facts, seed)
    pools = {kind: _TemplatePool(templates, rng) for kind, templates in [
        ("open", _OPENINGS), ("middle", _MIDDLES), ("last", _LAST_ARRIVALS), ("end", _ENDINGS),
        ("one_colour", _ONE_COLOUR), ("two_colours", _TWO_COLOURS), ("many", _MANY_LOOKS),
        ("one", _ONE_LOOK), ("warm", _WARM)]}
    max_sentences = 3 if age_range[1] <= 5 else 4
    names = story_names(facts)
    used: set[str] = set()
    texts: list[str] = []

    for index, fact in enumerate(facts):
        name = names[index]
        colours = drawing_colour_names(fact.colours)
        values = {"name": name, "prev": short_name(names[index - 1]) if index else short_name(name),
                  "c1": colours[0] if colours else "", "c2": colours[1] if len(colours) > 1 else "",
                  "count": number_word(max(fact.variation_count, 0))}
        is_first, is_last = index == 0, index == len(facts) - 1

        arrival_kind = "open" if is_first else ("last" if is_last else "middle")
        sentences: list[str | None] = [_pick(pools[arrival_kind], values, used)]
        values["name"] = short_name(name)     # full name once, then the short one, as books do
        room = max_sentences - 1 - (1 if is_last else 0)
        if colours:
            pool = pools["two_colours" if len(colours) > 1 else "one_colour"]
            sentences.append(_pick(pool, values, used, sentences))
        if fact.variation_count > 0 and len(sentences) - 1 < room:
            sentences.append(_pick(pools["many" if fact.variation_count > 1 else "one"], values, used, sentences))
        body_count = len([sentence for sentence in sentences[1:] if sentence])
        if body_count < min(room, 2) and (body_count == 0 or rng.random() < 0.5):
            sentences.append(_pick(pools["warm"], values, used, sentences))
        if is_last:
            sentences.append(_pick(pools["end"], values, used, sentences))
        text = " ".join(sentence for sentence in sentences if sentence)
        if not text:   # every template collided (many drawings sharing one name): still say something
            text = f"Here is {name} again."
        texts.append(text)
    return texts


def default_title(facts: Sequence[DrawingFacts]) -> str:
    """A title from the first names in the book: "Max, Luna and Friends"."""
    names: list[str] = []
    for name in story_names(facts):
        if name not in names:
            names.append(name)
    if not names:
        return "Our Picture Book"
    if len(names) == 1:
        return f"The Story of {_LEADING_ARTICLE.sub(lambda m: m.group(1).lower() + ' ', names[0])}"
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]}, {names[1]} and Friends"


_DRAWING_KEY = re.compile(r"^books/[^/]+/drawings/(.+)$")


def drawing_key_to_path(key: str) -> str:
    """Bucket key -> the path below ``drawings/`` that book.toml uses ("books/b/drawings/a/max.png" -> "a/max.png").

    Anchored on ``books/<id>/drawings/`` so a book or a subfolder that is itself called
    "drawings" keeps its settings."""
    match = _DRAWING_KEY.match(key)
    return match.group(1) if match else normalize_drawing_path(key)


def story_texts(config: BookConfig, facts: Sequence[DrawingFacts], *, seed: str = "") -> list[str]:
    """Page text per drawing: the maker's text from book.toml where given, else the writer's.

    The writer sees the whole book, so openings and endings stay in place even when only some
    pages come from book.toml; it never leaves a page empty.
    """
    written = write_story(facts, age_range=config.age_range, seed=seed)
    texts: list[str] = []
    for fact, generated in zip(facts, written):
        given = config.drawings.get(drawing_key_to_path(fact.key))
        texts.append(given.text if given and given.text else generated)
    return texts


# ---------------------------------------------------------------------------------------------
# reading level
# ---------------------------------------------------------------------------------------------

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
