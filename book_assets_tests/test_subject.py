"""Where a picture's subject is when it stands on a smooth backdrop, and whether that backdrop is new
(``core.subject``), found in the layout thumbnail the real analysis makes of an encoded picture."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from book_assets.core.imaging import analyse_image
from book_assets.core.subject import MAX_ZOOM_SHARE, subject_frame


def _features(image: Image.Image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return analyse_image(buffer.getvalue(), want_print_copy=False).features


def _gradient(width: int, height: int) -> Image.Image:
    """A tinted gradient, top to bottom, with a soft glow: a new background as image tools make them."""
    down = np.linspace(0.0, 1.0, height)[:, None, None]
    across = np.linspace(-1.0, 1.0, width)[None, :, None]
    top, bottom = np.array([250.0, 170.0, 60.0]), np.array([120.0, 90.0, 230.0])
    pixels = top * (1 - down) + bottom * down + 25.0 * (1 - across ** 2)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _subject(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """A busy picture (a monster of blocks and strokes) pasted into ``box``."""
    rng = np.random.default_rng(7)
    left, top, right, bottom = box
    patch = Image.new("RGB", (right - left, bottom - top), (40, 160, 60))
    pen = ImageDraw.Draw(patch)
    for _ in range(40):
        x, y = rng.integers(0, patch.width - 10), rng.integers(0, patch.height - 10)
        pen.rectangle((x, y, x + rng.integers(8, 40), y + rng.integers(8, 40)),
                      fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    out = image.copy()
    out.paste(patch, (left, top))
    return out


def test_a_subject_on_a_smooth_background_is_framed_at_the_pictures_shape():
    picture = _subject(_gradient(480, 360), (120, 100, 300, 260))
    features = _features(picture)
    rows, cols = subject_frame(features.layout)
    height, width = features.layout.shape[:2]
    kept = (rows.stop - rows.start) * (cols.stop - cols.start)
    assert kept <= MAX_ZOOM_SHARE * height * width
    assert abs((rows.stop - rows.start) / (cols.stop - cols.start) - height / width) < 0.1   # the frame's shape
    # the subject's centre (210, 180 of 480 x 360) lies inside, and the frame reaches its edges
    assert rows.start <= 180 / 360 * height <= rows.stop and cols.start <= 210 / 480 * width <= cols.stop
    assert rows.start <= 100 / 360 * height + 1 and rows.stop >= 260 / 360 * height - 1


def test_pictures_without_a_subject_on_a_plain_background_are_left_whole():
    busy = _subject(_gradient(480, 360), (0, 0, 480, 360))                 # the picture fills the frame
    plain = _gradient(480, 360)                                            # a background and nothing on it
    nearly_full = _subject(_gradient(480, 360), (10, 10, 470, 350))         # no zoom worth the name
    for picture in (busy, plain, nearly_full):
        features = _features(picture)
        assert subject_frame(features.layout) is None


def test_zoomed_looks_are_the_looks_of_the_zoomed_thumbnails_and_leave_the_originals_alone():
    """``zoomed_to_subjects`` replaces the zoomed images' layouts, edge maps and frame rows in place of
    a fresh preparation (the anchor pass's probes are cut from the book's); the others are shared."""
    from dataclasses import replace

    from book_assets.core.looks import PreparedLooks
    from book_assets.core.subject import plain_backdrops, zoomed_to_subjects

    features = [_features(_subject(_gradient(480, 360), (120, 100, 300, 260))), _features(_gradient(480, 360)),
                _features(_subject(_gradient(400, 400), (0, 0, 400, 400)))]
    looks = PreparedLooks(features)
    before = {name: rows.copy() for name, rows in looks.frame_rows().rows.items()}
    zoomed = zoomed_to_subjects(looks, plain_backdrops(looks.layouts, range(looks.size)))
    rows, cols = subject_frame(features[0].layout)
    fresh = PreparedLooks([replace(features[0], layout=features[0].layout[rows, cols]), *features[1:]])
    assert zoomed.layouts[0].shape != looks.layouts[0].shape and zoomed.layouts[1] is looks.layouts[1]
    for mine, theirs in zip(zoomed.edges, fresh.edges):
        assert np.allclose(mine, theirs)
    for name, rows in fresh.frame_rows().rows.items():
        assert np.allclose(zoomed.frame_rows().rows[name], rows, atol=1e-5)
    assert not np.allclose(zoomed.frame_rows().rows["light"][0], before["light"][0], atol=1e-3)
    for name, rows in looks.frame_rows().rows.items():           # the book's own looks are untouched
        assert np.array_equal(rows, before[name])


def test_a_subject_running_off_the_border_stands_on_its_backdrop_all_the_same():
    """A reframe after the new background cuts the subject at the border: the backdrop is fitted to the
    border pixels near it (a few rounds over), and the subject is still framed."""
    from book_assets.core.subject import backdrop_masks

    picture = _subject(_gradient(480, 360), (250, 150, 480, 360))        # runs off the right and the bottom
    features = _features(picture)
    rows, cols = subject_frame(features.layout)
    height, width = features.layout.shape[:2]
    assert cols.stop == width and rows.stop == height
    assert cols.start <= 250 / 480 * width and rows.start <= 150 / 360 * height + 1
    (backdrop,) = backdrop_masks([features.layout])
    assert backdrop[0, 0] and not backdrop[-1, -1]                        # the gradient's corner, the subject's


def test_a_photographs_textured_sky_is_no_backdrop():
    """A smooth-looking surround with texture (grain, clouds, a wall) is part of the picture: no backdrop,
    no zoom; the same subject on the same gradient without the texture has one."""
    from book_assets.core.subject import backdrop_masks

    rng = np.random.default_rng(3)
    plain = _subject(_gradient(480, 360), (120, 90, 360, 280))
    grain = np.asarray(plain, dtype=np.float64) + rng.normal(0.0, 9.0, (360, 480, 1))
    textured = Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8))
    masks = backdrop_masks([_features(plain).layout, _features(textured).layout])
    assert masks[0] is not None and masks[1] is None


def test_a_backdrop_is_new_unless_a_drawing_stands_on_it():
    """An edit of a drawing on paper stands on that paper, as the drawing does: its backdrop is not new;
    the same subject on a tinted gradient is."""
    from book_assets.core.subject import new_backdrops, plain_backdrops

    paper = Image.new("RGB", (480, 360), (246, 242, 230))
    drawing = _subject(paper, (110, 80, 350, 270))
    on_paper = _subject(paper, (120, 90, 360, 280))
    on_gradient = _subject(_gradient(480, 360), (120, 90, 360, 280))
    layouts = [_features(on_paper).layout, _features(on_gradient).layout]
    assert set(new_backdrops(layouts, plain_backdrops(layouts, range(2)), [_features(drawing).layout])) == {1}
    assert set(new_backdrops(layouts, plain_backdrops(layouts, range(2)), [])) == {0, 1}   # no paper to know


def test_a_small_subject_on_its_drawings_paper_is_zoomed_to_but_not_matched_by_its_mask():
    """An edit of a drawing that moved or shrank its subject on the drawing's own paper (the paper 90 %
    of the frame) stands on a smooth backdrop: the anchor pass sees it zoomed in on the subject. It is
    not on a *new* backdrop (the paper is the drawing's, and a subject this small is too little to
    match by), so the sibling pass leaves it its whole-frame look-alikes."""
    from book_assets.core.subject import MAX_MATCHED_BACKDROP, new_backdrops, plain_backdrops

    paper = Image.new("RGB", (480, 360), (246, 242, 230))
    drawing = _subject(paper, (110, 80, 350, 270))
    small = _subject(paper, (200, 140, 330, 230))                      # 130 x 90: 7 % of the frame
    layouts = [_features(small).layout]
    plain = plain_backdrops(layouts, range(1))
    assert set(plain) == {0} and plain[0].mean() > MAX_MATCHED_BACKDROP
    assert subject_frame(layouts[0]) is not None
    assert new_backdrops(layouts, plain, [_features(drawing).layout]) == {}
    assert new_backdrops(layouts, plain, []) == {}                     # too small to match, whatever the paper
    on_gradient = [_features(_subject(_gradient(480, 360), (120, 90, 360, 280))).layout]
    assert set(new_backdrops(on_gradient, plain_backdrops(on_gradient, range(1)), [_features(drawing).layout])) == {0}
