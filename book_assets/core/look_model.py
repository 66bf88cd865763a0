"""The fitted look model: how much each similarity channel counts, and how likely "none of these" is.

The numbers are not written by hand: ``book-assets eval-pairing --fit`` fits them by maximum
likelihood on labelled corpora (fit seeds and fit photographs only) and writes ``look_model.json``
beside this file, with what it was fitted on. A test refits and compares.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .looks import FALLBACK_CHANNELS, LOOK_CHANNELS

MODEL_PATH = Path(__file__).with_name("look_model.json")
MODEL_FORMAT = 1
# The model's single numbers (beside the channel weights), as its fields are named.
SCALARS = ("null_logit", "fallback_null_logit", "sibling_weight", "sibling_sharpness", "anchor_weight",
           "anchor_sharpness", "anchor_null_offset", "calibration", "drawing_centring")


@dataclass(frozen=True)
class LookModel:
    """log-odds(variation made from source) = sum of weight x channel similarity (each 0..1), against
    ``null_logit`` for "made from none of these drawings"; the fallback pair serves images described
    before the shape and layout features existed. ``sibling_weight`` is how much the evidence of a
    variation's look-alike variations counts, ``sibling_sharpness`` how strongly the most alike of them
    leads (``pairing._add_sibling_evidence``); ``calibration`` scales the pooled look log-odds so that
    a reported confidence of 0.9 is right about nine times in ten; ``anchor_weight`` and
    ``anchor_sharpness`` are how much, and how sharply, a still unsure variation's comparison with
    its likeliest drawings' surest variations counts, and ``anchor_null_offset`` how much more alike than the
    "none" log-odds an anchor must look to speak for its drawing (``pairing._add_anchor_evidence``);
    ``drawing_centring`` how much of each drawing's own baseline (how alike it looks to variations made
    from other drawings) comes off its look log-odds (``pairing._centred_on_drawings``)."""

    weights: Mapping[str, float]
    null_logit: float
    fallback_weights: Mapping[str, float]
    fallback_null_logit: float
    sibling_weight: float
    sibling_sharpness: float = 0.1
    calibration: float = 1.0
    anchor_weight: float = 0.0
    anchor_sharpness: float = 0.3
    anchor_null_offset: float = 0.0
    drawing_centring: float = 0.0
    fitted_on: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def weight_vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in LOOK_CHANNELS])

    def fallback_weight_vector(self) -> np.ndarray:
        return np.array([self.fallback_weights.get(name, 0.0) for name in FALLBACK_CHANNELS])

    def to_json(self) -> str:
        data = {"format": MODEL_FORMAT, **asdict(self)}
        data["weights"] = {name: round(float(self.weights.get(name, 0.0)), 4) for name in LOOK_CHANNELS}
        data["fallback_weights"] = {name: round(float(self.fallback_weights.get(name, 0.0)), 4)
                                    for name in FALLBACK_CHANNELS}
        for key in SCALARS:
            data[key] = round(float(data[key]), 4)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "LookModel":
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"look model format {data.get('format')!r} is not {MODEL_FORMAT}; refit it")
        unknown = set(data["weights"]) - set(LOOK_CHANNELS)
        if unknown:
            raise ValueError(f"look model names channels this code does not compute: {sorted(unknown)}")
        data.pop("format")
        return cls(**data)


def load_model(path: Path = MODEL_PATH) -> LookModel:
    return LookModel.from_json(path.read_text(encoding="utf-8"))


FITTED_MODEL = load_model()
