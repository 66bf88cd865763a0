"""The words of the book: the maker's ``book.toml``, and an offline writer for pages without text.

``config`` reads ``book.toml``; ``names`` names drawings (from file names), colours and numbers;
``writer`` writes page texts where the maker gave none; ``readability`` measures reading level.
This package re-exports the names the rest of the code location and its tests use.
"""
from __future__ import annotations

from ..colour import delta_e_2000
from .config import (
    BookConfig, DrawingConfig, DrawingResolver, drawing_key_to_path, drawing_sections, parse_book_config,
    resolve_drawing_sections,
)
from .names import DrawingName, NameSource, colour_name, name_drawings, name_from_filename
from .readability import count_syllables, reading_level
from .writer import DrawingFacts, default_title, story_texts, write_story

__all__ = [
    "BookConfig", "DrawingConfig", "DrawingFacts", "DrawingName", "DrawingResolver", "NameSource", "colour_name",
    "count_syllables", "default_title", "delta_e_2000", "drawing_key_to_path", "drawing_sections", "name_drawings",
    "name_from_filename", "parse_book_config", "reading_level", "resolve_drawing_sections", "story_texts",
    "write_story",
]
