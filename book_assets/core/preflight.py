"""Re-open a written PDF and check what a press checks, trusting nothing from the layout or the writer.

Read with pikepdf (qpdf), not with the library that wrote the file: page and box sizes from the page
dictionaries; PDF/X version keys and the output intent from the document; fonts from the resources;
text positions, image placements and device colours by walking each content stream with its
transformation matrices; effective PPI from each image's pixels and the matrix it is drawn with;
transparency from groups, soft masks and graphics states. Total ink is measured on a CMYK raster of
every page (Ghostscript's ``tiff32nc`` at ``INK_DPI``, images averaged over each raster cell — the
area coverage a press's preflight measures, not single pixels).

Each finding is a :class:`Problem` with a stable code; :attr:`PreflightReport.items` lists every
item measured with its value and limit, for report.json and the check's metadata.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
from PIL import Image, ImageSequence

from .problems import Problem
from .profiles import POINTS_PER_INCH, Box, PrintProfile

BASE14 = {
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Helvetica", "Helvetica-Bold",
    "Helvetica-Oblique", "Helvetica-BoldOblique", "Times-Roman", "Times-Bold", "Times-Italic",
    "Times-BoldItalic", "Symbol", "ZapfDingbats",
}
TOLERANCE_PT = 0.02
INK_DPI = 36                    # raster cells of 0.7 mm: the area a press's ink check averages over
RGB, CMYK, GRAY = "RGB", "CMYK", "Gray"
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

# Which problem codes decide each measured item (report.json lists every item, passed or not).
ITEM_CODES = {
    "pages": ("page_count", "odd_page_count", "page_count_mismatch", "cover_pages"),
    "pdfx_version": ("pdfx_version", "pdfx_trapped"),
    "output_intent": ("output_intent",),
    "page_boxes": ("page_size", "trim_box", "bleed_box"),
    "fonts_not_embedded": ("font_not_embedded",),
    "text_outside_safe_area": ("text_outside_safe_area",),
    "min_image_ppi": ("image_below_minimum_ppi",),
    "colour_spaces": ("image_colour_space", "image_not_cmyk", "rgb_colour_in_pdfx"),
    "max_ink_percent": ("ink_over_limit",),
    "annotations": ("annotations",),
    "transparency": ("transparency",),
    "file_mb": ("file_too_large",),
}


@dataclass
class PlacedPicture:
    page: int
    name: str
    width_px: int
    height_px: int
    width_in: float
    height_in: float
    colour: str = RGB

    @property
    def ppi(self) -> float:
        return min(self.width_px / self.width_in, self.height_px / self.height_in)


@dataclass(frozen=True)
class PreflightItem:
    """One thing measured on the file: its value, the limit it is held to, and whether it passed."""

    name: str
    value: Any
    limit: Any
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.name, "value": self.value, "limit": self.limit, "passed": self.passed}


@dataclass
class PreflightReport:
    pages: int = 0
    bytes: int = 0
    fonts: list[str] = field(default_factory=list)
    images: list[PlacedPicture] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)     # the print service would refuse the file
    warnings: list[Problem] = field(default_factory=list)     # it prints, but a person should look
    pdfx_version: str | None = None
    output_intent: str | None = None                          # "identifier (N channels)"
    ink_by_page: list[float] = field(default_factory=list)    # max total ink per page, % (CMYK files)
    items: list[PreflightItem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def min_ppi(self) -> float | None:
        return round(min(image.ppi for image in self.images), 1) if self.images else None

    @property
    def max_ink(self) -> float | None:
        return max(self.ink_by_page) if self.ink_by_page else None

    def item_table(self) -> list[dict[str, Any]]:
        return [item.as_dict() for item in self.items]


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------


def _box(array) -> Box:
    x0, y0, x1, y1 = (float(v) for v in array)
    return (round(min(x0, x1), 2), round(min(y0, y1), 2), round(max(x0, x1), 2), round(max(y0, y1), 2))


def _close(a, b) -> bool:
    return all(abs(x - y) <= TOLERANCE_PT for x, y in zip(a, b))


def _rounded(box: Box) -> Box:
    return tuple(round(v, 2) for v in box)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """PDF matrix product m × n (each [a b c d e f])."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2)


def _numbers(operands) -> Matrix:
    return tuple(float(v) for v in operands)


def colour_family(space) -> str:
    """RGB, CMYK, Gray, or the space's name, for an image's or a colour operator's colour space."""
    if space is None:
        return GRAY          # image masks and stencils: no colour of their own
    if isinstance(space, pikepdf.Array) and len(space):
        kind = str(space[0])
        if kind == "/ICCBased":
            return {1: GRAY, 3: RGB, 4: CMYK}.get(int(space[1].get("/N", 0)), kind)
        if kind == "/Indexed":
            return colour_family(space[1])
        if kind in ("/Separation", "/DeviceN"):
            return kind.lstrip("/")
        return colour_family(space[0])
    return {"/DeviceRGB": RGB, "/CalRGB": RGB, "/DeviceCMYK": CMYK, "/DeviceGray": GRAY, "/CalGray": GRAY,
            "/RGB": RGB, "/CMYK": CMYK, "/G": GRAY}.get(str(space), str(space).lstrip("/"))


def _to_unicode(font) -> dict[int, str]:
    """The single-byte codes of a font's ToUnicode CMap (bfchar and bfrange), for readable messages."""
    cmap = font.get("/ToUnicode") if font is not None else None
    if cmap is None:
        return {}
    text = cmap.read_bytes().decode("latin-1")
    mapping: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(src, 16)] = bytes.fromhex(dst).decode("utf-16-be", "replace")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            start = int(dst, 16)
            for offset, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[code] = chr(start + offset)
    return mapping


def _decode(raw: bytes, mapping: dict[int, str]) -> str:
    return "".join(mapping.get(byte, chr(byte)) for byte in raw) if mapping else raw.decode("latin-1")


@dataclass
class PageContent:
    """What one page's content streams draw: text origins, images with their size, device colours."""

    texts: list[tuple[str, float, float]] = field(default_factory=list)
    images: list[tuple[str, int, int, float, float, str]] = field(default_factory=list)  # name, px, in, colour
    rgb_operators: int = 0
    soft_masks: int = 0


def _image_entry(name: str, image, matrix: Matrix) -> tuple[str, int, int, float, float, str]:
    a, b, c, d = matrix[:4]
    width = image.get("/Width", image.get("/W", 0))
    height = image.get("/Height", image.get("/H", 0))
    space = image.get("/ColorSpace", image.get("/CS"))
    family = GRAY if image.get("/ImageMask", image.get("/IM", False)) else colour_family(space)
    return (name, int(width), int(height), (a * a + b * b) ** 0.5 / POINTS_PER_INCH,
            (c * c + d * d) ** 0.5 / POINTS_PER_INCH, family)


def walk_content(stream_owner, resources, content: PageContent, matrix: Matrix = IDENTITY,
                 depth: int = 0) -> None:
    """Follow the graphics state through a page or form: q/Q, cm, text matrices, Do, inline images."""
    if depth > 8:
        return
    resources = resources or pikepdf.Dictionary()
    xobjects = resources.get("/XObject") or {}
    fonts = resources.get("/Font") or {}
    states = resources.get("/ExtGState") or {}
    stack: list[Matrix] = []
    line = text = IDENTITY
    leading, unicode = 0.0, {}
    for operands, operator in pikepdf.parse_content_stream(stream_owner):
        op = str(operator)
        if op == "q":
            stack.append(matrix)
        elif op == "Q" and stack:
            matrix = stack.pop()
        elif op == "cm":
            matrix = _multiply(_numbers(operands), matrix)
        elif op == "BT":
            line = text = IDENTITY
        elif op == "Tm":
            line = text = _numbers(operands)
        elif op in ("Td", "TD"):
            tx, ty = (float(v) for v in operands)
            leading = -ty if op == "TD" else leading
            line = text = _multiply((1, 0, 0, 1, tx, ty), line)
        elif op == "TL":
            leading = float(operands[0])
        elif op == "T*":
            line = text = _multiply((1, 0, 0, 1, 0, -leading), line)
        elif op == "Tf":
            unicode = _to_unicode(fonts.get(operands[0]))
        elif op in ("Tj", "TJ", "'", '"'):
            if op in ("'", '"'):
                line = text = _multiply((1, 0, 0, 1, 0, -leading), line)
            strings = operands[-1] if op == "TJ" else [operands[-1]]
            raw = b"".join(bytes(s) for s in strings if isinstance(s, pikepdf.String))
            shown = _decode(raw, unicode).strip()
            if shown:
                x, y = _multiply(text, matrix)[4:]
                content.texts.append((shown, x, y))
            text = _multiply((1, 0, 0, 1, 1e-3, 0), text)   # later runs of one line start further right
        elif op in ("rg", "RG") or (op in ("sc", "scn", "SC", "SCN") and len(operands) == 3):
            content.rgb_operators += 1
        elif op == "gs":
            state = states.get(operands[0])
            if state is not None and _is_transparent(state):
                content.soft_masks += 1
        elif op == "Do":
            xobject = xobjects.get(operands[0])
            if xobject is None:
                continue
            if xobject.get("/Subtype") == "/Image":
                content.images.append(_image_entry(str(operands[0]).lstrip("/"), xobject, matrix))
                content.soft_masks += int("/SMask" in xobject)
            elif xobject.get("/Subtype") == "/Form":
                content.soft_masks += int(_has_transparency_group(xobject))
                inner = _multiply(_numbers(xobject.get("/Matrix", IDENTITY)), matrix)
                walk_content(xobject, xobject.get("/Resources", resources), content, inner, depth + 1)
        elif op == "INLINE IMAGE":
            image = operands[0]
            content.images.append(_image_entry("inline", image.obj, matrix))


def _is_transparent(state) -> bool:
    mask = state.get("/SMask")
    blend = state.get("/BM")
    return ((mask is not None and str(mask) != "/None")
            or float(state.get("/CA", 1)) < 1 or float(state.get("/ca", 1)) < 1
            or (blend is not None and str(blend) not in ("/Normal", "/Compatible")))


def _has_transparency_group(owner) -> bool:
    group = owner.get("/Group")
    return group is not None and group.get("/S") == "/Transparency"


def _fonts_of(resources, seen: set, found: dict[str, bool], depth: int = 0) -> None:
    """name -> embedded for every font reachable from a resource dictionary, form XObjects included."""
    if resources is None or depth > 8:
        return
    for font in (resources.get("/Font") or {}).values():
        if font.objgen in seen and font.objgen != (0, 0):
            continue
        seen.add(font.objgen)
        name = str(font.get("/BaseFont", "/?")).lstrip("/")
        descendants = font.get("/DescendantFonts")
        descriptor = (descendants[0] if descendants else font).get("/FontDescriptor")
        has_program = descriptor is not None and any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        embedded = str(font.get("/Subtype")) == "/Type3" or (has_program and name.split("+", 1)[-1] not in BASE14)
        found[name] = found.get(name, True) and embedded
    for xobject in (resources.get("/XObject") or {}).values():
        if xobject.get("/Subtype") == "/Form":
            _fonts_of(xobject.get("/Resources"), seen, found, depth + 1)


# ---------------------------------------------------------------------------------------------
# Ink
# ---------------------------------------------------------------------------------------------


def ink_by_page(path: str | Path, dpi: int = INK_DPI) -> list[float]:
    """Maximum total ink (C+M+Y+K, %) on each page, from a CMYK raster drawn by Ghostscript with
    images averaged over each cell (``-dDOINTERPOLATE``)."""
    gs = shutil.which("gs")
    if gs is None:
        raise RuntimeError("`gs` is missing: install the Debian package ghostscript to measure ink.")
    with tempfile.TemporaryDirectory(prefix="ink-") as work:
        raster = Path(work) / "pages.tif"
        subprocess.run([gs, "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=tiff32nc", f"-r{dpi}",
                        "-dDOINTERPOLATE", f"-sOutputFile={raster}", str(Path(path).resolve())],
                       check=True, capture_output=True, timeout=600)
        with Image.open(raster) as pages:
            return [round(float(np.asarray(page, dtype=np.uint16).sum(axis=2).max()) / 2.55, 1)
                    for page in ImageSequence.Iterator(pages)]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_document(report: PreflightReport, pdf: pikepdf.Pdf, profile: PrintProfile) -> None:
    """PDF/X version keys and the output intent, against what the profile's press expects."""
    info = pdf.trailer.get("/Info") or pikepdf.Dictionary()
    version = info.get("/GTS_PDFXVersion")
    report.pdfx_version = str(version) if version is not None else None
    if report.pdfx_version != profile.pdfx:
        report.problems.append(Problem("pdfx_version", f"The file says PDF/X version {report.pdfx_version or 'none'}; "
                                       f"{profile.name} needs {profile.pdfx or 'none'}."))
    if profile.pdfx and str(info.get("/Trapped", "")) not in ("/True", "/False"):
        report.problems.append(Problem("pdfx_trapped", "PDF/X needs /Trapped set to True or False in the document info."))
    intents = [i for i in (pdf.Root.get("/OutputIntents") or []) if i.get("/S") == "/GTS_PDFX"]
    want = 4 if profile.is_cmyk else 3
    if not intents or intents[0].get("/DestOutputProfile") is None:
        report.problems.append(Problem("output_intent", f"No output intent with an ICC profile; {profile.name} needs a "
                                       f"{'a CMYK' if want == 4 else 'an sRGB'} one."))
        return
    intent = intents[0]
    channels = int(intent.DestOutputProfile.get("/N", 0))
    identifier = str(intent.get("/OutputConditionIdentifier", ""))
    report.output_intent = f"{identifier} ({channels} channels)"
    if channels != want or (not profile.is_cmyk and "srgb" not in identifier.lower()):
        report.problems.append(Problem("output_intent", f"The output intent is {report.output_intent}; {profile.name} "
                                       f"needs {'a CMYK press profile' if want == 4 else 'sRGB'}."))


def _check_page(report: PreflightReport, page: pikepdf.Page, where: str, number: int, media: Box, trim: Box,
                safe_boxes: list[Box], profile: PrintProfile, counts: dict[str, int]) -> None:
    """``where`` is "Page N" for an interior page (the finding then carries the page number) or "Cover"."""
    on_page = number if where.startswith("Page ") else None

    def found(into: list[Problem], code: str, message: str) -> None:
        into.append(Problem(code, message if on_page else f"{where}: {message}", page=on_page))

    obj = page.obj
    if not _close(_box(page.mediabox), media):
        found(report.problems, "page_size", f"page size {_box(page.mediabox)} should be {media}.")
    if "/TrimBox" not in obj or not _close(_box(obj.TrimBox), trim):
        found(report.problems, "trim_box", f"trim box missing or not {trim}.")
    if "/BleedBox" not in obj or not _close(_box(obj.BleedBox), media):
        found(report.problems, "bleed_box", "bleed box missing or not the full page.")
    if obj.get("/Annots"):
        counts["annotations"] += 1
        found(report.problems, "annotations", "has annotations or links; printers reject them.")
    content = PageContent()
    walk_content(page, obj.get("/Resources"), content)
    transparent = content.soft_masks + int(_has_transparency_group(obj))
    if transparent and profile.pdfx:
        counts["transparency"] += transparent
        found(report.problems, "transparency", f"uses transparency ({transparent} groups, soft masks or blends), "
                                               f"which {profile.pdfx} forbids.")
    if content.rgb_operators and profile.pdfx:
        found(report.problems, "rgb_colour_in_pdfx", f"{content.rgb_operators} colours are set in RGB; "
                                                     f"{profile.pdfx} with a CMYK intent needs CMYK or gray.")
    for text, x, y in content.texts:
        if not any(b[0] - TOLERANCE_PT <= x <= b[2] + TOLERANCE_PT and b[1] - TOLERANCE_PT <= y <= b[3] + TOLERANCE_PT
                   for b in safe_boxes):
            found(report.problems, "text_outside_safe_area", f"the text \u201c{text[:40]}\u201d starts at ({x:.1f}, "
                                                             f"{y:.1f}) pt, outside the safe area; it may be trimmed off.")
    allowed = (CMYK, GRAY) if profile.is_cmyk else (RGB, GRAY)
    for name, width_px, height_px, width_in, height_in, family in content.images:
        if width_in <= 0 or height_in <= 0:
            continue
        picture = PlacedPicture(number, name, width_px, height_px, width_in, height_in, family)
        report.images.append(picture)
        if family not in allowed:
            code = "image_not_cmyk" if profile.is_cmyk else "image_colour_space"
            found(report.problems, code, f"image {name} is {family}; {profile.name} needs {' or '.join(allowed)}.")
        if picture.ppi < profile.reject_ppi:
            found(report.problems, "image_below_minimum_ppi", f"image {name} prints at {picture.ppi:.0f} PPI, below "
                                                              f"{profile.reject_ppi:.0f}.")
        elif picture.ppi < profile.min_ppi and profile.is_print:
            found(report.warnings, "image_below_target_ppi", f"image {name} prints at {picture.ppi:.0f} PPI, below "
                                                             f"{profile.min_ppi:.0f}.")


def _check_ink(report: PreflightReport, path: Path, profile: PrintProfile, where: str) -> None:
    if profile.max_ink_percent is None:
        return
    report.ink_by_page = ink_by_page(path)
    for number, ink in enumerate(report.ink_by_page, start=1):
        if ink > profile.max_ink_percent:
            page = number if where == "Page" else None
            prefix = "" if page else "Cover: "
            report.problems.append(Problem("ink_over_limit", f"{prefix}total ink reaches {ink:.0f} %; the press "
                                           f"accepts at most {profile.max_ink_percent:.0f} %.", page=page))


def _finish(report: PreflightReport, path: Path, fonts: dict[str, bool], profile: PrintProfile,
            counts: dict[str, int], *, cover: bool = False) -> None:
    """Fonts and file size, then every measured item with its value and limit."""
    report.fonts = sorted(fonts)
    missing = [name for name, embedded in sorted(fonts.items()) if not embedded]
    for name in missing:
        report.problems.append(Problem("font_not_embedded", f"Font {name} is not embedded; printers need every font embedded."))
    report.bytes = path.stat().st_size
    if report.bytes > profile.max_file_mb * 1e6:
        report.problems.append(Problem("file_too_large", f"The file is {report.bytes / 1e6:.0f} MB; the limit is "
                                                         f"{profile.max_file_mb:.0f} MB."))
    codes = {problem.code for problem in report.problems}
    allowed = "CMYK, Gray" if profile.is_cmyk else "RGB, Gray"
    measured = {
        "pages": (report.pages, 1 if cover else f"≥ {profile.min_pages}, multiple of {profile.page_multiple}"),
        "pdfx_version": (report.pdfx_version, profile.pdfx),
        "output_intent": (report.output_intent, "CMYK press profile" if profile.is_cmyk else "sRGB"),
        "page_boxes": (sum(p.code in ITEM_CODES["page_boxes"] for p in report.problems), 0),
        "fonts_not_embedded": (len(missing), 0),
        "text_outside_safe_area": (sum(p.code == "text_outside_safe_area" for p in report.problems), 0),
        "min_image_ppi": (report.min_ppi, profile.reject_ppi),
        "colour_spaces": (", ".join(sorted({i.colour for i in report.images})) or "none", allowed),
        "max_ink_percent": (report.max_ink, profile.max_ink_percent),
        "annotations": (counts["annotations"], 0),
        "transparency": (counts["transparency"], 0 if profile.pdfx else "allowed"),
        "file_mb": (round(report.bytes / 1e6, 2), profile.max_file_mb),
    }
    report.items = [PreflightItem(name, value, limit, not codes & set(ITEM_CODES[name]))
                    for name, (value, limit) in measured.items()]


def _open(path: Path, report: PreflightReport) -> pikepdf.Pdf | None:
    """Re-open the written file (a failure is the finding itself) and count its pages into ``report``."""
    try:
        pdf = pikepdf.open(path)
    except Exception as exc:  # noqa: BLE001 - any failure to re-open is the finding itself
        report.problems.append(Problem("unreadable_pdf", f"The PDF could not be re-opened: {exc}"))
        return None
    report.pages = len(pdf.pages)
    return pdf


def preflight_pdf(path: str | Path, profile: PrintProfile, *, expected_pages: int | None = None) -> PreflightReport:
    """Check the written interior: PDF/X keys and output intent, page count rule, page/trim/bleed
    boxes, embedded fonts, text in the safe area, image resolution and colour, transparency,
    annotations, total ink (CMYK books) and file size."""
    path, report = Path(path), PreflightReport()
    if (pdf := _open(path, report)) is None:
        return report
    with pdf:
        pages = report.pages
        if expected_pages is not None and pages != expected_pages:
            report.problems.append(Problem("page_count_mismatch", f"The PDF has {pages} pages; the layout has {expected_pages}."))
        if pages % 2:
            report.problems.append(Problem("odd_page_count", f"The PDF has an odd number of pages ({pages}); printed books need an even count."))
        elif profile.page_count(pages) != pages:
            report.problems.append(Problem("page_count", f"The PDF has {pages} pages; {profile.name} needs at least "
                                           f"{profile.min_pages} and a multiple of {profile.page_multiple}."))
        _check_document(report, pdf, profile)
        media = (0.0, 0.0, round(profile.page_width_pt, 2), round(profile.page_height_pt, 2))
        fonts: dict[str, bool] = {}
        counts = {"annotations": 0, "transparency": 0}
        for number, page in enumerate(pdf.pages, start=1):
            _check_page(report, page, f"Page {number}", number, media, _rounded(profile.trim_box(number)),
                        [profile.safe_box(number)], profile, counts)
            _fonts_of(page.obj.get("/Resources"), set(), fonts)
    _check_ink(report, path, profile, "Page")
    _finish(report, path, fonts, profile, counts)
    return report


def preflight_cover(path: str | Path, profile: PrintProfile, sheet: Box, trim: Box, safe_boxes: list[Box]) -> PreflightReport:
    """Check a written cover: one sheet of the expected size and boxes, PDF/X keys and output intent,
    fonts, text inside the panels' safe areas, image resolution and colour, transparency,
    annotations, total ink (CMYK books) and file size."""
    path, report = Path(path), PreflightReport()
    if (pdf := _open(path, report)) is None:
        return report
    with pdf:
        if report.pages != 1:
            report.problems.append(Problem("cover_pages", f"The cover has {report.pages} pages; print services want one sheet."))
        _check_document(report, pdf, profile)
        fonts: dict[str, bool] = {}
        counts = {"annotations": 0, "transparency": 0}
        for page in pdf.pages[:1]:
            _check_page(report, page, "Cover", 1, _rounded(sheet), _rounded(trim), safe_boxes, profile, counts)
            _fonts_of(page.obj.get("/Resources"), set(), fonts)
    _check_ink(report, path, profile, "Cover")
    _finish(report, path, fonts, profile, counts, cover=True)
    return report
