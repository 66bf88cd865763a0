"""Names from real uploads: file names that are counters, dates, hashes, camera or prompt names never
become words in the book; such drawings get warm, distinct invented names, and the
drawings_named_by_us check lists them with a book.toml block to paste."""
from __future__ import annotations

import io
import json
import re
import tomllib
import unicodedata

import pytest
from pypdf import PdfReader

from book_assets.core.filenames import NameKind, filename_words, read_file_name
from book_assets.core.story import NameSource, name_drawings, name_from_filename, parse_book_config
from book_assets_dev.samples import SampleDrawing, sample_book_files

from .support import build, check_results, materialization, published, upload


@pytest.mark.parametrize("filename", [
    "IMG_2231.jpg", "IMG_20240501_102231.jpg", "DSC_0001.JPG", "DSCN0042.jpg", "PXL_20240501_102231123.jpg",
    "scan0001.png", "Scan 3.png", "scan-0003-copy.png", "Screenshot 2024-05-01 at 10.22.31.png",
    "Screenshot_20240501-102231.png", "WhatsApp Image 2024-05-01 at 10.22.31 (1).jpeg",
    "109257f7e3a94b1c8d2f0a6b5c4d3e2f.jpg", "109257f7-e3a9-4b1c-8d2f-0a6b5c4d3e2f.jpg", "f3a9c1.png",
    "1a2b3c4d_5e.png", "ComfyUI_00012_.png", "ChatGPT Image Apr 5, 2025, 10_22_31 AM.png",
    "Gemini_Generated_Image_abc123xyz.png", "00012-3456789012.png", "untitled.png", "F_Bf_F_F_B_D_F_a_B.jpg",
])
def test_meaningless_file_names_give_no_name(filename):
    assert read_file_name(filename) == (NameKind.MEANINGLESS, [])
    assert name_from_filename(filename) == ""


@pytest.mark.parametrize("filename, subject", [
    ("DALL·E 2024-01-05 12.34.56 - A cute purple monster with big teeth, crayon drawing.png", "The Purple Monster"),
    ("00012-3456789012-a tiny green dragon flying over a castle.png", "The Green Dragon"),
    ("johnsmith_a_cute_purple_monster_with_big_teeth_3f2b6a1c-1234-4a5b-8c9d-0123456789ab.png",
     "The Purple Monster"),
    ("Default_a_happy_yellow_duck_0.jpg", "The Yellow Duck"),
    ("Firefly a red fox in the snow 12345.jpg", "The Red Fox"),
    ("a_cute_purple_monster_with_big_teeth_in_the_rain.png", "The Purple Monster"),
])
def test_prompt_names_give_their_subject_only(filename, subject):
    assert read_file_name(filename)[0] is NameKind.PROMPT
    assert name_from_filename(filename) == subject


@pytest.mark.parametrize("filename, name", [
    ("max_the_monster-2.png", "Max the Monster"), ("IMG_2231_max.jpg", "Max"), ("tRex.png", "T Rex"),
    ("mr_wiggles.png", "Mr Wiggles"), ("猫.png", "猫"), ("Луна.jpg", "Луна"),
])
def test_real_names_survive(filename, name):
    assert name_from_filename(filename) == name


def test_invented_names_differ_within_a_book_and_are_stable_per_book():
    keys = [(f"books/b/drawings/IMG_{n:04d}.jpg", "") for n in range(60)]
    names = name_drawings(keys, seed="b")
    assert len({named.name for named in names}) == 60
    assert all(named.source is NameSource.INVENTED for named in names)
    assert [n.name for n in name_drawings(keys, seed="b")] == [n.name for n in names]
    assert [n.name for n in name_drawings(keys, seed="other")] != [n.name for n in names]


def test_invented_names_avoid_the_books_real_names_and_prompt_twins_get_one_each():
    names = name_drawings([("books/b/drawings/pip.jpg", ""), ("books/b/drawings/IMG_1.jpg", ""),
                           ("books/b/drawings/Default_a_purple_monster_0.jpg", ""),
                           ("books/b/drawings/Default_a_purple_monster_1.jpg", ""),
                           ("books/b/drawings/IMG_2.jpg", "Granny")], seed="x")
    assert names[0].name == "Pip" and names[0].source is NameSource.FILE_NAME
    assert names[1].name != "Pip" and names[1].source is NameSource.INVENTED
    assert names[2].name != names[3].name and all(n.name.endswith(" the Purple Monster") for n in names[2:4])
    assert names[4].name == "Granny" and names[4].source is NameSource.BOOK_TOML


def test_a_name_no_font_can_print_is_replaced():
    names = name_drawings([("books/b/drawings/猫.png", "")], seed="b", usable=lambda name: name.isascii())
    assert names[0].source is NameSource.INVENTED and names[0].name.isascii()


# --- whole books: the PDF text, the check, the block ---------------------------------------------

_SUBJECTS = ("monster", "cat", "fish")


def _build_named_book(bucket, instance, stems: tuple[str, ...], book_toml: str = ""):
    files = sample_book_files(tuple(SampleDrawing(stem, _SUBJECTS[i], 1 + i, "random") for i, stem in enumerate(stems)),
                              include_bad=False, include_config=False)
    if book_toml:
        files["book.toml"] = book_toml.encode()
    upload(bucket, "named", files)
    result = build(bucket, instance, "named")
    assert result.success
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bucket.read_bytes(published(bucket, "named")))).pages)
    return result, text


BOOKS = {
    "hex": ("109257f7e3a94b1c8d2f0a6b5c4d3e2f", "0b5e1c2d-9a8f-4e3d-b2c1-a0f9e8d7c6b5", "7f3e-bf12-f9d0-b3d1"),
    "camera": ("IMG_2231", "DSC_0042", "Screenshot 2024-05-01 at 10.22.31"),
    "prompt": ("DALL·E 2024-01-05 12.34.56 - a cute purple monster with big teeth, crayon style",
               "00012-3456789012-a fluffy orange cat sitting on a rug",
               "someone_a_happy_blue_fish_in_the_sea_3f2b6a1c-1234-4a5b-8c9d-0123456789ab"),
}
# Words of the prompts a story may use: they name the subject.
_SUBJECT_WORDS = {"purple", "monster", "orange", "cat", "blue", "fish", "the"}


@pytest.mark.parametrize("kind", BOOKS)
def test_meaningless_and_prompt_names_never_reach_the_pdf(bucket, instance, kind):
    stems = BOOKS[kind]
    result, text = _build_named_book(bucket, instance, stems)
    words_in_pdf = {word.lower() for word in re.findall(r"[^\W\d_]+", text)}
    file_words = {word.lower() for stem in stems for chunk in re.findall(r"[^\W\d_]+", stem)
                  for word in filename_words(chunk)}
    leaked = (file_words - _SUBJECT_WORDS) & words_in_pdf
    # English words the story uses anyway ("a", "at", "in", "with" …) are not leaks of the name
    leaked -= {"a", "at", "in", "with", "on", "the", "and"}
    assert not leaked, f"file-name words in the PDF: {sorted(leaked)}"

    check = check_results(result)["drawings_named_by_us"]
    assert not check.passed and check.severity.name == "WARN"
    block = check.metadata["book_toml"].value
    config, problems = parse_book_config(block)
    assert not problems
    names = [drawing.title for drawing in config.drawings.values()]
    assert sorted(config.drawings) == sorted(f"{stem}.jpg" for stem in stems)
    assert len(set(names)) == len(stems), names
    for name in names:             # every name is printed, as the drawing's caption and in its story
        assert text.count(name.split(" ")[-1]) >= 2
    if kind == "prompt":
        assert {"The Purple Monster", "The Orange Cat", "The Blue Fish"} == set(names)
    assert tomllib.loads(block)


def test_book_toml_sections_match_like_a_person_reads_them_and_a_stray_one_is_reported(bucket, instance):
    """[drawings."img_2231.JPG"] is IMG_2231.jpg; [drawings."ghost.jpg"] is reported in the page_layouts
    metadata and in report.json, naming the closest drawing."""
    toml = ('[drawings."img_2231.JPG"]\ntext = "Our cat naps in the sun all day long."\n'
            '[drawings."DSC_0024.jpg"]\ntext = "Nobody wrote this one."\n')
    result, text = _build_named_book(bucket, instance, BOOKS["camera"], toml)
    assert "Our cat naps in the sun all day long." in " ".join(text.split())
    metadata = materialization(result, "page_layouts").metadata
    assert "DSC_0024.jpg" in metadata["config_problems"].value and "DSC_0042.jpg" in metadata["config_problems"].value
    report = json.loads(bucket.read_bytes(published(bucket, "named", "report.json")))
    assert any("DSC_0024.jpg" in line and "DSC_0042.jpg" in line for line in json.dumps(report).split("\\n"))


# --- names in other scripts -------------------------------------------------------------------------

SCRIPT_NAMES = ("猫", "지민", "สมชาย", "प्रिया", "ليلى", "נועה")


def _pdf_texts(pdf: bytes) -> str:
    """The PDF's text as two readers extract it, NFKC-folded (Arabic comes back as presentation forms).
    pypdf reads right-to-left runs in reading order but ignores ActualText; PDFium (Chromium's PDF
    reader) reads ActualText, which is how shaped Devanagari keeps its letters."""
    import pypdfium2
    document = pypdfium2.PdfDocument(pdf)
    by_pdfium = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    by_pypdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return unicodedata.normalize("NFKC", by_pypdf + "\n" + by_pdfium)


def test_names_in_any_script_are_printed_shaped_and_searchable(bucket, instance):
    """Drawings named in Chinese, Korean, Thai, Hindi, Arabic and Hebrew: the book publishes (no
    text_fits failure), each name is its drawing's title, and the PDF's text holds every name."""
    files = sample_book_files(tuple(SampleDrawing(name, "monster", 1, "random") for name in SCRIPT_NAMES),
                              include_bad=False, include_config=False)
    upload(bucket, "scripts", files)
    result = build(bucket, instance, "scripts")
    assert result.success
    checks = check_results(result)
    assert checks["text_fits"].passed and checks["pdf_preflight"].passed
    assert checks["drawings_named_by_us"].passed        # every name printable: none replaced
    text = _pdf_texts(bucket.read_bytes(published(bucket, "scripts")))
    for name in SCRIPT_NAMES:
        assert text.count(unicodedata.normalize("NFKC", name)) >= 2, name      # title and story


def test_words_in_scripts_that_need_shaping_get_a_shaping_font():
    from book_assets.core import fonts
    pieces = fonts.runs("Here comes נועה. Then ليلى and प्रिया meet 猫!", fonts.REGULAR)
    assert ("נועה", "BookScript-Hebrew") in pieces and ("ليلى", "BookScript-Arabic") in pieces
    assert ("प्रिया", "BookScript-Devanagari") in pieces and ("猫", "BookScript-CJK") in pieces
    assert (". Then ", fonts.REGULAR) in pieces        # the full stop stays with the English text
    assert fonts.run_width("ليلى", "BookScript-Arabic", 20) < fonts.pdfmetrics.stringWidth(
        "ليلى", "BookScript-Arabic", 20)               # joined letters are narrower than isolated ones


def test_colour_name_is_the_nearest_name_by_ciede2000_one_by_one():
    """The vectorised nearest-name search picks what comparing every name one by one picks."""
    import random

    from book_assets.core.colour import delta_e_2000, parse_hex_colour, srgb_to_lab
    from book_assets.core.story import names

    rng = random.Random(11)
    for hex_colour in [f"#{rng.getrandbits(24):06x}" for _ in range(400)]:
        lab = srgb_to_lab(parse_hex_colour(hex_colour))
        one_by_one = min(names._COLOUR_LABS, key=lambda name: delta_e_2000(lab, names._COLOUR_LABS[name]))
        assert names.colour_name(hex_colour) == one_by_one, hex_colour
