"""Every asset check called as a function on a stage's typed result: it passes on a good result,
fails on a bad one, with the severity and the value/threshold an operator reads."""
from __future__ import annotations

import dagster as dg

from book_assets.core.contracts import (
    Inventory, InventoryEntry, Layout, Pairing, TextSource, ValidatedImage, Validation, Verdict,
)
from book_assets.core.inventory import Role
from book_assets.core.layout import BookLayout, Page, PlacedImage
from book_assets.core.pairing import Pair, PairStatus
from book_assets.core.preflight import PreflightReport
from book_assets.core.problems import Problem
from book_assets.core.profiles import PROFILES
from book_assets.defs import checks

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
PREFIX = "books/b/"
PROFILE = PROFILES["kdp-8.5x8.5"]


def _entry(relative: str, role: Role, **extra) -> InventoryEntry:
    return InventoryEntry(key=PREFIX + relative, relative_path=relative, role=role, size=10, updated=0.0,
                          generation="1", content_hash="", **extra)


INVENTORY = Inventory(book_id="b", prefix=PREFIX, fingerprint="f" * 16, entries=(
    _entry("drawings/max.png", Role.DRAWING), _entry("generated/max_1.png", Role.GENERATED),
    _entry("book.toml", Role.CONFIG), _entry("notes.txt", Role.OTHER, reason="unexpected_location", message="Move it."),
))


def _image(relative: str, role: Role, status: Verdict = Verdict.OK, **extra) -> ValidatedImage:
    return ValidatedImage(key=PREFIX + relative, role=role, status=status, size=10, **extra)


GOOD_VALIDATION = Validation(book_id="b", images=(
    _image("drawings/max.png", Role.DRAWING), _image("generated/max_1.png", Role.GENERATED),
    _image("notes.txt", Role.OTHER, Verdict.REJECTED, reason="unexpected_location", message="Move it."),
))


def _pair(generated: str, drawing: str | None, status: PairStatus, *, review=False, reason="") -> Pair:
    return Pair(generated=PREFIX + generated, drawing=drawing and PREFIX + drawing, confidence=0.4 if review else 0.95,
                needs_review=review, signals=["looks"], runner_up=None, margin=0.5, reason=reason, score=0.9,
                status=status)


def _pairing(*pairs: Pair, variations=None) -> Pairing:
    return Pairing(book_id="b", pairs=pairs, drawings=(PREFIX + "drawings/max.png",),
                   variations=variations if variations is not None else
                   {PREFIX + "drawings/max.png": tuple(p.generated for p in pairs if p.status is PairStatus.PLACED)})


def _layout(ppi: float, problems=()) -> Layout:
    width_pt = 4 * 72.0
    image = PlacedImage(key=PREFIX + "drawings/max.png", print_copy="c.jpg", x=50, y=50, width=width_pt,
                        height=width_pt, width_px=int(4 * ppi), height_px=int(4 * ppi))
    book = BookLayout(PROFILE, "t", "a", [Page(number=1, kind="drawing", images=[image],
                                               drawing_key=PREFIX + "drawings/max.png")])
    return Layout(book_id="b", layout=book, cover=None, layout_problems=tuple(problems),
                  text_sources={PREFIX + "drawings/max.png": TextSource.WRITER})


def test_every_object_listed():
    assert checks.check_every_object_listed(INVENTORY, INVENTORY.keys).passed
    result = checks.check_every_object_listed(INVENTORY, [*INVENTORY.keys, PREFIX + "lost.png"])
    assert not result.passed and result.severity == ERROR
    assert "lost.png" in result.metadata["missing"].value


def test_every_upload_judged():
    assert checks.check_every_upload_judged(GOOD_VALIDATION, INVENTORY).passed
    missing = Validation(book_id="b", images=GOOD_VALIDATION.images[:2])
    assert not checks.check_every_upload_judged(missing, INVENTORY).passed
    silent = Validation(book_id="b", images=(*GOOD_VALIDATION.images[:2],
                                             _image("notes.txt", Role.OTHER, Verdict.REJECTED, reason="x")))
    result = checks.check_every_upload_judged(silent, INVENTORY)
    assert not result.passed and result.metadata["unexplained_rejections"].value == 1


def test_rejection_rate_warns_above_a_fifth():
    result = checks.check_rejection_rate(GOOD_VALIDATION)          # 1 of 3 rejected
    assert not result.passed and result.severity == WARN
    assert result.metadata["value"].value == 0.3333 and result.metadata["threshold"].value == 0.2
    good = Validation(book_id="b", images=GOOD_VALIDATION.images[:2])
    assert checks.check_rejection_rate(good).passed


def test_every_variation_placed_or_flagged():
    placed = _pair("generated/max_1.png", "drawings/max.png", PairStatus.PLACED)
    assert checks.check_every_variation_placed_or_flagged(_pairing(placed), [placed.generated]).passed
    assert not checks.check_every_variation_placed_or_flagged(_pairing(placed),
                                                              [placed.generated, PREFIX + "generated/x.png"]).passed
    held_silently = _pair("generated/max_1.png", "drawings/max.png", PairStatus.HELD, review=True)
    result = checks.check_every_variation_placed_or_flagged(_pairing(held_silently), [held_silently.generated])
    assert not result.passed and result.metadata["unexplained"].value == 1 and result.severity == ERROR
    nowhere = _pair("generated/max_1.png", None, PairStatus.PLACED)
    assert not checks.check_every_variation_placed_or_flagged(_pairing(nowhere), [nowhere.generated]).passed


def test_pairs_need_review_lists_held_first():
    flagged = _pair("generated/a.png", "drawings/max.png", PairStatus.PLACED, review=True)
    held = _pair("generated/b.png", "drawings/max.png", PairStatus.HELD, review=True, reason="Unsure.")
    result = checks.check_pairs_need_review(_pairing(flagged, held))
    assert not result.passed and result.severity == WARN and result.metadata["held"].value == 1
    listing = result.metadata["flagged"].value
    assert listing.index("HELD, not printed") < listing.index("generated/a.png") and "pairs.csv" in listing
    assert checks.check_pairs_need_review(_pairing(_pair("generated/a.png", "drawings/max.png",
                                                         PairStatus.PLACED))).passed


def test_every_drawing_has_variations():
    lonely = _pairing(variations={PREFIX + "drawings/max.png": ()})
    result = checks.check_every_drawing_has_variations(lonely)
    assert not result.passed and result.severity == WARN and "max.png" in result.metadata[
        "drawings_without_variations"].value
    assert checks.check_every_drawing_has_variations(
        _pairing(_pair("generated/max_1.png", "drawings/max.png", PairStatus.PLACED))).passed


def test_text_fits_lists_each_problem_with_its_page():
    assert checks.check_text_fits(_layout(300)).passed
    result = checks.check_text_fits(_layout(300, [Problem("text_too_small", "The story text is 9 pt.", page=3)]))
    assert not result.passed and result.severity == ERROR
    assert "Page 3: The story text is 9 pt." in result.metadata["problems"].value
    assert result.metadata["codes"].value == {"text_too_small": 1}


def test_image_resolution_warns_below_target_and_blocks_below_minimum():
    sharp, soft, blurred = _layout(320), _layout(250), _layout(150)
    assert checks.check_images_ppi(sharp, minimum=False).passed and checks.check_images_ppi(sharp, minimum=True).passed
    target = checks.check_images_ppi(soft, minimum=False)
    assert not target.passed and target.severity == WARN and target.metadata["threshold"].value == 300
    assert checks.check_images_ppi(soft, minimum=True).passed
    minimum = checks.check_images_ppi(blurred, minimum=True)
    assert not minimum.passed and minimum.severity == ERROR and minimum.metadata["value"].value == 150.0
    assert "Upload it at 1200×1200 px or more for 300 PPI" in minimum.metadata["below_threshold"].value


def test_pdf_preflight_fails_on_any_problem_and_lists_warnings():
    clean = PreflightReport(pages=24, bytes=1000, fonts=["Andika"])
    assert checks.check_pdf_preflight(clean).passed
    bad = PreflightReport(pages=24, problems=[Problem("trim_box", "trim box missing.", page=2)],
                          warnings=[Problem("image_below_target_ppi", "image x prints at 250 PPI.", page=4)])
    result = checks.check_pdf_preflight(bad, check_name="cover_preflight", notes=["spine left blank"])
    assert not result.passed and result.check_name == "cover_preflight" and result.severity == ERROR
    assert "Page 2: trim box missing." in result.metadata["problems"].value
    assert "Page 4" in result.metadata["warnings"].value and "spine left blank" in result.metadata["warnings"].value


def test_everything_accounted_for():
    assert checks.check_everything_accounted_for([], 4).passed
    result = checks.check_everything_accounted_for([PREFIX + "ghost.png"], 4)
    assert not result.passed and "ghost.png" in result.metadata["unaccounted"].value


def test_book_is_current_only_when_published_from_the_folder_as_it_is():
    current = checks.check_book_is_current(published_fingerprint="a", current_fingerprint="a", published=True,
                                           reason="ok")
    assert current.passed and current.severity == WARN
    behind = checks.check_book_is_current(published_fingerprint="a", current_fingerprint="b", published=True,
                                          reason="changed")
    assert not behind.passed and behind.metadata["folder_now"].value == "b"
    blocked = checks.check_book_is_current(published_fingerprint=None, current_fingerprint="a", published=False,
                                           reason="blocked")
    assert not blocked.passed and blocked.metadata["published_from"].value == "nothing published yet"
