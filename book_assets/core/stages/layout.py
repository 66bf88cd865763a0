"""Stage 4 (page_layouts): story text and page geometry for every page, and the cover sheet (no pixels yet)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from ..contracts import Inventory, Layout, Pairing, TextSource, Validation
from ..cover import layout_cover
from ..fonts import missing_glyphs
from ..inventory import Role
from ..layout import BookContent, ImageSource, SpreadContent, layout_book
from ..layout_checks import check_layout
from ..problems import Problem
from ..profiles import DEFAULT_PROFILE, PROFILES, PrintProfile, normalize_paper
from ..spread_memo import SpreadMemo, dump_spread_memo, load_spread_memo
from ..store import ObjectStore, read_if_stored
from ..timing import ms_since
from ..story import (
    BookConfig, DrawingConfig, DrawingFacts, DrawingName, DrawingResolver, default_title, name_drawings,
    parse_book_config, reading_level, resolve_drawing_sections, story_texts,
)

CONFIG_PROBLEM = "book_toml"


def read_book_config(inventory: Inventory, store: ObjectStore) -> tuple[BookConfig, list[Problem]]:
    """The book's settings from ``book.toml`` (defaults when there is none) and what was wrong in it."""
    key = inventory.settings_key(Role.CONFIG)
    if key is None:
        return BookConfig(), []
    config, lines = parse_book_config(store.read_bytes(key).decode("utf-8-sig", errors="replace"))
    return config, [Problem(CONFIG_PROBLEM, line) for line in lines]


def choose_profile(name: str, paper: str, problems: list[Problem]) -> tuple[PrintProfile, str]:
    """The print profile and paper asked for, or the defaults with a Problem in ``problems``."""
    profile = PROFILES.get(name.strip().lower())
    if profile is None:
        problems.append(Problem("unknown_profile", f"book.toml asks for print profile '{name}', which is unknown; "
                                f"using {DEFAULT_PROFILE}. Known profiles: {', '.join(PROFILES)}."))
        profile = PROFILES[DEFAULT_PROFILE]
    try:
        paper = normalize_paper(paper)
    except KeyError:
        problems.append(Problem("unknown_paper", f"book.toml asks for paper '{paper}', which is unknown; using white. "
                                "Known papers: white, cream, premium-colour."))
        paper = "white"
    return profile, paper


def order_drawings(drawings: list[str], config: BookConfig) -> tuple[list[str], list[Problem]]:
    """Drawings in ``page_order`` first (as listed), then the rest by name; plus problems with the order."""
    resolver = DrawingResolver(drawings)
    ordered, problems = [], []
    for relative in config.page_order:
        key = resolver.find(relative)
        if key is None:
            closest = resolver.closest(relative)
            problems.append(Problem("unknown_page_order_entry", f"book.toml page_order names '{relative}', but there "
                                    "is no accepted drawing with that name"
                                    + (f"; did you mean '{closest}'?" if closest else ".")))
        elif key not in ordered:
            ordered.append(key)
    return ordered + [k for k in sorted(drawings) if k not in ordered], problems


@dataclass(frozen=True)
class BookPlan:
    """What goes in the book before any geometry: the content, the print profile and paper, and what
    was wrong with the maker's settings."""

    content: BookContent
    profile: PrintProfile
    paper: str
    problems: tuple[Problem, ...]
    text_sources: dict[str, TextSource]
    names: tuple[DrawingName, ...]
    config: BookConfig


def plan_book(inventory: Inventory, validation: Validation, pairing: Pairing, store: ObjectStore, *,
              profile_name: str = "") -> BookPlan:
    """Drawings in order, each with its story text, title and printed variations; ``profile_name``
    (run config) overrides book.toml's profile."""
    config, problems = read_book_config(inventory, store)
    profile, paper = choose_profile(profile_name or config.profile, config.paper, problems)
    drawings, order_problems = order_drawings(list(pairing.drawings), config)
    problems += order_problems

    def source(key: str) -> ImageSource:
        image = validation.get(key)
        return ImageSource(key=key, print_copy=image.print_copy, width_px=image.print_width,
                           height_px=image.print_height, mean_lab=tuple(image.features.mean_lab))

    sections, section_problems = resolve_drawing_sections(config, drawings)
    problems += section_problems
    names = name_drawings([(k, sections.get(k, DrawingConfig()).title) for k in drawings], seed=inventory.book_id,
                          usable=lambda name: not missing_glyphs(name))
    facts = [DrawingFacts(key=k, name=named.name, colours=list(validation.get(k).features.dominant_colours),
                          variation_count=len(pairing.variations.get(k, ())))
             for k, named in zip(drawings, names)]
    texts = story_texts(config, facts, seed=inventory.book_id, sections=sections)
    spreads, text_sources = [], {}
    for fact, text in zip(facts, texts):
        text_sources[fact.key] = TextSource.BOOK_TOML if fact.key in sections and sections[fact.key].text \
            else TextSource.WRITER
        spreads.append(SpreadContent(drawing=source(fact.key), text=text, title=fact.name,
                                     variations=[source(v) for v in pairing.variations.get(fact.key, ())]))
    content = BookContent(title=config.title or default_title(facts, config.language), author=config.author,
                          dedication=config.dedication, spreads=spreads, copyright=config.copyright,
                          language=config.language)
    return BookPlan(content, profile, paper, tuple(problems), text_sources, tuple(names), config)



def lay_out_book(inventory: Inventory, validation: Validation, pairing: Pairing, store: ObjectStore, *,
                 profile_name: str = "") -> Layout:
    """Title page, one spread per drawing (drawing + story | colour-arranged variations), end pages, and the
    cover sized for that page count."""
    plan = plan_book(inventory, validation, pairing, store, profile_name=profile_name)
    started = time.perf_counter()
    memo_key = store.work_key("spread-layouts", f"{inventory.book_id}.json")
    memo = SpreadMemo(load_spread_memo(stored) if (stored := read_if_stored(store, memo_key)) is not None else {})
    layout = layout_book(plan.content, plan.profile, spread_layout=memo)
    if memo.changed():
        store.write_bytes(memo_key, dump_spread_memo(memo.kept), content_type="application/json")
    layout_ms = ms_since(started)
    spreads = plan.content.spreads
    return Layout(
        book_id=inventory.book_id, layout=layout,
        cover=layout_cover(plan.content, plan.profile, len(layout.pages), plan.paper),
        config_problems=plan.problems, layout_problems=tuple(check_layout(layout)), text_sources=plan.text_sources,
        drawing_names=plan.names, book_config=plan.config,
        story_texts={spread.drawing.key: spread.text for spread in spreads},
        reading_level_mean=round(statistics.fmean(reading_level(s.text) for s in spreads), 2) if spreads else 0.0,
        layout_ms=layout_ms, spreads_laid_out=memo.laid_out, spreads_reused=memo.reused,
    )
