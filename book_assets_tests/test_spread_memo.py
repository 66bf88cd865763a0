"""Spread layouts kept between builds (core.spread_memo): a change lays out only its spread, and the
book it gives equals a cold layout."""
from __future__ import annotations

import copy

import pytest

from book_assets.core.layout import PrintProfile, layout_book
from book_assets.core.spread_memo import SpreadMemo, dump_spread_memo, load_spread_memo

from .test_layout import make_book, source

PROFILE = PrintProfile()


def rebuilt_memo(memo: SpreadMemo) -> SpreadMemo:
    """What the next build starts from: the memo as stored in the work area and read back."""
    return SpreadMemo(load_spread_memo(dump_spread_memo(memo.kept)))


def test_an_added_variation_lays_out_only_its_spread_and_the_book_equals_a_cold_layout():
    content = make_book(drawings=10, variations=16)     # enough spreads that no roomier second layout is tried
    first = SpreadMemo()
    cold = layout_book(content, PROFILE, spread_layout=first)
    assert (first.laid_out, first.reused) == (10, 0)
    assert cold == layout_book(content, PROFILE)         # the memo changes nothing in a cold layout

    changed = copy.deepcopy(content)
    # a 17th variation: the second drawing's spread grows by a page and a blank, so every later spread moves
    changed.spreads[1].variations.append(source("generated/d1-v16", 1024, 1024, (200, 40, 90)))
    again = rebuilt_memo(first)
    incremental = layout_book(changed, PROFILE, spread_layout=again)
    assert (again.laid_out, again.reused) == (1, 9)
    assert incremental == layout_book(changed, PROFILE)
    grown = content.spreads[1].drawing.key
    assert sum(p.drawing_key == grown for p in incremental.pages) > sum(p.drawing_key == grown for p in cold.pages)
    last_drawing = content.spreads[-1].drawing.key
    moved = [p.number for p in incremental.pages if p.drawing_key == last_drawing]
    assert moved != [p.number for p in cold.pages if p.drawing_key == last_drawing]    # read back and moved

    unchanged = rebuilt_memo(again)
    assert layout_book(changed, PROFILE, spread_layout=unchanged) == incremental
    assert (unchanged.laid_out, unchanged.reused) == (0, 10) and not unchanged.changed()


def test_a_new_print_profile_or_story_text_lays_the_spreads_out_again():
    content = make_book(drawings=10, variations=4)
    memo = SpreadMemo()
    layout_book(content, PROFILE, spread_layout=memo)
    other = PrintProfile(name="test-6x9", trim_width_in=6.0, trim_height_in=9.0)
    again = rebuilt_memo(memo)
    assert layout_book(content, other, spread_layout=again) == layout_book(content, other)
    assert (again.laid_out, again.reused) == (10, 0)

    retold = copy.deepcopy(content)
    retold.spreads[2].text = "Nobody had ever seen a monster eat a cloud before."
    again = rebuilt_memo(memo)
    assert layout_book(retold, PROFILE, spread_layout=again) == layout_book(retold, PROFILE)
    assert (again.laid_out, again.reused) == (1, 9)


def test_a_memo_this_code_did_not_write_is_ignored():
    assert load_spread_memo(b"not json") == {}
    assert load_spread_memo(b'{"format": 0, "spreads": {}}') == {}
    content = make_book(drawings=2, variations=3)
    memo = SpreadMemo()
    layout_book(content, PROFILE, spread_layout=memo)
    broken = SpreadMemo({key: {"pages": [{"number": "x"}]} for key in memo.kept})
    assert layout_book(content, PROFILE, spread_layout=broken) == layout_book(content, PROFILE)
    assert (broken.laid_out, broken.reused) == (2, 0)      # two spreads, each in both forms a sparse book tries


def test_a_spread_that_would_not_read_back_the_same_is_not_kept(monkeypatch):
    """A page whose stored form reads back different (here a grid given as a list, read back as a tuple)
    is laid out again next time rather than read back changed."""
    from book_assets.core import spread_memo

    real = spread_memo.lay_out_spread

    def with_a_list(number, profile, spread, large):
        pages = real(number, profile, spread, large)
        if spread.drawing.key.endswith("/d0.png"):
            pages[-1].grid = list(pages[-1].grid)
        return pages

    monkeypatch.setattr(spread_memo, "lay_out_spread", with_a_list)
    content = make_book(drawings=10, variations=4)
    memo = SpreadMemo()
    with pytest.warns(UserWarning, match="serialized value may not be as expected"):   # pydantic says so too
        layout_book(content, PROFILE, spread_layout=memo)
    again = rebuilt_memo(memo)
    with pytest.warns(UserWarning, match="serialized value may not be as expected"):
        layout_book(content, PROFILE, spread_layout=again)
    assert (again.laid_out, again.reused) == (1, 9)
