"""The review panel in preview.html, driven in Debian's Chromium: the maker picks drawings and names by
clicking and typing, downloads pairs.csv and book.toml, drops them into the book folder, and the next
build obeys them. The downloaded files are read back with the pipeline's own parsers."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import dagster as dg
import pypdfium2
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from book_assets.core.imaging import analyse_image
from book_assets.core.pairing import Candidate, PairStatus, pair_images
from book_assets.core.pairs_csv import parse_overrides
from book_assets.core.review import NO_DRAWING, review_panel, settings_document, thumbnail_jpeg
from book_assets.core.story import BookConfig, DrawingConfig, parse_book_config
from book_assets.defs.resources import LocalBucket

from .support import build, published, upload
from .test_preview import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration
BOOK = "review-panel"
FOLDER = f"books/{BOOK}/"
MONSTER, ROCKET = "drawings/4f9c2a1b7e3d.jpg", "drawings/IMG_2231.jpg"   # names we must invent
HELD = "generated/5d1e9b3a0c77.png"                                     # a blue page: like no drawing
FLAGGED = 'generated/blend, "two" =1+1.png'                              # part monster, part rocket
# What the maker types: quotes, a comma, a backslash, a formula and letters beyond Latin survive.
MONSTER_NAME = 'Zoë "Z", the Brave'
ROCKET_NAME = "Юля =SUM(A1)"
MONSTER_TEXT = 'Zoë roars, "hello!"\nThen she naps \\ dreams.'


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _unsure_blend(files: dict[str, bytes], monster: Image.Image, rocket: Image.Image) -> bytes:
    """A blend of both drawings in the mix that pairing places but is unsure of (pairing is sharp on
    blends: which mix that is depends on the fitted look model, so it is found, not assumed)."""
    def candidate(key: str, data: bytes) -> Candidate:
        return Candidate(key, analyse_image(data, want_print_copy=False).features)

    drawings = [candidate(FOLDER + MONSTER, files[MONSTER]), candidate(FOLDER + ROCKET, files[ROCKET])]
    others = [candidate(FOLDER + k, v) for k, v in files.items() if k.startswith("generated/")]
    for rocket_share in (0.5, 0.55, 0.6, 0.65, 0.45, 0.7, 0.4):
        blend = _png(Image.blend(monster, rocket, rocket_share))
        pair = pair_images(drawings, [*others, candidate(FOLDER + FLAGGED, blend)]).pairs[-1]
        if pair.needs_review and pair.status is PairStatus.PLACED and pair.runner_up:
            return blend
    raise AssertionError("no blend of the two drawings left pairing unsure")


@pytest.fixture(scope="module")
def review_book(tmp_path_factory, small_book_files) -> tuple[LocalBucket, dict]:
    """The small book with drawings named by a camera and a hash, a variation like no drawing (held)
    and a blend of both drawings (flagged), built once; (bucket, the files uploaded)."""
    monster = Image.open(io.BytesIO(small_book_files["drawings/max.jpg"])).convert("RGB").resize((1200, 1200))
    rocket = Image.open(io.BytesIO(small_book_files["drawings/zoom.jpg"])).convert("RGB").resize((1200, 1200))
    files = {("generated/" + k.rsplit("/", 1)[-1]) if k.startswith("generated/") else k: v
             for k, v in small_book_files.items() if not k.startswith("drawings/")}
    files.update({MONSTER: small_book_files["drawings/max.jpg"], ROCKET: small_book_files["drawings/zoom.jpg"],
                  HELD: _png(Image.new("RGB", (1200, 1200), (30, 60, 200))),
                  "book.toml": b'title = "Our Review"\nage_range = [4, 8]\n'})
    files[FLAGGED] = _unsure_blend(files, monster, rocket)
    bucket = LocalBucket(root=str(tmp_path_factory.mktemp("review") / "bucket"))
    upload(bucket, BOOK, files)
    with dg.instance_for_test() as instance:
        result = build(bucket, instance, BOOK)
    assert result.output_for_node("book").published is True
    pairs = {p.generated: p for p in result.output_for_node("image_pairs").pairs}
    assert pairs[FOLDER + HELD].status == "held", "the fixture is meant to hold the blue page"
    assert pairs[FOLDER + FLAGGED].needs_review and pairs[FOLDER + FLAGGED].runner_up, \
        "the fixture is meant to flag the blend"
    return bucket, {"pairs": pairs}


def _choose_and_download(preview: Path, width: int, downloads: Path, *, runner_up: str) -> dict[str, str]:
    """Open the preview at ``width`` px, make the choices by clicking and typing, download both files."""
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(preview.as_uri())
        held = page.locator(f'fieldset.variation[data-generated="{HELD}"]')
        held.get_by_label("Not from any drawing in this book").check()
        flagged = page.locator("fieldset.variation").filter(has_text="blend, ")
        choice = flagged.locator(f'input[type=radio][value="{runner_up}"]')
        if width >= 1000:      # by keyboard: into the group, then down past "keep" and the best drawing
            flagged.locator("input[type=radio]").first.focus()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowDown")
            assert choice.is_checked(), "the runner-up is two steps down the keyboard"
        else:
            choice.check()
        monster = page.locator(f'fieldset.drawing[data-drawing="{MONSTER}"]')
        monster.locator("input[type=text]").fill(MONSTER_NAME)
        monster.locator("textarea").fill(MONSTER_TEXT)
        page.locator(f'fieldset.drawing[data-drawing="{ROCKET}"] input[type=text]').fill(ROCKET_NAME)
        assert page.locator("#review-count").inner_text() == "5 changes to download."
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "the panel is wider than the screen"
        files = {}
        for button, name in (("#download-pairs", "pairs.csv"), ("#download-toml", "book.toml")):
            with page.expect_download() as download:
                page.click(button)
            assert download.value.suggested_filename == name
            target = downloads / f"{width}-{name}"
            download.value.save_as(target)
            files[name] = target.read_text(encoding="utf-8")
        page.screenshot(path=str(downloads / f"panel-{width}.png"), full_page=True)
        browser.close()
    assert errors == []
    return files


def test_maker_fixes_the_book_from_the_preview(review_book, tmp_path):
    bucket, built = review_book
    runner_up = built["pairs"][FOLDER + FLAGGED].runner_up.removeprefix(FOLDER)
    preview = Path(bucket.root) / published(bucket, BOOK, "preview.html")
    html = preview.read_text(encoding="utf-8")
    assert 'id="review"' in html and "'unsafe-inline'" not in html
    assert 'blend, "two"' not in html, "an upload's name reached the page unescaped"

    files = _choose_and_download(preview, 1280, tmp_path, runner_up=runner_up)
    assert files == _choose_and_download(preview, 390, tmp_path, runner_up=runner_up), \
        "the same choices on a phone give the same files"

    # The files parse with the pipeline's own readers and say what was chosen.
    keys = [FOLDER + k for k in (MONSTER, ROCKET, HELD, FLAGGED)]
    overrides, problems = parse_overrides(files["pairs.csv"], FOLDER, keys)
    assert problems == [] and overrides == {FOLDER + HELD: None, FOLDER + FLAGGED: FOLDER + runner_up}
    config, config_problems = parse_book_config(files["book.toml"])
    assert config_problems == []
    assert (config.title, config.age_range) == ("Our Review", (4, 8)), "the book's settings are kept"
    assert config.drawings["4f9c2a1b7e3d.jpg"] == DrawingConfig(title=MONSTER_NAME, text=MONSTER_TEXT)
    assert config.drawings["IMG_2231.jpg"].title == ROCKET_NAME

    # Dropped into the book folder, the next build obeys them.
    upload(bucket, BOOK, {"pairs.csv": files["pairs.csv"].encode(), "book.toml": files["book.toml"].encode()})
    with dg.instance_for_test() as instance:
        result = build(bucket, instance, BOOK)
    assert result.output_for_node("book").published is True
    pairing = result.output_for_node("image_pairs")
    assert FOLDER + FLAGGED in pairing.variations[FOLDER + runner_up]
    spread_cells = [cell for page in result.output_for_node("page_layouts").layout.pages
                    if page.drawing_key == FOLDER + runner_up and page.cells for cell in page.cells]
    assert FOLDER + FLAGGED in spread_cells, "the blend is printed with the drawing the maker chose"
    report = json.loads(bucket.read_bytes(published(bucket, BOOK, "report.json")))
    excluded = {entry["generated"]: entry for entry in report["excluded"]}
    assert excluded[FOLDER + HELD]["reason"] == "reviewer_excluded"
    assert 'id="review-data"' not in bucket.read_bytes(published(bucket, BOOK, "preview.html")).decode(), \
        "nothing is left to settle, so the next preview shows no panel"
    panel = review_panel(BOOK, pairing, result.output_for_node("page_layouts"),
                         lambda key: thumbnail_jpeg(str(Path(bucket.root) / key)))
    assert panel.pairs_rows == ((HELD, NO_DRAWING), (FLAGGED, runner_up)), "a later panel starts from these rows"
    assert not any(d.named_by_us for d in panel.drawings) and panel.variations == ()
    text = _pdf_text(Path(bucket.root) / published(bucket, BOOK))
    for fragment in ("Zoë", "the Brave", "Юля", "naps"):
        assert fragment in text, f"{fragment!r} is not in the book's text"


def _pdf_text(path: Path) -> str:
    document = pypdfium2.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_settings_document_keeps_what_the_book_used():
    config = BookConfig(title="T", age_range=(4, 8), language="de",
                        drawings={"max.png": DrawingConfig(title="Max"), "luna.png": DrawingConfig()})
    assert settings_document(config) == {"title": "T", "age_range": [4, 8], "language": "de",
                                         "drawings": {"max.png": {"title": "Max"}}}
    assert settings_document(BookConfig()) == {"drawings": {}}
    assert NO_DRAWING == "-"


def test_a_variation_the_book_moved_is_shown_as_a_proposal_in_chromium(tmp_path):
    """A held pair moved by a book-level move (``look_alike_groups``) carries the move as its signal; the
    panel shows it as a proposal, saying why (its own probability for that drawing is low, so "2 % sure"
    would argue against it), a held pair the book did not move as a plain question, and one held with
    look-alikes that sit on other pictures' drawings as a question whether its drawing is missing."""
    from book_assets.core.look_alike_groups import GroupMove
    from book_assets.core.pairing import SIGNAL_VISUAL, Pair
    from book_assets.core.preview import PreviewPage, render_preview
    from book_assets.core.review import ReviewCandidate, ReviewDrawing, ReviewPanel, ReviewReason, ReviewVariation

    def pair(status: PairStatus, signals: list[str]) -> Pair:
        return Pair("books/b/generated/x.png", "books/b/drawings/a.png", 0.02, True, signals,
                    "books/b/drawings/b.png", -0.8, status=status)

    assert ReviewReason.of(pair(PairStatus.HELD, [GroupMove.EMPTY_DRAWING])) is ReviewReason.PROPOSED_FOR_EMPTY
    assert ReviewReason.of(pair(PairStatus.HELD, [GroupMove.SPLIT_GROUP])) is ReviewReason.PROPOSED_WITH_LOOK_ALIKES
    assert ReviewReason.of(pair(PairStatus.HELD, [SIGNAL_VISUAL])) is ReviewReason.HELD
    assert ReviewReason.of(pair(PairStatus.HELD, [GroupMove.NO_DRAWING])) is ReviewReason.NO_DRAWING_HERE
    assert ReviewReason.of(pair(PairStatus.HELD, [GroupMove.EACH_OTHER])) is ReviewReason.PROPOSED_FOR_EMPTY
    assert ReviewReason.of(pair(PairStatus.PLACED, [GroupMove.SPLIT_GROUP])) is ReviewReason.FLAGGED

    png = _png(Image.new("RGB", (40, 40), (200, 120, 40)))
    thumbnail = base64.b64encode(png).decode("ascii")
    drawings = tuple(ReviewDrawing(f"drawings/{name}.png", name, name.title(), False, "", thumbnail)
                     for name in ("bobo", "otto"))
    candidates = (ReviewCandidate("drawings/bobo.png", 0.02), ReviewCandidate("drawings/otto.png", 0.91))
    variations = tuple(ReviewVariation(f"generated/{reason.value}.png", reason, candidates, thumbnail)
                       for reason in (ReviewReason.PROPOSED_FOR_EMPTY, ReviewReason.PROPOSED_WITH_LOOK_ALIKES,
                                      ReviewReason.HELD, ReviewReason.NO_DRAWING_HERE))
    panel = ReviewPanel("books/b/", variations, 0, drawings, (), {"drawings": {}})
    preview = tmp_path / "preview.html"
    preview.write_text(render_preview("B", [PreviewPage(1, "drawing", png)], review=panel), encoding="utf-8")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(preview.as_uri())
        shown = {reason: page.locator(f'fieldset.variation[data-generated="generated/{reason.value}.png"]')
                 for reason in ReviewReason if reason is not ReviewReason.FLAGGED}
        legends = {reason: box.locator("legend").inner_text() for reason, box in shown.items()}
        labels = {reason: box.locator("label.option").all_inner_texts() for reason, box in shown.items()}
        page.screenshot(path=str(tmp_path / "proposals.png"), full_page=True)
        browser.close()
    assert errors == []
    assert "Bobo had few or none: is it from Bobo?" in legends[ReviewReason.PROPOSED_FOR_EMPTY]
    assert "most of the pictures like it are with Bobo: is it from Bobo?" in legends[
        ReviewReason.PROPOSED_WITH_LOOK_ALIKES]
    assert legends[ReviewReason.HELD].endswith("left out of the book, which drawing is it from?")
    assert "is their drawing missing from the book? Which drawing is it from, if any?" in legends[
        ReviewReason.NO_DRAWING_HERE]
    assert "With Bobo (bobo.png, 2 % sure)" in labels[ReviewReason.NO_DRAWING_HERE]
    assert "Not from any drawing in this book" in labels[ReviewReason.NO_DRAWING_HERE]
    assert "With Bobo (bobo.png, had few or no variations: proposed)" in labels[ReviewReason.PROPOSED_FOR_EMPTY]
    assert "With Bobo (bobo.png, has most of the pictures like it: proposed)" in labels[
        ReviewReason.PROPOSED_WITH_LOOK_ALIKES]
    assert "With Bobo (bobo.png, 2 % sure)" in labels[ReviewReason.HELD]
    for reason in shown:
        assert "With Otto (otto.png, 91 % sure)" in labels[reason] and "Leave it out for now" in labels[reason]
