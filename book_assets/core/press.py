"""Make a rendered PDF what its press asks for: an output intent, and for offset/POD presses PDF/X-3.

reportlab writes RGB pages with no output intent. After rendering, :func:`make_press_ready` gives

- **RGB profiles** (KDP, screen): the sRGB ICC profile (Debian ``icc-profiles-free``) as the output
  intent, added with pikepdf; pages and images are left as they are.
- **CMYK profiles** (IngramSpark, Lulu): a PDF/X-3:2002 file written by Ghostscript's ``pdfwrite``
  with ``-dPDFX`` and our own definitions file (version key, ``Trapped``, the output intent with
  Ghostscript's SWOP profile from ``libgs-common``). RGB images and colours go through a device
  link sRGB → SWOP made by LittleCMS's ``linkicc`` with the press's total-ink limit built in, so
  the conversion itself never asks for more ink; neutral text and lines are drawn in gray
  (:func:`draw.set_colour`) and Ghostscript maps gray to black ink alone.

Measured on the sample book (``book_assets_tests/test_preflight.py`` keeps measuring it): re-encoding the
CMYK images as JPEG rings around dark edges, so single 400-PPI pixels overshoot the link's limit by up
to ~25 points while the area coverage a press measures (0.7 mm cells) overshoots by ~2. The link
therefore aims ``INK_HEADROOM_PERCENT`` below the limit; the preflight measures the written file.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pikepdf

from .profiles import PrintProfile
from .timing import ms_since

ICC_DIR = Path("/usr/share/color/icc")
SRGB_ICC = ICC_DIR / "sRGB.icc"                          # icc-profiles-free (zlib licence)
SWOP_ICC = ICC_DIR / "ghostscript" / "default_cmyk.icc"  # libgs-common: Artifex CMYK SWOP Profile
SRGB_CONDITION = "sRGB IEC61966-2.1"
SWOP_CONDITION = "CGATS TR 001"                          # SWOP, as registered with the ICC
INK_HEADROOM_PERCENT = 6.0
JPEG_QFACTOR = 0.15           # Ghostscript's prepress quality, no chroma subsampling
GS_TIMEOUT_S = 600

PDFX_DEF = """%!
% PDF/X-3:2002 definitions for Ghostscript's pdfwrite (-dPDFX): version key, trapping, output intent.
[ /GTS_PDFXVersion (PDF/X-3:2002) /Trapped /False /DOCINFO pdfmark
[ /_objdef {{icc_PDFX}} /type /stream /OBJ pdfmark
[ {{icc_PDFX}} << /N 4 >> /PUT pdfmark
[ {{icc_PDFX}} ({profile}) (r) file /PUT pdfmark
[ /_objdef {{OutputIntent_PDFX}} /type /dict /OBJ pdfmark
[ {{OutputIntent_PDFX}} << /Type /OutputIntent /S /GTS_PDFX /OutputCondition (SWOP coated, {limit:g}% total ink)
  /OutputConditionIdentifier ({condition}) /RegistryName (http://www.color.org) /Info (Artifex CMYK SWOP Profile)
  /DestOutputProfile {{icc_PDFX}} >> /PUT pdfmark
[ {{Catalog}} << /OutputIntents [ {{OutputIntent_PDFX}} ] >> /PUT pdfmark
"""


class PressKind(StrEnum):
    """What the press step made of a file; the value is what the book metadata shows."""

    SRGB_INTENT = "srgb-intent"     # RGB pages as rendered, with sRGB declared as the output intent
    PDFX_3 = "pdfx-3"               # PDF/X-3:2002 in CMYK, ink-limited, with the press's output intent


class PressError(RuntimeError):
    """A conversion tool is missing or failed; the message names the Debian package or the output."""


@dataclass(frozen=True)
class PressResult:
    """What the press step did to one file."""

    kind: PressKind
    bytes: int
    ms: float
    ink_limit_percent: float | None = None   # what the conversion aimed at (CMYK only)


def make_press_ready(path: Path, profile: PrintProfile) -> PressResult:
    """Rewrite ``path`` in place (atomically) for ``profile``'s press."""
    started = time.perf_counter()
    if profile.is_cmyk:
        aim = to_pdfx3(path, profile)
        return PressResult(PressKind.PDFX_3, path.stat().st_size, ms_since(started), aim)
    add_srgb_intent(path)
    return PressResult(PressKind.SRGB_INTENT, path.stat().st_size, ms_since(started))


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        raise PressError(f"{path} is missing: install the Debian package {package}.")
    return path


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PressError(f"`{name}` is missing: install the Debian package {package}.")
    return found


def output_intent(pdf: pikepdf.Pdf, icc: Path, components: int, condition: str, info: str) -> pikepdf.Dictionary:
    """A GTS_PDFX output intent dictionary carrying ``icc`` (embedded once in ``pdf``)."""
    profile = pikepdf.Stream(pdf, icc.read_bytes())
    profile["/N"] = components
    return pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFX, OutputCondition=info,
        OutputConditionIdentifier=condition, RegistryName="http://www.color.org", Info=info,
        DestOutputProfile=profile))


def declare_srgb(pdf: pikepdf.Pdf) -> None:
    """Declare sRGB as the output intent of an open RGB PDF (what its DeviceRGB colours mean): done by
    whoever writes the file anyway (``render_pdf``'s join), it saves rewriting the whole book."""
    icc = _need(SRGB_ICC, "icc-profiles-free")
    pdf.Root.OutputIntents = pikepdf.Array([output_intent(pdf, icc, 3, SRGB_CONDITION, SRGB_CONDITION)])


def declares_srgb(pdf: pikepdf.Pdf) -> bool:
    intents = pdf.Root.get("/OutputIntents")
    return intents is not None and any(str(i.get("/OutputConditionIdentifier", "")) == SRGB_CONDITION
                                       for i in intents)


def add_srgb_intent(path: Path) -> None:
    """``declare_srgb`` on a written file, rewritten in place unless it declares sRGB already."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.intent")
    try:
        with pikepdf.open(path) as pdf:
            if declares_srgb(pdf):
                return
            declare_srgb(pdf)
            pdf.save(partial, deterministic_id=True, compress_streams=True,
                     object_stream_mode=pikepdf.ObjectStreamMode.preserve)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@functools.lru_cache(maxsize=8)
def ink_limited_link(limit_percent: float) -> bytes:
    """The device link sRGB → SWOP (perceptual, black point compensation) limited to
    ``limit_percent`` total ink, made once per limit and process by LittleCMS's ``linkicc``.

    Kept as bytes, not a file: a cached path in a folder made for it outlived the process."""
    linkicc = _tool("linkicc", "liblcms2-utils")
    with tempfile.TemporaryDirectory(prefix="book-assets-icc-") as folder:
        out = Path(folder) / f"srgb-swop-{limit_percent:g}.icc"
        subprocess.run([linkicc, "-t", "0", "-b", "-k", f"{limit_percent:g}", "-o", str(out),
                        str(_need(SRGB_ICC, "icc-profiles-free")), str(_need(SWOP_ICC, "libgs-common"))],
                       check=True, capture_output=True, timeout=120)
        return out.read_bytes()


def to_pdfx3(path: Path, profile: PrintProfile) -> float:
    """Convert ``path`` to PDF/X-3:2002 in CMYK for ``profile``'s press; returns the ink the link aims at."""
    gs = _tool("gs", "ghostscript")
    swop = _need(SWOP_ICC, "libgs-common")
    aim = (profile.max_ink_percent or 400.0) - INK_HEADROOM_PERCENT
    link = ink_limited_link(aim)
    with tempfile.TemporaryDirectory(prefix="pdfx-") as work:
        work_dir = Path(work)
        (work_dir / "link.icc").write_bytes(link)
        # Ghostscript reads a source-object file's profile names relative to its working folder.
        (work_dir / "objects.txt").write_text("".join(f"{kind}_RGB\tlink.icc\t0\t1\t0\n"
                                                      for kind in ("Graphic", "Image", "Text")))
        (work_dir / "pdfx_def.ps").write_text(PDFX_DEF.format(profile=swop, condition=SWOP_CONDITION,
                                                              limit=profile.max_ink_percent or 400))
        out = work_dir / "pdfx.pdf"
        command = [
            gs, "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"--permit-file-read={swop}",
            f"--permit-file-read={work_dir.resolve()}/", "-sDEVICE=pdfwrite",
            "-dPDFX=true", "-sColorConversionStrategy=CMYK", "-sProcessColorModel=DeviceCMYK",
            f"-sOutputICCProfile={swop}", "-sSourceObjectICC=objects.txt",
            "-dDownsampleColorImages=false", "-dDownsampleGrayImages=false", "-dAutoFilterColorImages=false",
            "-dColorImageFilter=/DCTEncode",
            f"-sOutputFile={out}",
            "-c", f"<< /ColorImageDict << /QFactor {JPEG_QFACTOR} /Blend 1 /HSamples [1 1 1 1] /VSamples [1 1 1 1] >> "
                  ">> setdistillerparams",
            "-f", "pdfx_def.ps", str(path.resolve()),
        ]
        done = subprocess.run(command, cwd=work_dir, capture_output=True, text=True, timeout=GS_TIMEOUT_S)
        if done.returncode != 0 or not out.exists():
            raise PressError(f"Ghostscript could not write the PDF/X file: {(done.stdout + done.stderr)[-800:]}")
        _replace(out, path)
    return aim


def _replace(new: Path, path: Path) -> None:
    """Put ``new`` in the place of ``path`` atomically, even from another file system."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.press")
    try:
        shutil.copyfile(new, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
