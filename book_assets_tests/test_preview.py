"""preview.html: a self-contained page showing the book as spreads, opened in Debian's Chromium
through Playwright: pages turn, nothing is fetched from a network, nothing logs an error."""
from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import expect, sync_playwright

from book_assets.core.page_images import rasterise_pages
from book_assets.core.preview import PreviewPage, render_preview, spreads

from .support import build, published, upload

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def test_spreads_open_like_a_book():
    assert spreads(0) == []
    assert spreads(4) == [(None, 1), (2, 3), (4, None)]
    assert spreads(5) == [(None, 1), (2, 3), (4, 5)]


def test_preview_escapes_text_and_places_warnings_beside_their_spread():
    png = b"\x89PNG fake"
    html = render_preview("<Max & Friends>", [PreviewPage(n, "drawing", png) for n in range(1, 5)],
                          {3: ["max_01.png prints at 250 PPI"]}, general=["book.toml <oops>"])
    assert "&lt;Max &amp; Friends&gt;" in html and "<Max &" not in html
    assert "book.toml &lt;oops&gt;" in html
    spread_with_page_3 = html[html.index('id="spread-1"'):html.index('id="spread-2"')]
    assert "Page 3:</b> max_01.png prints at 250 PPI" in spread_with_page_3
    assert 'id="cover"' not in html                       # no cover given: none shown
    with_cover = render_preview("Max", [PreviewPage(1, "title", png)], cover=b"\x89PNG cover")
    assert with_cover.index('id="cover"') < with_cover.index('id="spread-0"')
    assert "http://" not in html and "https://" not in html      # nothing to fetch


@pytest.fixture(scope="module")
def published_preview(tmp_path_factory, small_book_files) -> Path:
    """The small sample book built for real; the path of its published preview.html."""
    import dagster as dg

    from book_assets.defs.resources import LocalBucket

    bucket = LocalBucket(root=str(tmp_path_factory.mktemp("preview") / "bucket"))
    upload(bucket, "preview-book", small_book_files)
    with dg.instance_for_test() as instance:
        result = build(bucket, instance, "preview-book")
    assert result.output_for_node("book").published is True
    return Path(bucket.root) / published(bucket, "preview-book", "preview.html")


def _open(playwright, width: int, errors: list, requests: list):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    page.on("request", lambda request: requests.append(request.url))
    return browser, page


def test_preview_turns_pages_in_chromium_without_requests_or_errors(published_preview):
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    errors, requests = [], []
    with sync_playwright() as playwright:
        browser, page = _open(playwright, 1200, errors, requests)
        try:
            page.goto(published_preview.as_uri())
            total = page.locator(".spread").count()
            assert total >= 13                      # the cover, then 24 pages: 1 + 11 spreads + the last page
            expect(page.locator("#where")).to_have_text(f"1 / {total}")
            expect(page.locator("#cover img")).to_be_visible()          # the cover first
            expect(page.locator("#prev")).to_be_disabled()
            page.click("#next")
            expect(page.locator("#spread-0")).to_be_visible()
            expect(page.locator("#cover")).to_be_hidden()
            expect(page.locator("#spread-0 img")).to_have_count(1)    # page 1 alone, on the right
            page.keyboard.press("ArrowRight")
            expect(page.locator("#where")).to_have_text(f"3 / {total}")
            expect(page.locator("#spread-1 figure.left")).to_have_attribute("data-page", "2")
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#where")).to_have_text(f"2 / {total}")
            for _ in range(total):
                page.click("#next") if page.locator("#next").is_enabled() else None
            expect(page.locator("#where")).to_have_text(f"{total} / {total}")
            expect(page.locator("#next")).to_be_disabled()
            # every picture decoded (natural width > 0): the data URIs are real PNGs
            widths = page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
            assert widths and min(widths) > 0
            assert page.locator("figcaption").count() == 0          # page numbers only as printed, once
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


@pytest.mark.parametrize("width, per_view", [(390, 1), (1280, 2)])
def test_preview_shows_the_cover_and_every_page_on_a_phone_and_a_desktop(published_preview, width, per_view):
    """Turning through the whole preview shows the cover and every page once — one page at a time on
    a phone, spreads on a desktop — with nothing wider than the screen and no console error."""
    errors, requests = [], []
    seen: list[int] = []
    with sync_playwright() as playwright:
        browser, page = _open(playwright, width, errors, requests)
        try:
            page.goto(published_preview.as_uri())
            pages = int(page.eval_on_selector("#book-facts", "e => JSON.parse(e.textContent).pages"))
            expect(page.locator("#cover img")).to_be_visible()
            cover_width = page.eval_on_selector("#cover img", "i => i.naturalWidth")
            assert cover_width >= 600                                  # sharp, not a stamp
            most_per_view = 0
            while True:
                visible = page.eval_on_selector_all(
                    "figure[data-page]", "fs => fs.filter(f => f.offsetParent !== null).map(f => +f.dataset.page)")
                seen += visible
                most_per_view = max(most_per_view, len(visible))
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{overflow}px wider than the {width}px screen at pages {visible}"
                for box in page.eval_on_selector_all(
                        "figure[data-page]", "fs => fs.filter(f => f.offsetParent !== null)"
                                             ".map(f => f.getBoundingClientRect().right)"):
                    assert box <= width + 0.5
                if not page.locator("#next").is_enabled():
                    break
                page.click("#next")
            assert most_per_view == per_view
            shown = page.eval_on_selector_all("figure[data-page] img", "is => is.map(i => i.src)")
        finally:
            browser.close()
    assert seen == list(range(1, pages + 1))
    # What the browser shows is the printed PDF itself, rasterised by PDFium (not a second renderer).
    pdf = published_preview.parent / "book.pdf"
    for number in (1, 4, pages):
        shown_png = Image.open(io.BytesIO(base64.b64decode(shown[number - 1].split(",", 1)[1]))).convert("RGB")
        printed = rasterise_pages(pdf, [number - 1], shown_png.width, workers=1)[number - 1]
        assert ImageChops.difference(shown_png, Image.open(io.BytesIO(printed)).convert("RGB")).getbbox() is None, \
            f"page {number} in the preview is not the PDF's page"
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


def test_an_injected_script_would_not_run_even_if_escaping_failed(published_preview, tmp_path):
    """The CSP allows the page's own style and script by hash only: markup smuggled into the page
    (as if an upload's name had escaped escaping) neither runs nor loads anything."""
    page_html = published_preview.read_text()
    assert "'unsafe-inline'" not in page_html and "script-src 'sha256-" in page_html
    tampered = tmp_path / "tampered.html"
    tampered.write_text(page_html.replace(
        "<main>", "<main><script>document.title = 'pwned'</script><img src=x onerror=\"document.title='pwned'\">", 1))
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(tampered.as_uri())
            expect(page.locator("#where")).to_have_text(re.compile(r"^1 / \d+$"))   # the page's own script ran
            assert page.title() != "pwned"
        finally:
            browser.close()
    assert any("Content Security Policy" in error for error in errors), errors
