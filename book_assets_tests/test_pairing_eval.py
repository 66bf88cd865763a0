"""The generated pairing corpus and the ``eval-pairing`` command."""
from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest
from PIL import ImageOps

from book_assets import cli
from book_assets.core.imaging import analyse_image
from book_assets.core.pairing import Candidate, pair_images
from book_assets_dev import pairing_eval as pe

TINY = pe.CorpusSize(books=1, drawings_per_book=3, variations_per_drawing=2)


@pytest.fixture(scope="module")
def tiny_corpus() -> list[pe.CorpusBook]:
    return pe.build_corpus(TINY, seed=5)


def test_corpus_is_deterministic(tiny_corpus):
    again = pe.build_corpus(TINY, seed=5)
    digest = [hashlib.sha256(v.image.tobytes()).hexdigest() for v in tiny_corpus[0].variations]
    assert digest == [hashlib.sha256(v.image.tobytes()).hexdigest() for v in again[0].variations]
    other = pe.build_corpus(TINY, seed=6)
    assert digest != [hashlib.sha256(v.image.tobytes()).hexdigest() for v in other[0].variations]


def test_every_drawing_kind_and_transformation_is_produced():
    size = pe.CorpusSize(books=1, drawings_per_book=4, variations_per_drawing=len(pe.VARIATION_KINDS))
    book = pe.build_corpus(size, seed=3)[0]
    assert set(book.drawing_kinds) == set(pe.DRAWING_KINDS)
    assert {v.kinds for v in book.variations} == set(pe.VARIATION_KINDS)
    assert {v.strength for v in book.variations} == {1, 2, 3}


def test_transformations_do_what_they_say():
    drawing = pe.draw_drawing("flat colour", "t").resize((256, 256))
    rng = lambda: random.Random(1)  # noqa: E731 - a fresh, identical generator per call
    assert pe.mirror(drawing, rng(), 1).tobytes() == ImageOps.mirror(drawing).tobytes()
    for name, function in pe.TRANSFORM_FUNCTIONS.items():
        for strength in (1, 2, 3):
            changed = np.asarray(function(drawing, rng(), strength), dtype=np.int16)
            assert changed.shape == np.asarray(drawing).shape, name
            assert np.abs(changed - np.asarray(drawing, dtype=np.int16)).mean() > 2, (name, strength)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_provenance_written_like_image_tools_is_read_back_by_analyse_image(tiny_corpus, fmt):
    """PNG text chunks (tEXt and iTXt XMP), EXIF ImageDescription / UserComment and XMP, all
    written by Pillow, come back through imaging.analyse_image and name the source."""
    image = tiny_corpus[0].variations[0].image
    seen_styles = set()
    for attempt in range(12):
        metadata = pe._provenance_metadata(fmt, "rory.jpg", 3, random.Random(attempt))
        data = pe.encode(image, fmt, metadata)
        features = analyse_image(data, want_print_copy=False).features
        assert "rory.jpg" in features.provenance, (fmt, metadata.keys())
        seen_styles.add(json.dumps(sorted(metadata.get("png_text", metadata).keys())))
    assert len(seen_styles) >= (3 if fmt == "PNG" else 2)


def test_provenance_alone_pairs_a_variation_that_looks_like_another_drawing(tiny_corpus):
    book = tiny_corpus[0]
    drawings = [Candidate(f"books/e/drawings/{name}", analyse_image(pe.encode(img, "PNG"),
                                                                      want_print_copy=False).features)
                for name, img in zip(["max.png", "luna.png", "pip.png"], book.drawings)]
    # A variation of drawing 0 whose PNG chunk names luna.png: provenance outranks looks ...
    data = pe.encode(book.variations[0].image, "PNG", {"png_text": {"parameters": "Init image: luna.png"}})
    variation = Candidate("books/e/generated/user_a-x_1.png", analyse_image(data, want_print_copy=False).features)
    pair = pair_images(drawings, [variation]).pairs[0]
    assert pair.drawing == "books/e/drawings/luna.png"
    assert pair.signals[0] == "provenance"


def test_naming_regimes(tiny_corpus):
    book = tiny_corpus[0]
    drawing_bytes = [pe.encode(d, "PNG") for d in book.drawings]
    helpful = pe.name_book(book, "helpful", 5, drawing_bytes)
    for generated, drawing in helpful.truth.items():
        stem = drawing.rsplit("/", 1)[1].rsplit(".", 1)[0]
        assert generated.rsplit("/", 1)[1].startswith(stem)
    provenance = pe.name_book(book, "provenance", 5, drawing_bytes)
    for generated, drawing in provenance.truth.items():
        assert drawing.rsplit("/", 1)[1].rsplit(".", 1)[0] not in generated.rsplit("/", 1)[1]
    none = pe.name_book(book, "none", 5, drawing_bytes)
    assert set(none.drawings).isdisjoint(helpful.drawings)
    for data in none.generated.values():
        assert analyse_image(data, want_print_copy=False).features.provenance == ""


def test_eval_pairing_command_prints_every_section(capsys, tmp_path):
    out = tmp_path / "eval.json"
    assert cli.main(["eval-pairing", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in ("Accuracy per transformation", "Accuracy per naming regime", "Overall",
                    "Confidence calibration", "Review flag", "Timings", "Targets"):
        assert f"== {heading}" in printed
    assert "regime helpful 100.0 %" in printed
    assert "regime provenance 100.0 %" in printed
    saved = json.loads(out.read_text())
    size = pe.QUICK
    expected = size.books * size.drawings_per_book * size.variations_per_drawing * len(pe.REGIMES)
    assert len(saved["outcomes"]) == expected
    assert {o["regime"] for o in saved["outcomes"]} == set(pe.REGIMES)
    assert saved["big_book"]["variations"] == expected // len(pe.REGIMES)


def test_an_unsure_variation_hears_the_anchors_of_its_likeliest_drawings_only():
    """In a book of more drawings than ANCHOR_CANDIDATES, the anchor pass compares each variation it is
    unsure of with the anchors of its ANCHOR_CANDIDATES likeliest drawings, not with every drawing's:
    each row of its look matrix has at most that many drawings' anchors scored, the rest never scored."""
    from book_assets.core.look_memo import LookMemo
    from book_assets.core.pairing import ANCHOR_CANDIDATES, ANCHORS_PER_DRAWING
    from book_assets_dev.pairing_fit import anonymous_key

    size = pe.CorpusSize(books=1, drawings_per_book=ANCHOR_CANDIDATES + 4, variations_per_drawing=3)
    book = pe.build_corpus(size, seed=4)[0]

    def candidate(role: str, index: int, image) -> Candidate:
        features = analyse_image(pe.encode(image, "PNG"), want_print_copy=False).features
        return Candidate(anonymous_key(role, index), features, content_id=f"{role}-{index}")

    drawings = [candidate("drawings", i, image) for i, image in enumerate(book.drawings)]
    variations = [candidate("generated", i, v.image) for i, v in enumerate(book.variations)]
    memo = LookMemo()
    pair_images(drawings, variations, memo=memo)
    anchors = memo.kept["anchors"]
    scored = ~np.isnan(anchors.values)
    assert len(anchors.probes) > 0 and len(anchors.sources) > ANCHOR_CANDIDATES * ANCHORS_PER_DRAWING
    assert scored.any(axis=1).all() and scored.sum(axis=1).max() <= ANCHOR_CANDIDATES * ANCHORS_PER_DRAWING
    assert memo.scored_by["anchors"] == scored.sum() < anchors.values.size
