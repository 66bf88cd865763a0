"""The offline writer: warm, short page texts for drawings the maker wrote nothing for.

It writes from what is known about a drawing (its name from the file name, its colours, how many
variations it has, its place in the story). It is deterministic for a seed and uses short
sentences and short words, so the text reads at about grade 1–3 (Flesch–Kincaid), right for
3- to 7-year-olds.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .config import BookConfig, DrawingConfig, drawing_key_to_path
from .language import DEFAULT_LANGUAGE, language_for
from .names import drawing_colour_names, name_drawings, short_name
from .phrases import PHRASES
from ..typography import mid_sentence
from .readability import reading_level

@dataclass
class DrawingFacts:
    key: str                       # bucket key of the drawing
    name: str                      # human name from the file name (may be "")
    colours: list[str]             # dominant colours as hex, most common first
    variation_count: int


_LEADING_ARTICLE = re.compile(r"^(The|A|An) ")


def story_names(facts: Sequence[DrawingFacts]) -> list[str]:
    """The name each drawing goes by in the text: its own, else one read from its key or invented
    (names.name_drawings)."""
    return [named.name for named in name_drawings([(fact.key, fact.name.strip()) for fact in facts])]


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
                seed: str = "", language: str = DEFAULT_LANGUAGE) -> list[str]:
    """One short page text (2–4 sentences) per drawing, from what is known about it, in ``language``.

    A small arc in one tense: the first page opens the story, each next page brings a friend who
    meets the one before, the last page brings the last friend and ends the story (for a book of
    one character, without "they"). No sentence repeats anywhere in the book. Younger readers
    (oldest age <= 5) get at most three sentences a page. Deterministic for the same facts and seed.
    """
    words = language_for(language)
    phrases = PHRASES[words.code]
    rng = _seeded_rng(facts, seed)
    pools = {kind: _TemplatePool(templates, rng) for kind, templates in phrases.items()}
    max_sentences = 3 if age_range[1] <= 5 else 4
    names = story_names(facts)
    used: set[str] = set()
    texts: list[str] = []
    single = len({short_name(name) for name in names}) == 1

    for index, fact in enumerate(facts):
        name = names[index]
        colours = [words.colour(colour) for colour in drawing_colour_names(fact.colours)]
        count = max(fact.variation_count, 0)
        values = {"name": name, "prev": short_name(names[index - 1]) if index else short_name(name),
                  "c1": colours[0] if colours else "", "c2": colours[1] if len(colours) > 1 else "",
                  "pictures": words.count(count, words.picture)}
        is_first, is_last = index == 0, index == len(facts) - 1

        arrival_kind = "open" if is_first else ("last" if is_last else "middle")
        sentences: list[str | None] = [_pick(pools[arrival_kind], values, used)]
        values["name"] = short_name(name)     # full name once, then the short one, as books do
        room = max_sentences - 1 - (1 if is_last else 0)
        if colours:
            pool = pools["two_colours" if len(colours) > 1 else "one_colour"]
            sentences.append(_pick(pool, values, used, sentences))
        if count > 0 and len(sentences) - 1 < room:
            sentences.append(_pick(pools["many" if count > 1 else "one"], values, used, sentences))
        body_count = len([sentence for sentence in sentences[1:] if sentence])
        if body_count < min(room, 2) and (body_count == 0 or rng.random() < 0.5):
            sentences.append(_pick(pools["warm"], values, used, sentences))
        if is_last:
            sentences.append(_pick(pools["end_one" if single else "end_many"], values, used, sentences))
        text = " ".join(sentence for sentence in sentences if sentence)
        if not text:   # every template collided (many drawings sharing one name): still say something
            text = f"{name}!"
        texts.append(text)
    return texts


def default_title(facts: Sequence[DrawingFacts], language: str = DEFAULT_LANGUAGE) -> str:
    """A title from the first names in the book: "Max, Luna and Friends"."""
    words = language_for(language)
    names: list[str] = []
    for name in story_names(facts):
        if name not in names:
            names.append(name)
    if not names:
        return words.untitled
    if len(names) == 1:
        return words.title_one.format(a=mid_sentence(names[0]))
    if len(names) == 2:
        return words.title_two.format(a=names[0], b=mid_sentence(names[1]))
    return words.title_many.format(a=names[0], b=mid_sentence(names[1]))


def story_texts(config: BookConfig, facts: Sequence[DrawingFacts], *, seed: str = "",
                sections: Mapping[str, DrawingConfig] | None = None) -> list[str]:
    """Page text per drawing: the maker's text from book.toml where given, else the writer's.

    The writer sees the whole book, so openings and endings stay in place even when only some
    pages come from book.toml; it never leaves a page empty.
    """
    written = write_story(facts, age_range=config.age_range, seed=seed, language=config.language)
    texts: list[str] = []
    for fact, generated in zip(facts, written):
        given = sections.get(fact.key) if sections is not None else config.drawings.get(drawing_key_to_path(fact.key))
        texts.append(given.text if given and given.text else generated)
    return texts
