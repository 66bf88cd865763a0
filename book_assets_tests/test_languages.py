"""The `language` setting: the book's own words (title page, copyright, The End, draw pages, closing
page, back cover) and the offline writer's story in English, Spanish, French, German and Russian,
read back from the published PDFs; an unknown language is a reported problem and an English book."""
from __future__ import annotations

import io
import unicodedata

import pytest
from pypdf import PdfReader

from book_assets.core.story import DrawingFacts, parse_book_config, write_story
from book_assets.core.story.language import LANGUAGES, language_for
from book_assets.core.story.phrases import PHRASES
from book_assets_dev.samples import SampleDrawing, sample_book_files

from .support import build, check_results, materialization, published, upload

# A few words of each language's boilerplate that its PDF must hold, and English ones it must not.
EXPECTED = {
    "en": ["The End", "Thank you for reading!", "All rights reserved.", "on a new adventure!"],
    "es": ["Fin", "¡Gracias por leer!", "Todos los derechos reservados.", "en una nueva aventura!"],
    "fr": ["Fin", "Merci d’avoir lu !", "Tous droits réservés.", "dans une nouvelle aventure !"],
    "de": ["Ende", "Danke fürs Lesen!", "Alle Rechte vorbehalten.", "in einem neuen Abenteuer!"],
    "ru": ["Конец", "Спасибо, что прочитали!", "Все права защищены.", "Нарисуй, куда отправится"],
}
ENGLISH_ONLY = ["The End", "Thank you for reading", "All rights reserved", "new adventure"]


def _flat(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).replace("\u00a0", " ").split())


@pytest.fixture(scope="module")
def two_drawings() -> dict[str, bytes]:
    return sample_book_files((SampleDrawing("max", "monster", 2, "helpful"), SampleDrawing("luna", "cat", 3, "helpful")),
                             include_bad=False, include_config=False)


@pytest.fixture(scope="module")
def shared_bucket(tmp_path_factory):
    """One bucket for every language's book: the drawings are decoded once (the cache is by content)."""
    from book_assets.defs.resources import LocalBucket
    return LocalBucket(root=str(tmp_path_factory.mktemp("languages") / "bucket"))


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_book_speaks_its_language(shared_bucket, instance, two_drawings, language):
    bucket, book = shared_bucket, f"lang-{language}"
    files = {**two_drawings, "book.toml": f'language = "{language}"\nauthor = "Room 4"\n'.encode()}
    upload(bucket, book, files)
    result = build(bucket, instance, book)
    assert result.success
    text = _flat("\n".join(page.extract_text() for page in
                           PdfReader(io.BytesIO(bucket.read_bytes(published(bucket, book)))).pages))
    for words in EXPECTED[language]:
        assert words in text, (language, words)
    if language != "en":
        assert not [words for words in ENGLISH_ONLY if words in text], text[:400]
    # the story is the writer's, in that language: one of its opening sentences is on page 4
    openings = [template.split("{name}")[0].strip() for template in PHRASES[language]["open"]]
    assert any(opening and opening in text for opening in openings), text[:600]
    assert f'<html lang="{language}">' in bucket.read_bytes(published(bucket, book, "preview.html")).decode()


def test_an_unknown_language_is_reported_and_the_book_is_english(shared_bucket, instance, two_drawings):
    """A typo in `language` must not cost a family its book: it builds in English and says why,
    in the page_layouts metadata and report.json (like every other book.toml problem)."""
    bucket = shared_bucket
    upload(bucket, "klingon", {**two_drawings, "book.toml": b'language = "tlh"\n'})
    result = build(bucket, instance, "klingon")
    assert result.success and check_results(result)["text_fits"].passed
    problems = materialization(result, "page_layouts").metadata["config_problems"].value
    assert "'tlh'" in problems and "ru (Русский)" in problems
    assert "'tlh'" in bucket.read_bytes(published(bucket, "klingon", "report.json")).decode()
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(
        bucket.read_bytes(published(bucket, "klingon")))).pages)
    assert "The End" in text


def test_language_setting_parses_and_defaults_to_english():
    assert parse_book_config("")[0].language == "en"
    assert parse_book_config('language = "DE"')[0].language == "de"
    assert parse_book_config('language = "es-MX"')[0].language == "es"
    config, problems = parse_book_config('language = "xx"')
    assert config.language == "en" and "'xx'" in problems[0]


@pytest.mark.parametrize("count, words", [(1, "один новый рисунок"), (2, "два новых рисунка"),
                                          (5, "пять новых рисунков"), (11, "одиннадцать новых рисунков"),
                                          (21, "21 новый рисунок"), (14, "четырнадцать новых рисунков")])
def test_russian_counts_take_the_right_plural_form(count, words):
    russian = language_for("ru")
    assert russian.count(count, russian.picture) == words


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_writer_writes_every_language_with_counts_in_words(language):
    facts = [DrawingFacts("books/b/drawings/max.png", "Max", ["#7b2fbe"], 3),
             DrawingFacts("books/b/drawings/luna.png", "Luna", ["#ff8800", "#87ceeb"], 1)]
    texts = write_story(facts, seed="b", language=language)
    words = language_for(language)
    assert len(texts) == 2 and all("{" not in text for text in texts)
    assert not any(ch.isdigit() for text in texts for ch in text)          # counts in words
    english = set(" ".join(write_story(facts, seed="b", language="en")).split())
    if language != "en":
        assert len(set(" ".join(texts).split()) & english) <= 4, texts     # names and punctuation only
    assert words.code == language
