"""The photo pairing corpus (``pairing_photos``): sources, drawings, renditions, distractors, the report.

Only the photographs that scikit-learn and matplotlib ship are used here (test dependencies), so
nothing needs opencv-doc.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from PIL import Image

from book_assets import cli
from book_assets_dev import pairing_eval as pe
from book_assets_dev import pairing_photos as pp

PACKAGE_PHOTOS = ("china", "flower", "grace_hopper")


@pytest.fixture(scope="module")
def sources() -> list[pp.PhotoSource]:
    found = [s for s in pp.photo_sources("all") if s.name in PACKAGE_PHOTOS]
    assert sorted(s.name for s in found) == sorted(PACKAGE_PHOTOS), "scikit-learn and matplotlib are test dependencies"
    return found


SIZE = pe.CorpusSize(books=1, drawings_per_book=2, variations_per_drawing=3)


@pytest.fixture(scope="module")
def corpus(sources) -> list[pp.PhotoBook]:
    return pp.build_photo_corpus(SIZE, seed=3, sources=sources)


def _digests(book: pp.PhotoBook) -> list[str]:
    return [hashlib.sha256(img.tobytes()).hexdigest() for img in book.drawings + [v.image for v in book.variations]]


def test_corpus_is_deterministic(corpus, sources):
    again = pp.build_photo_corpus(SIZE, seed=3, sources=sources)
    assert _digests(again[0]) == _digests(corpus[0])
    assert again[0].drawing_bytes() == corpus[0].drawing_bytes()
    other = pp.build_photo_corpus(SIZE, seed=4, sources=sources)
    assert _digests(other[0]) != _digests(corpus[0])


def _layout(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A 16 x 12 colour thumbnail, each channel's mean removed: where the colours are."""
    small = np.asarray(img.convert("RGB").resize(size).resize((16, 12), Image.Resampling.BOX), dtype=np.float64)
    return (small - small.reshape(-1, 3).mean(axis=0)).ravel()


def test_drawings_differ_from_their_photos_but_keep_the_layout(sources):
    photos = {s.name: pp.load_photo(s.path) for s in sources}
    for source in sources:
        photo = photos[source.name]
        own, others = [], []
        for style in pp.DRAWING_STYLES:
            for attempt in range(2):
                drawing = pp.child_drawing(source, random.Random(f"layout-{style}-{attempt}"), style=style)
                assert abs(drawing.width / drawing.height - photo.width / photo.height) < 0.02
                assert max(drawing.size) == pp.DRAWING_LONG_SIDE
                # Not the photograph: flat crayon colours, outlines and paper, far from its pixels.
                assert np.abs(np.asarray(drawing, dtype=np.float64)
                              - np.asarray(photo.resize(drawing.size), dtype=np.float64)).mean() > 20
                if style != "line art":   # (line art is mostly white paper: no colour layout to compare)
                    layout = _layout(drawing, drawing.size)
                    own.append(np.corrcoef(layout, _layout(photo, drawing.size))[0, 1])
                    others += [np.corrcoef(layout, _layout(p, drawing.size))[0, 1]
                               for name, p in photos.items() if name != source.name]
        # The same picture, though: colours where the photograph has them.
        assert np.mean(own) > 0.3 and np.mean(own) > np.mean(others) + 0.1, (source.name, own, others)


def test_every_rendition_kind_base_and_edit_is_produced(sources):
    kinds = pp.RENDITION_KINDS
    assert {k[0] for k in kinds} == set(pp.BASES)
    assert {(k[0],) for k in kinds if len(k) == 1} == {(b,) for b in pp.BASES}
    for edit in pp.EDITS:
        assert ("photo", edit) in kinds
        assert any(edit in k[1:] and k[0] != "photo" for k in kinds), edit
    assert sum(len(k) == 3 for k in kinds) >= 3
    photo = pp.load_photo(sources[0].path).resize((160, 120))
    for k in kinds:
        image = pp.make_rendition(photo, k, 2, random.Random("k"))
        assert image.mode == "RGB" and min(image.size) >= 500, k
    size = pe.CorpusSize(books=1, drawings_per_book=1, variations_per_drawing=len(kinds))
    book = pp.build_photo_book(0, size, 1, sources[:1])
    assert {v.kinds for v in book.variations if v.drawing is not None} == set(kinds)


def test_renditions_do_what_they_say(sources):
    photo = pp.load_photo(sources[1].path)
    rng = lambda: random.Random(7)  # noqa: E731 - the same draws for each call
    plain = pp.make_rendition(photo, ("photo",), 1, rng())
    mirrored = pp.make_rendition(photo, ("photo", "mirror"), 1, rng())
    assert plain.size == mirrored.size
    flipped = np.asarray(mirrored, dtype=np.float64)[:, ::-1]
    assert np.abs(flipped - np.asarray(plain, dtype=np.float64)).mean() < 3
    sepia = np.asarray(pp.make_rendition(photo, ("sepia",), 2, rng()), dtype=np.float64)
    assert (sepia[..., 0] >= sepia[..., 2] - 2).mean() > 0.95          # warm brown everywhere
    for strength in (1, 2, 3):
        square = pp.make_rendition(photo, ("painted",), strength, random.Random(strength))
        assert max(square.size) in (1024, *pp.OUTPUT_LONG_SIDES)


def test_distractors_have_no_drawing_and_truth_none(sources):
    size = pe.CorpusSize(books=1, drawings_per_book=2, variations_per_drawing=4)
    book = pp.build_photo_corpus(size, seed=1, sources=sources)[0]
    distractors = [v for v in book.variations if v.drawing is None]
    assert distractors, "two of three photographs drawn: the third gives distractors"
    assert {v.photo for v in distractors}.isdisjoint(book.photos)
    assert len(set(book.photos)) == len(book.photos) == 2
    for regime in pe.REGIMES:
        named = pe.name_book(book, regime, 1, book.drawing_bytes())
        nones = [k for k, t in named.truth.items() if t is None]
        assert len(nones) == len(distractors)
        assert all(t in named.drawings for t in named.truth.values() if t is not None)


def test_books_analysed_in_worker_processes_are_the_books_analysed_here(sources):
    """The fit and the evaluation build photo books in spawned processes: same keys, truth and features."""
    size = pe.CorpusSize(books=2, drawings_per_book=2, variations_per_drawing=2)

    def analysed(workers: int) -> list[tuple]:
        return [(named.book_id, named.truth, [(c.key, c.features.to_dict()) for c in named.drawings + named.generated])
                for book in pp.prepared_books(size, 2, "all", sources, workers, regimes=("none",))
                for named in book.regimes.values()]

    here, spawned = analysed(1), analysed(2)
    assert [book_id for book_id, *_ in here] == ["eval-none-00", "eval-none-01"]
    assert spawned == here


def test_source_split_is_disjoint_and_stable():
    table = pp._split_table()
    fit = {n for n, half in table.items() if half == "fit"}
    held = {n for n, half in table.items() if half == "eval"}
    assert fit and held and fit.isdisjoint(held) and fit | held == set(table)
    assert abs(len(fit) - len(held)) <= 1
    found_fit = {s.name for s in pp.photo_sources("fit")}
    found_eval = {s.name for s in pp.photo_sources("eval")}
    assert found_fit.isdisjoint(found_eval)
    assert found_fit | found_eval == {s.name for s in pp.photo_sources("all")}
    assert found_fit <= fit and found_eval <= held
    for name in PACKAGE_PHOTOS:   # each package photo is on one side, whatever else is installed
        assert pp.split_of(name) in ("fit", "eval")


def test_too_few_sources_is_a_clear_error():
    with pytest.raises(pp.PhotoSourcesMissing, match="apt-get install -y opencv-doc"):
        pp.photo_sources("all", minimum=10_000)


def test_eval_pairing_quick_photos_prints_the_per_kind_table(capsys, tmp_path):
    out = tmp_path / "photos.json"
    assert cli.main(["eval-pairing", "--quick", "--corpus", "photos", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in ("accuracy per kind", "accuracy per base", "accuracy per edit", "accuracy per strength",
                    "accuracy per naming regime", "distractors", "confidence calibration", "review flag",
                    "timings", "targets"):
        assert f"== Photo corpus: {heading}" in printed
    assert "Pairing evaluation:" not in printed        # the generated corpus was not asked for
    assert "regime helpful 100.0 %" in printed
    import json

    saved = json.loads(out.read_text())["photos"]
    assert saved["split"] == "eval" and saved["outcomes"]
    assert {o["regime"] for o in saved["outcomes"]} == set(pe.REGIMES)
    # the calibration table's bands hold every random-name pair but the distractors, once each
    table = printed.split("== Photo corpus: confidence calibration")[1].split("\n\n")[0].splitlines()[2:]
    rated = [o for o in saved["outcomes"] if o["regime"] == "none" and o["drawing_kind"] != pe.DISTRACTOR]
    assert table and sum(int(line.split()[1]) for line in table) == len(rated)


def _features(image: Image.Image, fmt: str = "PNG"):
    from book_assets.core.imaging import analyse_image

    return analyse_image(pe.encode(image, fmt), want_print_copy=False).features


@pytest.mark.parametrize("kinds", [("photo", "reframe"), ("sepia", "reframe")])
def test_reframed_renditions_land_on_their_drawing(sources, kinds):
    """Posterized child drawings of three real photographs, and renditions of each photograph at three
    strengths reframed to 60-85 % of the frame: by looks alone (random names) every rendition's best
    drawing is its own. (Painted or cartoon reframes and subjects cut out onto a new background do not
    all land yet on this three-photograph book: see eval-pairing's per-kind figures.)"""
    from book_assets.core.pairing import Candidate, pair_images
    from book_assets_dev.pairing_fit import anonymous_key

    drawings = [Candidate(anonymous_key("drawings", i),
                          _features(pp.child_drawing(source, random.Random(f"fixture-{source.name}"),
                                                     style="posterized"), "JPEG"))
                for i, source in enumerate(sources)]
    generated, truth = [], {}
    for i, source in enumerate(sources):
        for strength in (1, 2, 3):
            image = pp.make_rendition(source, kinds, strength, random.Random(f"{kinds}-{source.name}-{strength}"))
            key = anonymous_key("generated", len(generated))
            generated.append(Candidate(key, _features(image)))
            truth[key] = drawings[i].key
    pairs = pair_images(drawings, generated).pairs
    assert {p.generated: p.drawing for p in pairs} == truth


# Each photograph's renditions: plain ones the first pass places surely, and the kinds it is unsure of.
_SURE_KINDS = (("photo",), ("painted",), ("sepia",))
_UNSURE_KINDS = (("photo", "background"), ("cartoon", "background"), ("hue", "background", "reframe"),
                 ("painted", "reframe"), ("hue", "reframe"))


def _sibling_book(sources):
    """Posterized drawings of the three photographs, and renditions of each: the sure kinds at one
    strength, the unsure kinds (a subject set on a new background, reframes) at two."""
    from book_assets.core.pairing import Candidate
    from book_assets_dev.pairing_fit import anonymous_key

    drawings = [Candidate(anonymous_key("drawings", i),
                          _features(pp.child_drawing(source, random.Random(f"fixture-{source.name}"),
                                                     style="posterized"), "JPEG"))
                for i, source in enumerate(sources)]
    generated, truth, unsure = [], {}, set()
    for i, source in enumerate(sources):
        for kinds, strength in [(k, 2) for k in _SURE_KINDS] + [(k, s) for k in _UNSURE_KINDS for s in (1, 3)]:
            image = pp.make_rendition(source, kinds, strength, random.Random(f"{kinds}-{source.name}-{strength}"))
            key = anonymous_key("generated", len(generated))
            generated.append(Candidate(key, _features(image)))
            truth[key] = drawings[i].key
            if kinds in _UNSURE_KINDS:
                unsure.add(key)
    return drawings, generated, truth, unsure


@pytest.fixture(scope="module")
def sibling_book(sources):
    return _sibling_book(sources)


def test_the_anchor_pass_places_unsure_renditions_by_their_surest_siblings(sources, sibling_book):
    """Reframes and subjects set on a new background of three real photographs, by looks alone (random
    names). With the anchor pass and without it (``anchor_weight`` 0), every reframe on its own
    background lands on its own drawing and no wrong pair is printed unflagged; with it, more of the
    unsure renditions are printed on the right page and fewer pairs wait for a reviewer. (Some
    background renditions of grace_hopper still look like none of the three drawings and are held:
    see eval-pairing's per-kind figures.)"""
    from dataclasses import replace

    from book_assets.core.look_model import FITTED_MODEL
    from book_assets.core.pairing import pair_images

    drawings, generated, truth, unsure = sibling_book
    reframes = {c.key for c, kinds in zip(generated, _kinds_of(sources))
                if "reframe" in kinds and "background" not in kinds}

    def outcome(model) -> tuple[int, int]:
        pairs = pair_images(drawings, generated, model=model).pairs
        assert all(p.drawing == truth[p.generated] for p in pairs if p.generated in reframes)
        assert not [p for p in pairs if p.placed and not p.needs_review and p.drawing != truth[p.generated]]
        right = sum(p.placed and p.drawing == truth[p.generated] for p in pairs if p.generated in unsure)
        return right, sum(p.needs_review for p in pairs)

    right, flagged = outcome(FITTED_MODEL)
    right_without, flagged_without = outcome(replace(FITTED_MODEL, anchor_weight=0.0))
    assert right > right_without and flagged < flagged_without


def test_renditions_on_a_new_background_are_seen_by_their_subject(sources, sibling_book):
    """The anchor pass zooms a rendition in on its subject when it stands on a new, smooth backdrop
    (``core.subject``): most background renditions of the three photographs are zoomed, the ones
    reframed after the new background too (the subject then runs off the border, which a fit to the
    whole border ring missed: 3 of 6), plain ones and reframes never."""
    from book_assets.core.subject import subject_frame

    _, generated, _, _ = sibling_book
    zoomed, reframed_zoomed = {True: 0, False: 0}, 0
    for candidate, kinds in zip(generated, _kinds_of(sources)):
        if subject_frame(candidate.features.layout) is not None:
            zoomed["background" in kinds] += 1
            reframed_zoomed += "background" in kinds and "reframe" in kinds
    background = sum("background" in kinds for kinds in _kinds_of(sources))
    reframed = sum("background" in kinds and "reframe" in kinds for kinds in _kinds_of(sources))
    assert zoomed[True] >= 0.75 * background and zoomed[False] == 0
    assert reframed_zoomed > 2 / 3 * reframed - 1e-9


def test_renditions_of_a_drawing_not_in_the_book_are_held_not_printed_on_other_drawings(sources, sibling_book):
    """Each of the three drawings taken out in turn (not uploaded, or rejected), its 13 renditions left in
    the book: they are alike one another, and each leans, unsure, to a drawing that holds its own
    renditions surely. Held as from no drawing here (``look_alike_groups.hold_groups_with_no_drawing``),
    at most two are printed (without the hold, 6-7 of 13 were), none unflagged; no rendition of the two
    drawings left is held so."""
    from book_assets.core.look_alike_groups import GroupMove
    from book_assets.core.pairing import PairStatus, pair_images

    drawings, generated, truth, _ = sibling_book
    for gone in drawings:
        pairs = pair_images([d for d in drawings if d is not gone], generated).pairs
        orphans = [p for p in pairs if truth[p.generated] == gone.key]
        held = [p for p in orphans if GroupMove.NO_DRAWING in p.signals]
        assert sum(p.placed for p in orphans) <= 2 and not [p for p in orphans if p.placed and not p.needs_review]
        assert len(held) >= 7 and all(p.status is PairStatus.HELD and "missing from the book" in p.reason
                                      for p in held)
        assert not [p for p in pairs if truth[p.generated] != gone.key and GroupMove.NO_DRAWING in p.signals]


def test_a_few_strays_on_a_drawing_with_no_renditions_are_held_not_printed_surely(sources, sibling_book):
    """Two drawings, one with its 13 renditions and one whose renditions are not uploaded yet, and a few
    renditions of the third photograph, whose drawing is not in the book: the strays lean a little to the
    empty drawing, and in the anchor pass they speak for it to each other. Over the six orders of the three
    photographs, with the three sure kinds or five mixed ones as strays (12 books), at most 5 strays are
    printed unflagged (21 without the each-other hold: ``look_alike_groups.hold_drawings_vouched_for_by_each_other``)
    and no rendition of the drawing that has them is held so."""
    import itertools

    from book_assets.core.look_alike_groups import GroupMove
    from book_assets.core.pairing import PairStatus, pair_images

    drawings, generated, truth, _ = sibling_book
    renditions = {d.key: [c for c in generated if truth[c.key] == d.key] for d in drawings}
    printed_surely, held = 0, []
    for stray, own, empty in itertools.permutations(drawings, 3):
        for picks in ((0, 1, 2), (0, 3, 5, 7, 9)):
            book = renditions[own.key] + [renditions[stray.key][i] for i in picks]
            pairs = pair_images([own, empty], book).pairs
            printed_surely += sum(p.placed and not p.needs_review for p in pairs if truth[p.generated] == stray.key)
            held_here = [p for p in pairs if GroupMove.EACH_OTHER in p.signals]
            assert not [p for p in held_here if truth[p.generated] == own.key]
            held += held_here
    assert printed_surely <= 5
    assert held and all(p.status is PairStatus.HELD and p.confidence <= 0.5 and "only because they look like each other"
                        in p.reason for p in held)


def _right_on_a_new_background(sources, sibling_book) -> int:
    """How many of ``sibling_book``'s renditions set on a new background land on their own drawing
    (none printed wrong unflagged)."""
    from book_assets.core import pairing

    drawings, generated, truth, _ = sibling_book
    on_new_background = {c.key for c, kinds in zip(generated, _kinds_of(sources)) if "background" in kinds}
    pairs = pairing.pair_images(drawings, generated).pairs
    assert not [p for p in pairs if p.placed and not p.needs_review and p.drawing != truth[p.generated]]
    return sum(p.placed and p.drawing == truth[p.generated] for p in pairs if p.generated in on_new_background)


def test_the_anchor_pass_sees_renditions_on_a_new_background_by_their_subject(sources, sibling_book, monkeypatch):
    """Zoomed in on their subjects, more of the renditions set on a new background land on their own
    drawing than seen whole. The sibling pass's links by subject (next test) place the same ones in
    this small book, so each is measured with the other switched off."""
    from book_assets.core import pairing

    monkeypatch.setattr(pairing, "_subject_matches", lambda *args: None)
    zoomed = _right_on_a_new_background(sources, sibling_book)
    monkeypatch.setattr(pairing, "zoomed_to_subjects", lambda looks, backdrops: looks)
    assert zoomed > _right_on_a_new_background(sources, sibling_book)


def test_renditions_on_a_new_background_hear_the_variations_their_subject_matches(sources, sibling_book, monkeypatch):
    """The sibling pass links a rendition standing on a new backdrop to the variations its subject
    matches (``core.subject_match``), not to the other renditions on such backdrops that its whole frame
    resembles: more of them land on their own drawing (the anchor pass's zoom switched off, as above)."""
    from book_assets.core import pairing

    monkeypatch.setattr(pairing, "zoomed_to_subjects", lambda looks, backdrops: looks)
    linked = _right_on_a_new_background(sources, sibling_book)
    monkeypatch.setattr(pairing, "_subject_matches", lambda *args: None)
    assert linked > _right_on_a_new_background(sources, sibling_book)


def _kinds_of(sources) -> list[tuple[str, ...]]:
    """The rendition kinds of ``_sibling_book``'s variations, in its order."""
    return [kinds for _ in sources for kinds in [*_SURE_KINDS, *(k for k in _UNSURE_KINDS for _ in (1, 3))]]


def test_pairing_is_deterministic_whatever_the_input_order(sources):
    """The same book in another order gives the same pairs, confidences and reasons."""
    from book_assets.core.pairing import Candidate, pair_images
    from book_assets_dev.pairing_fit import anonymous_key

    book = pp.build_photo_corpus(SIZE, seed=5, sources=sources)[0]
    drawings = [Candidate(anonymous_key("drawings", i), _features(d)) for i, d in enumerate(book.drawings)]
    generated = [Candidate(anonymous_key("generated", i), _features(v.image)) for i, v in enumerate(book.variations)]
    first = pair_images(drawings, generated)
    shuffled = list(reversed(generated))
    second = pair_images(list(reversed(drawings)), shuffled)
    by_key = {p.generated: p for p in second.pairs}
    assert [(p.drawing, p.confidence, p.reason, p.status) for p in first.pairs] == [
        (by_key[p.generated].drawing, by_key[p.generated].confidence, by_key[p.generated].reason,
         by_key[p.generated].status) for p in first.pairs]
