"""The bank file (代发文件) both ways: the export, and the same file returned with the results.

The layout is documented for banks in docs/bank-files.md; in short, one sheet (or one CSV file,
UTF-8 with BOM, CRLF), top to bottom::

    文件类型 | 一卡通补贴代发文件 | 格式版本 | 1
    批次编号 | B2025-GLJT-01
    批次名称 | 鲁阳街道高龄津贴9月
    支付申请号 | 12
    申请类型 | 首次发放 (or 补发)
    代发银行 | 鲁山农商银行
    笔数 | 2
    金额合计 | 280.00
    导出时间 | 2025-10-15 09:30
    (empty row)
    明细编号 | 姓名 | 身份证号 | 社保卡号 | 金额          ← the detail header
    B2025-GLJT-01-1 | 王明华 | 410423… | 6217… | 150.00
    …
    控制行 | 2 | 280.00 | 9F2C…                      ← count, total, checksum

The bank returns the file with two more columns on the detail header and rows, 处理结果
(成功/失败) and 失败原因 (free text or a code), everything else unchanged. The checksum is the
first 16 hex digits (upper case) of SHA-256 over ``明细编号|身份证号|社保卡号|金额`` of every row,
one per line (UTF-8, each line ending in ``\\n``): it lets both sides see that no row was changed.

Every cell is text (ID and card numbers never become numbers, nothing becomes a formula): cells
are written through :mod:`core.spreadsheets` only. Reading is bounded: at most
:data:`MAX_FILE_BYTES` bytes, :data:`MAX_ROWS` rows and :data:`MAX_SECONDS` seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook, load_workbook

from core.spreadsheets import csv_text, xlsx_row
from core.timeutil import local

__all__ = [
    "CONTROL",
    "CSV",
    "DETAIL_COLUMNS",
    "FORMAT_TITLE",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "RESULT_COLUMNS",
    "XLSX",
    "BankFileError",
    "FileHeader",
    "FileRow",
    "ParsedFile",
    "ParsedRow",
    "build",
    "checksum",
    "line_ref",
    "parse",
    "parse_amount",
    "with_results",
]

FORMAT_TITLE = "一卡通补贴代发文件"
FORMAT_VERSION = "1"
DETAIL_COLUMNS = ("明细编号", "姓名", "身份证号", "社保卡号", "金额")
RESULT_COLUMNS = ("处理结果", "失败原因")
CONTROL = "控制行"
SUCCESS, FAILURE = "成功", "失败"
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_SECONDS = 60.0
TWO_PLACES = Decimal("0.01")


class BankFileError(Exception):
    """A bank file that cannot be taken as it is: a stable ``code`` and a Chinese ``message``
    (naming the file row when one is at fault). Nothing was changed."""

    def __init__(self, code: str, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.row = row

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


# --- the export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileHeader:
    batch_code: str
    batch_title: str
    request_id: int
    kind_label: str
    bank: str
    count: int
    total: Decimal
    exported_at: datetime


@dataclass(frozen=True)
class FileRow:
    ref: str
    name: str
    id_number: str
    card_number: str
    amount: Decimal


def line_ref(batch_code: str, line_no: int) -> str:
    """The line reference (明细编号) of a line: the batch code and the line number."""
    return f"{batch_code}-{line_no}"


def _amount(value: Decimal) -> str:
    return f"{Decimal(value).quantize(TWO_PLACES):.2f}"


def checksum(rows: Iterable[tuple[str, str, str, str]]) -> str:
    """Checksum of (明细编号, 身份证号, 社保卡号, 金额 as "0.00") rows."""
    digest = hashlib.sha256()
    for ref, id_number, card, amount in rows:
        digest.update(f"{ref}|{id_number}|{card}|{amount}\n".encode("utf-8"))
    return digest.hexdigest()[:16].upper()


def _table(header: FileHeader, rows: Sequence[FileRow]) -> Iterator[list[str]]:
    yield ["文件类型", FORMAT_TITLE, "格式版本", FORMAT_VERSION]
    yield ["批次编号", header.batch_code]
    yield ["批次名称", header.batch_title]
    yield ["支付申请号", str(header.request_id)]
    yield ["申请类型", header.kind_label]
    yield ["代发银行", header.bank]
    yield ["笔数", str(header.count)]
    yield ["金额合计", _amount(header.total)]
    yield ["导出时间", local(header.exported_at).strftime("%Y-%m-%d %H:%M")]
    yield []
    yield list(DETAIL_COLUMNS)
    for row in rows:
        yield [row.ref, row.name, row.id_number, row.card_number, _amount(row.amount)]
    yield [CONTROL, str(header.count), _amount(header.total),
           checksum((r.ref, r.id_number, r.card_number, _amount(r.amount)) for r in rows)]


def _write(table: Iterable[Sequence[str]], fmt: str) -> bytes:
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        for row in table:
            writer.writerow([csv_text(value) for value in row])
        return out.getvalue().encode("utf-8-sig")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("代发明细")
    for row in table:
        sheet.append(xlsx_row(sheet, list(row)))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def build(header: FileHeader, rows: Sequence[FileRow], fmt: str) -> bytes:
    """The bank file as ``fmt`` ("csv" or "xlsx"), in memory (it is never written to disk)."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown bank file format {fmt!r}")
    return _write(_table(header, rows), fmt)


# --- reading a returned file -------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


class _Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def check(self) -> None:
        if time.monotonic() - self.started > MAX_SECONDS:
            raise BankFileError("too_slow", f"文件处理超过 {MAX_SECONDS:.0f} 秒仍未完成，请拆分后重试。")


def _raw_rows(data: bytes, filename: str) -> tuple[str, list[list[str]]]:
    """The file's rows as text, and its format ("csv" or "xlsx")."""
    if len(data) > MAX_FILE_BYTES:
        raise BankFileError("too_large", f"文件超过 {MAX_FILE_BYTES // 1024 // 1024} MB，请拆分后重试。")
    if not data.strip():
        raise BankFileError("empty_file", "文件是空的。")
    clock = _Clock()
    rows: list[list[str]] = []
    if data[:4] == b"PK\x03\x04":
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise BankFileError("bad_file", "无法读取这个 Excel 文件，请确认是 .xlsx 格式。") from None
        try:
            sheet = workbook.worksheets[0]
            for values in sheet.iter_rows(values_only=True):
                if len(rows) > MAX_ROWS + 50:
                    raise BankFileError("too_many_rows", f"文件超过 {MAX_ROWS} 行，请拆分后重试。")
                if len(rows) % 1000 == 0:
                    clock.check()
                rows.append([_cell(v) for v in values[:20]])
        finally:
            workbook.close()
        fmt = "xlsx"
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise BankFileError("bad_encoding", "无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx。")
        if "\x00" in text:
            raise BankFileError("bad_file", "文件含有无效字符（空字符），请确认是 CSV 或 .xlsx 文件。")
        try:
            for values in csv.reader(io.StringIO(text, newline="")):
                if len(rows) > MAX_ROWS + 50:
                    raise BankFileError("too_many_rows", f"文件超过 {MAX_ROWS} 行，请拆分后重试。")
                if len(rows) % 1000 == 0:
                    clock.check()
                rows.append([v.strip() for v in values[:20]])
        except csv.Error:
            raise BankFileError("bad_file", "CSV 文件格式有误，无法读取。") from None
        fmt = "csv"
    while rows and not any(rows[-1]):
        rows.pop()
    return fmt, rows


@dataclass(frozen=True)
class ParsedRow:
    row: int  # row number in the file (1-based), for messages
    ref: str
    name: str
    id_number: str
    card_number: str
    amount_text: str
    result: str  # "" when the file has no result columns
    reason: str

    @property
    def succeeded(self) -> bool:
        return self.result == SUCCESS


@dataclass
class ParsedFile:
    format: str
    header: dict[str, str]
    rows: list[ParsedRow]
    control: tuple[str, str, str]  # count, total, checksum as written
    has_results: bool
    control_row: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_code(self) -> str:
        return self.header.get("批次编号", "")

    @property
    def request_id(self) -> int | None:
        text = self.header.get("支付申请号", "")
        return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None

    @property
    def bank(self) -> str:
        return self.header.get("代发银行", "")


def _detail_index(rows: list[list[str]]) -> int:
    for index, row in enumerate(rows):
        if row and row[0] == DETAIL_COLUMNS[0]:
            return index
    raise BankFileError("no_detail_header", f"找不到明细表头（以“{DETAIL_COLUMNS[0]}”开头的一行），"
                                            "请使用本系统导出的代发文件。")


def parse(data: bytes, filename: str = "") -> ParsedFile:
    """Read a bank file (the export, or the export returned with the two result columns)."""
    fmt, rows = _raw_rows(data, filename)
    if rows[0][:2] != ["文件类型", FORMAT_TITLE]:
        raise BankFileError("not_a_bank_file", f"这不是本系统导出的代发文件（第1行应为“文件类型 {FORMAT_TITLE}”）。")
    start = _detail_index(rows)
    header: dict[str, str] = {}
    for row in rows[:start]:
        if len(row) >= 2 and row[0]:
            header[row[0]] = row[1]
    columns = rows[start]
    for position, name in enumerate(DETAIL_COLUMNS):
        if position >= len(columns) or columns[position] != name:
            raise BankFileError("bad_columns", f"明细表头应为：{'、'.join(DETAIL_COLUMNS)}（第{start + 1}行），"
                                               "请不要改动导出文件的列。", start + 1)
    result_at = columns.index(RESULT_COLUMNS[0]) if RESULT_COLUMNS[0] in columns else None
    reason_at = columns.index(RESULT_COLUMNS[1]) if RESULT_COLUMNS[1] in columns else None
    parsed: list[ParsedRow] = []
    control: tuple[str, str, str] | None = None
    control_row = 0
    for index in range(start + 1, len(rows)):
        row = rows[index]
        number = index + 1
        if not any(row):
            continue
        if control is not None:
            raise BankFileError("rows_after_control", f"第{number}行在控制行之后，请删除控制行之后的内容。", number)
        cells = row + [""] * (len(DETAIL_COLUMNS) + 2 - len(row))
        if cells[0] == CONTROL:
            control, control_row = (cells[1], cells[2], cells[3]), number
            continue
        parsed.append(ParsedRow(
            row=number, ref=cells[0], name=cells[1], id_number=cells[2], card_number=cells[3], amount_text=cells[4],
            result=cells[result_at] if result_at is not None and result_at < len(cells) else "",
            reason=cells[reason_at] if reason_at is not None and reason_at < len(cells) else ""))
    if control is None:
        raise BankFileError("no_control", f"文件缺少控制行（以“{CONTROL}”开头，含笔数、金额合计、校验码），"
                                          "请不要删除导出文件的最后一行。")
    return ParsedFile(fmt, header, parsed, control, result_at is not None, control_row)


def parse_amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def with_results(data: bytes, outcomes: Mapping[str, tuple[bool, str]], filename: str = "") -> bytes:
    """The exported file as the bank returns it: 处理结果/失败原因 added to every row, by line
    reference (``{ref: (paid, reason)}``; a row not named is 成功). Same format as the export."""
    fmt, rows = _raw_rows(data, filename)
    start = _detail_index(rows)
    width = len(DETAIL_COLUMNS)
    out: list[list[str]] = []
    for index, row in enumerate(rows):
        if index == start:
            out.append(row[:width] + list(RESULT_COLUMNS))
        elif index > start and row and row[0] and row[0] != CONTROL:
            paid, reason = outcomes.get(row[0], (True, ""))
            out.append(row[:width] + [SUCCESS if paid else FAILURE, "" if paid else reason])
        else:
            out.append(row)
    return _write(out, fmt)
