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
from enum import StrEnum

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
# Combining marks are part of their word: vowel signs and viramas in Devanagari and Thai, harakat in
# Arabic, niqqud in Hebrew, accents typed as combining characters ("प्रिया" is one word, not "प र य").
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
          "\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u0981-\u0983\u09bc-\u09d7"
          "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u3099\u309a")
_LETTER = rf"(?:[^\W_]|[{_MARKS}])"
_CHUNK = re.compile(rf"{_LETTER}+(?:['’]{_LETTER}+)*")     # letters and digits, joined by inner apostrophes


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


# ---------------------------------------------------------------------------------------------
# Is a file name a name at all? Cameras, phones, scanners and image tools name files with counters,
# dates, hashes and prompts; none of that may become a character's name in a story.
# ---------------------------------------------------------------------------------------------

class NameKind(StrEnum):
    """What a drawing's file name tells the story."""

    WORDS = "words"              # a name a person gave: "max_the_monster.png"
    PROMPT = "prompt"            # an image tool's name carrying its prompt: the subject may be used
    MEANINGLESS = "meaningless"  # a counter, date, hash or camera name: "IMG_2231", "109257f7….jpg"


# A camera, phone, scanner or messenger prefix followed by a counter or a date ("IMG_2231",
# "PXL_20240501_102231", "Screenshot 2024-05-01 at 10.22.31", "WhatsApp Image 2024-…", "scan0001").
_DEVICE_NAME = re.compile(
    r"^(?:img|image|dsc[nf]?|pxl|mvimg|vid|gopr|dji|sam|wp|p|pic|photo|scan|scanned|doc|cam|fb_img|mov|"
    r"snapchat|signal|received|pic_edit|edited)[\s_-]*\d", re.I)
# A tool's or app's name for whatever it saved: never a name, whatever follows.
_TOOL_NAME = re.compile(
    r"^(?:screen\s*shot|bildschirmfoto|capture d.écran|captura de pantalla|снимок экрана|whatsapp\s*image|"
    r"chatgpt\s*image|gemini_generated_image|comfyui|untitled|new\s*drawing)(?![a-z])", re.I)
# Words a device name carries besides its counter ("Screenshot 2024-05-01 at 10.22.31 PM").
_DEVICE_WORDS = frozenset("""
    pxl mvimg vid gopr dji sam wp p fb mov snapchat signal received whatsapp whats app chatgpt gemini generated
    comfyui screen shot screenshot bildschirmfoto capture captura de pantalla снимок экрана at am pm
    jan feb mar
    apr may jun jul aug sep sept oct nov dec
    """.split())
# An image tool's name that carries the prompt: "DALL·E 2024-01-05 12.34.56 - a purple monster…",
# "00012-3456789012-a purple monster", "Default_a_purple_monster_0", "Firefly a purple monster 12345",
# "user_a_purple_monster_with_big_teeth_1a2b3c4d-…" (Midjourney: user, prompt, UUID).
_PROMPT_PREFIX = re.compile(
    r"^(?:dall[\W_]*e(?:[\W_]*\d)?|firefly|default|leonardo(?:_\w+?)?_xl|leonardo|ideogram|stable[\W_]*diffusion|"
    r"sdxl|bing(?:[\W_]*image)?(?:[\W_]*creator)?|\d{3,6}-\d{4,12}(?=-))[\W_]",
    re.I)
_MIDJOURNEY = re.compile(r"^[^_\s]+_(.+)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:_\d)?$", re.I)
_PROMPT_STOP = frozenset("""
    with in on at under over near by from wearing holding having and or while that who which sitting standing
    playing flying running made drawn painted
    """.split())
"""A prompt's subject ends at its first preposition or clause: "a purple monster | with big teeth"."""
_PROMPT_FILLER = frozenset("""
    a an the one some cute adorable beautiful lovely happy funny tiny little small big huge giant friendly
    highly very detailed hd 4k 8k uhd realistic photorealistic hyperrealistic cinematic style styled drawing
    illustration painting picture image photo art artwork digital crayon crayons pencil watercolor watercolour
    sketch cartoon kawaii childrens children's child's kids kid's 3d render pixar disney colorful colourful
    vibrant simple storybook book version of
    """.split())
_PROMPT_MIN_WORDS = 6     # a plain name this long is a prompt someone pasted, not a name


def read_file_name(name: str) -> tuple[NameKind, list[str]]:
    """Whether a drawing's file name is a name, a prompt or noise, and the words worth keeping:
    the name's words, the prompt's subject ("a cute purple monster with big teeth" -> ["purple",
    "monster"]), or none."""
    stem = strip_extension(name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    words = _meaningful(filename_words(stem))
    if _TOOL_NAME.match(stem):
        return NameKind.MEANINGLESS, []
    if _DEVICE_NAME.match(stem):
        words = [word for word in words if word.lower() not in _DEVICE_WORDS]
        return (NameKind.WORDS, words) if _word_like(words) else (NameKind.MEANINGLESS, [])
    prompt = _prompt_text(stem)
    if prompt is not None or len(words) >= _PROMPT_MIN_WORDS:
        subject = _prompt_subject(_meaningful(filename_words(prompt if prompt is not None else stem)))
        return (NameKind.PROMPT, subject) if _word_like(subject) else (NameKind.MEANINGLESS, [])
    return (NameKind.WORDS, words) if _word_like(words) else (NameKind.MEANINGLESS, [])


def _meaningful(words: list[str]) -> list[str]:
    return [word for word in words if not word.isdigit() and word.lower() not in TOOL_WORDS
            and any(ch.isalpha() for ch in word)]


def _word_like(words: list[str]) -> bool:
    """Words a person wrote: at least one of three letters or more (or in a script without
    spaces), and no consonant run like "Bf" or "Dfb" that a hash leaves behind."""
    if not any(len(word) >= 3 or not word.isascii() for word in words):
        return False
    return not any(word.isascii() and 2 <= len(word) <= 4 and word.lower() not in _ABBREVIATIONS
                   and not re.search(r"[aeiouy]", word, re.I) for word in words)


_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr mx".split())


def _prompt_text(stem: str) -> str | None:
    """The prompt part of an image tool's file name, or None when the name is not one."""
    midjourney = _MIDJOURNEY.match(stem)
    if midjourney:
        return midjourney.group(1)
    prefix = _PROMPT_PREFIX.match(stem)
    if prefix:
        rest = stem[prefix.end():]
        return re.sub(r"^[\d\s._:-]*(?:-\s)?", "", rest)     # DALL·E's date and time before " - "
    return None


def _prompt_subject(words: list[str]) -> list[str]:
    """The subject of a prompt: the words before its first preposition, without filler, at most two."""
    kept: list[str] = []
    for word in words:
        if word.lower() in _PROMPT_STOP and kept:
            break
        if word.lower() not in _PROMPT_FILLER and word.lower() not in _PROMPT_STOP:
            kept.append(word.lower())
    return kept[-2:]
