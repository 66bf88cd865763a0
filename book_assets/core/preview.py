"""``preview.html``: the book as spreads with page turns, for the maker to look at before printing.

One self-contained file: page images are inlined as data URIs, style and script are inline, and a
Content-Security-Policy forbids every network request, so it opens the same from a bucket, an
e-mail attachment or a laptop without a connection. Review warnings stand beside the spread of
the pages they concern; warnings about no page in particular are listed above the book.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from .layout import PageKind
from .review import ReviewPanel

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; background: #e9e4da; color: #222; overflow-x: hidden; }
header { padding: 12px 20px; background: #fffaf0; border-bottom: 1px solid #d8cfbf; overflow-wrap: anywhere; }
header h1 { margin: 0 0 4px; font-size: 1.4em; }
.facts { color: #555; font-size: .9em; }
.general { margin: 6px 0 0; color: #8a4b00; }
main { padding: 16px; }
.spread { display: flex; gap: 20px; align-items: flex-start; justify-content: center; }
.spread[hidden], .page[hidden] { display: none; }
.pages { display: flex; box-shadow: 0 6px 18px rgba(0,0,0,.25); background: #fff; max-width: 100%; }
.page { margin: 0; position: relative; width: min(42vw, 560px); }
.cover .page { width: min(60vw, 560px); }
.page img { display: block; width: 100%; height: auto; }
.page.empty { background: transparent; }
.notes { max-width: 260px; background: #fff4d6; border-left: 4px solid #e0a100; padding: 8px 12px; font-size: .9em;
         overflow-wrap: anywhere; }
.notes.ok { background: #eaf6ea; border-color: #58a158; }
.notes h2 { font-size: 1em; margin: 0 0 4px; }
.notes ul { margin: 0; padding-left: 18px; }
nav { display: flex; gap: 12px; justify-content: center; align-items: center; padding: 12px; }
nav button { font-size: 1em; padding: 6px 16px; }
#review { margin: 12px 16px 0; background: #fffaf0; border: 1px solid #d8cfbf; padding: 8px 14px; }
#review summary { font-weight: 600; cursor: pointer; padding: 4px 0; }
#review .where { margin: 4px 0 8px; }
#review .item { border: 1px solid #e0d6c4; margin: 10px 0; padding: 8px 10px; display: flex; flex-wrap: wrap;
                gap: 10px; align-items: flex-start; min-width: 0; }
#review legend { font-weight: 600; overflow-wrap: anywhere; }
#review .thumb { width: 120px; height: 120px; object-fit: contain; background: #fff; border: 1px solid #ddd; }
#review .option .thumb { width: 64px; height: 64px; vertical-align: middle; margin: 0 6px; }
#review .options, #review .fields { display: flex; flex-direction: column; gap: 6px; flex: 1 1 260px; min-width: 0; }
#review .option { display: flex; align-items: center; gap: 4px; flex-wrap: wrap; overflow-wrap: anywhere; }
#review input[type=radio] { width: 1.2em; height: 1.2em; }
#review select, #review input[type=text], #review textarea { font: inherit; max-width: 100%; }
#review textarea, #review input[type=text] { width: 100%; }
#review .actions { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 8px 0; }
#review .actions button { font-size: 1em; padding: 8px 14px; }
@media (max-width: 700px) {
  main { padding: 8px; }
  .spread { flex-direction: column; align-items: center; gap: 10px; }
  .page, .cover .page { width: calc(100vw - 16px); }
  .page.empty { display: none; }
  .notes { max-width: none; width: 100%; }
}
"""

# Wide screens turn spreads; narrow ones (a phone) turn one page at a time. The cover comes first.
SCRIPT = """
(function () {
  const narrow = window.matchMedia('(max-width: 700px)');
  const sections = Array.from(document.querySelectorAll('.spread'));
  let views = [], current = 0;
  function build() {
    views = [];
    sections.forEach(function (section) {
      const figures = Array.from(section.querySelectorAll('figure.page'));
      if (narrow.matches && figures.length > 1) {
        figures.forEach(function (figure) { views.push({section: section, figure: figure}); });
      } else {
        views.push({section: section, figure: null});
      }
    });
  }
  function show(index) {
    current = Math.max(0, Math.min(views.length - 1, index));
    const view = views[current];
    sections.forEach(function (s) { s.hidden = s !== view.section; });
    view.section.querySelectorAll('figure.page').forEach(function (f) {
      f.hidden = view.figure !== null && f !== view.figure;
    });
    document.getElementById('where').textContent = (current + 1) + ' / ' + views.length;
    document.getElementById('prev').disabled = current === 0;
    document.getElementById('next').disabled = current === views.length - 1;
    document.body.dataset.view = String(current);
  }
  function rebuild() {
    const shown = views.length ? views[current] : null;
    build();
    let index = 0;
    if (shown) {
      index = views.findIndex(function (v) {
        return v.section === shown.section && (v.figure === shown.figure || v.figure === null || shown.figure === null);
      });
    }
    show(Math.max(0, index));
  }
  document.getElementById('prev').addEventListener('click', function () { show(current - 1); });
  document.getElementById('next').addEventListener('click', function () { show(current + 1); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') show(current + 1);
    if (e.key === 'ArrowLeft') show(current - 1);
  });
  narrow.addEventListener('change', rebuild);
  rebuild();
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# The review panel's script (core/review.py says what it shows): its own file, hashed like the other.
REVIEW_SCRIPT = (Path(__file__).parent / "templates" / "review.js").read_text(encoding="utf-8")

# Only the page's own style and script run (by their hashes, no 'unsafe-inline'), so anything that
# got into the page from an upload could not run or load anything even if escaping ever failed.
CSP = (f"default-src 'none'; img-src data:; style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)} {_csp_hash(REVIEW_SCRIPT)}; "
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


_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("book_assets.core", "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)


def _base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def render_preview(title: str, pages: Sequence[PreviewPage], warnings: Mapping[int, Sequence[str]] | None = None,
                   general: Sequence[str] = (), facts: Mapping[str, object] | None = None, *,
                   cover: bytes | None = None, language: str = "en", review: ReviewPanel | None = None) -> str:
    """The preview page, from ``templates/preview.html.j2`` (autoescaped: every name and sentence
    from an upload is text, never markup). ``warnings`` maps a page number to the sentences about
    it; ``cover`` is a PNG of the front cover, shown first. The page images carry their own printed
    page numbers, so the preview adds none. ``review``: the panel where the maker settles unsure pairs,
    names and texts (shown when it has anything to settle)."""
    warnings = warnings or {}
    by_number = {page.number: page for page in pages}
    opened = []
    for index, (left, right) in enumerate(spreads(len(pages))):
        sides = [{"name": name, "page": by_number.get(number) if number else None,
                  "data": _base64(by_number[number].png) if number in by_number else ""}
                 for name, number in (("left", left), ("right", right))]
        opened.append({"index": index, "sides": sides,
                       "label": " and ".join(f"page {n}" for n in (left, right) if n),
                       "notes": [(n, text) for n in (left, right) if n for text in warnings.get(n, ())]})
    return _TEMPLATES.get_template("preview.html.j2").render(
        title=title, language=language, csp=Markup(CSP), style=Markup(STYLE), script=Markup(SCRIPT),
        review_script=Markup(REVIEW_SCRIPT), review=review.to_json_data() if review and review.has_work else None,
        facts=[(str(k), str(v)) for k, v in (facts or {}).items()],
        general=list(general), cover=_base64(cover) if cover else None, spreads=opened,
        book_facts={"spreads": len(opened), "pages": len(pages), "cover": bool(cover)})
