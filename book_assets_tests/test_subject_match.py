"""How well a subject set on a new backdrop matches other pictures (``core.subject_match``), on renditions
of real photographs (scikit-learn's and matplotlib's sample images) made as the photo corpus makes them."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest

from book_assets.core.imaging import analyse_image
from book_assets.core.looks import PreparedLooks
from book_assets.core.subject import plain_backdrops
from book_assets.core.subject_match import subject_likeness
from book_assets_dev import pairing_photos as pp

PHOTOS = ("china", "flower", "grace_hopper")


def _features(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return analyse_image(buffer.getvalue(), want_print_copy=False).features


@pytest.fixture(scope="module")
def renditions():
    """For each photograph: a subject set on a new background, hue-shifted and reframed (the probe), and
    a photo-like and a painted rendition of it (what its subject should match)."""
    sources = {s.name: s for s in pp.photo_sources("all") if s.name in PHOTOS}
    assert sorted(sources) == sorted(PHOTOS), "scikit-learn and matplotlib are test dependencies"
    made = {}
    for name in PHOTOS:
        made[name] = [_features(pp.make_rendition(sources[name], kinds, 2, random.Random(f"{name}-{kinds}")))
                      for kinds in (("hue", "background", "reframe"), ("photo",), ("painted",))]
    return made


def test_a_subject_on_a_new_backdrop_matches_its_own_pictures_renditions_best(renditions):
    probes = [made[0] for made in renditions.values()]
    sources = [f for made in renditions.values() for f in made[1:]]
    probe_looks, source_looks = PreparedLooks(probes), PreparedLooks(sources)
    backdrops = plain_backdrops(probe_looks.layouts, range(len(probes)))
    assert backdrops, "the renditions on a new background stand on a backdrop"
    likeness = subject_likeness(probe_looks, backdrops, source_looks, np.ones((len(probes), len(sources)), bool))
    for row in range(len(probes)):
        if row not in backdrops:
            assert np.isnan(likeness[row]).all()
            continue
        own = likeness[row, 2 * row:2 * row + 2]
        others = np.delete(likeness[row], [2 * row, 2 * row + 1])
        assert own.max() > others.max(), f"{PHOTOS[row]}: {likeness[row]}"


def test_only_the_wanted_pairs_of_probes_with_a_backdrop_are_scored(renditions):
    probes = [made[0] for made in renditions.values()]
    looks = PreparedLooks(probes)
    backdrops = plain_backdrops(looks.layouts, range(len(probes)))
    row = min(backdrops)
    wanted = np.zeros((len(probes), len(probes)), bool)
    wanted[row, (row + 1) % len(probes)] = True
    likeness = subject_likeness(looks, backdrops, looks, wanted)
    assert np.isfinite(likeness[wanted]).all() and np.isnan(likeness[~wanted]).all()
    assert -2.0 <= likeness[wanted][0] <= 2.0
    assert np.isnan(subject_likeness(looks, {}, looks, np.ones_like(wanted))).all()
