"""Pairing: every variation lands on the drawing it came from, or is flagged saying why."""
from __future__ import annotations

import io
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps, PngImagePlugin

from book_assets.core.contracts import Pairing
from book_assets.core.imaging import ImageFeatures, analyse_image
from book_assets.core.look_memo import LookMemo, dump_memo, load_memo
from book_assets.core.pairing import (
    DRAWING_BASELINE_MIN_VARIATIONS,
    HOLD_BELOW,
    Candidate,
    PairingResult,
    PairStatus,
    _anchors_speak_for,
    _centred_on_drawings,
    _Evidence,
    _placements,
    pair_images,
)
from book_assets.core.look_alike_groups import GroupMove, Placements, fill_empty_drawings, move_groups, unite_split_groups
from book_assets.core.name_signals import name_tokens
from book_assets.core.pairs_csv import parse_overrides

PREFIX = "books/b1/"
SIZE = 128
PAPERS = [(250, 246, 232), (244, 240, 225), (252, 250, 244), (240, 236, 220), (248, 242, 236)]


# --------------------------------------------------------------------------------------------
# Fixtures: small synthetic "children's drawings" and their variations
# --------------------------------------------------------------------------------------------


def _draw(index: int) -> Image.Image:
    """Five visually distinct drawings: crayon shapes and lines on paper-coloured backgrounds."""
    img = Image.new("RGB", (SIZE, SIZE), PAPERS[index % len(PAPERS)])
    pen = ImageDraw.Draw(img)
    if index == 0:    # a sun in the top-left corner with rays
        pen.ellipse([8, 8, 58, 58], fill=(245, 200, 30))
        for end in [(90, 20), (80, 70), (30, 95)]:
            pen.line([(33, 33), end], fill=(230, 120, 20), width=5)
    elif index == 1:  # a house on the right
        pen.rectangle([64, 60, 120, 120], fill=(200, 40, 40))
        pen.polygon([(58, 62), (92, 20), (126, 62)], fill=(90, 60, 40))
        pen.rectangle([84, 90, 100, 120], fill=(40, 40, 40))
    elif index == 2:  # a tree: trunk bottom-left, round green crown
        pen.rectangle([20, 70, 36, 124], fill=(100, 65, 35))
        pen.ellipse([0, 10, 70, 80], fill=(50, 160, 60))
    elif index == 3:  # a blue fish with wavy lines below
        pen.ellipse([30, 30, 100, 70], fill=(40, 100, 220))
        pen.polygon([(100, 50), (124, 30), (124, 70)], fill=(40, 100, 220))
        for y in (90, 105, 118):
            pen.line([(0, y), (40, y - 8), (80, y), (127, y - 8)], fill=(40, 180, 200), width=4)
    else:             # a purple cat face, bottom-right, with whiskers
        pen.ellipse([50, 50, 124, 124], fill=(130, 60, 180))
        pen.polygon([(55, 65), (62, 35), (80, 55)], fill=(130, 60, 180))
        pen.polygon([(95, 55), (112, 35), (120, 65)], fill=(130, 60, 180))
        for dy in (-6, 0, 6):
            pen.line([(20, 88 + dy), (70, 88)], fill=(20, 20, 20), width=2)
    return img


def _recolour(img: Image.Image, hue_shift: int = 90) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + hue_shift) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _noisy(img: Image.Image, seed: int, amount: float = 12.0) -> Image.Image:
    pixels = np.asarray(img).astype(np.float64)
    pixels += np.random.default_rng(seed).normal(0.0, amount, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _static(seed: int) -> Image.Image:
    """An image unlike any drawing, so only names or provenance can place it."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))


def features_of(img: Image.Image, provenance: str = "") -> ImageFeatures:
    """Features by the real path (``imaging.analyse_image`` on PNG bytes), provenance set by hand."""
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "PNG")
    return replace(analyse_image(buffer.getvalue(), want_print_copy=False).features, provenance=provenance)


def without_shapes(features: ImageFeatures) -> ImageFeatures:
    """Features as an older cache held them: no shape descriptors."""
    return replace(features, structure="")


def _random_name(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"


@pytest.fixture(scope="module")
def drawings_images() -> list[Image.Image]:
    return [_draw(i) for i in range(5)]


def _drawing_candidates(images: list[Image.Image], names: list[str]) -> list[Candidate]:
    return [Candidate(f"{PREFIX}drawings/{name}", features_of(img)) for name, img in zip(names, images)]


def _by_generated(result: PairingResult) -> dict[str, str | None]:
    return {pair.generated: pair.drawing for pair in result.pairs}


# --------------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------------


def test_override_beats_provenance_name_and_looks(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    # Everything about this variation says max.png: its provenance, its name and its looks.
    variation = Candidate(
        f"{PREFIX}generated/max_01.png", features_of(_noisy(drawings_images[0], 1), "init image: max.png")
    )
    plain = pair_images(drawings, [variation]).pairs[0]
    assert plain.drawing == f"{PREFIX}drawings/max.png"

    overridden = pair_images(drawings, [variation], {variation.key: f"{PREFIX}drawings/luna.png"}).pairs[0]
    assert overridden.drawing == f"{PREFIX}drawings/luna.png"
    assert overridden.confidence == 1.0
    assert overridden.signals == ["override"]
    assert not overridden.needs_review


def test_override_to_a_key_that_is_not_a_drawing_is_ignored_and_flagged(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    variation = Candidate(f"{PREFIX}generated/max_01.png", features_of(drawings_images[0]))
    pair = pair_images(drawings, [variation], {variation.key: f"{PREFIX}drawings/gone.png"}).pairs[0]
    assert pair.drawing == f"{PREFIX}drawings/max.png"
    assert pair.needs_review
    assert "gone.png" in pair.reason


def test_parse_overrides_accepts_full_keys_relative_paths_and_unique_names():
    keys = [
        f"{PREFIX}drawings/max.png",
        f"{PREFIX}drawings/luna.png",
        f"{PREFIX}generated/max_01.png",
        f"{PREFIX}generated/a/x.png",
        f"{PREFIX}generated/b/x.png",
        "books/other/drawings/max.png",
        "books/other/drawings/rex.png",
    ]
    text = (
        "generated,drawing\n"
        f"{PREFIX}generated/max_01.png,luna.png\n"
        "generated/a/x.png, drawings/max.png\n"
        "b/x.png,Luna.PNG\n"
        "max_01.png,books/other/drawings/rex.png\n"   # another book's drawing is not a choice
    )
    overrides, problems = parse_overrides(text, "books/b1", keys)
    assert len(problems) == 1 and "line 5" in problems[0] and "rex.png" in problems[0]
    assert overrides == {
        f"{PREFIX}generated/max_01.png": f"{PREFIX}drawings/luna.png",
        f"{PREFIX}generated/a/x.png": f"{PREFIX}drawings/max.png",
        f"{PREFIX}generated/b/x.png": f"{PREFIX}drawings/luna.png",
    }


def test_parse_overrides_reports_unknown_ambiguous_and_duplicate_rows():
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/a/x.png", f"{PREFIX}generated/b/x.png",
            f"{PREFIX}generated/max_01.png"]
    text = (
        "generated,drawing\n"
        "max_01.png,maxx.png\n"      # unknown drawing
        "x.png,max.png\n"            # ambiguous: a/x.png or b/x.png
        "max_01.png,max.png\n"
        "max_01.png,max.png\n"       # exact repeat
        ",max.png\n"                 # missing generated image
        "max.png,max_01.png\n"       # columns swapped
    )
    overrides, problems = parse_overrides(text, PREFIX, keys)
    assert overrides == {f"{PREFIX}generated/max_01.png": f"{PREFIX}drawings/max.png"}
    assert len(problems) == 5
    assert "line 2" in problems[0] and "maxx.png" in problems[0]
    assert "line 3" in problems[1] and "more than one" in problems[1]
    assert "line 5" in problems[2] and "repeats line 4" in problems[2]
    assert "line 6" in problems[3] and "no generated image" in problems[3]
    assert "line 7" in problems[4] and "first column" in problems[4]


@pytest.mark.parametrize(
    "text",
    ["generatd,drwing\nmax_01.png,max.png\n", "\x00\x01 not a csv \"\n", "just one column\n"],
)
def test_parse_overrides_reports_bad_header_instead_of_raising(text):
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/max_01.png"]
    overrides, problems = parse_overrides(text, PREFIX, keys)
    assert overrides == {}
    assert len(problems) == 1 and "header" in problems[0]


def test_parse_overrides_keeps_the_good_rows_around_a_stray_quote():
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}drawings/luna.png", f"{PREFIX}generated/a.png",
            f"{PREFIX}generated/b.png", f"{PREFIX}generated/c.png"]
    text = 'generated,drawing\na.png,"max.png\nb.png,luna.png\n"c.png,max.png\n'
    overrides, problems = parse_overrides(text, PREFIX, keys)
    assert overrides == {f"{PREFIX}generated/a.png": f"{PREFIX}drawings/max.png",
                         f"{PREFIX}generated/b.png": f"{PREFIX}drawings/luna.png"}
    assert len(problems) == 1 and problems[0].startswith("pairs.csv line 4:")


def test_parse_overrides_reads_a_bounded_number_of_lines():
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/a.png"]
    overrides, problems = parse_overrides("generated,drawing\n" + "a.png,max.png\n" * 25_000, PREFIX, keys)
    assert overrides == {f"{PREFIX}generated/a.png": f"{PREFIX}drawings/max.png"}
    assert problems[0] == "pairs.csv has 25,001 lines; only the first 20,000 were read."


@pytest.mark.parametrize("cell", ["", "-", "none", " NONE ", "None"])
def test_parse_overrides_reads_a_none_row_as_from_no_drawing(cell):
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/max_01.png", f"{PREFIX}generated/max_02.png"]
    text = f"generated,drawing\nmax_01.png,{cell}\ngenerated/max_02.png,max.png\n"
    overrides, problems = parse_overrides(text, PREFIX, keys)
    assert problems == []
    assert overrides == {f"{PREFIX}generated/max_01.png": None,
                         f"{PREFIX}generated/max_02.png": f"{PREFIX}drawings/max.png"}


def test_parse_overrides_none_rows_still_need_a_generated_image_that_exists():
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/max_01.png", f"{PREFIX}generated/max_02.png"]
    text = (
        "generated,drawing\n"
        ",-\n"                      # no generated image: a problem, not an exclusion
        "gone.png,-\n"              # unknown generated image
        "max.png,none\n"            # a drawing in the generated column
        "max_02.png\n"              # no drawing column at all: a slip, not a decision
        "max_01.png,max.png\n"
        "max_01.png,-\n"            # a later "none" overrides an earlier drawing, as any later line does
    )
    overrides, problems = parse_overrides(text, PREFIX, keys)
    assert overrides == {f"{PREFIX}generated/max_01.png": None}
    assert len(problems) == 5
    assert "line 2" in problems[0] and "no generated image" in problems[0]
    assert "line 3" in problems[1] and "gone.png" in problems[1]
    assert "line 4" in problems[2] and "first column" in problems[2]
    assert "line 5" in problems[3] and "no drawing column" in problems[3]
    assert "line 7" in problems[4] and "later line wins" in problems[4]
    headerless, problems = parse_overrides("max_01.png,-\n", PREFIX, keys)
    assert headerless == {f"{PREFIX}generated/max_01.png": None} and "no header" in problems[0]


def test_reviewer_none_excludes_a_variation_whatever_its_looks(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    # max_01 looks exactly like max.png and is named after it; the reviewer says it is from neither.
    excluded = Candidate(f"{PREFIX}generated/max_01.png", features_of(_noisy(drawings_images[0], 1)))
    kept = Candidate(f"{PREFIX}generated/max_02.png", features_of(_noisy(drawings_images[0], 2)))
    result = pair_images(drawings, [excluded, kept], {excluded.key: None}, capacity=1)
    pair = result.pairs[0]
    assert pair.status is PairStatus.REVIEWER_EXCLUDED and pair.status == "reviewer_excluded"
    assert pair.drawing is None and pair.signals == ["override"] and not pair.needs_review
    assert "pairs.csv" in pair.reason and "none of this book's drawings" in pair.reason
    assert result.excluded == [pair] and result.unpaired == [] and result.held == []
    # It takes no place: with room for one variation per drawing, max_02 still gets max.png.
    assert result.pairs[1].drawing == drawings[0].key and result.pairs[1].placed
    assert result.variations_of(drawings[0].key) == [kept.key]
    assert all(excluded.key not in result.variations_of(d.key) for d in drawings)
    # Without drawings at all, the reviewer's word still stands.
    assert pair_images([], [excluded], {excluded.key: None}).pairs[0].status is PairStatus.REVIEWER_EXCLUDED


def test_a_pair_more_likely_wrong_than_right_is_held_out_of_the_grids(drawings_images):
    # The same drawing uploaded three times: its variation is right on any one of them a third of the time.
    drawings = _drawing_candidates([drawings_images[0]] * 3 + [drawings_images[3]],
                                   ["a1.png", "a2.png", "a3.png", "fish.png"])
    triplet = Candidate(f"{PREFIX}generated/x.png", features_of(_noisy(drawings_images[0], 5)))
    fish = Candidate(f"{PREFIX}generated/y.png", features_of(_noisy(drawings_images[3], 6)))
    stray = Candidate(f"{PREFIX}generated/z.png", features_of(_static(1)))
    result = pair_images(drawings, [triplet, fish, stray], review_below=0.2)
    held, placed, lost = result.pairs
    twins = {d.key for d in drawings[:3]}
    assert held.confidence < HOLD_BELOW and held.status is PairStatus.HELD
    assert held.needs_review                               # always, whatever review_below says
    assert held.drawing in twins and held.runner_up in twins - {held.drawing}   # both candidates kept
    assert held.reason.startswith("Held out of the book: it is more likely not from ")
    assert _name_of(held.drawing) in held.reason and _name_of(held.runner_up) in held.reason
    assert "(0.33)" in held.reason
    assert lost.status is PairStatus.HELD and "none of the drawings" in lost.reason
    assert placed.status is PairStatus.PLACED and not placed.needs_review
    assert result.held == [held, lost]
    assert result.variations_of(drawings[3].key) == [fish.key]
    assert all(result.variations_of(d.key) == [] for d in drawings[:3])
    assert {p.generated for p in result.needs_review} == {triplet.key, stray.key}


def test_even_odds_decide_held_exactly_at_one_half(drawings_images):
    """Held means more likely wrong than right. A coin flip between two copies of one drawing sits at
    one half less the small chance of "none of these": held when that tips it below 0.5, printed when
    the same pair is certain (a reviewer's row); flagged either way."""
    drawings = _drawing_candidates([drawings_images[0], drawings_images[0]], ["a1.png", "a2.png"])
    variation = Candidate(f"{PREFIX}generated/x.png", features_of(_noisy(drawings_images[0], 5)))
    result = pair_images(drawings, [variation])
    pair = result.pairs[0]
    assert 0.4 <= pair.confidence <= HOLD_BELOW and pair.needs_review
    assert pair.status is (PairStatus.HELD if pair.confidence < HOLD_BELOW else PairStatus.PLACED)
    assert (result.variations_of(pair.drawing) == [variation.key]) is (pair.status is PairStatus.PLACED)
    settled = pair_images(drawings, [variation], {variation.key: drawings[1].key}).pairs[0]
    assert settled.status is PairStatus.PLACED and settled.drawing == drawings[1].key


def _name_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def test_parse_overrides_reads_a_headerless_file_but_says_so():
    keys = [f"{PREFIX}drawings/max.png", f"{PREFIX}generated/max_01.png"]
    overrides, problems = parse_overrides("max_01.png,max.png\n", PREFIX, keys)
    assert overrides == {f"{PREFIX}generated/max_01.png": f"{PREFIX}drawings/max.png"}
    assert len(problems) == 1 and "no header" in problems[0]


# --------------------------------------------------------------------------------------------
# Automatic signals
# --------------------------------------------------------------------------------------------


def test_provenance_pairs_right_even_with_random_names(drawings_images):
    rng = random.Random(7)
    names = [f"{_random_name(rng)}.png" for _ in range(5)]
    drawings = _drawing_candidates(drawings_images, names)
    generated, truth = [], {}
    for index, name in enumerate(names):
        stem = name.rsplit(".", 1)[0]
        mentions = [f"Steps: 30, Seed: 12345, init image: {name}", f'{{"source": "uploads/{stem}"}}']
        for variant, text in enumerate(mentions):
            key = f"{PREFIX}generated/{_random_name(rng)}.png"
            # Looks like nothing in the book: only the provenance text can place it.
            generated.append(Candidate(key, features_of(_static(10 * index + variant), text)))
            truth[key] = f"{PREFIX}drawings/{name}"
    result = pair_images(drawings, generated)
    assert _by_generated(result) == truth
    assert all(pair.signals[0] == "provenance" for pair in result.pairs)
    assert not result.needs_review


def test_provenance_ignores_a_stem_inside_a_longer_word(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    # "max_steps" and "maximal" do not mention max.png; the looks decide.
    for text in ("max_steps: 40, cfg: 7", "prompt: maximal colour, max-width 512"):
        variation = Candidate(f"{PREFIX}generated/out.png", features_of(_noisy(drawings_images[1], 3), text))
        pair = pair_images(drawings, [variation]).pairs[0]
        assert pair.drawing == f"{PREFIX}drawings/luna.png"
        assert "provenance" not in pair.signals


def test_provenance_naming_the_file_beats_a_bare_stem(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    text = "prompt: luna the cat as a dragon; init image: max.png"
    variation = Candidate(f"{PREFIX}generated/out.png", features_of(_static(4), text))
    assert pair_images(drawings, [variation]).pairs[0].drawing == f"{PREFIX}drawings/max.png"


def test_filename_tokens_pair_right(drawings_images):
    names = ["max.png", "luna.png", "dragon_red.png", "dragonBlue.png", "IMG_0042.jpg"]
    drawings = _drawing_candidates(drawings_images, names)
    expected = {
        "max_03.png": "max.png",
        "max-variation-2.jpg": "max.png",
        "Max (2).png": "max.png",
        "luna_v2_final.png": "luna.png",
        "ai-gen-luna-7.webp": "luna.png",
        "dragon_red_copy.png": "dragon_red.png",
        "dragon-blue-var1.png": "dragonBlue.png",
        "IMG_0042_variation_3.png": "IMG_0042.jpg",
    }
    generated = [
        Candidate(f"{PREFIX}generated/{name}", features_of(_static(seed)))
        for seed, name in enumerate(expected)
    ]
    result = pair_images(drawings, generated)
    assert {k.rsplit("/", 1)[1]: v.rsplit("/", 1)[1] for k, v in _by_generated(result).items()} == expected
    assert all("filename" in pair.signals for pair in result.pairs)


def test_shared_stem_beats_shared_words():
    drawings = [Candidate(f"{PREFIX}drawings/{n}", features_of(_draw(0))) for n in ("max.png", "max2.png")]
    expected = {"Max (2).png": "max.png", "max2_1.png": "max2.png", "max2-variation-3.png": "max2.png"}
    generated = [Candidate(f"{PREFIX}generated/{n}", features_of(_static(i))) for i, n in enumerate(expected)]
    result = pair_images(drawings, generated)
    assert {k.rsplit("/", 1)[1]: v.rsplit("/", 1)[1] for k, v in _by_generated(result).items()} == expected


def test_a_shared_number_alone_does_not_name_a_drawing():
    """"lily_07" is no variation of "luna-7": numbers coincide by chance, so a variation whose name
    shares only a number with a drawing goes where its looks say. A number still counts beside a
    shared word ("child9_max" over "child8_max") and for a drawing named by a number alone ("42")."""
    names = ("luna-7.png", "theo.png", "child9_max.png", "child8_max.png", "42.png")
    drawings = [Candidate(f"{PREFIX}drawings/{n}", features_of(_draw(i))) for i, n in enumerate(names)]
    looks_like_theo = Candidate(f"{PREFIX}generated/lily_07.jpg", features_of(_noisy(_recolour(_draw(1), 40), seed=3)))
    named = [Candidate(f"{PREFIX}generated/{n}", features_of(_static(i))) for i, n in
             enumerate(("max 9.png", "scan_42_b.png"))]
    result = pair_images(drawings, [looks_like_theo, *named])
    pairs = {p.generated.rsplit("/", 1)[1]: p for p in result.pairs}
    assert pairs["lily_07.jpg"].drawing == f"{PREFIX}drawings/theo.png" and "filename" not in pairs["lily_07.jpg"].signals
    assert pairs["max 9.png"].drawing == f"{PREFIX}drawings/child9_max.png"
    assert pairs["scan_42_b.png"].drawing == f"{PREFIX}drawings/42.png"


def test_name_tokens_split_camel_case_and_drop_generic_words_numbers_and_uuids():
    assert name_tokens("books/b1/generated/MaxTheDog-variation-03.png") == ["max", "dog"]
    assert name_tokens("books/b1/generated/luna/3f2a9c1e-4b5d-4c3a-9e2f-0123456789ab.png") == ["luna"]
    assert name_tokens("books/b1/generated/IMG_1234 copy final.jpg") == []
    assert name_tokens("books/b1/drawings/page3.png", keep_numbers=True) == ["page", "3"]


def test_mirrored_and_recoloured_variations_land_on_the_right_drawing(drawings_images):
    rng = random.Random(11)
    names = [f"{_random_name(rng)}.png" for _ in range(5)]
    drawings = _drawing_candidates(drawings_images, names)
    generated, truth = [], {}
    for index, img in enumerate(drawings_images):
        for variant in (ImageOps.mirror(img), _recolour(img), _recolour(ImageOps.mirror(img), 160)):
            key = f"{PREFIX}generated/{_random_name(rng)}.png"
            generated.append(Candidate(key, features_of(_noisy(variant, len(generated)))))
            truth[key] = f"{PREFIX}drawings/{names[index]}"
    result = pair_images(drawings, generated)
    assert _by_generated(result) == truth
    assert all(pair.signals == ["visual"] for pair in result.pairs)
    assert min(pair.confidence for pair in result.pairs) > 0.6


def test_variation_equally_close_to_two_drawings_is_flagged_with_runner_up(drawings_images):
    # The same drawing uploaded twice under two names: its variation cannot be told apart.
    drawings = _drawing_candidates(
        [drawings_images[0], drawings_images[0], drawings_images[3]], ["a1.png", "a2.png", "fish.png"]
    )
    variation = Candidate(f"{PREFIX}generated/x.png", features_of(_noisy(drawings_images[0], 5)))
    pair = pair_images(drawings, [variation]).pairs[0]
    assert pair.drawing in {f"{PREFIX}drawings/a1.png", f"{PREFIX}drawings/a2.png"}
    assert {pair.drawing, pair.runner_up} == {f"{PREFIX}drawings/a1.png", f"{PREFIX}drawings/a2.png"}
    assert pair.needs_review and pair.confidence < 0.6
    assert abs(pair.margin) < 1e-9
    assert "almost equally" in pair.reason


def test_variation_like_no_drawing_is_flagged_as_such(drawings_images):
    drawings = _drawing_candidates(drawings_images[:3], ["a.png", "b.png", "c.png"])
    stray = Candidate(f"{PREFIX}generated/x.png", features_of(_static(1)))
    genuine = Candidate(f"{PREFIX}generated/y.png", features_of(_recolour(drawings_images[1])))
    stray_pair, genuine_pair = pair_images(drawings, [stray, genuine]).pairs
    assert stray_pair.confidence < genuine_pair.confidence
    strict = pair_images(drawings, [stray], review_below=0.9).pairs[0]
    assert strict.needs_review and "none of the drawings" in strict.reason


def test_name_contradicted_by_looks_is_flagged(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["max.png", "luna.png"])
    variation = Candidate(f"{PREFIX}generated/max_01.png", features_of(drawings_images[1]))
    pair = pair_images(drawings, [variation]).pairs[0]
    assert pair.drawing == f"{PREFIX}drawings/max.png"  # the name is the stronger signal ...
    assert pair.needs_review                            # ... but a person should look
    assert "luna.png" in pair.reason


def test_upload_time_breaks_a_visual_tie(drawings_images):
    a1 = Candidate(f"{PREFIX}drawings/a1.png", features_of(drawings_images[0]), uploaded=1_000.0)
    a2 = Candidate(f"{PREFIX}drawings/a2.png", features_of(drawings_images[0]), uploaded=90_000.0)
    variation = Candidate(f"{PREFIX}generated/x.png", features_of(drawings_images[0]), uploaded=90_300.0)
    pair = pair_images([a1, a2], [variation]).pairs[0]
    assert pair.drawing == a2.key
    assert "upload-time" in pair.signals
    assert pair.needs_review  # a tie-breaker, not evidence: the coin-flip is still shown to a person


def test_upload_time_does_not_outvote_looks(drawings_images):
    sun = Candidate(f"{PREFIX}drawings/sun.png", features_of(drawings_images[0]), uploaded=1_000.0)
    fish = Candidate(f"{PREFIX}drawings/fish.png", features_of(drawings_images[3]), uploaded=90_000.0)
    variation = Candidate(f"{PREFIX}generated/x.png", features_of(_recolour(drawings_images[0])), uploaded=90_100.0)
    pair = pair_images([sun, fish], [variation]).pairs[0]
    assert pair.drawing == sun.key
    assert "upload-time" not in pair.signals


# --------------------------------------------------------------------------------------------
# Assignment, ordering, determinism, degenerate books
# --------------------------------------------------------------------------------------------


def _crowded_book(drawings_images, count: int) -> tuple[list[Candidate], list[Candidate]]:
    """``count`` variations that all look like the first of two drawings."""
    drawings = _drawing_candidates(drawings_images[:2], ["sun.png", "house.png"])
    generated = [
        Candidate(f"{PREFIX}generated/{i:02d}.png", features_of(_noisy(drawings_images[0], 100 + i, 6 + 4 * i)))
        for i in range(count)
    ]
    return drawings, generated


def test_global_assignment_respects_capacity(drawings_images):
    drawings, generated = _crowded_book(drawings_images, 4)
    result = pair_images(drawings, generated, capacity=2)
    counts = {d.key: sum(p.drawing == d.key for p in result.pairs) for d in drawings}
    assert counts == {drawings[0].key: 2, drawings[1].key: 2}
    moved = [p for p in result.pairs if p.drawing == drawings[1].key]
    assert all(p.needs_review and p.margin < 0 and "sun.png" in p.reason for p in moved)
    # Moved to a drawing they do not look like, they are more likely wrong than right: held, not printed.
    assert all(p.status is PairStatus.HELD for p in moved) and result.variations_of(drawings[1].key) == []
    # The two least-noisy copies stay with the drawing they look like.
    assert set(result.variations_of(drawings[0].key)) == {generated[0].key, generated[1].key}


def test_variations_beyond_total_capacity_are_unpaired_with_a_reason(drawings_images):
    drawings, generated = _crowded_book(drawings_images, 3)
    result = pair_images(drawings, generated, capacity=1)
    assert len(result.unpaired) == 1
    leftover = next(p for p in result.pairs if p.drawing is None)
    assert leftover.needs_review and "left out" in leftover.reason


def test_default_capacity_lets_one_drawing_keep_many_variations(drawings_images):
    drawings, generated = _crowded_book(drawings_images, 20)
    result = pair_images(drawings, generated)
    assert len(result.variations_of(drawings[0].key)) == 20


def test_overrides_count_against_capacity(drawings_images):
    drawings, generated = _crowded_book(drawings_images, 3)
    overrides = {generated[2].key: drawings[0].key}
    result = pair_images(drawings, generated, overrides, capacity=2)
    assert _by_generated(result)[generated[2].key] == drawings[0].key
    assert len(result.variations_of(drawings[0].key)) == 2


def test_variations_ordered_by_number_then_similarity(drawings_images):
    drawings = _drawing_candidates(drawings_images[:2], ["page3.png", "cat.png"])
    numbered = ["page3_10.png", "page3_2.png", "page3 (1).png"]
    generated = [Candidate(f"{PREFIX}generated/{n}", features_of(_noisy(drawings_images[0], i)))
                 for i, n in enumerate(numbered)]
    # Unnumbered variations of cat.png: the less altered one comes first.
    generated += [
        Candidate(f"{PREFIX}generated/cat_a.png", features_of(_recolour(_noisy(drawings_images[1], 8, 30)))),
        Candidate(f"{PREFIX}generated/cat_b.png", features_of(_noisy(drawings_images[1], 9, 4))),
    ]
    result = pair_images(drawings, generated)
    assert [k.rsplit("/", 1)[1] for k in result.variations_of(f"{PREFIX}drawings/page3.png")] == [
        "page3 (1).png", "page3_2.png", "page3_10.png"
    ]
    assert [k.rsplit("/", 1)[1] for k in result.variations_of(f"{PREFIX}drawings/cat.png")] == [
        "cat_b.png", "cat_a.png"
    ]


def test_results_are_deterministic_and_independent_of_input_order(drawings_images):
    rng = random.Random(3)
    names = [f"{_random_name(rng)}.png" for _ in range(5)]
    drawings = _drawing_candidates(drawings_images, names)
    generated = [
        Candidate(f"{PREFIX}generated/{_random_name(rng)}.png", features_of(_noisy(_recolour(img, 40 * k), k)))
        for k in range(3) for img in drawings_images
    ]
    # Identical copies crowd the first drawing past its capacity: who moves must not depend on order.
    twin = features_of(_noisy(_recolour(drawings_images[0], 60), 50, 30))
    generated += [Candidate(f"{PREFIX}generated/twin_{i}.png", twin) for i in range(3)]
    first = pair_images(drawings, generated, capacity=4)
    again = pair_images(drawings, generated, capacity=4)
    assert first.pairs == again.pairs

    for seed in range(3):
        shuffled_drawings, shuffled_generated = list(drawings), list(generated)
        random.Random(seed).shuffle(shuffled_drawings)
        random.Random(seed + 10).shuffle(shuffled_generated)
        shuffled = pair_images(shuffled_drawings, shuffled_generated, capacity=4)
        assert [p.generated for p in shuffled.pairs] == [c.key for c in shuffled_generated]  # input order
        assert {p.generated: p for p in shuffled.pairs} == {p.generated: p for p in first.pairs}
        assert all(shuffled.variations_of(d.key) == first.variations_of(d.key) for d in drawings)


def test_no_drawings_leaves_every_variation_unpaired_with_a_reason(drawings_images):
    generated = [Candidate(f"{PREFIX}generated/{i}.png", features_of(drawings_images[i])) for i in range(3)]
    result = pair_images([], generated)
    assert result.unpaired == [c.key for c in generated]
    assert all(p.needs_review and p.confidence == 0.0 and "no drawings" in p.reason for p in result.pairs)


def test_single_drawing_book_takes_its_variations(drawings_images):
    drawings = _drawing_candidates(drawings_images[:1], ["only.png"])
    generated = [
        Candidate(f"{PREFIX}generated/v{i}.png", features_of(_noisy(ImageOps.mirror(drawings_images[0]), i)))
        for i in range(3)
    ]
    result = pair_images(drawings, generated)
    assert all(p.drawing == drawings[0].key and p.runner_up is None for p in result.pairs)
    assert not result.needs_review


# --------------------------------------------------------------------------------------------
# Looks that survive hard transformations; the second pass; features from older caches
# --------------------------------------------------------------------------------------------


def _analysed(img: Image.Image) -> ImageFeatures:
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=1)
    return analyse_image(buffer.getvalue(), want_print_copy=False).features


def test_recoloured_and_reframed_dragon_goes_to_the_dragon():
    """The sample book's old failure: a recoloured, reframed dragon went to the monster, unflagged."""
    from book_assets_dev.samples import SUBJECTS, _recolour as recolour, _reframe as reframe, draw_subject

    subjects = sorted(SUBJECTS)
    drawings = [Candidate(f"{PREFIX}drawings/{_random_name(random.Random(s))}.jpg",
                          _analysed(draw_subject(s, 512, seed=i))) for i, s in enumerate(subjects)]
    dragon = draw_subject("dragon", 512, seed=subjects.index("dragon"))
    generated = []
    for seed in range(4):
        rng = random.Random(seed)
        generated.append(Candidate(f"{PREFIX}generated/{_random_name(rng)}.png",
                                   _analysed(reframe(recolour(dragon, rng), rng))))
    result = pair_images(drawings, generated)
    dragon_key = drawings[subjects.index("dragon")].key
    assert [p.drawing for p in result.pairs] == [dragon_key] * 4
    # The look model is calibrated on photo-like renditions too, so one strong recolour+reframe of the
    # four may be left for a look (flagged, still on the dragon's page); none is held or unsure.
    assert all(p.status is PairStatus.PLACED and p.confidence >= 0.8 for p in result.pairs)
    assert sum(p.needs_review for p in result.pairs) <= 1


def test_zoomed_out_and_mirrored_variation_lands_right(drawings_images):
    """The drawing shown smaller, mirrored, on a wider page: a crop of the variation matches it."""
    names = [f"{_random_name(random.Random(i))}.png" for i in range(5)]
    drawings = _drawing_candidates(drawings_images, names)
    generated, truth = [], {}
    for index, img in enumerate(drawings_images):
        page = Image.new("RGB", (SIZE, SIZE), PAPERS[(index + 2) % len(PAPERS)])
        page.paste(ImageOps.mirror(img).resize((96, 96)), (8 + 4 * index, 20))
        key = f"{PREFIX}generated/{_random_name(random.Random(100 + index))}.png"
        generated.append(Candidate(key, features_of(page)))
        truth[key] = drawings[index].key
    assert _by_generated(pair_images(drawings, generated)) == truth


def test_features_without_shape_descriptors_still_pair_by_hash_and_colour(drawings_images):
    names = [f"{_random_name(random.Random(i))}.png" for i in range(5)]
    drawings = [Candidate(c.key, without_shapes(c.features)) for c in _drawing_candidates(drawings_images, names)]
    generated, truth = [], {}
    for index, img in enumerate(drawings_images):
        for variant in (ImageOps.mirror(img), _recolour(img)):
            key = f"{PREFIX}generated/{_random_name(random.Random(len(generated) + 50))}.png"
            generated.append(Candidate(key, without_shapes(features_of(_noisy(variant, len(generated))))))
            truth[key] = drawings[index].key
    assert _by_generated(pair_images(drawings, generated)) == truth


def test_a_panorama_one_layout_pixel_high_is_paired_not_a_crash(drawings_images):
    """Validation accepts a 6,400 x 64 strip, whose layout thumbnail is one pixel high (and a 64 x 6,400
    one, one pixel wide): pairing used to raise on its edge map (``np.gradient``) and fail the book."""
    names = [f"{_random_name(random.Random(i))}.png" for i in range(3)]
    drawings = _drawing_candidates(drawings_images[:3], names)
    strips = [Image.new("RGB", size, (200, 40, 40)) for size in ((6400, 64), (64, 6400))]
    ImageDraw.Draw(strips[0]).rectangle([3000, 10, 3400, 50], fill=(40, 40, 200))
    generated = [Candidate(f"{PREFIX}generated/strip_{i}.png", _analysed(strip)) for i, strip in enumerate(strips)]
    generated.append(Candidate(f"{PREFIX}generated/copy.png", features_of(_noisy(drawings_images[1], 3))))
    assert {g.features.layout.shape[:2] for g in generated[:2]} == {(1, 48), (48, 1)}
    result = pair_images(drawings, generated)
    assert _by_generated(result)[generated[2].key] == drawings[1].key
    assert {p.generated for p in result.pairs} == {g.key for g in generated}


def test_each_drawing_is_judged_against_its_own_baseline():
    """A colourful drawing looks a little like every rendition, an outline drawing like none much: the
    outline's rendition (row 0) scores higher against the colourful one, until each drawing's log-odds
    lose its baseline, its median over the variations that look most like another drawing."""
    colourful, outline, third = 0, 1, 2
    looks = np.array([
        [24.0, 22.5, 15.0],      # a rendition of the outline drawing
        [30.0, 14.0, 16.0],      # the colourful drawing's renditions
        [29.0, 15.0, 17.0],
        [31.0, 13.0, 15.0],
        [22.0, 13.0, 28.0],      # the third drawing's renditions
        [23.0, 12.0, 27.0],
        [21.0, 14.0, 29.0],
        [22.0, 13.0, 30.0],
    ])
    full = np.ones(len(looks), dtype=bool)
    assert looks[0].argmax() == colourful
    centred = _centred_on_drawings(looks, full, 1.0)
    assert centred[0].argmax() == outline
    # baselines on the rows whose best is another drawing by a margin: 22 (rows 4-7), 13.5 (all), 15.5 (rows 0-3)
    baseline = np.array([22.0, 13.5, 15.5])
    np.testing.assert_allclose(centred, looks - (baseline - 15.5))
    np.testing.assert_allclose(_centred_on_drawings(looks, full, 0.5), looks - 0.5 * (baseline - 15.5))
    assert all(centred[row].argmax() == colourful for row in (1, 2, 3))
    assert all(centred[row].argmax() == third for row in (4, 5, 6, 7))


def test_a_drawing_baseline_is_read_on_others_so_an_uneven_book_keeps_its_pairs():
    """One drawing with most of a book's variations: measured on its own (high) rows, its baseline
    would push its own variations away; measured on the others', it does not. Rows without full looks
    (the fallback model's scale) are neither measured nor moved, too few rows move nothing, and twin
    drawings (each variation's best twice over) are measured alike."""
    rng = np.random.default_rng(3)
    looks = np.full((12, 3), 15.0) + rng.normal(0.0, 0.5, (12, 3))
    looks[:9, 0] += 10.0                          # nine variations of drawing 0
    looks[9, 1], looks[10, 2], looks[11, 1] = 26.0, 27.0, 25.0
    full = np.ones(12, dtype=bool)
    centred = _centred_on_drawings(looks, full, 1.0)
    assert list(centred.argmax(axis=1)) == list(looks.argmax(axis=1))
    assert abs(centred[0, 0] - looks[0, 0]) < 1.0
    fallback = full.copy()
    fallback[4] = False
    with_fallback = _centred_on_drawings(looks, fallback, 1.0)
    np.testing.assert_array_equal(with_fallback[4], looks[4])
    few = np.zeros(12, dtype=bool)
    few[:DRAWING_BASELINE_MIN_VARIATIONS - 1] = True
    np.testing.assert_array_equal(_centred_on_drawings(looks, few, 1.0), looks)
    # a book whose every variation is drawing 0's: nothing is known of its baseline, and it keeps its log-odds
    crowded = looks[:9]
    centred_crowded = _centred_on_drawings(crowded, full[:9], 1.0)
    np.testing.assert_array_equal(centred_crowded[:, 0], crowded[:, 0])
    assert (centred_crowded.argmax(axis=1) == 0).all()
    # the same drawing uploaded twice: its variations are as like either twin, and the twins stay twins
    twins = np.concatenate([looks, looks[:, :1]], axis=1)
    centred_twins = _centred_on_drawings(twins, full, 1.0)
    np.testing.assert_array_equal(centred_twins[:, 0], centred_twins[:, 3])


def test_an_anchor_speaks_for_a_twin_drawing_only_on_a_coin_flip_of_the_uncalibrated_evidence():
    """An anchor speaks for another drawing only when its pooled evidence finds that one as likely as
    its own; the calibration that flattens the posterior must not turn a clear lead into a tie."""
    lead = np.array([[0.5, 0.0, -3.0]])     # the pooled evidence: drawing 1 is 0.61 times as likely as drawing 0
    twins = np.array([[1.0, 1.0, -3.0]])    # a coin flip between drawings 0 and 1
    placed_on, reviewed = np.array([0]), np.array([False])

    def posterior(logits: np.ndarray, calibration: float) -> np.ndarray:
        scaled = np.exp(calibration * logits)
        return scaled / scaled.sum(axis=1, keepdims=True)

    for calibration in (1.0, 0.1):
        assert _anchors_speak_for(posterior(lead, calibration), placed_on, reviewed, calibration).tolist() == [
            [True, False, False]]
        assert _anchors_speak_for(posterior(twins, calibration), placed_on, reviewed, calibration).tolist() == [
            [True, True, False]]
    # read as if uncalibrated, the flattened posterior (0.95 times as likely) would pass for a tie
    assert _anchors_speak_for(posterior(lead, 0.1), placed_on, reviewed, 1.0)[0, 1]
    # a reviewer's placement speaks for its own drawing only, even between twins
    assert _anchors_speak_for(posterior(twins, 0.1), placed_on, np.array([True]), 0.1).tolist() == [
        [True, False, False]]


def _evidence_of(looks: np.ndarray) -> _Evidence:
    zeros = np.zeros_like(looks)
    return _Evidence(zeros.copy(), zeros.copy(), looks, zeros.copy(), np.full(looks.shape[0], -20.0))


def _placements_of(looks: np.ndarray, assigned: np.ndarray, evidence: _Evidence | None = None) -> Placements:
    """What the book-level moves read, from look log-odds alone (or ``evidence``), nothing fixed, no first solve."""
    return _placements(evidence or _evidence_of(looks), assigned, np.zeros(assigned.size, dtype=bool), None)


def test_a_drawing_left_with_few_or_no_variations_takes_the_unsure_look_alikes_that_look_most_like_it():
    """Three renditions alike one another lean, unsure, to drawing 1 (which has its own three, sure), and
    drawing 2 has none (or, in a bigger book, one): they move to drawing 2. Not when one of them is named
    (too few left), when they would give up too much, when drawings have too few variations each, with
    nothing pooled, or beyond capacity."""
    looks = np.zeros((9, 3))
    looks[0:3, 0] = looks[6:9, 1] = 10.0          # drawing 0's and drawing 1's own renditions, sure
    looks[3:6, 1] = 1.5                           # the group: 0.69 on drawing 1, 0.15 on drawing 2
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4], [7, 8], [6, 8], [6, 7]])
    assigned = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])

    placed = assigned.copy()
    assert move_groups(_placements_of(looks, placed), neighbours, 16, 0.5) == dict.fromkeys([3, 4, 5], GroupMove.EMPTY_DRAWING)
    assert placed.tolist() == [0, 0, 0, 2, 2, 2, 1, 1, 1]

    named = _evidence_of(looks)
    named.filename[4, 1] = 1.0                    # its name points to drawing 1: two are left, too few
    placed = assigned.copy()
    assert fill_empty_drawings(_placements_of(looks, placed, named), neighbours, 16).size == 0
    assert (placed == assigned).all()

    costly = looks.copy()
    costly[3:6] = [0.0, 2.9, -3.0]                # still unsure (0.947) but 360 times less likely on drawing 2
    assert fill_empty_drawings(_placements_of(costly, assigned.copy()), neighbours, 16).size == 0
    sparse_book = _placements_of(looks[3:6], assigned[3:6].copy())   # one variation per drawing: empty is normal
    assert move_groups(sparse_book, np.array([[1], [0], [0]]), 16, 0.5) == {}
    assert move_groups(_placements_of(looks, assigned.copy()), None, 16, 0.5) == {}
    assert fill_empty_drawings(_placements_of(looks, assigned.copy()), neighbours, 2).size == 0   # too many

    # four variations per drawing: a drawing left with one (a quarter of its share) takes the group too
    looks = np.zeros((12, 3))
    looks[0:4, 0] = looks[4:8, 1] = looks[8, 2] = 10.0
    looks[9:12, 1] = 1.5
    neighbours = np.array([[1, 2], [0, 2], [0, 3], [1, 2], [5, 6], [4, 6], [4, 7], [5, 6], [9, 10],
                           [10, 11], [9, 11], [9, 10]])
    placed = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 1, 1, 1])
    assert sorted(fill_empty_drawings(_placements_of(looks, placed), neighbours, 16).tolist()) == [9, 10, 11]
    assert placed.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]

    # a rendition in no mutual link, both of whose look-alikes are the group's, goes with it
    looks = np.zeros((10, 3))
    looks[0:3, 0] = looks[6:9, 1] = 10.0
    looks[[3, 4, 5, 9], 1] = 1.5
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4], [7, 8], [6, 8], [6, 7], [3, 4]])
    placed = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    assert sorted(fill_empty_drawings(_placements_of(looks, placed), neighbours, 16).tolist()) == [3, 4, 5, 9]
    assert placed.tolist() == [0, 0, 0, 2, 2, 2, 1, 1, 1, 2]


def test_look_alikes_that_each_sit_on_another_pictures_drawing_are_held_as_from_no_drawing_here():
    """Three drawings hold their own three renditions surely; three more renditions, alike one another,
    lean unsure to drawings 0 and 1 (their own drawing is not in the book): held where they are, signal
    NO_DRAWING. Not when one of them sits on a drawing no group holds surely, when one is named, or when
    only two are alike."""
    from book_assets.core.look_alike_groups import hold_groups_with_no_drawing

    p = np.full((12, 3), 1e-6)
    p[0:3, 0] = p[3:6, 1] = p[6:9, 2] = 0.999       # each drawing's own renditions, sure
    p[9:12] = [0.5, 0.4, 0.1]                        # the orphans: unsure, drawings 0 and 1
    log_p = np.log(p)
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4], [7, 8], [6, 8], [6, 7],
                           [10, 11], [9, 11], [9, 10]])
    assigned = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 0])
    sure = np.arange(12) < 9

    def held(assigned=assigned, sure=sure, by_looks=~sure, neighbours=neighbours) -> list[int]:
        return sorted(hold_groups_with_no_drawing(Placements(log_p, assigned.copy(), sure, by_looks),
                                                  neighbours).tolist())

    assert held() == [9, 10, 11]
    placed = assigned.copy()
    assert move_groups(Placements(log_p, placed, sure, ~sure), neighbours, 16, 0.5) == dict.fromkeys(
        [9, 10, 11], GroupMove.NO_DRAWING)
    assert (placed == assigned).all()                                        # held where they are, not moved
    # one of them on drawing 2, which holds only one rendition surely (no group's): the group has a drawing
    assert held(assigned=np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2]), sure=np.arange(12) < 7) == []
    assert held(by_looks=~sure & (np.arange(12) != 10)) == []                # one is named
    pair_only = neighbours.copy()
    pair_only[11] = [6, 7]                                                   # 11 links to drawing 2's instead
    assert held(neighbours=pair_only) == []


def test_a_few_variations_sure_of_their_drawing_only_through_each_other_are_held():
    """Four drawings, sixteen variations (four a drawing). Drawing 3 holds two, sure of it after the anchor
    pass, though neither looked like it alone (log-odds 1 over "none") nor was placed on it at even odds by
    the first solve: held, signal EACH_OTHER. Not when one of them looked like it alone, when one was placed on
    it at 0.6 first, when one is a reviewer's or named, when the drawing holds its share, or without a first
    solve to read."""
    from book_assets.core.look_alike_groups import FirstSolve, hold_drawings_vouched_for_by_each_other

    assigned = np.array([0] * 5 + [1] * 5 + [2] * 4 + [3] * 2)
    p = np.full((16, 4), 1e-4)
    p[np.arange(16), assigned] = 0.999                              # all sure after the anchor pass
    log_p = np.log(p)
    sure = np.ones(16, dtype=bool)
    looks_alone = np.zeros((16, 4))
    looks_alone[np.arange(14), assigned[:14]] = 8.0                 # drawings 0-2: their renditions look like them
    looks_alone[14:, 3] = 1.0                                       # drawing 3's two: barely over "none"
    first_probability = np.where(assigned < 3, 0.9, 0.25)

    def held(assigned=assigned, looks_alone=looks_alone, first_assigned=assigned, probability=first_probability,
             by_looks=np.ones(16, dtype=bool), first=True, printed=np.ones(16, dtype=bool)) -> list[int]:
        placements = Placements(log_p, assigned.copy(), sure, by_looks,
                                FirstSolve(first_assigned, probability, looks_alone) if first else None)
        return sorted(hold_drawings_vouched_for_by_each_other(placements, printed).tolist())

    assert held() == [14, 15]
    placed = assigned.copy()
    moved = move_groups(Placements(log_p, placed, sure, np.ones(16, dtype=bool),
                                   FirstSolve(assigned, first_probability, looks_alone)),
                        np.array([[(r + 1) % 16, (r + 2) % 16] for r in range(16)]), 16, 0.5)
    assert moved == dict.fromkeys([14, 15], GroupMove.EACH_OTHER) and GroupMove.EACH_OTHER.holds
    assert (placed == assigned).all()                               # held where they are, not moved
    alike = looks_alone.copy()
    alike[15, 3] = 3.5
    assert held(looks_alone=alike) == []                            # one looks like it alone (about 30 to 1)
    assert held(probability=np.where(np.arange(16) == 14, 0.6, first_probability)) == []
    # placed at 0.6 first, but on drawing 2 (the anchor pass moved it): it speaks for drawing 3 no more
    assert held(probability=np.where(np.arange(16) == 14, 0.6, first_probability),
                first_assigned=np.where(np.arange(16) == 14, 2, assigned)) == [14, 15]
    assert held(by_looks=np.arange(16) != 15) == []                 # a reviewer's, or named
    full = np.array([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)          # drawing 3 holds its share (four)
    assert held(assigned=full, first_assigned=full, looks_alone=np.where(full[:, None] == 3, 1.0, looks_alone),
                probability=np.where(full == 3, 0.25, 0.9)) == []
    assert held(first=False) == []
    assert held(printed=np.arange(16) != 15) == [14]                 # alone on it, the other held anyway


def test_a_look_alike_group_split_onto_another_pictures_drawing_joins_the_rest_of_it():
    """Drawing 2's five renditions are near coin flips between drawings 1 and 2: two landed on drawing 2,
    three on drawing 1, which holds its own four surely; one of the three (12) is in no mutual link, but
    both its look-alikes are the group's. The three away join the rest. Not when the rest is one
    variation, when drawing 1 holds no group surely, when one is named, when they would give up too
    much, or beyond capacity; a follower alone (the group's members all home) stays."""
    p = np.full((13, 3), 1e-6)
    p[0:4, 0] = p[4:8, 1] = 0.999                 # drawings 0's and 1's own renditions, sure
    p[8:10, 1:] = [0.45, 0.55]                    # drawing 2's renditions: two lean to drawing 2 ...
    p[10:13, 1:] = [0.52, 0.48]                   # ... and three, as little, to drawing 1
    log_p = np.log(p)
    neighbours = np.array([[1, 2], [0, 2], [0, 3], [1, 2], [5, 6], [4, 6], [4, 7], [5, 6],
                           [9, 10], [8, 11], [11, 8], [10, 9], [8, 9]])
    assigned = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 1])
    sure = np.arange(13) < 8

    def moved(log_p=log_p, assigned=assigned, sure=sure, by_looks=~sure, capacity=16) -> tuple[list, list]:
        placed = assigned.copy()
        rows = unite_split_groups(Placements(log_p, placed, sure, by_looks), neighbours, capacity)
        return sorted(rows.tolist()), placed.tolist()

    assert moved() == ([10, 11, 12], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    placed = assigned.copy()
    assert move_groups(Placements(log_p, placed, sure, ~sure), neighbours, 16, 0.5) == dict.fromkeys(
        [10, 11, 12], GroupMove.SPLIT_GROUP)
    assert moved(assigned=np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 1, 1, 1, 1]))[0] == []   # the rest is one
    assert moved(sure=np.arange(13) < 4, by_looks=np.arange(13) >= 4)[0] == []         # drawing 1 is no one's
    assert moved(by_looks=~sure & (np.arange(13) != 11))[0] == [10, 12]                # 11 is named
    costly = log_p.copy()
    costly[10:13, 2] = np.log(1e-4)
    assert moved(log_p=costly)[0] == []                                                # 5,000 times less likely
    assert moved(capacity=4)[0] == []
    assert moved(assigned=np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 1]))[0] == []   # a follower alone


def test_second_pass_places_a_variation_by_its_reviewed_siblings(drawings_images):
    """A variation like no drawing but nearly identical to one a reviewer placed goes with it."""
    drawings = _drawing_candidates(drawings_images[:3], ["a.png", "b.png", "c.png"])
    reviewed_b = Candidate(f"{PREFIX}generated/r1.png", features_of(_static(1)))
    reviewed_a = Candidate(f"{PREFIX}generated/r2.png", features_of(_static(2)))
    copy_of_b = Candidate(f"{PREFIX}generated/x.png", features_of(_noisy(_static(1), 7, 6.0)))
    overrides = {reviewed_b.key: drawings[1].key, reviewed_a.key: drawings[0].key}
    alone = pair_images(drawings, [copy_of_b]).pairs[0]
    together = _by_generated(pair_images(drawings, [reviewed_b, reviewed_a, copy_of_b], overrides))
    assert together[copy_of_b.key] == drawings[1].key
    assert alone.confidence < 0.5      # on its own nothing placed it


def test_provenance_from_real_png_chunks_and_exif_pairs_right(drawings_images):
    drawings = _drawing_candidates(drawings_images[:3], ["max.png", "luna.png", "pip.png"])
    png_info = PngImagePlugin.PngInfo()
    png_info.add_text("parameters", "a storybook cat\nSteps: 30, Seed: 7, Init image: luna.png")
    png = io.BytesIO()
    _static(3).save(png, "PNG", pnginfo=png_info)
    exif = Image.Exif()
    exif[0x010E] = "Variation of pip.png"
    jpeg = io.BytesIO()
    _static(4).save(jpeg, "JPEG", exif=exif)
    generated = [Candidate(f"{PREFIX}generated/{name}", analyse_image(data.getvalue(), want_print_copy=False).features)
                 for name, data in (("user_a-cat_1.png", png), ("IMG_2231.jpg", jpeg))]
    pairs = pair_images(drawings, generated).pairs
    assert [p.drawing for p in pairs] == [f"{PREFIX}drawings/luna.png", f"{PREFIX}drawings/pip.png"]
    assert all(p.signals[0] == "provenance" and not p.needs_review for p in pairs)

def test_review_table_lists_both_candidates_and_a_ready_pairs_csv(drawings_images):

    from book_assets.core.stages.pairing import review_csv, review_rows
    from book_assets.defs.checks import check_pairs_need_review

    # A drawing and a slightly recoloured copy of it: its variation is flagged (likely, not sure), not held.
    drawings = _drawing_candidates([drawings_images[0], _recolour(drawings_images[0], 20)], ["a1.png", "a2.png"])
    variation = Candidate(f"{PREFIX}generated/x.png", features_of(_noisy(drawings_images[0], 5)))
    pair = pair_images(drawings, [variation]).pairs[0]
    review = _pairing([pair]).rows(needs_review=True)
    rows = review_rows(review, PREFIX)
    assert rows[0]["generated"] == "generated/x.png"
    assert {rows[0]["drawing"], rows[0]["runner_up"]} == {"drawings/a1.png", "drawings/a2.png"}
    assert rows[0]["pairs_csv_line"] == f"generated/x.png,{rows[0]['drawing']}"
    assert "generated,drawing\ngenerated/x.png," in review_csv(review, PREFIX)
    check = check_pairs_need_review(_pairing([pair]))
    assert not check.passed and check.metadata["value"].value == 1
    assert "a1.png" in check.metadata["flagged"].value and "pairs.csv" in check.metadata["flagged"].value
    assert check.metadata["held"].value == 0 and "HELD" not in check.metadata["flagged"].value


def _pairing(pairs) -> Pairing:
    """Pairs as the image_pairs stage hands them on."""
    return Pairing(book_id="b", pairs=tuple(pairs), drawings=(), variations={})


def test_held_pairs_are_named_as_held_with_a_ready_line_that_round_trips(drawings_images):
    """Names with commas and quotes: the review table's line, pasted into pairs.csv, reads back as written."""
    from book_assets.core.stages.pairing import review_csv, review_rows
    from book_assets.defs.checks import check_every_variation_placed_or_flagged, check_pairs_need_review

    names = ['Max, the "monster".png', "max, again.png", 'max "3".png', "fish.png"]
    drawings = _drawing_candidates([drawings_images[0]] * 3 + [drawings_images[3]], names)
    generated = [Candidate(f'{PREFIX}generated/odd, "one".png', features_of(_noisy(drawings_images[0], 1))),
                 Candidate(f"{PREFIX}generated/fish_1.png", features_of(_noisy(drawings_images[3], 2)))]
    excluded = Candidate(f"{PREFIX}generated/stray.png", features_of(_static(2)))
    result = pair_images(drawings, [*generated, excluded], {excluded.key: None})
    held, placed, gone = result.pairs
    assert (held.status, placed.status, gone.status) == (PairStatus.HELD, PairStatus.PLACED,
                                                         PairStatus.REVIEWER_EXCLUDED)
    review = _pairing(result.pairs).rows(needs_review=True)
    rows = review_rows(review, PREFIX)
    assert [row["status"] for row in rows] == ["held"]
    line = rows[0]["pairs_csv_line"]
    assert line.startswith('"generated/odd, ""one"".png","drawings/') and held.drawing in {d.key for d in drawings[:3]}
    keys = [c.key for c in (*drawings, *generated)]
    overrides, problems = parse_overrides(f"generated,drawing\n{line}\n", PREFIX, keys)
    assert problems == [] and overrides == {held.generated: held.drawing}
    assert "held variations (1) stay out of the book" in review_csv(review, PREFIX)
    check = check_pairs_need_review(_pairing(result.pairs))
    assert check.metadata["held"].value == 1 and "held out of the book" in check.description
    assert "HELD, not printed: " + held.generated in check.metadata["flagged"].value
    assert check.metadata["flagged"].value.count("HELD") == 1
    blocking = check_every_variation_placed_or_flagged(_pairing(result.pairs), [c.key for c in (*generated, excluded)])
    assert blocking.passed
    assert (blocking.metadata["held"].value, blocking.metadata["reviewer_excluded"].value) == (1, 1)
    unexplained = [replace(held, reason=""), placed, gone]    # a held pair without a reason would be unexplained
    assert not check_every_variation_placed_or_flagged(_pairing(unexplained), [c.key for c in generated]).passed


@pytest.mark.integration
def test_review_loop_flag_then_pairs_csv_then_rebuild(small_book_files, bucket, instance):
    """Flagged pairs show in the image_pairs metadata and the WARN check; the lines offered there,
    put in pairs.csv, are obeyed by the next build and nothing is flagged any more."""
    from book_assets.defs.jobs import BOOK_ASSETS; raw_images, validated_images, image_pairs = BOOK_ASSETS[:3]
    from book_assets_tests.support import build, check_results, materialization, upload

    files = dict(small_book_files)
    files["drawings/zoom_again.jpg"] = files["drawings/zoom.jpg"]   # the same drawing uploaded twice
    upload(bucket, "b-review", files)
    stages = [raw_images, validated_images, image_pairs]
    first = build(bucket, instance, "b-review", assets=stages)
    table = first.output_for_node("image_pairs").table
    flagged = table[table["needs_review"]]
    assert len(flagged) == 5                       # zoom's five variations cannot choose between the twins
    metadata = materialization(first, "image_pairs").metadata
    review = metadata["review_table"].value
    assert len(review.records) == 5
    assert {review.records[0].data["drawing"], review.records[0].data["runner_up"]} == {
        "drawings/zoom.jpg", "drawings/zoom_again.jpg"}
    warning = check_results(first)["pairs_need_review"]
    assert not warning.passed and warning.severity.value == "WARN"
    snippet = metadata["review_pairs_csv"].value
    csv_text = snippet.split("```csv\n", 1)[1].split("```", 1)[0].replace(",drawings/zoom_again.jpg", ",drawings/zoom.jpg")

    bucket.write_bytes("books/b-review/pairs.csv", csv_text.encode())
    second = build(bucket, instance, "b-review", assets=stages)
    table = second.output_for_node("image_pairs").table.set_index("generated")
    for key in flagged["generated"]:
        assert table.loc[key, "drawing"] == "books/b-review/drawings/zoom.jpg"
        assert table.loc[key, "signals"] == "override" and not table.loc[key, "needs_review"]
    assert check_results(second)["pairs_need_review"].passed


def test_shape_descriptors_are_mirror_exact_colour_blind_and_survive_the_cache(drawings_images):
    from book_assets.core.imaging import (
        decode_structure,
        encode_structure,
        mirrored_structure,
        structure_descriptors,
    )

    img = drawings_images[4]
    plain = structure_descriptors(img)
    np.testing.assert_allclose(mirrored_structure(plain)[0], structure_descriptors(ImageOps.mirror(img))[0],
                               atol=1e-9)
    back = decode_structure(encode_structure(plain))
    assert back.shape == plain.shape and float((back * plain).sum(axis=1).min()) > 0.999
    assert decode_structure("not base64!") is None and decode_structure("") is None
    recoloured = structure_descriptors(_recolour(img, 120))[0] @ plain[0]
    unrelated = max(structure_descriptors(other)[0] @ plain[0] for other in drawings_images[:4])
    assert recoloured > 0.95 > unrelated + 0.2



# --------------------------------------------------------------------------------------------
# The look memo: a rebuild scores only the pairs with a new image
# --------------------------------------------------------------------------------------------


def _memo_book(drawings_images) -> tuple[list[Candidate], list[Candidate]]:
    """Five drawings and three noisy, recoloured variations of each, every image with a content id."""
    drawings = [replace(c, content_id=f"copy-of-{c.key}")
                for c in _drawing_candidates(drawings_images, [f"d{i}.png" for i in range(5)])]
    generated = []
    for index, image in enumerate(drawings_images):
        for variant in range(3):
            key = f"{PREFIX}generated/{_random_name(random.Random(index * 10 + variant))}.png"
            look = _noisy(_recolour(image, 40 * variant), seed=index * 10 + variant)
            generated.append(Candidate(key, features_of(look), content_id=f"copy-of-{key}"))
    return drawings, generated


def _same_pairing(memoised: PairingResult, cold: PairingResult) -> None:
    """Every decision equal; the scores a cold pairing prints, to within float32 products summed in
    another order (the memo's blocks are smaller matrices than a cold pairing's)."""
    assert memoised.ordered_variations == cold.ordered_variations
    for a, b in zip(memoised.pairs, cold.pairs, strict=True):
        assert (a.generated, a.drawing, a.status, a.confidence, a.needs_review, a.runner_up, a.signals) == \
               (b.generated, b.drawing, b.status, b.confidence, b.needs_review, b.runner_up, b.signals)
        assert a.score == pytest.approx(b.score, abs=1e-5) and a.margin == pytest.approx(b.margin, abs=1e-5)


def _pairs_held(memo: LookMemo) -> int:
    """Every pair of every matrix this pairing used (a pair never scored is NaN)."""
    return sum(int(np.count_nonzero(~np.isnan(matrix.values))) for matrix in memo.kept.values())


def _one_row_and_column(memo: LookMemo, name: str) -> int:
    """The pairs of one row and one column of a kept matrix (0 when the pairing did not use it)."""
    matrix = memo.kept.get(name)
    return len(matrix.probes) + len(matrix.sources) if matrix else 0


def test_one_added_variation_is_scored_alone_and_the_pairing_equals_a_cold_one(drawings_images):
    drawings, generated = _memo_book(drawings_images)
    first = LookMemo()
    pair_images(drawings, generated[:-1], memo=first)
    assert first.reused == 0 and first.scored == _pairs_held(first)
    assert first.scored_by["drawings"] == 14 * 5 and first.scored_by["siblings"] == 14 * 14

    again = LookMemo(first.kept)
    memoised = pair_images(drawings, generated, memo=again)
    # its row against the drawings (5), its row against the variations (15) and its column (14); at
    # most its row and its column against the anchors
    assert again.scored_by["drawings"] == 5 and again.scored_by["siblings"] == 15 + 14
    assert again.scored_by.get("anchors", 0) <= _one_row_and_column(again, "anchors")
    assert again.reused == _pairs_held(again) - again.scored
    _same_pairing(memoised, pair_images(drawings, generated, memo=LookMemo()))


def test_a_replaced_variation_is_scored_again_and_a_removed_one_is_dropped(drawings_images):
    drawings, generated = _memo_book(drawings_images)
    first = LookMemo()
    pair_images(drawings, generated, memo=first)
    replaced = [*generated[:-2], replace(generated[-1], content_id="copy-of-new-bytes")]   # one gone, one new bytes
    again = LookMemo(first.kept)
    memoised = pair_images(drawings, replaced, memo=again)
    assert again.scored_by["drawings"] == 5 and again.scored_by["siblings"] == 14 + 13 and again.changed()
    assert again.scored_by.get("anchors", 0) <= _one_row_and_column(again, "anchors")
    assert "copy-of-new-bytes" in again.kept["drawings"].probes
    assert generated[-2].content_id not in again.kept["siblings"].probes
    _same_pairing(memoised, pair_images(drawings, replaced, memo=LookMemo()))

    unchanged = LookMemo(again.kept)
    pair_images(drawings, replaced, memo=unchanged)
    assert unchanged.scored == 0 and not unchanged.changed()


def test_a_memo_scores_only_the_wanted_pairs_and_later_only_those_it_lacks():
    """The anchor pass wants some pairs of its matrix only: those are scored, the rest stay NaN (never
    scored), and a later pairing that wants more scores only the pairs it lacks."""
    asked = []

    def score(needed: np.ndarray) -> np.ndarray:
        asked.append(needed.copy())
        return np.where(needed, 1.0 + np.arange(needed.size).reshape(needed.shape), np.nan)

    memo = LookMemo()
    wanted = np.array([[True, False], [False, True], [True, True]])
    values = memo.matrix("anchors", ["a", "b", "c"], ["x", "y"], score, wanted)
    assert memo.scored == 4 and memo.reused == 0 and np.array_equal(asked[0], wanted)
    assert np.array_equal(np.isnan(values), ~wanted) and values[2, 1] == 6.0

    later = LookMemo(memo.kept)
    values = later.matrix("anchors", ["a", "b", "c"], ["x", "y"], score, np.ones((3, 2), dtype=bool))
    assert later.scored == 2 and later.reused == 4 and np.array_equal(asked[1], ~wanted) and later.changed()
    assert values.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    again = LookMemo(later.kept)
    again.matrix("anchors", ["a", "b", "c"], ["x", "y"], score, wanted)
    assert again.scored == 0 and len(asked) == 2 and not again.changed()


def test_a_matrix_mostly_never_scored_is_stored_as_its_scored_pairs_alone():
    """The anchors' and the subjects' matrices hold a few rows of a book's variations: stored whole they
    were most of a memo's bytes. Stored as the scored pairs, they read back the same, NaN included."""
    import io
    import zipfile

    from book_assets.core.look_memo import LookMatrix

    ids = tuple(f"v{i}" for i in range(300))
    sparse = np.full((300, 300), np.nan)
    sparse[[3, 7, 7, 250], [1, 2, 299, 0]] = [0.5, -1.25, 3.0, 0.0]
    dense = np.arange(300 * 300, dtype=np.float64).reshape(300, 300) / 7.0
    dense[0, 0] = np.nan
    matrices = {"subjects": LookMatrix(ids, ids, sparse), "siblings": LookMatrix(ids, ids, dense)}
    data = dump_memo(matrices)
    sizes = {entry.filename: entry.file_size for entry in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    assert "subjects.rows.npy" in sizes and "subjects.values.npy" not in sizes and "siblings.values.npy" in sizes
    kept = sum(size for name, size in sizes.items() if name.startswith("subjects.") and "probes" not in name
               and "sources" not in name)
    assert kept < 1_000 < dense.nbytes <= sizes["siblings.values.npy"]     # four pairs, not 90,000
    back = load_memo(data)
    for name, matrix in matrices.items():
        assert back[name].probes == ids and np.array_equal(back[name].values, matrix.values, equal_nan=True)


def test_a_memo_is_stored_and_read_back_and_unreadable_bytes_mean_score_everything(drawings_images):
    drawings, generated = _memo_book(drawings_images)
    first = LookMemo()
    pair_images(drawings, generated, memo=first)
    stored = load_memo(dump_memo(first.kept))
    assert stored.keys() == first.kept.keys()
    for name, matrix in first.kept.items():
        assert stored[name].probes == matrix.probes
        assert np.array_equal(stored[name].values, matrix.values, equal_nan=True)
    assert load_memo(b"not a memo") == {} and load_memo(dump_memo(first.kept)[:100]) == {}
    images_without_ids = [replace(c, content_id="") for c in generated]
    blind = LookMemo(stored)
    pair_images(drawings, images_without_ids, memo=blind)
    assert blind.reused == 0 and blind.scored == _pairs_held(blind), "no id: never taken for a known image"
    assert blind.scored_by["drawings"] == 15 * 5 and blind.scored_by["siblings"] == 15 * 15
