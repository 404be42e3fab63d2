"""PDF documents with Chinese text (fpdf2): the font search and a page set up with it.

Used by the statement (明白条, portal/statements.py) and the village publicity list (村务公开栏,
admin/batches/publicity.py). fpdf2 ships no CJK font, so one is looked for on the machine (Debian
``fonts-wqy-microhei``, ``fonts-noto-cjk`` or ``fonts-droid-fallback``); a caller may put its own
bundled font first. Without any, :func:`find_cjk_font` returns ``None`` and the caller answers
with a clear message (print the HTML page instead).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["LATIN_FALLBACK", "PAPERS", "SYSTEM_FONTS", "find_cjk_font", "new_pdf"]

# (path, index in a font collection); the first that exists is used.
SYSTEM_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),  # CJK only: digits from DejaVu
)
LATIN_FALLBACK = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PAPERS = ("A4", "A3")


@lru_cache(maxsize=8)
def find_cjk_font(*preferred: tuple[str, int]) -> tuple[str, int] | None:
    """The first CJK font that exists: ``preferred`` ones (a bundled font), then the system's."""
    for path, index in (*preferred, *SYSTEM_FONTS):
        if Path(path).is_file():
            return path, index
    return None


def new_pdf(font: tuple[str, int], *, paper: str = "A4", landscape: bool = False, margin: float = 18,
            title: str = "") -> tuple[Any, str]:
    """An empty ``fpdf.FPDF`` (millimetres, automatic page breaks) with the CJK ``font`` added, and
    the font family name to pass to ``set_font``. No page is added yet."""
    # Lazy on purpose: fpdf2 (with fontTools and Pillow, ~0.25 s to import) is a heavy dependency
    # that only a PDF download needs.
    from fpdf import FPDF

    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}")
    path, index = font
    pdf = FPDF(orientation="L" if landscape else "P", format=paper, unit="mm")
    pdf.set_margins(margin, margin, margin)
    pdf.set_auto_page_break(True, margin=margin)
    if title:
        pdf.set_title(title)
    pdf.set_creator("yikatong")
    kwargs = {"collection_font_number": index} if path.endswith((".ttc", ".otc")) else {}
    pdf.add_font("cjk", "", path, **kwargs)
    family = "cjk"
    if path.endswith("DroidSansFallbackFull.ttf") and Path(LATIN_FALLBACK).is_file():
        pdf.add_font("latin", "", LATIN_FALLBACK)
        family = "latin"
        pdf.set_fallback_fonts(["cjk"])
    return pdf, family
