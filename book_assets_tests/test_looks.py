"""The look channels: windows find reframed, tilted and mirrored renditions; features round-trip."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from book_assets.core.imaging import (
    STRUCTURE_LENGTH,
    STRUCTURE_WINDOWS,
    analyse_image,
    decode_layout,
    decode_structure,
    encode_layout,
    encode_structure,
    inscribed_scale,
    layout_thumbnail,
    structure_descriptors,
)
from book_assets.core.looks import (
    ASPECT_BUCKET,
    CENTRE_RADIUS,
    EDGE_GRID,
    LAYOUT_CHANNELS,
    LAYOUT_GRID,
    LOOK_CHANNELS,
    WHOLE_FRAME,
    PreparedLooks,
    Window,
    _correlation_rows,
    _detail_weights,
    _layout_vectors,
    sample_many,
    sampled_points,
    _window_rows,
    layout_windows,
    look_channels,
    pair_blocks,
    upright_windows,
)


def _scene(seed: int, size=(480, 360)) -> Image.Image:
    """A photo-like picture: smooth colour fields, a few soft objects, texture; different per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 220, (6, 8, 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        r = rng.uniform(20, 90)
        pen.ellipse([x - r, y - r * 0.7, x + r, y + r * 0.7], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img = img.filter(ImageFilter.GaussianBlur(2))
    pixels = np.asarray(img, dtype=np.float64) + rng.normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _features(img: Image.Image):
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return analyse_image(buffer.getvalue(), want_print_copy=False).features


def _tilted(img: Image.Image, degrees: float) -> Image.Image:
    """Turned counter-clockwise and cropped to the largest upright rectangle inside, as tools do."""
    width, height = img.size
    turned = img.rotate(degrees, resample=Image.Resampling.BICUBIC)
    k = inscribed_scale(width, height, degrees)
    return turned.crop((width * (1 - k) / 2, height * (1 - k) / 2, width * (1 + k) / 2, height * (1 + k) / 2))


def _sample(thumbnail: np.ndarray, windows, aspect: float, grid: int = LAYOUT_GRID) -> np.ndarray:
    """W x G x G (x channels): one thumbnail seen through each window, as pairing samples it."""
    values = sampled_points(thumbnail[None], windows, aspect, grid)[:, 0]
    return values.reshape((len(windows), grid, grid) + thumbnail.shape[2:])


def _as_planes(samples: np.ndarray) -> np.ndarray:
    """N x G x G x 3 samples -> 3 x N x G*G planes, as ``sample_many`` gives them."""
    return np.ascontiguousarray(np.moveaxis(samples.reshape(samples.shape[0], -1, 3), -1, 0))


def _best_layout_window(probe_img: Image.Image, source_img: Image.Image) -> tuple[Window, float]:
    probe, source = PreparedLooks([_features(probe_img)]), PreparedLooks([_features(source_img)])
    windows = layout_windows(source.aspect[0], probe.aspect[0])
    light_probe, *_ = _layout_vectors(sample_many(probe, np.array([0]), lambda aspect: [Window(0.5, 0.5, 1.0, 1.0)]))
    light_source, *_ = _layout_vectors(sample_many(source, np.array([0]), lambda aspect: windows))
    scores = (light_probe @ light_source.T)[0]
    return windows[int(np.argmax(scores))], float(scores.max())


@pytest.mark.parametrize("degrees", [-12.0, 12.0])
def test_a_tilted_rendition_matches_the_window_tilted_the_same_way(degrees):
    source = _scene(1)
    window, score = _best_layout_window(_tilted(source, degrees), source)
    assert np.sign(window.tilt) == np.sign(degrees) and not window.mirrored
    assert score > 0.9


def test_a_mirrored_reframe_matches_a_small_mirrored_window():
    source = _scene(2)
    width, height = source.size
    crop = source.crop((0.3 * width, 0.1 * height, 0.95 * width, 0.75 * height))   # 65 % of each side
    window, score = _best_layout_window(ImageOps.mirror(crop), source)
    assert window.mirrored and window.width < 1.0 and window.tilt == 0
    assert score > 0.85


def test_layout_and_shape_prefer_the_source_over_other_pictures():
    sources = [_scene(seed) for seed in range(3, 8)]
    width, height = sources[2].size
    probes = [ImageOps.mirror(_tilted(sources[2], 8.0)),
              sources[2].crop((0.2 * width, 0.2 * height, 0.9 * width, 0.9 * height)).resize((512, 512))]
    channels = look_channels(PreparedLooks([_features(p) for p in probes]),
                             PreparedLooks([_features(s) for s in sources]))
    for name in ("layout", "layout_detail", "shape", "contain"):
        column = LOOK_CHANNELS.index(name)
        assert list(channels[:, :, column].argmax(axis=1)) == [2, 2], name


def test_the_sibling_pass_scores_the_same_from_whole_frames_only_and_refuses_them_window_by_window():
    """Looks prepared with whole frames only (what a rebuild scoring one new variation against the rest
    makes) give the sibling channels of a full preparation exactly; a window-by-window comparison of
    them is an error, not a silent wrong answer."""
    features = [_features(_scene(seed)) for seed in range(20, 25)]
    full = look_channels(PreparedLooks(features[:2]), PreparedLooks(features), sibling=True)
    light = look_channels(PreparedLooks(features[:2], whole_frames_only=True),
                          PreparedLooks(features, whole_frames_only=True), sibling=True)
    np.testing.assert_array_equal(light, full)
    assert PreparedLooks(features, whole_frames_only=True).unit.shape[1] == 1
    with pytest.raises(ValueError, match="whole frames only"):
        look_channels(PreparedLooks(features[:2]), PreparedLooks(features, whole_frames_only=True))


def test_looks_cut_from_a_preparation_score_as_looks_prepared_afresh():
    """``PreparedLooks.subset`` (how the anchor pass takes a few rows of a book's prepared variations)
    gives the very channels a preparation of just those images gives."""
    features = [_features(_scene(seed)) for seed in range(30, 36)]
    prepared = PreparedLooks(features)
    rows = [4, 1, 3]
    part = prepared.subset(rows)
    assert part.size == 3 and part.unit.shape[0] == 3 and len(part.layouts) == 3
    np.testing.assert_array_equal(look_channels(part, prepared.subset([0, 5])),
                                  look_channels(PreparedLooks([features[r] for r in rows]),
                                                PreparedLooks([features[0], features[5]])))


@pytest.mark.parametrize("shape_probe_block", [128, 2])
def test_pairs_in_blocks_score_as_all_pairs_do_and_the_others_are_left_at_zero(monkeypatch, shape_probe_block):
    """The anchor pass compares some pairs only: ``pair_blocks`` covers exactly the wanted pairs, each
    block wholly wanted (columns wanting the same rows share one), and those pairs score as when every
    pair is compared; so do the probes' crops, matched probe by probe (in chunks of two as well, each
    chunk padded to its widest probe)."""
    import book_assets.core.looks as looks

    monkeypatch.setattr(looks, "SHAPE_PROBE_BLOCK", shape_probe_block)
    features = [_features(_scene(seed)) for seed in range(40, 47)]
    probes, sources = PreparedLooks(features[:5]), PreparedLooks(features[3:])
    wanted = np.array([[1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    blocks = pair_blocks(wanted)
    covered = np.zeros_like(wanted)
    for rows, cols in blocks:
        assert wanted[np.ix_(rows, cols)].all() and not covered[np.ix_(rows, cols)].any()
        covered[np.ix_(rows, cols)] = True
    assert np.array_equal(covered, wanted) and len(blocks) == 2
    assert len(pair_blocks(np.ones((6, 9), dtype=bool))) == 1 and pair_blocks(np.zeros((3, 3), dtype=bool)) == []

    every = look_channels(probes, sources)
    some = look_channels(probes, sources, blocks=blocks)
    np.testing.assert_allclose(some[wanted], every[wanted], atol=1e-6)
    assert not some[~wanted].any() and every[~wanted].any()
    assert some[3, 0, LOOK_CHANNELS.index("layout")] > 0.99      # probe 3 is source 0


def test_crops_matched_probe_by_probe_are_the_crops_matched_all_at_once(monkeypatch):
    """The anchor pass matches each probe's crops with the frames (and mirror images) of the targets it
    is compared with, probe by probe, in chunks padded to their widest probe: the same maxima as one
    product of every crop with every frame, at every wanted pair."""
    import book_assets.core.looks as looks

    rng = np.random.default_rng(3)
    probe = rng.random((9, len(STRUCTURE_WINDOWS), STRUCTURE_LENGTH), dtype=np.float32)
    frames = rng.random((6, STRUCTURE_LENGTH), dtype=np.float32)
    wanted = rng.random((9, 6)) < 0.4
    wanted[0], wanted[1] = False, True                       # a probe wanting none, one wanting all
    monkeypatch.setattr(looks, "SHAPE_PROBE_BLOCK", 4)
    by_probe = looks._zoomed_out_by_probe(lambda chunk: probe[chunk], len(probe), frames, looks._probe_chunks(wanted))
    at_once = looks._zoomed_out(probe, frames)
    np.testing.assert_allclose(by_probe[wanted], at_once[wanted], rtol=1e-5)
    # the mirror images count: for some wanted pairs a crop matches a mirrored frame best
    upright_only = (probe[:, 1:] @ frames.T).max(axis=1)
    assert (at_once[wanted] > upright_only[wanted] + 1e-3).any()


def test_layout_rows_are_the_correlations_of_light_colour_and_chroma_worked_out_by_hand():
    """Light and chroma rows are each window's samples less their mean, at unit length; colour is a*
    and b* each less its own mean; so a row's dot product with another is their correlation."""
    rng = np.random.default_rng(5)
    samples = rng.random((4, LAYOUT_GRID, LAYOUT_GRID, 3)).astype(np.float32) * np.float32([100, 60, 60]) - [0, 30, 30]
    light, colour, chroma = _layout_vectors(_as_planes(samples.astype(np.float32)))
    flat = samples.reshape(4, -1, 3).astype(np.float64)

    def correlation(x: np.ndarray, y: np.ndarray) -> float:
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))

    hue_free = np.hypot(flat[..., 1], flat[..., 2])
    for i, j in ((0, 1), (2, 3), (1, 3)):
        assert float(light[i] @ light[j]) == pytest.approx(correlation(flat[i, :, 0], flat[j, :, 0]), abs=1e-5)
        assert float(colour[i] @ colour[j]) == pytest.approx(correlation(flat[i, :, 1:], flat[j, :, 1:]), abs=1e-5)
        assert float(chroma[i] @ chroma[j]) == pytest.approx(correlation(hue_free[i], hue_free[j]), abs=1e-5)


def test_a_blank_picture_or_window_correlates_with_nothing():
    """A window with no light, colour or edges to speak of (a blank page) has no correlation with
    anything, whichever way round: its samples differ only by float rounding, which must not be
    scaled up into a pattern."""
    blank = _features(Image.new("RGB", (480, 360), (247, 244, 236)))
    scenes = [_features(_scene(seed)) for seed in (1, 2, 3)]
    layout = [LOOK_CHANNELS.index(name) for name in LAYOUT_CHANNELS]
    assert not look_channels(PreparedLooks([blank]), PreparedLooks(scenes))[:, :, layout].any()
    assert not look_channels(PreparedLooks(scenes), PreparedLooks([blank]))[:, :, layout].any()
    assert look_channels(PreparedLooks(scenes), PreparedLooks(scenes))[:, :, layout].min() < 0.99


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_window_samples_a_ramp_at_its_points(mirrored):
    """Bilinear sampling is exact on a ramp: each of a window's grid x grid points reads the ramp's
    value at its own place (a mirrored window reads them right to left)."""
    rows, cols = 36, 48
    ramp = np.broadcast_to(np.arange(cols, dtype=np.float32)[None, :, None], (rows, cols, 3)).copy()
    window = Window(0.45, 0.6, 0.5, 0.4, mirrored=mirrored)
    samples = _sample(ramp, [window], cols / rows)[0]
    u = (np.arange(LAYOUT_GRID) + 0.5) / LAYOUT_GRID - 0.5
    across = (window.cx + (-u if mirrored else u) * window.width) * cols - 0.5
    np.testing.assert_allclose(samples[..., 0], np.broadcast_to(across, (LAYOUT_GRID, LAYOUT_GRID)), atol=1e-4)
    np.testing.assert_allclose(samples[..., 2], samples[..., 0])


def test_each_probe_is_scored_on_its_own():
    """A probe's similarities do not depend on which other probes are scored beside it."""
    features = [_features(_scene(seed)) for seed in range(10, 14)]
    sources = PreparedLooks(features[1:])
    full = look_channels(PreparedLooks(features), sources)
    np.testing.assert_allclose(look_channels(PreparedLooks(features[:1]), sources), full[:1], atol=1e-4)
    assert full.shape == (4, 3, len(LOOK_CHANNELS))


def test_whole_frame_rows_are_worked_out_once_and_cut_for_a_subset():
    """The probes' whole-frame correlation rows are worked out once per preparation and sliced with it
    (the anchor pass's probes are a subset of the variations): a subset's rows, cut before or after they
    were worked out, are those of a preparation of just its images; an image without a layout has none."""
    from dataclasses import replace

    sizes = [(480, 360), (300, 300), (480, 360), (360, 480)]
    features = [_features(_scene(seed, size)) for seed, size in enumerate(sizes)]
    features.append(replace(features[0], layout=None))
    order = [3, 4, 1]
    before = PreparedLooks(features).subset(order)
    full = PreparedLooks(features)
    rows = full.frame_rows()
    assert full.frame_rows() is rows                                   # worked out once
    after = full.subset(order)
    alone = PreparedLooks([features[i] for i in order]).frame_rows()
    for part in (before.frame_rows(), after.frame_rows()):
        assert part.rows.keys() == alone.rows.keys()
        for name in alone.rows:
            np.testing.assert_array_equal(part.rows[name], alone.rows[name])
        np.testing.assert_array_equal(part.detail, alone.detail)
    assert not alone.rows["light"][1].any() and alone.rows["light"][0].any()
    # the frame and its mirror image: the mirror's light row is the frame's, columns reversed
    light = alone.rows["light"][0].reshape(2, LAYOUT_GRID, LAYOUT_GRID)
    np.testing.assert_allclose(light[1], light[0][:, ::-1], atol=1e-6)


def test_sources_seen_whole_are_read_from_their_frame_rows_exactly_as_sampled():
    """The sibling pass sees each source through one window; where that is the whole frame (images of one
    aspect) the rows come from the frame rows already worked out, and they are the sampled ones exactly."""
    looks = PreparedLooks([_features(_scene(seed, (400, 400))) for seed in range(60, 64)])
    order = np.array([2, 0, 3])
    whole = _window_rows(looks, order, lambda aspect: upright_windows(aspect, 1.0, ((1.0, 1),), ()))
    sampled = _correlation_rows(sample_many(looks, order, lambda aspect: WHOLE_FRAME[:1]),
                                sample_many(looks, order, lambda aspect: WHOLE_FRAME[:1], edges=True))
    assert whole.keys() == sampled.keys()
    for name in sampled:
        np.testing.assert_array_equal(whole[name], sampled[name])
    # a crop is not the whole frame: sampled, and different
    cropped = _window_rows(looks, order, lambda aspect: upright_windows(aspect, 1.2, ((1.0, 1),), ()))
    assert not np.allclose(cropped["light"], sampled["light"])


def test_a_tilted_picture_finds_the_tilted_structure_window():
    source = _scene(20).resize((256, 192))
    tilted_whole = structure_descriptors(_tilted(source, 15.0))[0]
    descriptors = structure_descriptors(source)
    tilts = [window.angle for window in STRUCTURE_WINDOWS]
    scores = descriptors @ tilted_whole
    assert tilts[int(np.argmax(scores))] == 15.0
    assert scores[tilts.index(15.0)] > scores[0] + 0.05


def test_layout_round_trip_and_malformed_values():
    thumbnail = layout_thumbnail(_scene(30).resize((256, 192)))
    assert max(thumbnail.shape[:2]) == 48
    back = decode_layout(encode_layout(thumbnail))
    assert back.shape == thumbnail.shape
    assert np.abs(back - thumbnail).max() < 0.6
    for bad in ("", "48x36:not base64!", "0x0:", "4x4:" + "AAAA"):
        assert decode_layout(bad) is None


def test_missing_features_give_zero_similarity_not_errors():
    features = _features(_scene(40))
    from dataclasses import replace

    bare = replace(features, structure="", layout="", phash="", dhash="", phash_mirror="", colour_hist=[])
    channels = look_channels(PreparedLooks([bare]), PreparedLooks([features, features, features]))
    assert channels.shape == (1, 3, len(LOOK_CHANNELS))
    assert np.all(channels == 0.0)


def test_full_looks_ok_says_what_preparing_the_looks_says_for_every_kind_of_gap():
    """Pairing asks which variations have every feature without preparing them (a rebuild's pairs are
    known): the answer is PreparedLooks' own, image by image, whichever feature is missing or malformed."""
    from dataclasses import replace

    from book_assets.core.looks import full_looks_ok

    whole = _features(_scene(41))
    features = [whole, replace(whole, structure=""), replace(whole, structure=np.zeros((3, 3), np.float32)),
                replace(whole, layout=""), replace(whole, phash="zz"), replace(whole, phash=""),
                replace(whole, colour_hist=[]), replace(whole, colour_hist=[-1.0] * len(whole.colour_hist)),
                replace(whole, dhash="")]
    expected = PreparedLooks(features).full_ok
    assert list(expected) == [True, False, False, False, False, False, False, False, True]
    assert list(full_looks_ok(features)) == list(expected)


def test_layout_likeness_scored_a_block_of_probes_at_a_time_equals_all_at_once(monkeypatch):
    """The probe blocks that bound pairing's memory change no score beyond float32 rounding."""
    import book_assets.core.looks as looks

    probes = PreparedLooks([_features(_scene(seed)) for seed in range(7)])
    sources = PreparedLooks([_features(_scene(seed)) for seed in (2, 5, 11)])
    monkeypatch.setattr(looks, "LAYOUT_PROBE_BLOCK", 1000)
    whole = look_channels(probes, sources)
    monkeypatch.setattr(looks, "LAYOUT_PROBE_BLOCK", 3)                      # blocks of 3, 3 and 1
    blocked = look_channels(probes, sources)
    np.testing.assert_allclose(blocked, whole, atol=1e-5)
    assert blocked[2, 0, LOOK_CHANNELS.index("layout")] > 0.99 and blocked[5, 1, LOOK_CHANNELS.index("layout")] > 0.99


def test_images_sharing_a_shape_are_sampled_together_exactly_as_one_by_one():
    """Pairing samples every image of one thumbnail shape and aspect in one operation: the numbers are
    those of sampling each image alone, in the order asked, whatever mix of shapes a book holds."""
    sizes = [(480, 360), (300, 300), (480, 360), (360, 480), (300, 300), (480, 360)]
    looks = PreparedLooks([_features(_scene(seed, size)) for seed, size in enumerate(sizes)])
    order = np.array([5, 1, 0, 3, 4, 2])

    def windows_for(aspect: float):
        return layout_windows(aspect, 1.25)

    together = sample_many(looks, order, windows_for)
    one_by_one = _as_planes(np.concatenate([_sample(looks.layouts[i], windows_for(round(float(looks.aspect[i]), 4)),
                                                    looks.aspect[i]) for i in order]))
    assert together.shape == one_by_one.shape == (3, len(order) * len(windows_for(1.0)), LAYOUT_GRID * LAYOUT_GRID)
    np.testing.assert_array_equal(together, one_by_one)


def test_shape_descriptors_are_held_as_float32_the_numbers_pairing_uses():
    features = _features(_scene(3))
    assert features.structure.dtype == np.float32
    prepared = PreparedLooks([features])
    assert np.array_equal(prepared.unit[0], features.structure)
    assert decode_structure(encode_structure(features.structure)).tobytes() == features.structure.tobytes()


def test_scaled_descriptors_are_worked_out_per_block_as_the_definition_says():
    """``descriptors`` scales a block of images at a time (never kept for the book): each cell on its
    own to unit length (EACH_CELL), or by its share of the edges (BY_EDGES: unit cells times the cell's
    squared length), the same numbers whichever rows and windows are asked for."""
    from book_assets.core.imaging import STRUCTURE_BINS
    from book_assets.core.looks import CellScale

    features = [_features(_scene(seed)) for seed in range(40, 44)]
    prepared = PreparedLooks(features)
    rows = np.array([3, 1])
    for row, feature in zip(rows, (features[3], features[1])):
        cells = feature.structure.reshape(feature.structure.shape[0], -1, STRUCTURE_BINS).astype(np.float64)
        norms = np.linalg.norm(cells, axis=-1, keepdims=True)
        unit = np.where(norms > 1e-6, cells / np.maximum(norms, 1e-12), 0.0)
        each = prepared.descriptors(CellScale.EACH_CELL, rows=rows)[list(rows).index(row)]
        np.testing.assert_allclose(each, unit.reshape(each.shape), atol=1e-6)
        by_edges = prepared.descriptors(CellScale.BY_EDGES, slice(2, 5), rows)[list(rows).index(row)]
        np.testing.assert_allclose(by_edges, (unit * norms ** 2)[2:5].reshape(by_edges.shape), rtol=1e-5, atol=1e-6)
    raw = prepared.descriptors(CellScale.RAW)
    assert raw.dtype == np.float32 and np.array_equal(raw[2], features[2].structure)


def _ellipses(seed: int, size=(480, 360)) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(4):
        x, y, r = rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1], rng.uniform(40, 110)
        boxes.append((x - r, y - r * 0.7, x + r, y + r * 0.7))
    return boxes


def _coloured_rendition(seed: int, size=(480, 360)) -> Image.Image:
    """A photo-like rendition: the shapes filled in colours on a soft coloured ground, with texture."""
    rng = np.random.default_rng(seed + 1000)
    img = Image.fromarray(rng.uniform(60, 200, (3, 4, 3)).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(img)
    for box in _ellipses(seed, size):
        pen.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(3)), dtype=np.float64) + rng.normal(0, 8, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _line_art(seed: int, size=(480, 360)) -> Image.Image:
    """The same shapes as dark outlines on white paper: no big shapes of light or colour of its own."""
    img = Image.new("RGB", size, (250, 248, 240))
    pen = ImageDraw.Draw(img)
    for box in _ellipses(seed, size):
        pen.ellipse(box, outline=(35, 30, 40), width=4)
    return img


def test_the_edges_channel_finds_the_outline_drawing_of_a_coloured_rendition():
    """An outline-only drawing shares its lines' places with a rendition that fills the shapes in, and
    next to nothing else: the edges channel picks it out of five drawings."""
    seeds = range(50, 55)
    drawings = PreparedLooks([_features(_line_art(seed)) for seed in seeds])
    renditions = PreparedLooks([_features(_coloured_rendition(seed)) for seed in seeds])
    edges = look_channels(renditions, drawings)[:, :, LOOK_CHANNELS.index("layout_edges")]
    assert list(edges.argmax(axis=1)) == list(range(len(seeds)))
    assert np.all(edges.diagonal() > 0.5)


def test_edge_maps_sharing_a_shape_are_sampled_together_exactly_as_one_by_one():
    sizes = [(480, 360), (300, 300), (480, 360), (300, 300)]
    looks = PreparedLooks([_features(_scene(seed, size)) for seed, size in enumerate(sizes)])
    order = np.array([3, 0, 2, 1])
    windows = layout_windows(1.0, 1.0)
    together = sample_many(looks, order, lambda aspect: windows, edges=True)
    one_by_one = np.concatenate([_sample(looks.edges[i], windows, looks.aspect[i], EDGE_GRID) for i in order])
    assert together.shape == (1, len(order) * len(windows), EDGE_GRID * EDGE_GRID)
    np.testing.assert_array_equal(together[0], one_by_one.reshape(len(order) * len(windows), -1))


def _on_new_background(img: Image.Image, seed: int) -> Image.Image:
    """The centre kept (a soft disc a third of the frame across) on a new vertical gradient."""
    rng = np.random.default_rng(seed + 500)
    width, height = img.size
    down, across = np.mgrid[0:height, 0:width]
    keep = np.clip((1.15 - np.hypot(across / width - 0.5, down / height - 0.5) / 0.33) / 0.3, 0.0, 1.0)[..., None]
    top, bottom = rng.uniform(40, 255, 3), rng.uniform(40, 255, 3)
    ground = top + (bottom - top) * (down / height)[..., None]
    return Image.fromarray((np.asarray(img, dtype=np.float64) * keep + ground * (1 - keep)).astype(np.uint8))


def test_the_centre_channels_judge_a_subject_set_on_a_new_background_by_the_subject():
    """Set on a new gradient, a picture's whole-frame colour layout is mostly the gradient's: it picks
    the wrong source for most; the centre disc still shows the subject and picks every one right."""
    seeds = range(20, 26)
    sources = PreparedLooks([_features(_scene(seed)) for seed in seeds])
    probes = PreparedLooks([_features(_on_new_background(_scene(seed), seed)) for seed in seeds])
    channels = look_channels(probes, sources)
    right = list(range(len(seeds)))
    assert list(channels[:, :, LOOK_CHANNELS.index("centre_colour")].argmax(axis=1)) == right
    assert sum(channels[:, :, LOOK_CHANNELS.index("layout_colour")].argmax(axis=1) == right) <= 2


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


@pytest.mark.parametrize("source_seed", [7, 8])          # the probe's own source, and another picture
def test_layout_channels_are_read_at_the_window_where_light_colour_and_edges_agree_best(source_seed):
    """Worked out window by window with plain Pearson correlations: the pair's window is the one with the
    largest light + colour + edges (each floored at 0), and the layout channels are the values there (chroma
    and light weighted by the probe's detail worked out at that window only); the centre channels are each
    their own best over the windows, on the samples inside the centre disc."""
    probe_img = _scene(7).crop((60, 40, 420, 310)).resize((480, 360))
    source_img = _scene(source_seed)
    probe, source = PreparedLooks([_features(probe_img)]), PreparedLooks([_features(source_img)])
    channels = look_channels(probe, source)[0, 0]
    whole = [Window(0.5, 0.5, 1.0, 1.0)]
    bucketed = np.exp(round(np.log(probe.aspect[0]) / ASPECT_BUCKET) * ASPECT_BUCKET)   # probes of near aspects share windows
    windows = layout_windows(source.aspect[0], bucketed)
    p_lab = _sample(probe.layouts[0], whole, probe.aspect[0])[0].reshape(-1, 3)
    p_edges = _sample(probe.edges[0], whole, probe.aspect[0], EDGE_GRID)[0].ravel()
    s_lab = _sample(source.layouts[0], windows, source.aspect[0]).reshape(len(windows), -1, 3)
    s_edges = _sample(source.edges[0], windows, source.aspect[0], EDGE_GRID).reshape(len(windows), -1)

    def colour(p: np.ndarray, s: np.ndarray) -> float:       # a* and b* centred each on its own
        p, s = (np.concatenate([x[:, 1] - x[:, 1].mean(), x[:, 2] - x[:, 2].mean()]) for x in (p, s))
        return float(p @ s / np.sqrt((p @ p) * (s @ s)))

    def chroma(x: np.ndarray) -> np.ndarray:
        return np.hypot(x[:, 1], x[:, 2])

    def disc(grid: int) -> np.ndarray:
        u = (np.arange(grid) + 0.5) / grid - 0.5
        return np.array([np.hypot(x, y) <= CENTRE_RADIUS for y in u for x in u])

    def detail(s: np.ndarray) -> float:     # light, weighted by where the probe's light changes
        weights = _detail_weights(p_lab[None, :, 0])[0].astype(np.float64)
        p_centred = p_lab[:, 0] - np.average(p_lab[:, 0], weights=weights)
        s_centred = s[:, 0] - np.average(s[:, 0], weights=weights)
        return float(np.sum(weights * p_centred * s_centred)
                     / np.sqrt(np.sum(weights * p_centred ** 2) * np.sum(weights * s_centred ** 2)))

    light = [_pearson(p_lab[:, 0], s[:, 0]) for s in s_lab]
    colours = [colour(p_lab, s) for s in s_lab]
    edges = [_pearson(p_edges, s) for s in s_edges]
    joint = np.maximum(light, 0) + np.maximum(colours, 0) + np.maximum(edges, 0)
    best = int(np.argmax(joint))
    assert joint[best] - np.sort(joint)[-2] > 1e-3            # one clear window, so float32 cannot tip it
    expected = {
        "layout": light[best], "layout_colour": colours[best], "layout_edges": edges[best],
        "layout_chroma": _pearson(chroma(p_lab), chroma(s_lab[best])),
        "layout_detail": detail(s_lab[best]),
        "centre": max(_pearson(p_lab[disc(LAYOUT_GRID), 0], s[disc(LAYOUT_GRID), 0]) for s in s_lab),
        "centre_colour": max(colour(p_lab[disc(LAYOUT_GRID)], s[disc(LAYOUT_GRID)]) for s in s_lab),
        "centre_chroma": max(_pearson(chroma(p_lab[disc(LAYOUT_GRID)]), chroma(s[disc(LAYOUT_GRID)])) for s in s_lab),
        "centre_edges": max(_pearson(p_edges[disc(EDGE_GRID)], s[disc(EDGE_GRID)]) for s in s_edges),
    }
    for name, value in expected.items():
        assert channels[LOOK_CHANNELS.index(name)] == pytest.approx(min(max(value, 0.0), 1.0), abs=1e-4), name
    if source_seed == 7:        # its own source: every correlation is best at one window, the reframe's
        assert channels[LOOK_CHANNELS.index("layout")] > 0.85
    else:                       # another picture: some correlation is best elsewhere, and is not read there
        assert max(max(light) - light[best], max(colours) - colours[best], max(edges) - edges[best]) > 0.01


@pytest.mark.parametrize("shape", [(7, 5, 1), (30, 40, 2), (3, 4, 8), (6, 5, 74)])
def test_max_over_a_short_last_axis_is_the_same_maxima_as_numpy_s(shape):
    """``_max_last`` takes a short last axis slice by slice for speed; the maxima must be numpy's own."""
    from book_assets.core.looks import _max_last

    values = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    assert np.array_equal(_max_last(values), values.max(axis=-1))
    assert np.array_equal(_max_last(values[:, ::2]), values[:, ::2].max(axis=-1))      # a strided view too
