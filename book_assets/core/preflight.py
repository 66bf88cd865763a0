"""Re-open a written PDF and check what a print service checks, trusting nothing from the layout."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfReader

from .layout import PrintProfile

BASE14 = {
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Helvetica", "Helvetica-Bold",
    "Helvetica-Oblique", "Helvetica-BoldOblique", "Times-Roman", "Times-Bold", "Times-Italic",
    "Times-BoldItalic", "Symbol", "ZapfDingbats",
}
TOLERANCE_PT = 0.01


@dataclass
class PreflightReport:
    pages: int = 0
    fonts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _box(box) -> tuple[float, float, float, float]:
    return tuple(round(float(v), 2) for v in (box.left, box.bottom, box.right, box.top))


def _close(a, b) -> bool:
    return all(abs(x - y) <= TOLERANCE_PT + 0.01 for x, y in zip(a, b))


def _fonts_of(resources, seen: set[int]) -> list[tuple[str, bool]]:
    """(name, embedded) for every font reachable from a resource dictionary, form XObjects included."""
    found: list[tuple[str, bool]] = []
    if resources is None:
        return found
    resources = resources.get_object()
    for font in (resources.get("/Font") or {}).values():
        font = font.get_object()
        if id(font) in seen:
            continue
        seen.add(id(font))
        name = str(font.get("/BaseFont", "?")).lstrip("/")
        descendants = font.get("/DescendantFonts")
        descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        embedded = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        found.append((name, embedded))
    for xobject in (resources.get("/XObject") or {}).values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Form":
            found.extend(_fonts_of(xobject.get("/Resources"), seen))
    return found


def preflight_pdf(path: str | Path, profile: PrintProfile, *, expected_pages: int | None = None) -> PreflightReport:
    """Check page count, page and trim/bleed boxes, font embedding and annotations of a written PDF."""
    report = PreflightReport()
    try:
        reader = PdfReader(str(path), strict=False)
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001 - any failure to re-open is the finding itself
        report.problems.append(f"The PDF could not be re-opened: {exc}")
        return report
    report.pages = len(pages)
    if expected_pages is not None and len(pages) != expected_pages:
        report.problems.append(f"The PDF has {len(pages)} pages; the layout has {expected_pages}.")
    if len(pages) % 2:
        report.problems.append(f"The PDF has an odd number of pages ({len(pages)}); printed books need an even count.")
    media = (0.0, 0.0, round(profile.page_width_pt, 2), round(profile.page_height_pt, 2))
    fonts: dict[str, bool] = {}
    seen: set[int] = set()
    for number, page in enumerate(pages, start=1):
        if not _close(_box(page.mediabox), media):
            report.problems.append(f"Page {number}: page size {_box(page.mediabox)} should be {media}.")
        trim = tuple(round(v, 2) for v in profile.trim_box(number))
        if "/TrimBox" not in page or not _close(_box(page.trimbox), trim):
            report.problems.append(f"Page {number}: trim box missing or not {trim}.")
        if "/BleedBox" not in page or not _close(_box(page.bleedbox), media):
            report.problems.append(f"Page {number}: bleed box missing or not the full page.")
        if page.get("/Annots"):
            report.problems.append(f"Page {number}: has annotations or links; printers reject them.")
        for name, embedded in _fonts_of(page.get("/Resources"), seen):
            fonts[name] = fonts.get(name, True) and embedded
    report.fonts = sorted(fonts)
    for name, embedded in sorted(fonts.items()):
        base = name.split("+", 1)[-1]
        if not embedded or base in BASE14:
            report.problems.append(f"Font {name} is not embedded; printers need every font embedded.")
    return report
