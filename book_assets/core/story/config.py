"""The maker's ``book.toml``: its schema, and a parser that keeps what it can.

``book.toml`` sits next to ``drawings/`` in a book folder. Every setting is optional::

    title = "Max and Friends"
    author = "Ms. Rivera's Class"
    dedication = "For every child who ever drew a monster."
    age_range = [4, 7]                    # youngest and oldest reader, in years
    language = "en"                       # en, es, fr, de or ru: the book's own words and its story
    profile = "kdp-8.5x8.5"               # print profile name
    page_order = ["max.png", "luna.png"]  # drawings in story order; others follow, by name
    [drawings."max.png"]                  # keyed by the path below drawings/
    title = "Max the Monster"
    text = "Max lives under the stairs and loves purple socks."

Paths in ``page_order`` and ``[drawings."..."]`` are relative to ``drawings/`` (a leading
``drawings/`` or ``./`` is tolerated). A bad file never stops the book: :func:`parse_book_config`
keeps what it can, uses defaults for the rest and explains each problem in a plain sentence.
"""
from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..problems import Problem
from .language import LANGUAGES, language_for


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
    language: str = "en"                  # en | es | fr | de | ru: the book's own sentences and the writer's
    page_order: list[str] = field(default_factory=list)              # paths relative to drawings/
    drawings: dict[str, DrawingConfig] = field(default_factory=dict)  # keyed by path relative to drawings/


_TEXT_SETTINGS = ("title", "author", "dedication", "profile", "paper", "copyright", "language")
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


MAX_BOOK_TOML_CHARS = 256_000   # a whole book's texts fit many times over; more is not settings


def parse_book_config(toml_text: str) -> tuple[BookConfig, list[str]]:
    """Read ``book.toml``; never raises. Bad or unknown settings fall back to defaults, each with a problem sentence."""
    config = BookConfig()
    problems: list[str] = []
    if len(toml_text) > MAX_BOOK_TOML_CHARS:
        problems.append(f"book.toml is {len(toml_text):,} characters long; settings for a book fit in "
                        f"{MAX_BOOK_TOML_CHARS:,}, so it was not read and the book uses default settings.")
        return config, problems
    try:
        data = tomllib.loads(toml_text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as error:
        problems.append(f"book.toml could not be read ({error}), so the book uses default settings.")
        return config, problems
    except RecursionError:      # brackets nested hundreds deep: tomllib recurses once per level
        problems.append("book.toml has lists or tables nested too deeply to be book settings, so it was not "
                        "read and the book uses default settings.")
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

    if config.language:
        try:
            config.language = language_for(config.language).code
        except KeyError:
            problems.append(f"book.toml asks for language '{config.language}', which this book maker cannot write "
                            f"yet, so the book's own words are in English. Languages: "
                            f"{', '.join(f'{code} ({language.name})' for code, language in LANGUAGES.items())}.")
            config.language = "en"
    else:
        config.language = "en"

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


_DRAWING_KEY = re.compile(r"^books/[^/]+/drawings/(.+)$")


def drawing_key_to_path(key: str) -> str:
    """Bucket key -> the path below ``drawings/`` that book.toml uses ("books/b/drawings/a/max.png" -> "a/max.png").

    Anchored on ``books/<id>/drawings/`` so a book or a subfolder that is itself called
    "drawings" keeps its settings."""
    match = _DRAWING_KEY.match(key)
    return match.group(1) if match else normalize_drawing_path(key)


def drawing_sections(titles: Sequence[tuple[str, str]]) -> str:
    """A ``book.toml`` block to paste, one ``[drawings."…"]`` section per (drawing key, title)."""
    sections = [f"[drawings.{_toml_string(drawing_key_to_path(key))}]\ntitle = {_toml_string(title)}\n"
                for key, title in titles]
    return "\n".join(sections)


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, \\uXXXX included)."""
    return json.dumps(text, ensure_ascii=False)


class DrawingResolver:
    """Finds the drawing a book.toml path means, as a person would: exactly, then ignoring case, then by
    file name alone when only one drawing has it ("Max.JPG" and "max.jpg" are the same drawing;
    "max.jpg" means "class-a/max.jpg" when there is no other max.jpg)."""

    def __init__(self, drawing_keys: Sequence[str]):
        self._paths = {drawing_key_to_path(key): key for key in drawing_keys}
        self._folded: dict[str, list[str]] = {}
        self._by_file: dict[str, list[str]] = {}
        for path, key in self._paths.items():
            self._folded.setdefault(path.casefold(), []).append(key)
            self._by_file.setdefault(path.rsplit("/", 1)[-1].casefold(), []).append(key)

    def find(self, path: str) -> str | None:
        """The drawing key ``path`` (below drawings/) names, or None when it names none or several."""
        path = normalize_drawing_path(path)
        if path in self._paths:
            return self._paths[path]
        for candidates in (self._folded.get(path.casefold(), []),
                           [] if "/" in path else self._by_file.get(path.casefold(), [])):
            if len(candidates) == 1:
                return candidates[0]
        return None

    def closest(self, path: str) -> str | None:
        """The drawing path most like ``path``, for a problem that says what was probably meant."""
        folded = {p.casefold(): p for p in self._paths}
        match = difflib.get_close_matches(normalize_drawing_path(path).casefold(), list(folded), n=1, cutoff=0.4)
        return folded[match[0]] if match else None


UNKNOWN_DRAWING_SECTION = "unknown_drawing_section"
DUPLICATE_DRAWING_SECTION = "duplicate_drawing_section"


def resolve_drawing_sections(config: BookConfig, drawing_keys: Sequence[str]) -> tuple[dict[str, DrawingConfig],
                                                                                       list[Problem]]:
    """book.toml's ``[drawings."…"]`` sections by the drawing key they mean, and a Problem for each
    section that means no drawing (naming the closest one) or one another section already describes."""
    resolver = DrawingResolver(drawing_keys)
    matched: dict[str, DrawingConfig] = {}
    sections: dict[str, str] = {}
    problems: list[Problem] = []
    for path, settings in config.drawings.items():
        key = resolver.find(path)
        if key is None:
            closest = resolver.closest(path)
            hint = (f" Did you mean [drawings.{_toml_string(closest)}]? Rename the section to that."
                    if closest else " Check the file name under drawings/ and rename the section to match it.")
            problems.append(Problem(UNKNOWN_DRAWING_SECTION, f"book.toml has a section [drawings.{_toml_string(path)}] "
                                    f"but there is no accepted drawing at drawings/{path}, so its title and text were "
                                    f"not used.{hint}", drawing=path))
        elif key in matched:
            problems.append(Problem(DUPLICATE_DRAWING_SECTION, f"book.toml has two sections for the drawing "
                                    f"drawings/{drawing_key_to_path(key)}: [drawings.{_toml_string(sections[key])}] "
                                    f"and [drawings.{_toml_string(path)}]; only the first was used. Merge them into "
                                    "one.", drawing=key))
        else:
            matched[key], sections[key] = settings, path
    return matched, problems
