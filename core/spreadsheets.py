"""Spreadsheets we write (Excel .xlsx and CSV) never turn text into a formula.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run by
Excel, WPS and LibreOffice as a formula (``=HYPERLINK("http://x","点此核对")`` becomes a live link,
``=cmd|' /C calc'!A0`` a DDE call). Every export goes through this module:

- :func:`xlsx_row` turns a row of values into cells for ``sheet.append``: text stays a text cell
  (its type is set to string, so openpyxl never stores it as a formula), numbers, Decimals and
  dates keep their type;
- :func:`csv_text` is the CSV form: such text is prefixed with ``'`` (OWASP's advice), which a
  spreadsheet shows as plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import Cell

__all__ = ["FORMULA_START", "csv_text", "is_formula_like", "xlsx_row"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula."""
    return text.startswith(FORMULA_START)


def csv_text(value: Any) -> str:
    """A CSV cell's text: ``None`` is empty, formula-like text gets a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """Cells for ``sheet.append`` (a normal or a write-only sheet): every ``str`` is a text cell.

    Numbers, Decimals, dates and ``None`` are passed through for openpyxl to type as usual.
    """
    row: list[Any] = []
    for value in values:
        if isinstance(value, str):
            cell = Cell(sheet, row=1, column=1)  # placed by sheet.append
            cell._value = value  # the text as is: never parsed as a formula
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
