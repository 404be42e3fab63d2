"""Bounded imports: .xlsx rows are streamed and only non-empty rows count; a sheet that claims (or
turns out to hold) more rows than the cap is refused in bounded time and memory; concurrent
imports are limited per operator and in total, with a clear Chinese refusal.

The hostile files of issue 18 (13 MB holding 5 million empty rows: 31 s and 900 MB to refuse) are
crafted small here: the sheet XML is written by hand, its <dimension> claiming whatever we like.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from admin.batches import imports, rosters
from admin.batches.rosters import MAX_SHEET_ROWS, RosterFileError, read_roster, read_table
from admin.models import PaymentLine

HEADER = ["姓名", "身份证号", "社保卡号", "手机号", "金额", "村"]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def row_xml(r: int, values) -> str:
    cells = "".join(f'<c r="{get_column_letter(i)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for i, v in enumerate(values, start=1) if v != "")
    return f'<row r="{r}">{cells}</row>'


def empty_rows(first: int, last: int) -> str:
    """Row elements with formatting only (what Excel and WPS write for formatted blank rows)."""
    return "".join(f'<row r="{r}" s="1" customFormat="1" ht="18" customHeight="1"/>' for r in range(first, last + 1))


def crafted_xlsx(dimension: str | None, body: str, *, tail: str = "</sheetData></worksheet>") -> bytes:
    """A real workbook whose first sheet's XML is `body` (rows), under the given <dimension>."""
    workbook = Workbook()
    workbook.active.append(["x"])
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head = f'<dimension ref="{dimension}"/>' if dimension else ""
                data = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}">'
                        f'{head}<sheetData>{body}{tail}').encode()
            target.writestr(info.filename, data)
    return out.getvalue()


MEASURE = """
import json, resource, sys, time, tracemalloc
from admin.batches.rosters import RosterFileError, read_roster
data = open(sys.argv[1], "rb").read()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
wall, cpu = time.perf_counter(), time.process_time()
result = {"code": None, "message": "", "lines": None}
try:
    result["lines"] = [row.line_no for row in read_roster(data, "roster.xlsx").rows]
except RosterFileError as exc:
    result.update(code=exc.code, message=exc.message)
result.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu,
              peak_mb=tracemalloc.get_traced_memory()[1] / 2**20,
              rss_before_mb=rss_before / 1024, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              file_kb=len(data) / 1024)
print(json.dumps(result, ensure_ascii=False))
"""


def measure(tmp_path: Path, data: bytes) -> dict:
    """Read a roster in a fresh process: outcome, time and peak memory of that read alone."""
    path = tmp_path / "roster.xlsx"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300,
                          check=True)
    result = json.loads(done.stdout)
    print(f"\n{result['file_kb']:.0f} KB: {result['code'] or result['lines']}, cpu {result['cpu']:.2f} s, "
          f"wall {result['wall']:.2f} s, peak {result['peak_mb']:.1f} MB (tracemalloc), "
          f"max RSS {result['rss_mb']:.0f} MB (interpreter and imports: {result['rss_before_mb']:.0f} MB)")
    return result


def test_a_sheet_claiming_five_million_rows_is_refused_in_bounded_time_and_memory(tmp_path, roster):
    data = crafted_xlsx("A1:F5000000", row_xml(1, HEADER) + row_xml(2, roster.row(1)))
    result = measure(tmp_path, data)
    assert result["code"] == "too_many_rows"
    assert "5,000,000 行" in result["message"] and "删除" in result["message"]
    assert result["cpu"] < 2.0  # measured ≈ 0.01 s
    assert result["peak_mb"] < 16 and result["rss_mb"] - result["rss_before_mb"] < 64


def test_blank_rows_under_a_huge_dimension_are_skipped_quickly(tmp_path, roster):
    # Claims the most rows a sheet may span, and all 16 384 columns; 30 000 formatted blank rows
    # between the lines (openpyxl would pad every row to the dimension if it were trusted).
    body = (row_xml(1, HEADER) + row_xml(2, roster.row(1)) + empty_rows(3, 30_002) + row_xml(30_003, roster.row(2))
            + row_xml(MAX_SHEET_ROWS, roster.row(3)))
    data = crafted_xlsx(f"A1:XFD{MAX_SHEET_ROWS}", body)
    result = measure(tmp_path, data)
    assert result["code"] is None, result["message"]
    assert result["lines"] == [2, 30_003, MAX_SHEET_ROWS]  # spreadsheet row numbers kept
    assert result["cpu"] < 10.0 and result["peak_mb"] < 64


def test_a_dimension_that_understates_is_caught_while_reading(tmp_path, roster):
    data = crafted_xlsx("A1:F2", row_xml(1, HEADER) + row_xml(2, roster.row(1)) + row_xml(5_000_000, roster.row(2)))
    result = measure(tmp_path, data)
    assert result["code"] == "too_many_rows"
    assert f"{MAX_SHEET_ROWS:,} 行" in result["message"]
    assert result["cpu"] < 5.0 and result["peak_mb"] < 16


def test_only_non_empty_rows_count_and_reading_stops_at_the_cap(monkeypatch, roster):
    monkeypatch.setattr(rosters, "MAX_LINES", 5)
    five = "".join(row_xml(2 + 40 * k, roster.row(k)) + empty_rows(3 + 40 * k, 41 + 40 * k) for k in range(5))
    assert [r.line_no for r in read_roster(crafted_xlsx(None, row_xml(1, HEADER) + five)).rows] == [2, 42, 82, 122, 162]
    blanks = roster.csv([roster.row(0), ["", "", "", "", "", ""], *[roster.row(k) for k in range(1, 5)], []])
    assert len(read_roster(blanks, "r.csv").rows) == 5

    # A sixth line stops the reading there: the broken XML far below it is never parsed.
    six = five + row_xml(500, roster.row(5)) + empty_rows(501, 8_000)
    data = crafted_xlsx("A1:F2", row_xml(1, HEADER) + six, tail='<row r="8001"><c r="A8001" t="inlineStr"><is><t>x')
    with pytest.raises(RosterFileError) as err:
        read_roster(data)
    assert err.value.code == "too_many_lines"
    with pytest.raises(RosterFileError) as err:
        read_roster(roster.csv([roster.row(k) for k in range(6)]), "r.csv")
    assert err.value.code == "too_many_lines"


def test_a_sheet_without_dimension_is_counted_before_openpyxl_opens_it(monkeypatch, roster):
    # openpyxl parses a sheet without <dimension> to its end just to open the workbook: the row
    # elements are counted first (on the unzipped stream, across its 1 MB chunks).
    monkeypatch.setattr(rosters, "MAX_SHEET_ROWS", 1_000)
    padded = 'x="' + "填" * 1_000 + '"'  # 3 KB a row: the count crosses chunk boundaries
    blank = "".join(f'<row r="{r}" {padded}/>' for r in range(3, 1_000))
    fits = row_xml(1, HEADER) + row_xml(2, roster.row(1)) + blank + row_xml(1_000, roster.row(2))
    assert [r.line_no for r in read_roster(crafted_xlsx(None, fits)).rows] == [2, 1_000]
    with pytest.raises(RosterFileError) as err:
        read_roster(crafted_xlsx(None, fits + f'<row r="1001" {padded}/>'))
    assert err.value.code == "too_many_rows" and "1,000 行" in err.value.message


def test_the_cap_holds_for_person_and_reference_files_too(monkeypatch, roster):
    monkeypatch.setattr(rosters, "MAX_LINES", 2)
    with pytest.raises(RosterFileError) as err:
        read_table(roster.csv([[roster.make_id(k)] for k in range(3)], header=["身份证号"]), "d.csv",
                   ("身份证号",), ("身份证号",), {"身份证号": "身份证号"})
    assert err.value.code == "too_many_lines"


def test_a_workbook_that_unzips_too_far_is_refused_before_reading(monkeypatch, roster):
    data = roster.xlsx([roster.row(k) for k in range(300)])
    monkeypatch.setattr(rosters, "MAX_UNZIPPED_BYTES", len(data))  # unzipped, it is several times larger
    with pytest.raises(RosterFileError) as err:
        read_roster(data, "r.xlsx")
    assert err.value.code == "file_too_large" and "解压后" in err.value.message


def test_the_web_upload_of_a_five_million_row_sheet_is_refused_and_changes_nothing(user_client, seeded, get_csrf,
                                                                                   roster, unchanged):
    c = user_client("clerk")
    data = crafted_xlsx("A1:F5000000", row_xml(1, HEADER) + row_xml(2, roster.row(1)))
    token = get_csrf(c, f"/batches/{seeded['batch']}")
    with unchanged():
        started = time.monotonic()
        r = c.post(f"/batches/{seeded['batch']}/import", data={"csrf_token": token},
                   files={"file": ("花名册.xlsx", data, "application/octet-stream")})
        assert time.monotonic() - started < 10
    assert r.status_code == 200 and "文件无法导入" in r.text and "5,000,000 行" in r.text


# --- how many imports run at once ---------------------------------------------------------------


def _upload(c, get_csrf, batch_id, data, **headers):
    token = get_csrf(c, f"/batches/{batch_id}")
    return c.post(f"/batches/{batch_id}/import", data={"csrf_token": token}, headers=headers,
                  files={"file": ("花名册.csv", data, "text/csv")}, follow_redirects=False)


def test_an_operator_runs_one_import_at_a_time(user_client, seeded, get_csrf, roster, batch_db, unchanged):
    c = user_client("clerk")
    data = roster.csv([roster.row(1)])
    get_csrf(c, f"/batches/{seeded['batch']}")
    with imports.import_slots.acquire(seeded["users"]["clerk"]):  # the clerk's first file, still importing
        with unchanged():
            page = _upload(c, get_csrf, seeded["batch"], data)
            api = _upload(c, get_csrf, seeded["batch"], data, accept="application/json")
        assert page.status_code == 429 and "上一个文件还在导入中" in page.text
        assert api.status_code == 429 and api.json()["error"]["code"] == "import_in_progress"
        assert "上一个文件还在导入中" in api.json()["error"]["message"]
    assert imports.import_slots.running() == 0
    assert _upload(c, get_csrf, seeded["batch"], data).status_code == 303  # done: the next one goes ahead
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 1


def test_a_full_server_asks_everyone_to_come_back_later(user_client, seeded, get_csrf, roster, unchanged):
    clerk, operator = user_client("clerk"), user_client("civil_op")
    persons = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(5), "410423100001"]],
                         header=["姓名", "身份证号", "社保卡号", "区划代码"])
    token = get_csrf(operator, "/persons")
    others = [imports.import_slots.acquire(seeded["users"][name]) for name in ("admin", "clerk2")]
    assert len(others) == imports.MAX_IMPORTS
    try:
        with unchanged():
            roster_upload = _upload(clerk, get_csrf, seeded["batch"], roster.csv([roster.row(1)]),
                                    accept="application/json")
            person_upload = operator.post("/persons/import", data={"csrf_token": token},
                                          files={"file": ("p.csv", persons, "text/csv")})
    finally:
        for slot in others:
            slot.release()
    assert roster_upload.status_code == 503 and roster_upload.json()["error"]["code"] == "imports_busy"
    assert person_upload.status_code == 503 and "请过一两分钟再上传" in person_upload.text
    assert "新增 1 人" in operator.post("/persons/import", data={"csrf_token": token},
                                      files={"file": ("p.csv", persons, "text/csv")}).text


def test_a_background_import_holds_its_slot_until_it_ends(user_client, seeded, get_csrf, roster, monkeypatch):
    monkeypatch.setattr(imports, "BACKGROUND_IMPORT_BYTES", 0)
    c = user_client("clerk")
    job_url = _upload(c, get_csrf, seeded["batch"], roster.csv([roster.row(i) for i in range(1, 21)])).headers["location"]
    thread = imports.running_imports.get(job_url.rsplit("/", 1)[-1])
    if thread is not None:
        thread.join()
    assert imports.import_slots.running() == 0
    assert c.get(job_url, follow_redirects=False).headers["location"] == f"/batches/{seeded['batch']}"
    second = _upload(c, get_csrf, seeded["batch"], roster.csv([roster.row(30)]))
    assert second.status_code == 303
    # let the second background import end before the test's database is dropped
    thread = imports.running_imports.get(second.headers["location"].rsplit("/", 1)[-1])
    if thread is not None:
        thread.join()
    assert imports.import_slots.running() == 0


def test_slots_count_per_operator_and_in_total():
    slots = imports.ImportSlots(per_operator=1, total=2)
    first = slots.acquire(1)
    with pytest.raises(Exception) as busy:
        slots.acquire(1)
    assert busy.value.status == 429
    second = slots.acquire(2)
    with pytest.raises(Exception) as full:
        slots.acquire(3)
    assert full.value.status == 503 and full.value.code == "imports_busy"
    first.release()
    first.release()  # twice is harmless
    assert slots.running() == 1
    slots.acquire(3).release()
    second.release()
    assert slots.running() == 0
