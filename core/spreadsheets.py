"""Spreadsheets we write (Excel .xlsx and CSV) never turn text into a formula.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run by
Excel, WPS and LibreOffice as a formula (``=HYPERLINK("http://x","点此核对")`` becomes a live link,
``=cmd|' /C calc'!A0`` a DDE call). Every export goes through this module (error reports, batch
and audit exports, the roster template, the demo roster, the public CSV):

- :func:`xlsx_row` turns a row of values into cells for ``sheet.append`` (a normal or a
  write-only sheet): text stays a text cell (its type is set to string, so openpyxl never stores
  it as a formula; formula-like text also gets Excel's "quote prefix" so it stays text when a
  clerk edits the cell), numbers, Decimals and dates keep their type;
- :func:`csv_text` / :func:`csv_row` are the CSV form: such text is prefixed with ``'`` (OWASP's
  advice), which a spreadsheet shows as plain text.

Characters XML cannot hold (control characters other than tab, newline and carriage return) are
dropped from xlsx text, so a stray byte in a roster cannot break the file we hand back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

__all__ = ["FORMULA_START", "csv_row", "csv_text", "is_formula_like", "xlsx_row"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula."""
    return text.startswith(FORMULA_START)


def csv_text(value: Any) -> str:
    """A CSV cell's text: ``None`` is empty, formula-like text gets a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def csv_row(values: Iterable[Any]) -> list[str]:
    """A CSV row for ``csv.writer.writerow``: every value through :func:`csv_text`."""
    return [csv_text(value) for value in values]


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """Cells for ``sheet.append`` (a normal or a write-only sheet): every ``str`` is a text cell.

    Numbers, Decimals, dates and ``None`` are passed through for openpyxl to type as usual.
    """
    row: list[Any] = []
    for value in values:
        if isinstance(value, str):
            text = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = Cell(sheet, row=1, column=1)  # placed by sheet.append
            cell._value = text  # the text as is: never parsed as a formula
            cell.data_type = "s"
            if is_formula_like(text):
                cell.quotePrefix = True
            row.append(cell)
        else:
            row.append(value)
    return row
