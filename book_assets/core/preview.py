"""``preview.html``: the book as spreads with page turns, for the maker to look at before printing.

One self-contained file: page images are inlined as data URIs, style and script are inline, and a
Content-Security-Policy forbids every network request, so it opens the same from a bucket, an
e-mail attachment or a laptop without a connection. Review warnings stand beside the spread of
the pages they concern; warnings about no page in particular are listed above the book.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .layout import PageKind

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #e9e4da; color: #222; }
header { padding: 12px 20px; background: #fffaf0; border-bottom: 1px solid #d8cfbf; }
header h1 { margin: 0 0 4px; font-size: 1.4em; }
.facts { color: #555; font-size: .9em; }
.general { margin: 6px 0 0; color: #8a4b00; }
main { padding: 16px; }
.spread { display: flex; gap: 20px; align-items: flex-start; justify-content: center; }
.spread[hidden] { display: none; }
.pages { display: flex; box-shadow: 0 6px 18px rgba(0,0,0,.25); background: #fff; }
.page { margin: 0; position: relative; width: min(40vw, 420px); }
.page img { display: block; width: 100%; height: auto; }
.page.empty { background: transparent; }
.page figcaption { position: absolute; bottom: 4px; width: 100%; text-align: center; font-size: .75em; color: #777; }
.notes { max-width: 260px; background: #fff4d6; border-left: 4px solid #e0a100; padding: 8px 12px; font-size: .9em; }
.notes.ok { background: #eaf6ea; border-color: #58a158; }
.notes h2 { font-size: 1em; margin: 0 0 4px; }
.notes ul { margin: 0; padding-left: 18px; }
nav { display: flex; gap: 12px; justify-content: center; align-items: center; padding: 12px; }
nav button { font-size: 1em; padding: 6px 16px; }
"""

SCRIPT = """
(function () {
  const spreads = Array.from(document.querySelectorAll('.spread'));
  let current = 0;
  function show(index) {
    current = Math.max(0, Math.min(spreads.length - 1, index));
    spreads.forEach(function (s, i) { s.hidden = i !== current; });
    document.getElementById('where').textContent = (current + 1) + ' / ' + spreads.length;
    document.getElementById('prev').disabled = current === 0;
    document.getElementById('next').disabled = current === spreads.length - 1;
    document.body.dataset.spread = String(current);
  }
  document.getElementById('prev').addEventListener('click', function () { show(current - 1); });
  document.getElementById('next').addEventListener('click', function () { show(current + 1); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') show(current + 1);
    if (e.key === 'ArrowLeft') show(current - 1);
  });
  show(0);
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# Only the page's own style and script run (by their hashes, no 'unsafe-inline'), so anything that
# got into the page from an upload could not run or load anything even if escaping ever failed.
CSP = (f"default-src 'none'; img-src data:; style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
       "base-uri 'none'; form-action 'none'")


@dataclass(frozen=True)
class PreviewPage:
    number: int
    kind: PageKind
    png: bytes


def spreads(page_count: int) -> list[tuple[int | None, int | None]]:
    """(left, right) page numbers as the book opens: page 1 alone on the right, then 2|3, 4|5 …,
    and the last page alone on the left when the count is even."""
    opened: list[tuple[int | None, int | None]] = [(None, 1)] if page_count else []
    for left in range(2, page_count + 1, 2):
        opened.append((left, left + 1 if left + 1 <= page_count else None))
    return opened


def _img(page: PreviewPage | None, side: str) -> str:
    if page is None:
        return f'<div class="page empty {side}"></div>'
    data = base64.b64encode(page.png).decode("ascii")
    return (f'<figure class="page {side}" data-page="{page.number}"><img alt="Page {page.number} ({html.escape(page.kind)})" '
            f'src="data:image/png;base64,{data}"><figcaption>{page.number}</figcaption></figure>')


def render_preview(title: str, pages: Sequence[PreviewPage], warnings: Mapping[int, Sequence[str]] | None = None,
                   general: Sequence[str] = (), facts: Mapping[str, object] | None = None) -> str:
    """The preview page. ``warnings`` maps a page number to the sentences about it."""
    warnings = warnings or {}
    by_number = {page.number: page for page in pages}
    sections = []
    for index, (left, right) in enumerate(spreads(len(pages))):
        notes = [(n, text) for n in (left, right) if n for text in warnings.get(n, ())]
        note_html = "".join(f'<li><b>Page {n}:</b> {html.escape(text)}</li>' for n, text in notes)
        aside = f'<aside class="notes"><h2>To look at</h2><ul>{note_html}</ul></aside>' if notes else \
            '<aside class="notes ok">Nothing to look at on these pages.</aside>'
        label = " and ".join(f"page {n}" for n in (left, right) if n)
        sections.append(
            f'<section class="spread" id="spread-{index}" data-index="{index}" aria-label="{label}"'
            f'{"" if index == 0 else " hidden"}><div class="pages">{_img(by_number.get(left), "left")}'
            f'{_img(by_number.get(right), "right")}</div>{aside}</section>')
    general_html = "".join(f"<li>{html.escape(text)}</li>" for text in general)
    facts_html = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in (facts or {}).items())
    total = len(sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — preview</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{html.escape(title)}</h1><div class="facts">{facts_html}</div>
{f'<ul class="general">{general_html}</ul>' if general_html else ''}</header>
<nav><button id="prev" type="button">&larr; Previous</button>
<span id="where" aria-live="polite">1 / {total}</span>
<button id="next" type="button">Next &rarr;</button></nav>
<main>{''.join(sections)}</main>
<script>{SCRIPT}</script>
<script type="application/json" id="book-facts">{html.escape(json.dumps({"spreads": total, "pages": len(pages)}), quote=False)}</script>
</body></html>
"""
