"""The review panel of ``preview.html``: what the maker can correct from the preview, and the files it hands back.

The maker sees only the bucket and the book. Every variation we were unsure of (held out of the
book, or printed but flagged), and every drawing whose name we made up (with its story text, to
change if the maker likes) is listed here with what the page needs to offer a choice; the page's script turns the
choices into a ``pairs.csv`` (the rows the book already had, changed where the maker chose) and a
``book.toml`` (the settings the book already had, with the new names and texts) for the maker to
drop into the book folder. The panel is data (JSON in the page); the script builds the panel with
DOM text nodes only, so nothing from an upload is ever read as markup.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from enum import StrEnum

from PIL import Image

from .contracts import Layout, Pairing, runner_up_probability
from .derived import input_digest
from .imaging.decode import small_jpeg
from .look_alike_groups import GroupMove
from .pairing import SIGNAL_OVERRIDE, Pair, PairStatus
from .store import ObjectStore
from .story import BookConfig
from .story.config import normalize_drawing_path

REVIEW_THUMBNAIL_PX = 200        # long side of the small pictures beside each choice
MAX_REVIEW_VARIATIONS = 200      # the first 200 unsure variations; the panel says how many more there are
NO_DRAWING = "-"                 # a pairs.csv drawing cell meaning "from no drawing of this book"


class ReviewReason(StrEnum):
    """Why a variation is in the panel."""

    HELD = "held"                # more likely wrong than right: left out of the book until someone decides
    # held, and proposed for a drawing that had few or no variations: its look-alikes fit no drawing surely
    # (its own probability for that drawing is low), or they are sure of it only through each other
    PROPOSED_FOR_EMPTY = "proposed-for-empty"
    # held, and proposed for the drawing that has most of its look-alikes (alone it leaned, a little, to a
    # drawing that holds another picture's variations)
    PROPOSED_WITH_LOOK_ALIKES = "proposed-with-look-alikes"
    # held: it and its look-alikes each sit on another picture's drawing; their drawing may be missing
    NO_DRAWING_HERE = "held-no-drawing"
    FLAGGED = "flagged"          # printed, but we were not sure of its drawing

    @classmethod
    def of(cls, pair: Pair) -> "ReviewReason":
        """Why ``pair`` (held, or printed but flagged) is in the panel."""
        if pair.status is not PairStatus.HELD:
            return cls.FLAGGED
        if GroupMove.EMPTY_DRAWING in pair.signals or GroupMove.EACH_OTHER in pair.signals:
            return cls.PROPOSED_FOR_EMPTY
        if GroupMove.NO_DRAWING in pair.signals:
            return cls.NO_DRAWING_HERE
        return cls.PROPOSED_WITH_LOOK_ALIKES if GroupMove.SPLIT_GROUP in pair.signals else cls.HELD


@dataclass(frozen=True)
class ReviewCandidate:
    drawing: str                 # path below the book folder ("drawings/max.png"), as pairs.csv takes it
    probability: float


@dataclass(frozen=True)
class ReviewVariation:
    generated: str               # path below the book folder ("generated/x.png")
    reason: ReviewReason
    candidates: tuple[ReviewCandidate, ...]   # the best drawing first, then the runner-up
    thumbnail: str               # base64 JPEG


@dataclass(frozen=True)
class ReviewDrawing:
    path: str                    # path below the book folder ("drawings/max.png")
    section: str                 # its book.toml section key (path below drawings/)
    name: str                    # the name it goes by in this book
    named_by_us: bool            # we made the name up (or took it from a prompt): the maker may give the real one
    text: str                    # its story text as printed
    thumbnail: str


@dataclass(frozen=True)
class ReviewPanel:
    book_folder: str             # where the maker puts the files: "books/<id>/"
    variations: tuple[ReviewVariation, ...]
    more_variations: int         # unsure variations beyond MAX_REVIEW_VARIATIONS (not shown)
    drawings: tuple[ReviewDrawing, ...]          # every drawing, in book order
    pairs_rows: tuple[tuple[str, str], ...]      # the pairs.csv rows the book already obeyed
    settings: dict                               # book.toml as the book used it (see ``settings_document``)

    @property
    def has_work(self) -> bool:
        return bool(self.variations or any(d.named_by_us for d in self.drawings))

    def to_json_data(self) -> dict:
        return asdict(self)


def settings_document(config: BookConfig) -> dict:
    """book.toml's settings as the book used them, for the page to write back: every setting that
    differs from the default, and each drawing's section with what it sets."""
    defaults = BookConfig()
    document: dict = {}
    for item in fields(BookConfig):
        if item.name == "drawings":
            continue
        value = getattr(config, item.name)
        if value != getattr(defaults, item.name):
            document[item.name] = list(value) if isinstance(value, tuple | list) else value
    sections = {key: {k: v for k, v in asdict(section).items() if v}
                for key, section in config.drawings.items()}
    document["drawings"] = {key: section for key, section in sections.items() if section}
    return document


def _relative(book_folder: str, key: str) -> str:
    return key[len(book_folder):] if key.startswith(book_folder) else key


THUMBNAIL_FORMAT = 1             # bump when thumbnail_jpeg_bytes changes, so no stale cached thumbnail is reused
THUMBNAIL_QUALITY = 80           # JPEG quality of a review thumbnail (validation makes some of them, with this)


def thumbnail_jpeg_bytes(path: str, px: int = REVIEW_THUMBNAIL_PX) -> bytes:
    """A small JPEG of an image file (draft decoding keeps a big JPEG cheap). Validation makes the
    same bytes from its own decode of a pass-through JPEG (``analyse_image``'s ``review_px``)."""
    with Image.open(path) as image:
        image.draft("RGB", (px, px))
        return small_jpeg(image, px, THUMBNAIL_QUALITY)


def review_thumbnail_key(store: ObjectStore, print_copy: str) -> str:
    """Where a print copy's review thumbnail is kept: print copies are content-addressed, so the key
    names the pixels."""
    inputs = {"format": THUMBNAIL_FORMAT, "px": REVIEW_THUMBNAIL_PX, "print_copy": print_copy}
    return store.work_key("review-thumbnails", f"{input_digest(inputs)}.jpg")


def thumbnail_jpeg(path: str, px: int = REVIEW_THUMBNAIL_PX) -> str:
    """``thumbnail_jpeg_bytes`` as base64, as the panel carries it."""
    return base64.b64encode(thumbnail_jpeg_bytes(path, px)).decode("ascii")


def _unsure_shown(pairing: Pairing) -> tuple[list[Pair], int]:
    """The variations the panel shows (held first, least sure first) and how many more there are."""
    unsure = [p for p in pairing.pairs if p.status is PairStatus.HELD
              or (p.status is PairStatus.PLACED and p.needs_review and p.drawing is not None)]
    unsure.sort(key=lambda p: (p.status is not PairStatus.HELD, p.confidence, p.generated))
    return unsure[:MAX_REVIEW_VARIATIONS], max(0, len(unsure) - MAX_REVIEW_VARIATIONS)


def review_images(pairing: Pairing, layout: Layout) -> list[str]:
    """The image keys whose thumbnails ``review_panel`` shows, so a caller can make them together."""
    return [*(p.generated for p in _unsure_shown(pairing)[0]), *(named.key for named in layout.drawing_names)]


def review_panel(book_id: str, pairing: Pairing, layout: Layout, thumbnail: Callable[[str], str]) -> ReviewPanel:
    """Everything the maker can settle from the preview; ``thumbnail`` gives an image key's small
    JPEG as base64 (``thumbnail_jpeg`` of its print copy, or that read back from a cache)."""
    folder = f"books/{book_id}/"
    shown, more = _unsure_shown(pairing)
    variations = []
    for pair in shown:
        candidates = [ReviewCandidate(_relative(folder, pair.drawing), round(float(pair.confidence), 3))]
        if pair.runner_up:
            candidates.append(ReviewCandidate(_relative(folder, pair.runner_up),
                                              round(runner_up_probability(pair), 3)))
        variations.append(ReviewVariation(
            _relative(folder, pair.generated),
            ReviewReason.of(pair),
            tuple(candidates), thumbnail(pair.generated)))
    drawings = []
    for named in layout.drawing_names:
        drawings.append(ReviewDrawing(
            path=_relative(folder, named.key), section=normalize_drawing_path(_relative(folder, named.key)),
            name=named.name, named_by_us=named.named_by_us, text=layout.story_texts.get(named.key, ""),
            thumbnail=thumbnail(named.key)))
    rows = [(_relative(folder, p.generated), _relative(folder, p.drawing)) for p in pairing.pairs
            if p.status is not PairStatus.REVIEWER_EXCLUDED and SIGNAL_OVERRIDE in p.signals and p.drawing]
    rows += [(_relative(folder, p.generated), NO_DRAWING) for p in pairing.with_status(PairStatus.REVIEWER_EXCLUDED)]
    return ReviewPanel(folder, tuple(variations), more, tuple(drawings), tuple(sorted(rows)),
                       settings_document(layout.book_config))
