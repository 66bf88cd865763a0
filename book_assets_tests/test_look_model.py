"""The look model's numbers come from the fitting code: refit and compare, and the fit itself works."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from book_assets.core.look_memo import LookMemo
from book_assets.core.look_model import FITTED_MODEL, MODEL_PATH, LookModel, load_model
from book_assets.core.looks import LOOK_CHANNELS
from book_assets.core.pairing import pair_images
from book_assets_dev import pairing_eval as pe
from book_assets_dev import pairing_fit


def test_fit_logit_recovers_the_weights_that_made_the_choices():
    """Choices drawn from a known conditional logit (with a "none" option) give back its weights."""
    rng = np.random.default_rng(7)
    true_weights, true_null = np.array([4.0, -2.0, 1.0]), 1.5
    designs = []
    for _ in range(60):
        channels = rng.uniform(0, 1, (40, 6, 3))
        logits = np.concatenate([channels @ true_weights, np.full((40, 1), true_null)], axis=1)
        probability = np.exp(logits - logits.max(axis=1, keepdims=True))
        probability /= probability.sum(axis=1, keepdims=True)
        truth = np.array([rng.choice(7, p=row) for row in probability])
        designs.append((channels, truth))
    weights, null, nll = pairing_fit.fit_logit(designs, penalty=0.0)
    np.testing.assert_allclose(weights, true_weights, atol=0.35)
    assert abs(null - true_null) < 0.35
    assert 0.0 < nll < np.log(7)


def test_model_json_round_trips_and_refuses_what_it_cannot_read():
    text = FITTED_MODEL.to_json()
    again = LookModel.from_json(text)
    assert not pairing_fit.models_agree(again, FITTED_MODEL, relative=1e-3, absolute=1e-3)
    data = json.loads(text)
    with pytest.raises(ValueError, match="format"):
        LookModel.from_json(json.dumps({**data, "format": 99}))
    with pytest.raises(ValueError, match="channels"):
        LookModel.from_json(json.dumps({**data, "weights": {**data["weights"], "telepathy": 1.0}}))
    assert load_model(MODEL_PATH) == FITTED_MODEL


def test_models_agree_names_every_number_that_moved():
    moved = replace(FITTED_MODEL, null_logit=FITTED_MODEL.null_logit + 3.0,
                    weights={**FITTED_MODEL.weights, LOOK_CHANNELS[0]: FITTED_MODEL.weights[LOOK_CHANNELS[0]] + 5.0})
    problems = pairing_fit.models_agree(moved, FITTED_MODEL, relative=0.02, absolute=0.05)
    assert len(problems) == 2
    assert any(p.startswith("null_logit") for p in problems)
    assert any(p.startswith(f"weights.{LOOK_CHANNELS[0]}") for p in problems)


def test_a_pairing_that_reads_every_look_scored_at_once_is_the_cold_pairing():
    """The fit scores each book's looks once, densely (``book_looks``), and its grid of pairings only
    reads them: each pairing must be the one a book with no memo gets, pair for pair."""
    book = pe.build_corpus(pe.CorpusSize(books=1, drawings_per_book=4, variations_per_drawing=4), seed=5)[0]
    drawing_bytes = [pe.encode(d, "PNG") for d in book.drawings]
    labelled = pairing_fit.labelled_files(pe.name_book(book, "none", 5, drawing_bytes), pe.FeatureCache())
    drawings, variations = pairing_fit.book_candidates(labelled)
    memo = LookMemo(dict(pairing_fit.book_looks(labelled, FITTED_MODEL)))
    warm, cold = pair_images(drawings, variations, memo=memo), pair_images(drawings, variations)
    assert memo.scored == 0 and memo.reused > 0
    assert [(p.drawing, p.confidence, p.needs_review) for p in warm.pairs] == \
        [(p.drawing, p.confidence, p.needs_review) for p in cold.pairs]


@pytest.mark.integration
def test_the_committed_look_model_is_what_the_fit_produces():
    """Recompute the committed constants from the fit corpora (generated seed 2 and the fit half of
    the photographs; about five minutes, drawing and analysing them): nobody edits them by hand, and a
    stale model fails here."""
    books, fitted_on = pairing_fit.fit_books()
    model = pairing_fit.fit_model(books, fitted_on)
    assert model.fitted_on["rows"] == FITTED_MODEL.fitted_on["rows"]
    problems = pairing_fit.models_agree(model, FITTED_MODEL, relative=pairing_fit.MODEL_RELATIVE_TOLERANCE,
                                        absolute=pairing_fit.MODEL_ABSOLUTE_TOLERANCE)
    assert not problems, "refit with `book-assets eval-pairing --fit --write`:\n" + "\n".join(problems)


def test_the_fit_keeps_the_plainer_of_pass_settings_the_corpus_cannot_tell_apart():
    """One standard error rule: a stronger anchor pass whose loss is lower only by noise loses to the
    weaker one (at that one's best calibration); lower by a clear margin, it wins."""
    rng = np.random.default_rng(3)
    rows = 800
    noise = rng.exponential(0.1, rows)
    plain = pairing_fit.Passes(1.0, 0.3, 2.0, 0.3, 0.0, 1.0)
    strong = plain._replace(anchor_weight=3.0)

    def losses(strong_gain: float) -> dict:
        return {(plain, 0.15): noise + rng.normal(0.0, 0.05, rows),
                (plain, 0.1): noise + 0.02,
                (strong, 0.1): noise - strong_gain + rng.normal(0.0, 0.05, rows)}

    assert pairing_fit._parsimonious_choice(losses(0.0005)) == (plain, 0.15)
    assert pairing_fit._parsimonious_choice(losses(0.05)) == (strong, 0.1)
