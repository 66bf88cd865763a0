"""The typed result of each stage: what one stage hands the next, and what is stored between them.

One frozen type per stage — ``Inventory`` (raw_images), ``Validation`` (validated_images),
``Pairing`` (image_pairs), ``Layout`` (page_layouts), ``PublishedBook`` (book) — with enums for
kinds and states and ``Problem`` records instead of sentences. Each has ``metrics()`` (the numbers
the UI plots) and is stored as schema-versioned JSON in the bucket (``dump_manifest`` /
``load_manifest``), so any machine that reaches the bucket can run the next stage, and a manifest
written by a newer version of the code is refused with a clear message rather than misread.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import PlainSerializer, PlainValidator, TypeAdapter

from .cover import CoverLayout
from .imaging import ImageFeatures
from .inventory import Role
from .layout import BookLayout
from .pairing import Pair, PairStatus
from .problems import Problem
from .story.config import BookConfig
from .story.names import DrawingName

if TYPE_CHECKING:      # the DataFrames below are for analysis and tests; a build never imports pandas (~0.35 s)
    import pandas as pd


class ManifestError(ValueError):
    """A stored manifest that this version of book_assets cannot read (and will not guess at)."""


class Verdict(StrEnum):
    """What validation decided about one object."""

    OK = "ok"
    REJECTED = "rejected"


class TextSource(StrEnum):
    """Where a spread's story text came from."""

    BOOK_TOML = "book.toml"
    WRITER = "writer"


def _features_from_wire(value: Any) -> ImageFeatures | None:
    if value is None or isinstance(value, ImageFeatures):
        return value
    return ImageFeatures.from_dict(value)


# ImageFeatures keep their own JSON form (the one the validation cache stores).
WireFeatures = Annotated[
    ImageFeatures | None,
    PlainValidator(_features_from_wire),
    PlainSerializer(lambda f: f.to_dict() if f is not None else None, return_type=Any),
]


CONTRACTS: dict[str, type[StageResult]] = {}     # contract name -> its type, filled as they are defined


@dataclass(frozen=True)
class StageResult:
    """What every stage contract shares: the book it is about, and the name and schema version its
    stored manifest carries (``class Inventory(StageResult, contract="inventory", schema_version=1)``)."""

    CONTRACT: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int]

    book_id: str

    def __init_subclass__(cls, *, contract: str, schema_version: int, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.CONTRACT, cls.SCHEMA_VERSION = contract, schema_version
        CONTRACTS[contract] = cls


# --- raw_images ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class InventoryEntry:
    """One object under ``books/<id>/`` and what it is for."""

    key: str
    relative_path: str
    role: Role
    size: int
    updated: float
    generation: str
    content_hash: str
    reason: str = ""      # a stable code when role is OTHER
    message: str = ""     # the sentence a person reads when role is OTHER


@dataclass(frozen=True)
class Inventory(StageResult, contract="inventory", schema_version=1):
    """Every object under ``books/<id>/`` with its role, and the fingerprint of the listing."""

    prefix: str
    entries: tuple[InventoryEntry, ...]
    fingerprint: str                    # contents_fingerprint of the listing (what the sensor compares)
    listing_ms: float = 0.0
    listed_at: float = 0.0              # when the listing started (epoch s): which edition is newer (core.editions)

    def of_role(self, *roles: Role) -> list[InventoryEntry]:
        return [e for e in self.entries if e.role in roles]

    def settings_key(self, role: Role) -> str | None:
        """The key of ``book.toml`` (CONFIG) or ``pairs.csv`` (OVERRIDES), when the book has one."""
        found = self.of_role(role)
        return found[0].key if found else None

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per entry: what the objects table in the UI shows."""
        return [dict(e.__dict__) for e in self.entries]

    def table(self) -> pd.DataFrame:
        """``rows`` as a DataFrame, for analysis and tests."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(InventoryEntry.__dataclass_fields__))

    def metrics(self) -> dict[str, int | float]:
        return {
            "objects": len(self.entries),
            "bytes": sum(e.size for e in self.entries),
            "listing_ms": self.listing_ms,
            **{f"{role}_count": len(self.of_role(role)) for role in Role},
        }


# --- validated_images ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidatedImage:
    """One object judged: accepted (its features and print copy) or rejected (a reason code and a sentence)."""

    key: str
    role: Role
    status: Verdict
    size: int
    reason: str = ""
    message: str = ""
    format: str = ""
    width: int = 0
    height: int = 0
    print_copy: str = ""                # bucket key of the normalized JPEG print copy
    print_width: int = 0
    print_height: int = 0
    features: WireFeatures = None
    notes: str = ""
    cache_hit: bool = False
    decoded: bool = False               # read and analysed in this run
    decode_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Verdict.OK


@dataclass(frozen=True)
class Validation(StageResult, contract="validation", schema_version=1):
    """Every object judged: the accepted images with features and print copies, the rest with reasons."""

    images: tuple[ValidatedImage, ...]
    validation_ms: float = 0.0

    def accepted(self, role: Role | None = None) -> list[ValidatedImage]:
        return [i for i in self.images if i.ok and (role is None or i.role is role)]

    def rejected(self) -> list[ValidatedImage]:
        return [i for i in self.images if not i.ok]

    def get(self, key: str) -> ValidatedImage:
        return self._by_key[key]

    @cached_property
    def _by_key(self) -> dict[str, ValidatedImage]:
        return {i.key: i for i in self.images}

    def table(self) -> pd.DataFrame:
        """Every image as a DataFrame row, for analysis and tests."""
        import pandas as pd

        rows = [{**{name: getattr(i, name) for name in ValidatedImage.__dataclass_fields__},
                 "features": i.features.to_dict() if i.features else None} for i in self.images]
        return pd.DataFrame(rows, columns=list(ValidatedImage.__dataclass_fields__))

    def rejection_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for image in self.rejected():
            counts[image.reason] = counts.get(image.reason, 0) + 1
        return counts

    def metrics(self) -> dict[str, int | float]:
        decoded = [i for i in self.images if i.decoded]
        return {
            "valid": len(self.accepted()),
            "rejected": len(self.rejected()),
            "valid_drawings": len(self.accepted(Role.DRAWING)),
            "valid_generated": len(self.accepted(Role.GENERATED)),
            "cache_hits": sum(i.cache_hit for i in self.images),
            "decoded": len(decoded),
            "decode_ms_total": round(sum(i.decode_ms for i in decoded), 1),
            "decode_ms_mean": round(sum(i.decode_ms for i in decoded) / len(decoded), 1) if decoded else 0.0,
            "validation_ms": self.validation_ms,
        }


# --- image_pairs --------------------------------------------------------------------------------

PAIR_COLUMNS = ["generated", "status", "drawing", "confidence", "needs_review", "signals", "runner_up", "margin",
                "reason", "runner_up_probability"]


@dataclass(frozen=True)
class Pairing(StageResult, contract="pairing", schema_version=1):
    """Each accepted variation's pair (status, drawing, confidence, evidence) and each drawing's printed variations."""

    pairs: tuple[Pair, ...]                         # one per accepted variation, in key order
    drawings: tuple[str, ...]                       # accepted drawings, by key
    variations: dict[str, tuple[str, ...]]          # drawing key -> its printed variations, in book order
    override_problems: tuple[Problem, ...] = ()
    pairing_ms: float = 0.0
    looks_scored: int = 0                           # image pairs whose looks were compared in this build
    looks_reused: int = 0                           # ... and those read back from the last build (core.look_memo)

    def with_status(self, status: PairStatus) -> list[Pair]:
        return [p for p in self.pairs if p.status is status]

    @property
    def unpaired(self) -> list[str]:
        return sorted(p.generated for p in self.with_status(PairStatus.UNPAIRED))

    def flagged(self) -> list[Pair]:
        """Pairs a reviewer should look at: a drawing was chosen (printed or held) with low confidence."""
        return [p for p in self.pairs if p.needs_review and p.drawing is not None]

    def rows(self, *, needs_review: bool | None = None) -> list[dict[str, Any]]:
        """The pairs as rows (PAIR_COLUMNS), for the review tables; only those whose ``needs_review``
        is the one given, when given."""
        return [{"generated": p.generated, "status": p.status.value, "drawing": p.drawing,
                 "confidence": float(p.confidence), "needs_review": bool(p.needs_review),
                 "signals": ",".join(p.signals), "runner_up": p.runner_up, "margin": float(p.margin),
                 "reason": p.reason, "runner_up_probability": runner_up_probability(p)}
                for p in self.pairs if needs_review is None or bool(p.needs_review) is needs_review]

    @property
    def table(self) -> pd.DataFrame:
        """``rows`` as a DataFrame, for analysis and tests."""
        import pandas as pd

        types = {"confidence": float, "needs_review": bool, "margin": float, "runner_up_probability": float}
        return pd.DataFrame(self.rows(), columns=PAIR_COLUMNS).astype(types)     # typed even when empty

    def metrics(self) -> dict[str, int | float]:
        chosen = [p.confidence for p in self.pairs if p.drawing is not None]
        return {
            "pairs": len(self.with_status(PairStatus.PLACED)),
            "held": len(self.with_status(PairStatus.HELD)),
            "reviewer_excluded": len(self.with_status(PairStatus.REVIEWER_EXCLUDED)),
            "unpaired": len(self.with_status(PairStatus.UNPAIRED)),
            "low_confidence": sum(p.needs_review for p in self.pairs),
            "overrides_used": sum("override" in p.signals for p in self.pairs),
            "override_problems": len(self.override_problems),
            "confidence_mean": round(sum(chosen) / len(chosen), 3) if chosen else 0.0,
            "confidence_min": round(min(chosen), 3) if chosen else 0.0,
            "pairing_ms": self.pairing_ms, "looks_scored": self.looks_scored, "looks_reused": self.looks_reused,
        }


def runner_up_probability(pair: Pair) -> float:
    """The runner-up drawing's probability (0 when there is none)."""
    return max(0.0, float(pair.score) - float(pair.margin)) if pair.runner_up else 0.0


# --- page_layouts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlacedRow:
    """One placed image with its effective PPI (``Layout.placed_images``)."""

    page: int
    key: str
    ppi: float
    width_px: int
    height_px: int
    width_in: float
    height_in: float
    needed_px: int          # the long side's pixels that would print at the profile's target PPI


@dataclass(frozen=True)
class Layout(StageResult, contract="layout", schema_version=1):
    """Every page in points, the cover sheet, and the problems found in the settings and the geometry."""

    layout: BookLayout
    cover: CoverLayout                              # the cover sheet, sized for this page count and paper
    config_problems: tuple[Problem, ...] = ()       # book.toml settings that were not used, and why
    layout_problems: tuple[Problem, ...] = ()       # geometry the text_fits check refuses
    text_sources: dict[str, TextSource] = field(default_factory=dict)   # drawing key -> where its text came from
    drawing_names: tuple[DrawingName, ...] = ()     # the name each drawing goes by, and where it came from
    book_config: BookConfig = field(default_factory=BookConfig)   # book.toml as read (defaults where unset)
    story_texts: dict[str, str] = field(default_factory=dict)     # drawing key -> its whole story text
    reading_level_mean: float = 0.0
    layout_ms: float = 0.0
    spreads_laid_out: int = 0                       # spreads laid out in this build ...
    spreads_reused: int = 0                         # ... and those read back from the last (core.spread_memo)

    @property
    def paper(self) -> str:
        return self.cover.paper

    def placed_images(self) -> list[PlacedRow]:
        """One row per placed image with its effective PPI (for the resolution checks)."""
        return [PlacedRow(page=page.number, key=img.key, ppi=round(img.ppi, 1), width_px=img.width_px,
                          height_px=img.height_px, width_in=img.width / 72.0, height_in=img.height / 72.0,
                          needed_px=int(round(max(img.width, img.height) / 72.0 * self.layout.profile.min_ppi)))
                for page in self.layout.pages for img in page.images]

    def min_placed_ppi(self) -> float | None:
        """The lowest effective PPI of any placed image (None when nothing is placed)."""
        return min((row.ppi for row in self.placed_images()), default=None)

    def metrics(self) -> dict[str, int | float | str]:
        pages = self.layout.pages
        grids = [p for p in pages if p.harmony is not None]
        stories = [t for p in pages for t in p.texts if t.role == "story"]
        placed = self.placed_images()
        sources = list(self.text_sources.values())
        return {
            "profile": self.layout.profile.name,
            "paper": self.paper,
            "pages": len(pages),
            "spreads": len(self.text_sources),
            "mean_harmony": round(statistics.fmean(p.harmony for p in grids), 4) if grids else 0.0,
            "mean_random_harmony": round(statistics.fmean(p.random_harmony for p in grids), 4) if grids else 0.0,
            "min_ppi": min((row.ppi for row in placed), default=0.0),
            "images_placed": len(placed),
            "text_shrunk": sum(1 for t in stories if t.shrunk_from),
            "min_story_pt": round(min((t.font_size for t in stories), default=0.0), 1),
            "reading_level_mean": self.reading_level_mean,
            "texts_from_book_toml": sources.count(TextSource.BOOK_TOML),
            "texts_written": sources.count(TextSource.WRITER),
            "drawings_named_by_us": sum(name.named_by_us for name in self.drawing_names),
            "layout_problems": len(self.layout_problems),
            "layout_ms": self.layout_ms,
            "spreads_laid_out": self.spreads_laid_out, "spreads_reused": self.spreads_reused,
        }

    def page_kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for page in self.layout.pages:
            counts[str(page.kind)] = counts.get(str(page.kind), 0) + 1
        return counts


# --- book ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublishedBook(StageResult, contract="published_book", schema_version=1):
    """Where the book was published (or why not), and the figures of the build."""

    published: bool
    source_fingerprint: str            # the contents (Inventory.fingerprint) this book was made from
    pdf: str                           # bucket keys of what was (or would have been) published
    cover: str
    report: str
    preview: str
    status: str
    pages: int
    profile: str
    problems: tuple[Problem, ...] = ()     # why it was not published (preflight, cover, unaccounted objects)
    edition: str = ""                      # the edition folder written (core.editions), "" when refused
    superseded_by: str = ""                # a newer edition was already current, so this one was discarded
    figures: dict[str, Any] = field(default_factory=dict)   # sizes and timings of this build

    def metrics(self) -> dict[str, Any]:
        return {"published": self.published, "pages": self.pages, "profile": self.profile, **self.figures}



def _adapter(contract: type) -> TypeAdapter:
    cached = _ADAPTERS.get(contract)
    if cached is None:
        cached = _ADAPTERS[contract] = TypeAdapter(contract)
    return cached


_ADAPTERS: dict[type, TypeAdapter] = {}


def dump_manifest(result: Any) -> bytes:
    """``result`` (one of CONTRACTS) as JSON with its contract name and schema version."""
    contract = type(result)
    if not isinstance(result, StageResult) or CONTRACTS.get(contract.CONTRACT) is not contract:
        raise TypeError(f"{contract.__name__} is not a stage contract")
    body = _adapter(contract).dump_python(result, mode="json")
    envelope = {"contract": contract.CONTRACT, "schema_version": contract.SCHEMA_VERSION, "body": body}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def load_manifest(data: bytes, expected: type | None = None, *, where: str = "the manifest") -> Any:
    """The contract stored in ``data``; ManifestError when it is another contract, from a newer
    schema than this code knows, or unreadable — never a half-understood value."""
    try:
        envelope = json.loads(data)
        name, version, body = envelope["contract"], int(envelope["schema_version"]), envelope["body"]
    except (ValueError, KeyError, TypeError) as problem:
        raise ManifestError(f"{where} is not a book_assets manifest ({problem}); rebuild the book from "
                            "raw_images to write it again.") from None
    contract = CONTRACTS.get(name)
    if contract is None or (expected is not None and contract is not expected):
        wanted = expected.CONTRACT if expected is not None else "a known contract"
        raise ManifestError(f"{where} holds a '{name}' manifest where {wanted} was expected.")
    if version != contract.SCHEMA_VERSION:
        newer = version > contract.SCHEMA_VERSION
        raise ManifestError(
            f"{where} was written with {name} schema version {version}, and this version of book_assets "
            f"reads version {contract.SCHEMA_VERSION} only. "
            + ("Upgrade book_assets on this machine to the version that wrote it." if newer else
               "Rebuild the book from raw_images so every stage writes it again."))
    return _adapter(contract).validate_python(body)


__all__ = [
    "CONTRACTS", "Inventory", "InventoryEntry", "Layout", "ManifestError", "Pairing", "Problem",
    "PublishedBook", "Role", "StageResult", "TextSource", "ValidatedImage", "Validation", "Verdict", "dump_manifest",
    "load_manifest",
]
