"""The words of the book: book.toml parsing, names, colour names, the offline writer, reading level."""
from __future__ import annotations

import re

import pytest

from book_assets.core.story.names import short_name
from book_assets.core.story.writer import story_names
from book_assets.core.story import (
    BookConfig,
    DrawingConfig,
    DrawingFacts,
    colour_name,
    count_syllables,
    default_title,
    delta_e_2000,
    name_from_filename,
    parse_book_config,
    reading_level,
    story_texts,
    write_story,
)

EXAMPLE_TOML = '''
title = "Max and Friends"
author = "Ms. Rivera's Class"
dedication = "For every child who ever drew a monster."
age_range = [4, 7]
profile = "kdp-8.5x8.5"
page_order = ["max.png", "luna.png"]
[drawings."max.png"]
title = "Max the Monster"
text = "Max lives under the stairs and loves purple socks."
'''

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def twelve_drawing_book() -> list[DrawingFacts]:
    files = ["max_the_monster-2.png", "luna.png", "tRex.jpg", "bob.png", "spotty_dog.png", "fluffyCat3.png",
             "sir-wiggles.png", "zog.png", "Penny Penguin.png", "roboBuddy.png", "dragon.png", "kitty-cat.png"]
    colours = [["#ffffff", "#7b2fbe", "#2fbe4a"], ["#1e90ff"], [], ["#ff0000", "#ffd700"], ["#228b22"],
               ["#ff69b4", "#ffffff"], ["#8b4513"], ["#ffa500", "#000000"], ["#00ced1"], ["#dda0dd"],
               ["#000000", "#ffffff"], ["#c0c0c0"]]
    return [DrawingFacts(f"books/demo/drawings/{name}", name_from_filename(name), colour_list, index % 10)
            for index, (name, colour_list) in enumerate(zip(files, colours))]


# -- book.toml ---------------------------------------------------------------------------------

def test_parse_example_config():
    config, problems = parse_book_config(EXAMPLE_TOML)
    assert problems == []
    assert config.title == "Max and Friends"
    assert config.author == "Ms. Rivera's Class"
    assert config.dedication.startswith("For every child")
    assert config.age_range == (4, 7)
    assert config.profile == "kdp-8.5x8.5"
    assert config.page_order == ["max.png", "luna.png"]
    assert config.drawings == {"max.png": DrawingConfig(title="Max the Monster",
                                                        text="Max lives under the stairs and loves purple socks.")}


def test_empty_config_is_all_defaults():
    assert parse_book_config("") == (BookConfig(), [])


def test_invalid_toml_gives_a_problem_not_an_exception():
    config, problems = parse_book_config('title = "unterminated\nauthor = 3 3')
    assert config == BookConfig()
    assert len(problems) == 1 and "could not be read" in problems[0] and "line" in problems[0]


@pytest.mark.parametrize("text, says", [
    ("a = " + "[" * 600 + "]" * 600, "nested too deeply"),                    # tomllib recurses per level
    ('title = "x"\n' + "# padding\n" * 30_000, "characters long"),         # over the size cap
])
def test_hostile_book_toml_gives_a_problem_not_an_exception(text, says):
    config, problems = parse_book_config(text)
    assert config == BookConfig() and len(problems) == 1 and says in problems[0]


def test_wrong_types_fall_back_to_defaults_with_plain_problems():
    config, problems = parse_book_config('''
title = 42
author = "Class 2B"
age_range = [7, 4]
page_order = ["a.png", 3, "a.png", "drawings/b.png"]
colour = "blue"
[drawings."a.png"]
title = ["not", "text"]
text = "A is for apple."
mood = "happy"
''')
    assert config.title == "" and config.author == "Class 2B"
    assert config.age_range == (3, 7)
    assert config.page_order == ["a.png", "b.png"]
    assert config.drawings["a.png"] == DrawingConfig(title="", text="A is for apple.")
    joined = " | ".join(problems)
    for fragment in ("'title' should be text", "age_range", "holds a number", "more than once",
                     "'colour'", "'mood'", "title of drawing 'a.png'"):
        assert fragment in joined
    assert len(problems) == 7
    assert all(problem.endswith(".") and "Traceback" not in problem for problem in problems)


@pytest.mark.parametrize("toml_text", [
    "age_range = [true, 5]", "age_range = [3]", "age_range = '3-7'", "page_order = 'max.png'",
    "drawings = 5", "[drawings]\n'max.png' = 'text'", "title = 1979-05-27",
])
def test_odd_values_never_raise(toml_text):
    config, problems = parse_book_config(toml_text)
    assert isinstance(config, BookConfig) and problems


# -- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename, expected", [
    ("max_the_monster-2.png", "Max the Monster"),
    ("books/b/drawings/class-2/luna.PNG", "Luna"),
    ("fluffyCat3.jpeg", "Fluffy Cat"),
    ("sir-wiggles_v2.webp", "Sir Wiggles"),
    ("THE_BIG_DOG.jpg", "The Big Dog"),
    ("dragon (1).png", "Dragon"),
    ("IMG_1234.jpg", ""),
    ("scan-0003-copy.png", ""),
    ("émilie_la_licorne.png", "Émilie La Licorne"),
    ("tRex.png", "T Rex"),
])
def test_names_from_file_names(filename, expected):
    assert name_from_filename(filename) == expected


# -- colours -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hex_colour, word", [
    ("#ff0000", "red"), ("#0000ff", "blue"), ("#00aa00", "green"), ("#ffff00", "yellow"),
    ("#ffffff", "white"), ("#000000", "black"), ("#ff8800", "orange"), ("#87ceeb", "sky blue"),
    ("#fff", "white"), ("7b2fbe", "purple"),
])
def test_colour_names(hex_colour, word):
    assert word in colour_name(hex_colour)


def test_colour_name_rejects_non_colours():
    with pytest.raises(ValueError):
        colour_name("#12345g")


def test_delta_e_2000_matches_published_reference_pair():
    # Sharma, Wu & Dalal (2005), test pair 1.
    assert delta_e_2000((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)


# -- the writer --------------------------------------------------------------------------------

def test_write_story_one_text_per_drawing_each_naming_its_drawing():
    facts = twelve_drawing_book()
    texts = write_story(facts)
    assert len(texts) == len(facts)
    for fact, text in zip(facts, texts):
        name = fact.name or "Little Friend"
        assert name.lower() in text.lower()
        assert 2 <= len(SENTENCE_END.split(text)) <= 4


def test_write_story_never_repeats_a_sentence_in_a_book():
    sentences = [sentence for text in write_story(twelve_drawing_book()) for sentence in SENTENCE_END.split(text)]
    assert len(sentences) == len(set(sentences))


def test_write_story_does_not_reuse_a_sentence_pattern_in_a_twelve_page_book():
    facts = twelve_drawing_book()
    patterns = []
    for fact, text in zip(facts, write_story(facts, seed="patterns")):
        name = fact.name or "Little Friend"
        text = text.replace(name, "X").replace(name.split()[0], "X")
        text = re.sub(r"\b(one|two|three|four|five|six|seven|eight|nine|ten)\b", "N", text)
        patterns += SENTENCE_END.split(text)
    patterns = [pattern for pattern in patterns if not re.fullmatch(r"[^ ]+ (waves hello to|runs off to find) X\.", pattern)]
    assert len(patterns) == len(set(patterns))


def test_write_story_is_deterministic_and_seed_dependent():
    facts = twelve_drawing_book()
    assert write_story(facts, seed="a") == write_story(facts, seed="a")
    assert write_story(facts, seed="a") != write_story(facts, seed="b")


def test_write_story_has_no_placeholders():
    texts = write_story(twelve_drawing_book()) + write_story([DrawingFacts("k/drawings/x.png", "", [], 0)])
    for text in texts:
        assert not re.search(r"[{}<>]|TODO|None|\s\s|\s[.,!?]", text), text
        assert text[0].isupper() and text[-1] in ".!?"


def test_write_story_mentions_colours_counts_and_place():
    facts = [DrawingFacts("k/drawings/max.png", "Max", ["#ffffff", "#ff0000"], 9),
             DrawingFacts("k/drawings/luna.png", "Luna", ["#0000ff"], 1),
             DrawingFacts("k/drawings/zog.png", "Zog", [], 3)]
    first, middle, last = write_story(facts, seed="colours")
    assert "red" in first and "white" not in first    # paper white is not the drawing's colour
    assert "nine" in first
    assert "blue" in middle and "one" in middle
    assert "three" in last
    closing = re.compile(r"\b(end|good night|sun goes down|ever and ever)\b")
    assert closing.search(last) and not closing.search(first) and not closing.search(middle)


def test_reading_level_of_written_story_suits_ages_three_to_seven():
    texts = write_story(twelve_drawing_book(), age_range=(3, 7))
    assert reading_level(" ".join(texts)) <= 3.0
    assert all(reading_level(text) <= 3.0 for text in texts), [round(reading_level(t), 1) for t in texts]


def test_young_readers_get_at_most_three_sentences():
    texts = write_story(twelve_drawing_book(), age_range=(2, 5))
    assert all(len(SENTENCE_END.split(text)) <= 3 for text in texts)


def test_story_texts_prefer_the_makers_words():
    config, _ = parse_book_config(EXAMPLE_TOML)
    facts = [DrawingFacts("books/b/drawings/max.png", "Max", [], 2),
             DrawingFacts("books/b/drawings/luna.png", "Luna", [], 2)]
    texts = story_texts(config, facts)
    assert texts[0] == "Max lives under the stairs and loves purple socks."
    assert "Luna" in texts[1] and texts[1]


def test_default_title():
    facts = twelve_drawing_book()
    assert default_title(facts) == "Max the Monster, Luna and Friends"
    assert default_title(facts[1:3]) == "Luna and T Rex"
    assert default_title(facts[1:2]) == "The Story of Luna"
    assert default_title([]) == "Our Picture Book"


# -- reading level -----------------------------------------------------------------------------

@pytest.mark.parametrize("word, syllables", [
    ("cat", 1), ("the", 1), ("cake", 1), ("monster", 2), ("little", 2), ("purple", 2),
    ("jumped", 1), ("beautiful", 3), ("elephant", 3), ("12", 1), ("20", 2),
])
def test_syllable_heuristic(word, syllables):
    assert count_syllables(word) == syllables


def test_reading_level_golden_values():
    assert reading_level("The cat sat on the mat.") == pytest.approx(0.39 * 6 + 11.8 - 15.59)
    assert reading_level("") == 0.0
    hard = ("Notwithstanding considerable institutional opposition, the administration implemented "
            "comprehensive organisational restructuring.")
    assert reading_level(hard) > 12


def test_drawing_paths_are_anchored_on_the_book_folder():
    from book_assets.core.story import drawing_key_to_path

    assert drawing_key_to_path("books/b1/drawings/a/max.png") == "a/max.png"
    assert drawing_key_to_path("books/drawings/drawings/max.png") == "max.png"       # a book called "drawings"
    assert drawing_key_to_path("books/b1/drawings/drawings/max.png") == "drawings/max.png"


# -- book.toml sections are matched like a person reads them ---------------------------------------

def test_drawing_sections_match_ignoring_case_and_by_file_name_inside_folders():
    from book_assets.core.story import resolve_drawing_sections
    keys = ["books/b/drawings/max.jpg", "books/b/drawings/class-a/luna.png", "books/b/drawings/pip.png"]
    config, problems = parse_book_config('[drawings."Max.JPG"]\ntitle = "Max the Monster"\n'
                                         '[drawings."luna.png"]\ntext = "Luna naps."\n'
                                         '[drawings."drawings/pip.png"]\ntitle = "Pip"\n'
                                         '[drawings."ghost.jpg"]\ntext = "Boo."\n'
                                         '[drawings."max.jpg"]\ntitle = "Second Max"\n')
    assert not problems
    sections, problems = resolve_drawing_sections(config, keys)
    assert sections["books/b/drawings/max.jpg"].title == "Max the Monster"
    assert sections["books/b/drawings/class-a/luna.png"].text == "Luna naps."
    assert sections["books/b/drawings/pip.png"].title == "Pip"
    assert [p.code for p in problems] == ["unknown_drawing_section", "duplicate_drawing_section"]
    ghost, twin = problems
    assert ghost.drawing == "ghost.jpg" and "Did you mean" in ghost.message and "class-a/luna.png" not in ghost.message
    assert "max.jpg" in twin.message and "only the first was used" in twin.message


def test_a_section_for_a_file_name_two_folders_share_is_not_guessed():
    from book_assets.core.story import resolve_drawing_sections
    keys = ["books/b/drawings/a/max.jpg", "books/b/drawings/b/max.jpg"]
    config, _ = parse_book_config('[drawings."max.jpg"]\ntitle = "Max"\n')
    sections, problems = resolve_drawing_sections(config, keys)
    assert sections == {} and problems[0].code == "unknown_drawing_section"
    assert "a/max.jpg" in problems[0].message or "b/max.jpg" in problems[0].message


# -- a writer that reads like a book -------------------------------------------------------------------

def test_every_english_sentence_is_in_the_present_tense():
    from book_assets.core.story.phrases import PHRASES
    past = {"was", "were", "lived", "came", "joined", "tried", "did", "met", "played", "went", "had", "dressed"}
    for kind, templates in PHRASES["en"].items():
        for template in templates:
            assert not past & set(template.lower().replace(",", " ").replace(".", " ").split()), (kind, template)


def test_a_book_of_one_character_never_says_they():
    for seed in map(str, range(30)):
        text = " ".join(write_story([DrawingFacts("books/b/drawings/max.png", "Max", ["#7b2fbe"], 3)], seed=seed))
        assert " they " not in f" {text.lower()} " and "all the friends" not in text.lower(), text


def test_the_story_has_an_arc_start_friends_meeting_and_an_ending_on_the_last_page():
    from book_assets.core.story.phrases import PHRASES
    facts = twelve_drawing_book()
    texts = write_story(facts, seed="arc")
    names = story_names(facts)

    def starts_with(text: str, kind: str, name: str, prev: str = "") -> bool:
        return any(text.startswith(template.format(name=name, prev=prev)[:12]) for template in PHRASES["en"][kind])

    assert starts_with(texts[0], "open", names[0])
    endings = [template.format(name=short_name(names[-1])) for template in PHRASES["en"]["end_many"]]
    assert any(texts[-1].endswith(ending) for ending in endings)
    assert not any(text.endswith(ending) for text in texts[:-1] for ending in endings)
