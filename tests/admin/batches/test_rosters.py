"""Reading roster files and checking their lines (no database)."""

from __future__ import annotations

import os

import pytest

from admin.batches.rosters import RosterFileError, check_file, read_roster, template_xlsx


def codes(results, line_no):
    return [i.code for r in results if r.line_no == line_no for i in r.issues]


def test_good_csv_with_bom_passes_every_line(roster):
    data = roster.csv([roster.row(i) for i in range(5)])
    results = check_file(data, "r.csv")
    assert [r.line_no for r in results] == [2, 3, 4, 5, 6]
    assert all(r.ok for r in results)
    assert str(results[0].row.amount) == "120.50"


def test_gbk_csv_as_excel_saves_it(roster):
    data = roster.csv([roster.row(i, village="王庄村") for i in range(3)], encoding="gbk")
    parsed = read_roster(data, "r.csv")
    assert parsed.encoding == "gb18030"
    assert parsed.rows[0].village == "王庄村"
    assert all(r.ok for r in check_file(data, "r.csv"))


def test_xlsx_with_shuffled_columns_and_padded_headers(roster):
    header = [" 金额 ", "村", "身份证号码", "姓名", "社会保障卡号"]
    rows = [["120", "王庄村", roster.make_id(i), roster.make_name(i), roster.make_card(i)] for i in range(3)]
    results = check_file(roster.xlsx(rows, header=header), "r.xlsx")
    assert all(r.ok for r in results), [r.issues for r in results]
    assert results[1].row.name == roster.make_name(1)


def test_mixed_bad_lines_report_each_reason_at_its_line(roster):
    good = roster.row(1)
    bad_id = roster.row(2)
    bad_id[1] = bad_id[1][:-1] + ("0" if bad_id[1][-1] != "0" else "1")
    bad_card = roster.row(3)
    bad_card[2] = bad_card[2][:-1] + str((int(bad_card[2][-1]) + 1) % 10)
    bad_name = roster.row(4)
    bad_name[0] = "Wang123"
    bad_amount = roster.row(5, amount="12.345")
    bad_phone = roster.row(6, phone="12345")
    no_village = roster.row(7, village="")
    duplicate = roster.row(1)
    data = roster.csv([good, bad_id, bad_card, bad_name, bad_amount, bad_phone, no_village, duplicate])
    results = check_file(data, "r.csv")
    assert codes(results, 2) == []
    assert codes(results, 3) == ["ID_CHECKSUM"]
    assert codes(results, 4) == ["CARD_LUHN"]
    assert codes(results, 5) == ["NAME_FORMAT"]
    assert codes(results, 6) == ["AMOUNT_DECIMALS"]
    assert codes(results, 7) == ["PHONE_FORMAT"]
    assert codes(results, 8) == ["VILLAGE_REQUIRED"]
    assert codes(results, 9) == ["DUPLICATE_IN_FILE"]
    dup = next(r for r in results if r.line_no == 9)
    assert "第2行" in dup.issues[0].message
    # Messages are plain Chinese and never repeat the ID number.
    assert all(roster.make_id(2)[:10] not in i.message for r in results for i in r.issues)


def test_blank_lines_keep_spreadsheet_line_numbers(roster):
    data = roster.csv([roster.row(1), ["", "", "", "", "", ""], roster.row(2, amount="abc")])
    results = check_file(data, "r.csv")
    assert [r.line_no for r in results] == [2, 4]
    assert codes(results, 4) == ["AMOUNT_FORMAT"]


def test_id_and_card_turned_into_numbers_by_excel_are_explained(roster):
    rows = [[roster.make_name(1), float(roster.make_id(1)[:17]), float(roster.make_card(1)), "", 100, "王庄村"]]
    results = check_file(roster.xlsx(rows), "r.xlsx")
    messages = [i.message for i in results[0].issues]
    assert {i.code for i in results[0].issues} == {"ID_FORMAT", "CARD_FORMAT"}
    assert all("文本" in m for m in messages)
    # The same in a CSV Excel wrote: 4.10423E+17
    data = roster.csv([[roster.make_name(1), "4.10423E+17", "6.21799E+18", "", "100", "王庄村"]])
    assert {i.code for i in check_file(data, "r.csv")[0].issues} == {"ID_FORMAT", "CARD_FORMAT"}


def test_wrong_columns_name_the_missing_ones(roster):
    data = roster.csv([["王明", "x"]], header=["姓名", "电话号码"])
    with pytest.raises(RosterFileError) as err:
        read_roster(data, "r.csv")
    assert err.value.code == "missing_columns"
    for column in ("身份证号", "社保卡号", "金额", "村"):
        assert column in err.value.message
    assert "姓名、" not in err.value.message.split("。")[0]


@pytest.mark.parametrize("data,code", [
    (b"", "empty_file"),
    (b"\xef\xbb\xbf\r\n\r\n", "empty_file"),
    ("姓名,身份证号,社保卡号,手机号,金额,村\r\n".encode(), "no_lines"),
    (b"PK\x03\x04not really a zip", "not_a_spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "old_excel_format"),
    (b"%PDF-1.4\x00\x01\x02binary", "not_a_spreadsheet"),
])
def test_bad_files_raise_a_clear_error(data, code):
    with pytest.raises(RosterFileError) as err:
        read_roster(data, "f.csv")
    assert err.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)


def test_ten_megabytes_of_garbage_is_not_a_spreadsheet():
    with pytest.raises(RosterFileError) as err:
        read_roster(os.urandom(10 * 1024 * 1024), "garbage.csv")
    assert err.value.code == "not_a_spreadsheet"


def test_file_over_the_size_limit(monkeypatch):
    from admin.batches import rosters

    monkeypatch.setattr(rosters, "MAX_FILE_BYTES", 1000)
    with pytest.raises(RosterFileError) as err:
        read_roster(b"a,b\n" * 500, "big.csv")
    assert err.value.code == "file_too_large"


def test_template_reads_back_with_the_expected_header():
    from openpyxl import load_workbook
    import io

    workbook = load_workbook(io.BytesIO(template_xlsx()))
    assert [c.value for c in workbook.active[1]] == ["姓名", "身份证号", "社保卡号", "手机号", "金额", "村"]
    assert workbook.active["B2"].number_format == "@"


def test_a_hundred_thousand_line_file_is_checked_line_by_line(roster):
    # The speed of this is measured by `make bench` (docs/benchmarks.md), not asserted here.
    rows = [roster.row(i, amount=str(100 + i % 50)) for i in range(100_000)]
    rows[54_321][1] = "123"
    data = roster.csv(rows)
    results = check_file(data, "big.csv")
    assert len(results) == 100_000
    assert [r.line_no for r in results if not r.ok] == [54_323]
