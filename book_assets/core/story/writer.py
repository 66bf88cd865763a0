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
from .names import drawing_colour_names, name_drawings, number_word, short_name
from ..typography import mid_sentence
from .readability import reading_level

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

_LEADING_ARTICLE = re.compile(r"^(The|A|An) ")


def story_names(facts: Sequence[DrawingFacts]) -> list[str]:
    """The name used for each drawing in the text: its own, or one read from its key or invented (names.name_drawings)."""
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
        return f"{names[0]} and {mid_sentence(names[1])}"
    return f"{names[0]}, {mid_sentence(names[1])} and Friends"


def story_texts(config: BookConfig, facts: Sequence[DrawingFacts], *, seed: str = "",
                sections: Mapping[str, DrawingConfig] | None = None) -> list[str]:
    """Page text per drawing: the maker's text from book.toml where given, else the writer's.

    The writer sees the whole book, so openings and endings stay in place even when only some
    pages come from book.toml; it never leaves a page empty.
    """
    written = write_story(facts, age_range=config.age_range, seed=seed)
    texts: list[str] = []
    for fact, generated in zip(facts, written):
        given = sections.get(fact.key) if sections is not None else config.drawings.get(drawing_key_to_path(fact.key))
        texts.append(given.text if given and given.text else generated)
    return texts
