"""core/spreadsheets: text we write into .xlsx and CSV never becomes a formula."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from core.spreadsheets import csv_row, csv_text, is_formula_like, xlsx_row

HOSTILE = [
    '=HYPERLINK("http://x","点此核对")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]


def _save(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))


@pytest.mark.parametrize("write_only", [False, True], ids=["normal", "write_only"])
def test_formula_like_text_is_written_as_text(write_only):
    workbook = Workbook(write_only=write_only)
    sheet = workbook.create_sheet("s") if write_only else workbook.active
    sheet.append(xlsx_row(sheet, ["标题", *HOSTILE]))
    sheet.append(xlsx_row(sheet, [7, Decimal("12.50"), 1.5, date(2026, 1, 31), None, "王庄村", "=2+2"]))
    data = _save(workbook)

    assert "<f>" not in _sheet_xml(data)  # no formula anywhere in the file
    read = load_workbook(io.BytesIO(data)).worksheets[0]
    first = list(read[1])
    # XML reads a bare carriage return back as a line feed; the cell is still text
    assert [c.value for c in first] == ["标题", *(t.replace("\r", "\n") for t in HOSTILE)]
    assert all(c.data_type == "s" for c in first)
    assert all(c.quotePrefix for c in first[1:]) and not first[0].quotePrefix
    second = list(read[2])
    assert [c.data_type for c in second[:4]] == ["n", "n", "n", "d"]
    assert second[0].value == 7 and second[1].value == 12.5 and second[3].value == datetime(2026, 1, 31)
    assert second[4].value is None
    assert (second[5].value, second[5].data_type) == ("王庄村", "s")
    assert (second[6].value, second[6].data_type) == ("=2+2", "s")


def test_control_characters_cannot_break_the_file():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(xlsx_row(sheet, ["王\x01明", "=1\x0b+1"]))
    read = load_workbook(io.BytesIO(_save(workbook))).active
    assert [c.value for c in read[1]] == ["王明", "=1+1"]
    assert [c.data_type for c in read[1]] == ["s", "s"]


def test_csv_text_prefixes_what_a_spreadsheet_would_run():
    for text in HOSTILE:
        assert is_formula_like(text)
        assert csv_text(text) == "'" + text
    assert csv_text("王庄村") == "王庄村"
    assert csv_text("120.50") == "120.50"
    assert csv_text(None) == ""
    assert csv_text(3) == "3"
    assert csv_text("a=1") == "a=1"  # only the first character matters


def test_csv_row_reads_back_as_plain_text():
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(csv_row(["姓名", *HOSTILE, None, 5]))
    back = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert back == ["姓名", *("'" + t for t in HOSTILE), "", "5"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in back)
