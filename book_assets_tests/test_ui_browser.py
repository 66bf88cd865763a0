"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): the operator sees the
five assets and their checks, and after a build the check results and the metadata plots.

Screenshots are kept in ``test-artifacts/ui/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .conftest import BLOCKED_BOOK_ID
from .support import DAGSTER_DEV_BOOK_ID as BOOK_ID

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ASSETS = ("raw_images", "validated_images", "image_pairs", "page_layouts", "book")


@pytest.fixture(scope="module")
def browser_page(webserver):
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (make browser)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = webserver[0].removesuffix("/graphql")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=url)
        page.set_default_timeout(30_000)
        # Assertions wait as long as actions do: the UI's first load of a page can take more than
        # playwright's 5 s default on a busy 2-core machine (seen once in CI, the graph still loading).
        # expect's options are global to the process: restored after this module, so the other files a
        # worker runs keep their own.
        expect.set_options(timeout=30_000)
        try:
            yield page
        finally:
            expect.set_options(timeout=None)
            browser.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_asset_graph_shows_the_five_assets(browser_page):
    page = browser_page
    page.goto("/asset-groups/picture_book")
    for asset in ASSETS:
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    _shot(page, "asset-graph")


def test_checks_are_listed_on_the_asset_page(browser_page):
    page = browser_page
    page.goto("/assets/page_layouts?view=checks&checkDetail=text_fits")
    for check in ("text_fits", "drawings_named_by_us", "images_at_target_ppi", "images_at_minimum_ppi"):
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    expect(page.get_by_text("This is a blocking asset check.").first).to_be_visible()
    _shot(page, "page-layouts-checks")


def _partition_row(page: Page, book_id: str):
    """A book's row in a check's partition list (the last visible copy of its name: the partition
    picker above the list shows it too, and hidden copies measure the names)."""
    return page.get_by_text(book_id, exact=True).filter(visible=True).last


def _check_partitions(page: Page, asset: str, check: str) -> None:
    """Open one check of an asset and its Partitions tab (the check's, not the asset's)."""
    page.goto(f"/assets/{asset}?view=checks&checkDetail={check}")
    expect(page.get_by_text(check, exact=True).first).to_be_visible()
    page.get_by_text("Partitions", exact=True).last.click()


def test_after_a_build_check_results_and_plots_are_shown(browser_page, materialized_book):
    _, status = materialized_book
    assert status == "SUCCESS"
    page = browser_page
    _check_partitions(page, "book", "pdf_preflight")
    _partition_row(page, BOOK_ID).click()                                 # the book's own result
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    _shot(page, "book-checks")
    page.goto("/assets/book")
    expect(page.get_by_text(BOOK_ID).first).to_be_visible()
    page.get_by_text("Plots", exact=True).first.click()
    for label in ("pages", "pdf_bytes", "render_ms"):
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()          # the plotted metadata
    _shot(page, "book-plots")


def test_each_books_check_result_is_shown_per_partition(browser_page, materialized_book, blocked_ui_run):
    """With one good and one blocked book, the blocking check's Partitions tab shows one passed and
    one failed book, each by name, instead of whichever book ran last."""
    assert materialized_book[1] == "SUCCESS" and blocked_ui_run[1] == "FAILURE"
    page = browser_page
    _check_partitions(page, "page_layouts", "images_at_minimum_ppi")
    expect(page.get_by_text("Failed (1)").first).to_be_visible()
    expect(page.get_by_text("Passed (1)").first).to_be_visible()
    for book_id in (BOOK_ID, BLOCKED_BOOK_ID):
        expect(_partition_row(page, book_id)).to_be_visible()
    _partition_row(page, BLOCKED_BOOK_ID).click()
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    _shot(page, "min-ppi-per-book")
