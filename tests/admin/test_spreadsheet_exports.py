"""Hostile text typed by a clerk or an operator comes back out of every admin spreadsheet as text:
the staged-import error report, the batch export and the audit export never hold a formula."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from openpyxl import Workbook, load_workbook

from core.spreadsheets import xlsx_row

HYPERLINK = '=HYPERLINK("http://x","点此核对")'
DDE = "=cmd|' /C calc'!A0"
AT = "@SUM(1+1)"


def _roster_xlsx(header, rows) -> bytes:
    """A roster as a clerk's spreadsheet holds it: the hostile values are text cells."""
    workbook = Workbook()
    sheet = workbook.active
    for row in [header, *rows]:
        sheet.append(xlsx_row(sheet, row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _cells(data: bytes) -> dict[str, tuple[object, str]]:
    """Every non-empty cell of the first sheet: coordinate → (value, openpyxl data type)."""
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return {c.coordinate: (c.value, c.data_type) for row in sheet.iter_rows() for c in row if c.value is not None}


def _no_formula_anywhere(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    assert all(kind != "f" for _value, kind in _cells(data).values())


def test_formula_cells_of_a_roster_come_back_as_text(user_client, seeded, get_csrf, roster):
    year = date.today().year
    operator = user_client("civil_op")
    token = get_csrf(operator, "/batches/new")
    created = operator.post("/batches", data={"project_id": str(seeded["project"]), "region_code": "410423",
                                              "year": str(year), "period": f"{year}-02", "title": "=1+1",
                                              "csrf_token": token}, follow_redirects=False)
    assert created.status_code == 303
    batch_url = created.headers["location"]

    clerk = user_client("clerk")
    rows = [
        roster.row(1),
        [HYPERLINK, roster.make_id(2), roster.make_card(2), "", "120.50", "王庄村"],
        [roster.make_name(3), roster.make_id(3), roster.make_card(3), "", "120.50", DDE],
        [AT, roster.make_id(4), roster.make_card(4), "+8613800000000", "-5", "王庄村"],
    ]
    token = get_csrf(clerk, batch_url)
    r = clerk.post(batch_url + "/import", data={"csrf_token": token},
                   files={"file": ("花名册.xlsx", _roster_xlsx(roster.header, rows), "application/octet-stream")},
                   follow_redirects=False)
    staged_url = r.headers["location"]
    assert "/imports/" in staged_url

    report = clerk.get(staged_url + "/report.xlsx")
    assert report.status_code == 200
    _no_formula_anywhere(report.content)
    cells = _cells(report.content)
    hostile = {value: kind for value, kind in cells.values() if value in (HYPERLINK, DDE, AT, "+8613800000000", "-5")}
    assert hostile == {HYPERLINK: "s", DDE: "s", AT: "s", "+8613800000000": "s", "-5": "s"}

    for line_no in (3, 4, 5):  # drop the failing lines, import the good one
        clerk.post(f"{staged_url}/lines/{line_no}", data={"remove": "yes", "csrf_token": token})
    assert clerk.post(staged_url + "/commit", data={"csrf_token": token}, follow_redirects=False).status_code == 303

    export = operator.get(batch_url + "/export.xlsx")
    assert export.status_code == 200
    _no_formula_anywhere(export.content)
    cells = _cells(export.content)
    assert cells["C1"] == ("=1+1", "s")  # the batch title
    assert cells["B3"] == (roster.make_name(1), "s")


def test_audit_export_keeps_an_uploaded_file_name_as_text(user_client, seeded, get_csrf, roster):
    operator = user_client("civil_op")
    persons = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(5), "410423100001", "农商银行"]],
                         header=["姓名", "身份证号", "社保卡号", "区划代码", "开户银行"])
    token = get_csrf(operator, "/persons")
    r = operator.post("/persons/import", data={"csrf_token": token},
                      files={"file": ("=1+1.csv", persons, "text/csv")})
    assert "新增 1 人" in r.text

    export = user_client("auditor").get("/audit/export.xlsx")
    assert export.status_code == 200
    _no_formula_anywhere(export.content)
    assert ("=1+1.csv", "s") in _cells(export.content).values()
