"""Re-open a written PDF and check what a print service checks, trusting nothing from the layout.

Everything here is measured on the file: page and box sizes from the page dictionaries, fonts from
the resources, text positions by running each content stream through pypdf's text extraction,
image resolution from each image's pixel size and the transformation matrix it is drawn with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ContentStream

from .problems import Problem
from .profiles import POINTS_PER_INCH, Box, PrintProfile

BASE14 = {
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Helvetica", "Helvetica-Bold",
    "Helvetica-Oblique", "Helvetica-BoldOblique", "Times-Roman", "Times-Bold", "Times-Italic",
    "Times-BoldItalic", "Symbol", "ZapfDingbats",
}
TOLERANCE_PT = 0.02
RGB_SPACES = {"/DeviceRGB", "/ICCBased", "/DeviceGray"}


@dataclass
class PlacedPicture:
    page: int
    name: str
    width_px: int
    height_px: int
    width_in: float
    height_in: float

    @property
    def ppi(self) -> float:
        return min(self.width_px / self.width_in, self.height_px / self.height_in)


@dataclass
class PreflightReport:
    pages: int = 0
    bytes: int = 0
    fonts: list[str] = field(default_factory=list)
    images: list[PlacedPicture] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)     # the print service would refuse the file
    warnings: list[Problem] = field(default_factory=list)     # it prints, but a person should look

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def min_ppi(self) -> float | None:
        return round(min(image.ppi for image in self.images), 1) if self.images else None


def _box(box) -> Box:
    return tuple(round(float(v), 2) for v in (box.left, box.bottom, box.right, box.top))


def _close(a, b) -> bool:
    return all(abs(x - y) <= TOLERANCE_PT for x, y in zip(a, b))


def _rounded(box: Box) -> Box:
    return tuple(round(v, 2) for v in box)


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


def _multiply(m: list[float], n: list[float]) -> list[float]:
    """PDF matrix product m × n (each [a b c d e f])."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return [a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2]


def _pictures(page, number: int, reader: PdfReader) -> list[tuple[PlacedPicture, str]]:
    """Every image drawn on ``page`` with its placed size (from the CTM) and its colour space."""
    resources = page.get("/Resources")
    xobjects = (resources.get_object().get("/XObject") or {}) if resources is not None else {}
    contents = page.get_contents()
    if contents is None:
        return []
    found = []
    matrix, stack = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], []
    for operands, operator in ContentStream(contents, reader).operations:
        if operator == b"q":
            stack.append(matrix)
        elif operator == b"Q" and stack:
            matrix = stack.pop()
        elif operator == b"cm":
            matrix = _multiply([float(v) for v in operands], matrix)
        elif operator == b"Do":
            xobject = xobjects.get(operands[0])
            xobject = xobject.get_object() if xobject is not None else None
            if xobject is None or xobject.get("/Subtype") != "/Image":
                continue
            a, b, c, d = matrix[:4]
            width_in = (a * a + b * b) ** 0.5 / POINTS_PER_INCH
            height_in = (c * c + d * d) ** 0.5 / POINTS_PER_INCH
            space = xobject.get("/ColorSpace")
            space = space.get_object() if space is not None else ""
            space = str(space[0] if isinstance(space, list) else space)
            found.append((PlacedPicture(number, str(operands[0]).lstrip("/"), int(xobject["/Width"]),
                                        int(xobject["/Height"]), width_in, height_in), space))
    return found


def _text_origins(page) -> list[tuple[str, float, float]]:
    """(text, x, y) of every piece of text drawn on the page, in page points."""
    origins = []

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            x, y = _multiply(list(tm), list(cm))[4:]
            origins.append((text.strip(), x, y))

    page.extract_text(visitor_text=visit)
    return origins


def _check_page(report: PreflightReport, reader: PdfReader, page, where: str, number: int,
                media: Box, trim: Box, safe_boxes: list[Box], profile: PrintProfile, fonts: dict[str, bool],
                seen: set[int]) -> None:
    """``where`` is "Page N" for an interior page (the finding then carries the page number) or "Cover"."""
    on_page = number if where.startswith("Page ") else None

    def found(into: list[Problem], code: str, message: str) -> None:
        into.append(Problem(code, message if on_page else f"{where}: {message}", page=on_page))

    if not _close(_box(page.mediabox), media):
        found(report.problems, "page_size", f"page size {_box(page.mediabox)} should be {media}.")
    if "/TrimBox" not in page or not _close(_box(page.trimbox), trim):
        found(report.problems, "trim_box", f"trim box missing or not {trim}.")
    if "/BleedBox" not in page or not _close(_box(page.bleedbox), media):
        found(report.problems, "bleed_box", "bleed box missing or not the full page.")
    if page.get("/Annots"):
        found(report.problems, "annotations", "has annotations or links; printers reject them.")
    for name, embedded in _fonts_of(page.get("/Resources"), seen):
        fonts[name] = fonts.get(name, True) and embedded
    for text, x, y in _text_origins(page):
        if not any(b[0] - TOLERANCE_PT <= x <= b[2] + TOLERANCE_PT and b[1] - TOLERANCE_PT <= y <= b[3] + TOLERANCE_PT
                   for b in safe_boxes):
            found(report.problems, "text_outside_safe_area", f"the text \u201c{text[:40]}\u201d starts at ({x:.1f}, {y:.1f}) pt, "
                                   f"outside the safe area; it may be trimmed off.")
    for picture, space in _pictures(page, number, reader):
        report.images.append(picture)
        if space not in RGB_SPACES:
            found(report.problems, "image_colour_space", f"image {picture.name} is in {space}; the book is sRGB throughout.")
        if picture.ppi < profile.reject_ppi:
            found(report.problems, "image_below_minimum_ppi", f"image {picture.name} prints at {picture.ppi:.0f} PPI, below "
                                   f"{profile.reject_ppi:.0f}.")
        elif picture.ppi < profile.min_ppi and profile.is_print:
            found(report.warnings, "image_below_target_ppi", f"image {picture.name} prints at {picture.ppi:.0f} PPI, below "
                                   f"{profile.min_ppi:.0f}.")


def _finish(report: PreflightReport, path: Path, fonts: dict[str, bool], profile: PrintProfile) -> None:
    report.fonts = sorted(fonts)
    for name, embedded in sorted(fonts.items()):
        base = name.split("+", 1)[-1]
        if not embedded or base in BASE14:
            report.problems.append(Problem("font_not_embedded", f"Font {name} is not embedded; printers need every font embedded."))
    report.bytes = path.stat().st_size
    if report.bytes > profile.max_file_mb * 1e6:
        report.problems.append(Problem("file_too_large", f"The file is {report.bytes / 1e6:.0f} MB; the limit is {profile.max_file_mb:.0f} MB."))


def _open(path: Path, report: PreflightReport) -> tuple[PdfReader, list] | None:
    """Re-open the written file (a failure is the finding itself) and count its pages into ``report``."""
    try:
        reader = PdfReader(str(path), strict=False)
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001 - any failure to re-open is the finding itself
        report.problems.append(Problem("unreadable_pdf", f"The PDF could not be re-opened: {exc}"))
        return None
    report.pages = len(pages)
    return reader, pages


def preflight_pdf(path: str | Path, profile: PrintProfile, *, expected_pages: int | None = None) -> PreflightReport:
    """Check the written interior: page count rule, page/trim/bleed boxes, embedded fonts, text in the
    safe area, image resolution and colour, annotations and file size."""
    path, report = Path(path), PreflightReport()
    if (opened := _open(path, report)) is None:
        return report
    reader, pages = opened
    if expected_pages is not None and len(pages) != expected_pages:
        report.problems.append(Problem("page_count_mismatch", f"The PDF has {len(pages)} pages; the layout has {expected_pages}."))
    if len(pages) % 2:
        report.problems.append(Problem("odd_page_count", f"The PDF has an odd number of pages ({len(pages)}); printed books need an even count."))
    elif profile.page_count(len(pages)) != len(pages):
        report.problems.append(Problem("page_count", f"The PDF has {len(pages)} pages; {profile.name} needs at least {profile.min_pages} "
                               f"and a multiple of {profile.page_multiple}."))
    media = (0.0, 0.0, round(profile.page_width_pt, 2), round(profile.page_height_pt, 2))
    fonts: dict[str, bool] = {}
    seen: set[int] = set()
    for number, page in enumerate(pages, start=1):
        _check_page(report, reader, page, f"Page {number}", number, media, _rounded(profile.trim_box(number)),
                    [profile.safe_box(number)], profile, fonts, seen)
    _finish(report, path, fonts, profile)
    return report


def preflight_cover(path: str | Path, profile: PrintProfile, sheet: Box, trim: Box, safe_boxes: list[Box]) -> PreflightReport:
    """Check a written cover: one sheet of the expected size and boxes, fonts, text inside the
    panels' safe areas, image resolution, no annotations, file size."""
    path, report = Path(path), PreflightReport()
    if (opened := _open(path, report)) is None:
        return report
    reader, pages = opened
    if len(pages) != 1:
        report.problems.append(Problem("cover_pages", f"The cover has {len(pages)} pages; print services want one sheet."))
    fonts: dict[str, bool] = {}
    seen: set[int] = set()
    for page in pages[:1]:
        _check_page(report, reader, page, "Cover", 1, _rounded(sheet), _rounded(trim), safe_boxes, profile,
                    fonts, seen)
    _finish(report, path, fonts, profile)
    return report
