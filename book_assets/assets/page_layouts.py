"""``page_layouts``: story text and page geometry for every page of the book (no pixels yet)."""

import statistics
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from .. import checks
from ..core import inventory
from ..core.layout import BookContent, BookLayout, ImageSource, SpreadContent, check_layout, layout_book
from ..core.profiles import DEFAULT_PROFILE, PROFILES, normalize_paper
from ..core.story import (
    BookConfig, DrawingFacts, default_title, drawing_key_to_path, name_from_filename, parse_book_config,
    reading_level, story_texts,
)
from ..resources import Bucket
from .common import BOOK_ASSET_ARGS, book_id_of, stopwatch
from .image_pairs import ImagePairs

class PageLayoutsConfig(dg.Config):
    """Run config: an operator may build a book in another print profile than its book.toml asks for."""

    profile: str = ""      # empty: the profile in book.toml (default kdp-8.5x8.5)


@dataclass
class PageLayouts:
    """The laid-out book plus what the maker should know about their settings."""

    layout: BookLayout
    config_problems: list[str] = field(default_factory=list)
    text_sources: dict[str, str] = field(default_factory=dict)   # drawing key -> "book.toml" | "writer"
    content: BookContent | None = None     # what was laid out (the cover is made from it too)
    paper: str = "white"                   # cover paper: sets the spine width
    layout_problems: list[str] = field(default_factory=list)   # check_layout's findings, for the preview

    def placed_images(self) -> pd.DataFrame:
        """One row per placed image with its effective PPI (for the resolution checks)."""
        rows = []
        for page in self.layout.pages:
            for img in page.images:
                ppi = img.ppi
                long_in = max(img.width, img.height) / 72.0
                rows.append({
                    "page": page.number, "key": img.key, "ppi": round(ppi, 1), "width_px": img.width_px,
                    "height_px": img.height_px, "width_in": img.width / 72.0, "height_in": img.height / 72.0,
                    "needed_px": int(round(long_in * self.layout.profile.min_ppi)),
                })
        return pd.DataFrame(rows, columns=["page", "key", "ppi", "width_px", "height_px", "width_in", "height_in", "needed_px"])


def read_book_config(bucket: Bucket, raw_images: pd.DataFrame) -> tuple[BookConfig, list[str]]:
    rows = raw_images[raw_images["role"] == inventory.CONFIG]
    if rows.empty:
        return BookConfig(), []
    text = bucket.read_bytes(rows.iloc[0]["key"]).decode("utf-8-sig", errors="replace")
    return parse_book_config(text)


def choose_profile(name: str, paper: str, problems: list[str]):
    """The print profile and paper asked for, or the defaults with a sentence in ``problems``."""
    profile = PROFILES.get(name.strip().lower())
    if profile is None:
        problems.append(f"book.toml asks for print profile '{name}', which is unknown; using {DEFAULT_PROFILE}. "
                        f"Known profiles: {', '.join(PROFILES)}.")
        profile = PROFILES[DEFAULT_PROFILE]
    try:
        paper = normalize_paper(paper)
    except KeyError:
        problems.append(f"book.toml asks for paper '{paper}', which is unknown; using white. "
                        f"Known papers: white, cream, premium-colour.")
        paper = "white"
    return profile, paper


def order_drawings(drawings: list[str], config: BookConfig) -> tuple[list[str], list[str]]:
    """Drawings in ``page_order`` first (as listed), then the rest by name; plus problems with the order."""
    by_relative = {drawing_key_to_path(key): key for key in drawings}
    ordered, problems = [], []
    for relative in config.page_order:
        key = by_relative.get(relative)
        if key is None:
            problems.append(f"book.toml page_order names '{relative}', but there is no accepted drawing with that name.")
        elif key not in ordered:
            ordered.append(key)
    return ordered + [k for k in sorted(drawings) if k not in ordered], problems


@dg.asset(**BOOK_ASSET_ARGS, kinds={"python"}, check_specs=checks.PAGE_LAYOUTS_CHECKS)
def page_layouts(
    context: dg.AssetExecutionContext,
    config: PageLayoutsConfig,
    bucket: Bucket,
    raw_images: pd.DataFrame,
    validated_images: pd.DataFrame,
    image_pairs: ImagePairs,
):
    """Title page, one spread per drawing (drawing + story | colour-arranged variations), end page."""
    book_id = book_id_of(context)
    run_profile = config.profile
    config, problems = read_book_config(bucket, raw_images)
    profile, paper = choose_profile(run_profile or config.profile, config.paper, problems)
    drawings, order_problems = order_drawings(image_pairs.drawings, config)
    problems += order_problems
    for problem in problems:
        context.log.warning(problem)

    accepted = validated_images.set_index("key")

    def source(key: str) -> ImageSource:
        row = accepted.loc[key]
        return ImageSource(key=key, print_copy=row["print_copy"], width_px=int(row["print_width"]),
                           height_px=int(row["print_height"]), mean_lab=tuple(row["features"]["mean_lab"]))

    facts = [
        DrawingFacts(key=k, name=name_from_filename(k.rsplit("/", 1)[-1]),
                     colours=list(accepted.loc[k, "features"]["dominant_colours"]),
                     variation_count=len(image_pairs.variations.get(k, [])))
        for k in drawings
    ]
    texts = story_texts(config, facts, seed=book_id)
    spreads, text_sources = [], {}
    for fact, text in zip(facts, texts):
        chosen = config.drawings.get(drawing_key_to_path(fact.key))
        text_sources[fact.key] = "book.toml" if chosen and chosen.text else "writer"
        spreads.append(SpreadContent(
            drawing=source(fact.key),
            text=text,
            variations=[source(v) for v in image_pairs.variations.get(fact.key, [])],
            title=chosen.title if chosen and chosen.title else fact.name,
        ))
    content = BookContent(title=config.title or default_title(facts), author=config.author,
                          dedication=config.dedication, spreads=spreads, copyright=config.copyright)
    with stopwatch() as timing:
        layout = layout_book(content, profile)
    layout_problems = check_layout(layout)
    manifest = PageLayouts(layout, problems, text_sources, content, paper, layout_problems)
    placed = manifest.placed_images()

    grids = [p for p in layout.pages if p.harmony is not None]
    story_boxes = [t for p in layout.pages for t in p.texts if t.role == "story"]
    kinds = pd.Series([p.kind for p in layout.pages]).value_counts().to_dict()
    metadata = {
        "profile": profile.name,
        "paper": paper,
        "pages": len(layout.pages),
        "spreads": len(spreads),
        "page_kinds": dg.MetadataValue.json({k: int(v) for k, v in kinds.items()}),
        "mean_harmony": round(statistics.fmean(p.harmony for p in grids), 4) if grids else 0.0,
        "mean_random_harmony": round(statistics.fmean(p.random_harmony for p in grids), 4) if grids else 0.0,
        "min_ppi": round(float(placed["ppi"].min()), 1) if len(placed) else 0.0,
        "images_placed": len(placed),
        "text_shrunk": sum(1 for t in story_boxes if t.shrunk_from),
        "min_story_pt": round(min((t.font_size for t in story_boxes), default=0.0), 1),
        "reading_level_mean": round(statistics.fmean(reading_level(s.text) for s in spreads), 2) if spreads else 0.0,
        "texts_from_book_toml": sum(1 for s in text_sources.values() if s == "book.toml"),
        "texts_written": sum(1 for s in text_sources.values() if s == "writer"),
        "config_problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        "layout_ms": timing["ms"],
    }
    return dg.MaterializeResult(
        value=manifest,
        metadata=metadata,
        check_results=[
            checks.check_text_fits(layout_problems),
            checks.check_images_ppi("images_at_target_ppi", placed, profile.min_ppi, dg.AssetCheckSeverity.WARN,
                                    target_ppi=profile.min_ppi, minimum_ppi=profile.reject_ppi),
            checks.check_images_ppi("images_at_minimum_ppi", placed, profile.reject_ppi, dg.AssetCheckSeverity.ERROR,
                                    target_ppi=profile.min_ppi, minimum_ppi=profile.reject_ppi),
        ],
    )
