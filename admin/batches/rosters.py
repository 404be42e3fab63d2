"""Roster files (花名册): reading CSV/.xlsx and checking every line.

Two layers:

- `read_roster(data, filename)` → `RosterFile`: the file itself (encoding, format, header).
  A file that cannot be read at all raises `RosterFileError` with a Chinese message.
  Reading is bounded (`read_table`, also used for the person registry and reference lists):
  at most `MAX_FILE_BYTES` uploaded; rows are streamed (CSV by `csv.reader`, .xlsx by openpyxl in
  read-only mode) and only non-empty rows count towards `MAX_LINES`, where reading stops. An
  .xlsx is refused before any row is read when it unzips to more than `MAX_UNZIPPED_BYTES`, when
  a part holds more than `MAX_SHEET_ROWS` row elements, or when its sheet's dimension claims
  more than `MAX_SHEET_ROWS` rows; and while reading when a row lies past `MAX_SHEET_ROWS` (a
  dimension that understates). At most `MAX_COLUMNS` columns of a row are read.
- `check_lines(rows)`: checks that need no database (ID number, card, name, phone, amount,
  village given, the same person twice in the file). Results carry the spreadsheet row number
  (the header is row 1) so a clerk finds the line in Excel.
- `check_against_batch(session, batch, rows, ...)`: checks against the batch database, done on
  entry and on import: name matches the person registry, card belongs to the person, duplicate
  benefit (same person, project and period in another batch or already in this one), amount
  within the project's standard, reference lists (deceased, supported, public employees …),
  village inside the batch's region. Everything is loaded in bulk, once per call.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Generator, Iterable, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy import select

from admin.models import Batch, CardAccount, PaymentLine, Person, ReferenceEntry, ReferenceKind, Region
from core import personkey
from core.spreadsheets import xlsx_row
from core.validation import (
    ValidationIssue,
    check_amount,
    check_card_number,
    check_id_number,
    check_name,
    check_phone,
    normalize_card_number,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)
from core.workdays import today as today_shanghai

__all__ = [
    "COLUMNS",
    "LineResult",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_LINES",
    "MAX_SHARED_STRINGS_BYTES",
    "MAX_SHEET_ROWS",
    "MAX_UNZIPPED_BYTES",
    "RosterFile",
    "RosterFileError",
    "RosterRow",
    "as_text",
    "check_against_batch",
    "check_file",
    "check_lines",
    "chunks",
    "read_roster",
    "read_table",
    "template_xlsx",
]

# Canonical header, in template order. 手机号 may be empty (and the column may be left out).
COLUMNS: tuple[str, ...] = ("姓名", "身份证号", "社保卡号", "手机号", "金额", "村")
REQUIRED_COLUMNS: tuple[str, ...] = ("姓名", "身份证号", "社保卡号", "金额", "村")
# Optional columns read when present (not in the template): what the supervision signals use.
# 家庭住址 is kept only as a digest on the person; 社保卡状态 / 激活日期 on the card account.
EXTRA_COLUMNS: tuple[str, ...] = ("家庭住址", "社保卡状态", "激活日期")
# 社保卡状态 as written on rosters → the card's activation; frozen or closed cards cannot be entered
CARD_STATES: dict[str, str] = {"已激活": "activated", "激活": "activated", "正常": "activated",
                               "未激活": "not_activated", "待激活": "not_activated"}
CARD_STATES_REFUSED = ("冻结", "挂失", "注销", "已注销", "已冻结", "已挂失")
# Header spellings seen on real rosters, mapped to the canonical column.
ALIASES: dict[str, str] = {
    "姓名": "姓名", "名字": "姓名", "补贴对象": "姓名", "户主姓名": "姓名",
    "身份证号": "身份证号", "身份证号码": "身份证号", "公民身份号码": "身份证号", "身份证": "身份证号",
    "社保卡号": "社保卡号", "社会保障卡号": "社保卡号", "社保卡银行账号": "社保卡号",
    "银行账号": "社保卡号", "一卡通账号": "社保卡号", "卡号": "社保卡号",
    "手机号": "手机号", "手机号码": "手机号", "联系电话": "手机号", "电话": "手机号",
    "金额": "金额", "补贴金额": "金额", "发放金额": "金额", "金额(元)": "金额", "金额（元）": "金额",
    "村": "村", "所在村": "村", "村名": "村", "村(社区)": "村", "村（社区）": "村", "行政村": "村",
    "家庭住址": "家庭住址", "住址": "家庭住址", "家庭地址": "家庭住址", "户籍地址": "家庭住址",
    "社保卡状态": "社保卡状态", "卡状态": "社保卡状态", "激活状态": "社保卡状态",
    "激活日期": "激活日期", "社保卡激活日期": "激活日期",
}

QUANTITY_MAX = Decimal("1e9")
CENT = Decimal("0.01")
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_LINES = 200_000  # non-empty data lines of one file
# Rows an .xlsx sheet may span, empty ones included: the line cap, the header and room for titles
# and blank rows. More is refused from the sheet's <dimension> before any row is read.
MAX_SHEET_ROWS = MAX_LINES + 1_000
MAX_COLUMNS = 100  # columns read per row (a roster has fewer than 20)
# What an .xlsx may unzip to, all parts together, and its shared strings (held in memory).
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 64 * 1024 * 1024


class RosterFileError(ValueError):
    """The file as a whole cannot be used; the message (Chinese) says why and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class RosterRow:
    """One data line as read from the file (values as text, cleaned but not yet validated)."""

    line_no: int
    name: str
    id_number: str
    card_number: str
    phone: str
    amount_text: str
    village: str
    raw: dict[str, Any] = field(default_factory=dict)
    amount: Decimal | None = None
    quantity: Decimal | None = None  # e.g. 亩数: not a roster column; a bulk entry may carry it
    address: str = ""  # 家庭住址, normalised (optional column)
    card_activation: str | None = None  # activated / not_activated (optional 社保卡状态)
    activated_on: date | None = None  # optional 激活日期


@dataclass(slots=True)
class LineResult:
    line_no: int
    row: RosterRow
    issues: list[ValidationIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON (no full ID or card number: only the last 4 characters)."""
        return {
            "line": self.line_no,
            "name": self.row.name,
            "id_last4": self.row.id_number[-4:] if self.row.id_number else "",
            "card_last4": self.row.card_number[-4:] if self.row.card_number else "",
            "amount": str(self.row.amount) if self.row.amount is not None else self.row.amount_text,
            "village": self.row.village,
            "ok": self.ok,
            "issues": [{"code": i.code, "message": i.message} for i in self.issues],
        }


@dataclass(slots=True)
class RosterFile:
    format: str  # "csv" or "xlsx"
    encoding: str | None
    columns: list[str]
    rows: list[RosterRow]


Rows = Generator[Sequence[Any], None, None]  # a table's rows as read, streamed


def _issue(code: str, message: str) -> ValidationIssue:
    return ValidationIssue(code, message)


# --- reading -----------------------------------------------------------------------------------


def _clean_header(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    text = text.replace("\ufeff", "")
    text = "".join(ch for ch in text if not ch.isspace())
    return ALIASES.get(text, ALIASES.get(text.replace("（", "(").replace("）", ")"), text))


def _cell_text(value: Any) -> Any:
    """Keep numbers as numbers (the validators explain Excel's digit loss); strip text."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    if isinstance(value, (date,)):
        return value.isoformat()
    return str(value).strip().replace("\u3000", " ").strip()


def as_text(value: Any) -> str:
    """A cell value as text; a whole-number float (how Excel stores numbers) without its ".0"."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise RosterFileError(
            "not_a_spreadsheet",
            "无法识别文件内容：既不是 Excel 表格（.xlsx），也不是 UTF-8 或 GBK 编码的 CSV 文件。"
            "请用 Excel 打开花名册后“另存为” .xlsx 或 CSV 格式再上传。",
        ) from None


def _looks_binary(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return controls > max(8, len(sample) // 100)


def _rows_from_csv(data: bytes) -> tuple[Rows, str]:
    if _looks_binary(data):
        raise RosterFileError(
            "not_a_spreadsheet",
            "文件不是表格：请上传 Excel 表格（.xlsx）或 CSV 文件。旧版 .xls 请先在 Excel 中另存为 .xlsx。",
        )
    text, encoding = _decode(data)
    sample = text[:4096]
    delimiter = ","
    first_line = sample.splitlines()[0] if sample.splitlines() else ""
    if first_line.count("\t") > first_line.count(","):
        delimiter = "\t"
    elif first_line.count(";") > first_line.count(","):
        delimiter = ";"

    def rows() -> Rows:
        try:
            yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        except csv.Error:
            raise RosterFileError(
                "not_a_spreadsheet", "CSV 文件格式损坏，无法逐行读取。请用 Excel 重新另存为 CSV。") from None

    return rows(), encoding


def _sheet_too_large(rows: str) -> RosterFileError:
    return RosterFileError(
        "too_many_rows",
        f"表格的使用范围{rows}，超过了 {MAX_SHEET_ROWS:,} 行的上限（花名册每个文件最多 {MAX_LINES:,} 行数据）。"
        "如果多出来的是空行或只设置了格式的行，请在 Excel 中删除这些行，或把数据复制到新的工作簿后另存为 .xlsx 再上传；"
        "数据确实很多时，请拆分成几个文件分别导入。",
    )


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref\s*=\s*[\"'][A-Za-z$]*\$?(\d*)(?::[A-Za-z$]*?\$?(\d+))?")


def _claimed_rows(head: bytes) -> int:
    """The last row a sheet's <dimension> claims (0: none in this part's first chunk)."""
    match = _DIMENSION.search(head)
    if match is None:
        return 0
    return int(match.group(2) or match.group(1) or 0)


def _row_elements_over(archive: zipfile.ZipFile, part: zipfile.ZipInfo, limit: int) -> bool:
    """Whether a part holds more than `limit` row elements, counted on the unzipped stream;
    a sheet whose dimension claims more is refused at its first chunk."""
    count, rest, first = 0, b"", True
    with archive.open(part) as stream:
        while chunk := stream.read(1 << 20):
            if first:
                first = False
                claimed = _claimed_rows(chunk)
                if claimed > limit:
                    raise _sheet_too_large(f"有 {claimed:,} 行（含空行）")
            window = rest + chunk
            boundary = len(window) - 64  # a tag starting past here is counted with the next chunk
            for match in _ROW_TAG.finditer(window):
                if match.start() >= boundary:
                    break
                count += 1
            if count > limit:
                return True
            rest = window[max(boundary, 0):]
    return count + len(_ROW_TAG.findall(rest)) > limit


def _check_archive(data: bytes) -> None:
    """Refuse an .xlsx that unzips to too much, or whose sheets hold more row elements than a sheet
    may span, before openpyxl reads any of it (to open a workbook, openpyxl parses a sheet that
    has no <dimension> through to its end)."""
    corrupt = RosterFileError("not_a_spreadsheet", "Excel 文件已损坏，请重新保存后上传。")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise corrupt from None
    with archive:
        parts = archive.infolist()
        total = sum(part.file_size for part in parts)
        strings = sum(part.file_size for part in parts if part.filename.lower().endswith("sharedstrings.xml"))
        if total > MAX_UNZIPPED_BYTES or strings > MAX_SHARED_STRINGS_BYTES:
            raise RosterFileError(
                "file_too_large",
                f"Excel 文件解压后内容过多（超过 {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB），无法导入。"
                "请删除多余的工作表、空行和格式后另存，或拆分成几个文件分别导入。",
            )
        for part in parts:
            try:
                over = _row_elements_over(archive, part, MAX_SHEET_ROWS)
            except RosterFileError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                    zlib.error):  # a damaged, encrypted or oddly compressed part
                raise corrupt from None
            if over:
                raise RosterFileError(
                    "too_many_rows",
                    f"Excel 文件中有工作表超过 {MAX_SHEET_ROWS:,} 行（含空行），超过了上限（花名册每个文件最多 "
                    f"{MAX_LINES:,} 行数据）。请只保留花名册所在的工作表，删除多余的空行后另存为 .xlsx 再上传；"
                    "数据确实很多时，请拆分成几个文件分别导入。",
                )


def _rows_from_xlsx(data: bytes) -> Rows:
    """The first sheet's rows, streamed (read-only mode), each padded to at most `MAX_COLUMNS`.

    Refused before any row is read when the sheet's dimension claims more than `MAX_SHEET_ROWS`
    rows; the dimension is then set aside (openpyxl would pad every row up to it) and reading
    stops at the first row past `MAX_SHEET_ROWS`."""
    _check_archive(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zip/xml errors of every kind: the file is not a usable workbook
        raise RosterFileError(
            "not_a_spreadsheet", "Excel 文件已损坏或不是 .xlsx 格式，请在 Excel 中重新另存为 .xlsx 后上传。"
        ) from None
    if not workbook.worksheets:
        workbook.close()
        raise RosterFileError("not_a_spreadsheet", "Excel 文件里没有工作表，请在 Excel 中重新另存为 .xlsx 后上传。")
    sheet = workbook.worksheets[0]
    claimed = sheet.max_row
    if claimed is not None and claimed > MAX_SHEET_ROWS:
        workbook.close()
        raise _sheet_too_large(f"有 {claimed:,} 行（含空行）")
    sheet.reset_dimensions()

    def rows() -> Rows:
        try:
            for index, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
                if index > MAX_SHEET_ROWS:
                    raise _sheet_too_large(f"超过 {MAX_SHEET_ROWS:,} 行（含空行）")
                yield row
        except RosterFileError:
            raise
        except Exception:
            raise RosterFileError(
                "not_a_spreadsheet", "Excel 文件内容无法读取，请在 Excel 中重新另存为 .xlsx 后上传。") from None
        finally:
            workbook.close()

    return rows()


def _blank(cells: Sequence[Any]) -> bool:
    """A row with nothing in it (fast for the common cases: a filled row, a row of None)."""
    if any(cells):
        return False
    return cells.count(None) == len(cells) or all(c is None or c == "" for c in cells)


def read_table(data: bytes, filename: str, columns: Sequence[str], required: Sequence[str],
               aliases: dict[str, str] | None = None, template_hint: str = "请下载模板对照修改。",
               ) -> tuple[str, str | None, list[str], list[tuple[int, dict[str, Any]]]]:
    """Read a CSV/.xlsx table with a header row: (format, encoding, header, [(row number, values)]).

    Values are keyed by canonical column name; blank rows are skipped but keep their numbers.
    """
    aliases = aliases if aliases is not None else ALIASES
    blank = b" \t\r\n\x00\xef\xbb\xbf"
    if not data or not data[:65536].strip(blank) and not data.strip(blank):  # no copy of a large file
        raise RosterFileError("empty_file", "文件是空的，请选择填写好的文件。")
    if len(data) > MAX_FILE_BYTES:
        raise RosterFileError(
            "file_too_large",
            f"文件太大（超过 {MAX_FILE_BYTES // (1024 * 1024)} MB），请拆分成几个文件分别导入。",
        )
    if filename.lower().endswith(".xls") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterFileError(
            "old_excel_format", "不支持旧版 Excel（.xls）文件，请在 Excel 中“另存为” .xlsx 格式后上传。"
        )
    encoding: str | None = None
    table: Rows
    if data.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise RosterFileError("not_a_spreadsheet", "Excel 文件已损坏，请重新保存后上传。")
        table, fmt = _rows_from_xlsx(data), "xlsx"
    else:
        table, encoding = _rows_from_csv(data)
        fmt = "csv"
    try:
        header, out = _read_lines(table, columns, required, aliases, template_hint)
    finally:
        table.close()  # an .xlsx read stopped early closes its workbook
    return fmt, encoding, header, out


def _read_lines(table: Rows, columns: Sequence[str], required: Sequence[str],
                aliases: dict[str, str], template_hint: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and the non-empty lines of a table, stopping past `MAX_LINES` of them."""

    def clean(cell: Any) -> str:
        text = _clean_header(cell) if aliases is ALIASES else "".join(
            ch for ch in ("" if cell is None else str(cell)).replace("\ufeff", "") if not ch.isspace())
        return aliases.get(text, text)

    iterator = iter(table)
    header: list[str] | None = None
    header_row = 0
    for index, cells in enumerate(iterator, start=1):
        if not _blank(cells) and any(_cell_text(c) != "" for c in cells):
            header = [clean(c) for c in cells]
            while header and header[-1] == "":
                header.pop()
            header_row = index
            break
    if header is None:
        raise RosterFileError("empty_file", "文件里没有任何内容，请填写表头和数据后再上传。")
    missing = [c for c in required if c not in header]
    if missing:
        optional = [c for c in columns if c not in required]
        raise RosterFileError(
            "missing_columns",
            "表头缺少以下列：" + "、".join(missing) + "。第一行应为：" + "、".join(columns)
            + "（列的顺序不限" + ("，" + "、".join(optional) + "可以不填" if optional else "") + "）。"
            + template_hint,
        )
    duplicated = sorted({c for c in header if c in columns and header.count(c) > 1})
    if duplicated:
        raise RosterFileError("duplicate_columns", "表头中以下列出现了不止一次：" + "、".join(duplicated) + "。")
    position = {name: header.index(name) for name in columns if name in header}
    out: list[tuple[int, dict[str, Any]]] = []
    for index, cells in enumerate(iterator, start=header_row + 1):
        if _blank(cells):
            continue
        values = {name: (_cell_text(cells[i]) if i < len(cells) else "") for name, i in position.items()}
        if all(v == "" for v in values.values()):
            continue
        if len(out) >= MAX_LINES:
            raise RosterFileError(
                "too_many_lines", f"文件行数超过 {MAX_LINES:,} 行的上限，请拆分成几个文件分别导入。"
            )
        out.append((index, values))
    if not out:
        raise RosterFileError("no_lines", "文件只有表头，没有数据行。")
    return header, out


def read_roster(data: bytes, filename: str = "") -> RosterFile:
    """Read a roster file (CSV in UTF-8/GBK/GB18030, or .xlsx). Raises `RosterFileError`."""
    fmt, encoding, header, table = read_table(data, filename, COLUMNS + EXTRA_COLUMNS, REQUIRED_COLUMNS)
    rows = [
        RosterRow(line_no=index, name=str(values.get("姓名", "")), id_number="", card_number="", phone="",
                  amount_text="", village=as_text(values.get("村", "")), raw=values)
        for index, values in table
    ]
    return RosterFile(format=fmt, encoding=encoding, columns=header, rows=rows)


# --- checks without the database -------------------------------------------------------------


def check_row(row: RosterRow, today: date) -> list[ValidationIssue]:
    """Checks of one line on its own; normalises the row's fields in place."""
    raw = row.raw
    issues: list[ValidationIssue] = []
    name_raw = raw.get("姓名", row.name)
    issues += check_name(as_text(name_raw))
    row.name = normalize_name(as_text(name_raw))

    id_raw = raw.get("身份证号", row.id_number)
    id_issues = check_id_number(id_raw, today)
    issues += id_issues
    row.id_number = normalize_id_number(as_text(id_raw)) if not id_issues else as_text(id_raw).strip()

    card_raw = raw.get("社保卡号", row.card_number)
    card_issues = check_card_number(card_raw)
    issues += card_issues
    row.card_number = normalize_card_number(card_raw) if not card_issues else as_text(card_raw).strip()

    phone_raw = raw.get("手机号", row.phone)
    issues += check_phone(phone_raw)
    row.phone = normalize_phone(phone_raw)

    amount_raw = raw.get("金额", row.amount_text)
    amount, amount_issues = check_amount(amount_raw)
    issues += amount_issues
    row.amount = amount
    row.amount_text = as_text(amount_raw)

    row.village = as_text(raw.get("村", row.village)).strip()
    if not row.village:
        issues.append(_issue("VILLAGE_REQUIRED", "请填写所在村（社区）名称"))
    issues += _check_extras(row)
    quantity = row.quantity
    if quantity is not None and not (0 < quantity < QUANTITY_MAX and quantity == quantity.quantize(CENT)):
        issues.append(_issue("QUANTITY_FORMAT", "数量（如亩数）应大于0，最多两位小数"))
    return issues


def normalize_address(text: str) -> str:
    """家庭住址 compared loosely: full-width folded, spaces and punctuation dropped."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if ch.isalnum())[:200]


def _check_extras(row: RosterRow) -> list[ValidationIssue]:
    """The optional columns: 家庭住址, 社保卡状态, 激活日期 (empty = not known)."""
    raw = row.raw
    issues: list[ValidationIssue] = []
    row.address = normalize_address(as_text(raw.get("家庭住址", "") or ""))
    state = as_text(raw.get("社保卡状态", "") or "").strip()
    if state in CARD_STATES:
        row.card_activation = CARD_STATES[state]
    elif state in CARD_STATES_REFUSED:
        issues.append(_issue("CARD_STATE_INACTIVE", "此社保卡已冻结、挂失或注销，请使用此人正常使用的社保卡"))
    elif state:
        issues.append(_issue("CARD_STATE_UNKNOWN", "社保卡状态应填“已激活”或“未激活”（也可不填）"))
    day = as_text(raw.get("激活日期", "") or "").strip()[:10]
    if day:
        try:
            row.activated_on = date.fromisoformat(day.replace("/", "-").replace(".", "-"))
        except ValueError:
            issues.append(_issue("ACTIVATION_DATE_FORMAT", "激活日期格式应为 2025-01-31"))
        else:
            row.card_activation = row.card_activation or "activated"
    return issues


def check_lines(rows: Sequence[RosterRow], today: date | None = None) -> list[LineResult]:
    """Check every line on its own, then flag the same ID number twice in the file."""
    today = today or today_shanghai()
    results = [LineResult(row.line_no, row, check_row(row, today)) for row in rows]
    first_line: dict[str, int] = {}
    for result in results:
        number = result.row.id_number
        if not number or any(i.code.startswith("ID_") for i in result.issues):
            continue
        if number in first_line:
            result.issues.append(
                _issue("DUPLICATE_IN_FILE", f"同一身份证号在本文件第{first_line[number]}行已出现，同一人同一期只能发放一次")
            )
        else:
            first_line[number] = result.line_no
    return results


def check_file(data: bytes, filename: str = "") -> list[LineResult]:
    """Read and check a roster file without the database (`yikatong roster check`)."""
    return check_lines(read_roster(data, filename).rows)


# --- checks against the batch database -------------------------------------------------------

REFERENCE_MESSAGES: dict[str, str] = {
    "deceased": "比对发现此人已登记为死亡人员，不能再发放补贴，请核实",
    "supported": "比对发现此人为特困供养人员，按规定不能重复享受本项补贴，请核实",
    "public_employee": "比对发现此人为财政供养人员（公职人员），不符合本项补贴条件，请核实",
    "imprisoned": "比对发现此人正在服刑，请核实是否符合发放条件",
}


def reference_message(kind: str, name: str | None = None) -> str:
    return REFERENCE_MESSAGES.get(kind, "比对发现此人在“" + (name or kind) + "”名单中，请核实是否符合发放条件")


def chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    """`items` in slices small enough for one SQL `IN (...)` on every backend."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(slots=True)
class BatchContext:
    """What the database checks of one batch need, loaded once."""

    person_by_key: dict[str, tuple[int, str]]  # person_key → (person id, name)
    cards_by_person: dict[int, dict[str, tuple[int, str]]]  # person id → card_digest → (card id, status)
    duplicate_persons: dict[int, str]  # person id → batch code where already paid this period
    in_batch_persons: dict[int, int]  # person id → line no already in this batch
    references: dict[str, list[str]]  # person_key → list kinds
    villages: dict[str, str]  # village name or code → village code (inside the batch's region)
    reference_names: dict[str, str]  # list kind → its name, for kinds added as data


def load_context(session: Any, batch: Any, keys: Sequence[str], *, exclude_line_ids: Sequence[int] = ()) -> BatchContext:
    person_by_key: dict[str, tuple[int, str]] = {}
    unique_keys = sorted(set(keys))
    for chunk in chunks(unique_keys):
        for pid, pkey, name in session.execute(
            select(Person.id, Person.person_key, Person.name).where(Person.person_key.in_(chunk))
        ):
            person_by_key[pkey] = (pid, name)
    person_ids = sorted(pid for pid, _ in person_by_key.values())

    cards_by_person: dict[int, dict[str, tuple[int, str]]] = {}
    duplicate_persons: dict[int, str] = {}
    in_batch: dict[int, int] = {}
    excluded = set(exclude_line_ids)
    for chunk in chunks(person_ids):
        for cid, pid, digest, status in session.execute(
            select(CardAccount.id, CardAccount.person_id, CardAccount.card_digest, CardAccount.status)
            .where(CardAccount.person_id.in_(chunk))
        ):
            cards_by_person.setdefault(pid, {})[digest] = (cid, status)
        for line_id, pid, code, batch_id, line_no in session.execute(
            select(PaymentLine.id, PaymentLine.person_id, Batch.code, Batch.id, PaymentLine.line_no)
            .join(Batch, PaymentLine.batch_id == Batch.id)
            .where(
                PaymentLine.person_id.in_(chunk),
                Batch.project_id == batch.project_id,
                Batch.period == batch.period,
                Batch.state != "cancelled",
                PaymentLine.state.not_in(("withdrawn", "returned", "reissued")),
            )
        ):
            if line_id in excluded:
                continue
            if batch_id == batch.id:
                in_batch.setdefault(pid, line_no)
            else:
                duplicate_persons.setdefault(pid, code)

    references: dict[str, list[str]] = {}
    kinds = {code: (name, active) for code, name, active in session.execute(
        select(ReferenceKind.code, ReferenceKind.name, ReferenceKind.active))}
    for chunk in chunks(unique_keys):
        for pkey, kind in session.execute(
            select(ReferenceEntry.person_key, ReferenceEntry.list_kind).where(ReferenceEntry.person_key.in_(chunk))
        ):
            if kinds.get(kind, ("", True))[1]:  # a kind stopped by the system admin is not checked
                references.setdefault(pkey, []).append(kind)
    reference_names = {code: name for code, (name, _active) in kinds.items()}

    villages: dict[str, str] = {}
    for code, name in session.execute(
        select(Region.code, Region.name).where(Region.level == "village", Region.code.startswith(batch.region_code))
    ):
        villages[code] = code
        villages.setdefault(name, code)
    return BatchContext(person_by_key, cards_by_person, duplicate_persons, in_batch, references, villages,
                        reference_names)


def check_against_batch(
    session: Any,
    batch: Any,
    results: Sequence[LineResult],
    hmac_key: bytes,
    *,
    scope_region: str | None = None,
    exclude_line_ids: Sequence[int] = (),
) -> dict[int, dict[str, Any]]:
    """Add the database checks to `results` (in place).

    Returns, per line number, what an import needs: person key, person id (or None: a new
    person), card account id (or None: a new card), village code.
    `scope_region`: the entering clerk's region (a township clerk may only enter its villages).
    """
    project = batch.project
    keys: dict[int, str] = {}
    for result in results:
        if not any(i.code.startswith("ID_") for i in result.issues) and result.row.id_number:
            keys[result.line_no] = personkey.person_key(hmac_key, result.row.id_number)
    context = load_context(session, batch, list(keys.values()), exclude_line_ids=exclude_line_ids)
    resolved: dict[int, dict[str, Any]] = {}
    amount_min = Decimal(project.amount_min)
    amount_max = Decimal(project.amount_max)
    for result in results:
        row = result.row
        info: dict[str, Any] = {"person_key": keys.get(result.line_no), "person_id": None,
                                "card_account_id": None, "village_code": None}
        resolved[result.line_no] = info
        village_code = context.villages.get(row.village) if row.village else None
        if row.village:
            if village_code is None:
                result.issues.append(_issue(
                    "VILLAGE_OUTSIDE_REGION", "所填的村不在本批次的发放区域内，请核对村名（或村代码）"))
            elif scope_region and not village_code.startswith(scope_region):
                result.issues.append(_issue(
                    "VILLAGE_OUTSIDE_SCOPE", "所填的村不属于您负责的乡镇（街道），不能录入"))
        info["village_code"] = village_code
        if row.amount is not None:
            if row.amount < amount_min:
                result.issues.append(_issue(
                    "AMOUNT_BELOW_STANDARD", f"金额低于本项目标准下限{amount_min:,.2f}元，请核对"))
            elif row.amount > amount_max:
                result.issues.append(_issue(
                    "AMOUNT_ABOVE_STANDARD", f"金额超过本项目标准上限{amount_max:,.2f}元，请核对"))
        pkey = keys.get(result.line_no)
        if pkey is None:
            continue
        for kind in context.references.get(pkey, []):
            result.issues.append(_issue("REFERENCE_" + kind.upper(),
                                        reference_message(kind, context.reference_names.get(kind))))
        person = context.person_by_key.get(pkey)
        if person is None:
            continue
        person_id, registered_name = person
        info["person_id"] = person_id
        if row.name and not any(i.code.startswith("NAME_") for i in result.issues) and row.name != registered_name:
            result.issues.append(_issue(
                "NAME_MISMATCH", "姓名与人员信息库中该身份证号登记的姓名不一致，请核对姓名或身份证号"))
        if person_id in context.duplicate_persons:
            result.issues.append(_issue(
                "DUPLICATE_BENEFIT",
                f"此人本项目本期已在批次 {context.duplicate_persons[person_id]} 中享受补贴，不能重复发放"))
        if person_id in context.in_batch_persons:
            result.issues.append(_issue(
                "DUPLICATE_IN_BATCH",
                f"此人已在本批次第{context.in_batch_persons[person_id]}行，同一人同一期只能发放一次"))
        cards = context.cards_by_person.get(person_id)
        if cards and row.card_number and not any(i.code.startswith("CARD_") for i in result.issues):
            digest = personkey.card_digest(hmac_key, pkey, row.card_number)
            match = cards.get(digest)
            if match is None:
                result.issues.append(_issue(
                    "CARD_NOT_OWNED", "社保卡号与人员信息库中此人的卡号不一致，请核对卡号，或先办理换卡登记"))
            elif match[1] != "active":
                result.issues.append(_issue(
                    "CARD_INACTIVE", "此社保卡已注销或冻结，请使用此人正在使用的社保卡"))
            else:
                info["card_account_id"] = match[0]
    return resolved


# --- the template ------------------------------------------------------------------------------


def template_xlsx() -> bytes:
    """The downloadable roster template: header, one example line, text-formatted number columns."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "花名册"
    sheet.append(xlsx_row(sheet, COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = {"A": 12, "B": 22, "C": 24, "D": 15, "E": 12, "F": 16}
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
    for row in range(2, 2002):
        for column in ("B", "C", "D"):
            sheet[f"{column}{row}"].number_format = "@"
    notes = workbook.create_sheet("填表说明")
    for line in (
        "第一行为表头，请勿修改；列的顺序可以调整。",
        "身份证号、社保卡号、手机号三列已设为“文本”格式，请勿改为数字，否则后几位会丢失。",
        "手机号可以不填；金额单位为元，最多两位小数。",
        "村：填写村（社区）全称，如“王庄村”，或12位村级区划代码。",
    ):
        notes.append(xlsx_row(notes, [line]))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
