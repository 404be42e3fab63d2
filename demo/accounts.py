"""Demo operator accounts (one per role) and the clerk's sample roster file — demo mode only.

The demo build (demo/build.py) creates `ACCOUNTS` in the batch database with the shared
`DEMO_PASSWORD` and no forced password change, so a newcomer can log in to the back office at
once (DESIGN.md "Demo mode"). They are listed by `yikatong demo accounts` / `demo people` and on
the admin login page — only in demo mode, and only once a build has created them.

`roster_file(config)` writes an .xlsx roster for the clerk's draft batch: valid lines for people
of the clerk's township (registered people without a line of this project and period, topped up
with new people when a small build has too few) plus a few deliberately bad ones (see
`BAD_KINDS`), to try import → fix.
Deterministic: the same demo database gives the same file.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from random import Random
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from admin.access import operators
from admin.access.roles import ROLE_LABELS
from admin.batches.rosters import COLUMNS
from admin.fieldcrypt import cipher
from admin.models import Batch, CardAccount, Department, PaymentLine, Person, Project, Region
from core import personkey, regions
from core.config import Config
from core.db import Database
from core.spreadsheets import xlsx_row
from demo.data import COUNTY_BY_CODE, GROUP_BIRTH_YEARS
from demo.marker import read_marker
from demo.persons import make_card_number, make_id_number, make_name, random_birth

__all__ = ["ACCOUNTS", "ACCOUNTS_SINCE_VERSION", "BAD_KINDS", "CLERK_TOWNSHIP", "COUNTY", "DEMO_PASSWORD",
           "DRAFT_POLICY", "DemoAccount", "RosterSample", "create_accounts", "demo_accounts", "roster_file"]

# Meets the password rule (≥ 10 characters, three kinds); demo mode only, printed everywhere there.
DEMO_PASSWORD = "Yikatong-2026"
COUNTY = "410423"               # 鲁山县
CLERK_TOWNSHIP = "410423101"    # 下汤镇 (a real township of 鲁山县)
DRAFT_POLICY = "NCDB"           # 农村低保 of 鲁山县民政局: its latest batch is held in draft by the build
ACCOUNTS_SINCE_VERSION = 2      # demo.json "version" from which the build creates these accounts


@dataclass(frozen=True)
class DemoAccount:
    username: str
    name: str
    role: str
    region_code: str
    department: str | None = None   # key of demo.data.DEPARTMENTS (the county's department)
    unit: str = ""
    all_projects: bool = False      # department roles: every project of the department assigned
    note: str = ""                  # what the scope means, shown next to the region

    @property
    def department_code(self) -> str | None:
        return f"{COUNTY}-{self.department}" if self.department else None


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("demo_admin", "赵志刚", "system_admin", COUNTY, unit="鲁山县财政局信息中心",
                note="全县：账号管理、全部批次与审计记录"),
    DemoAccount("demo_clerk", "张春燕", "township_clerk", CLERK_TOWNSHIP, unit="鲁山县下汤镇人民政府",
                note="本镇各村的发放明细；可向农村低保草稿批次导入花名册，提交本镇临时救助草稿批次"),
    DemoAccount("demo_dept", "孙丽娟", "department_operator", COUNTY, "MZJ", "鲁山县民政局", True,
                note="鲁山县民政局的全部项目：建批次、录入、提交"),
    DemoAccount("demo_reviewer", "周建平", "department_reviewer", COUNTY, "MZJ", "鲁山县民政局", True,
                note="鲁山县民政局的全部项目：初审、审批"),
    DemoAccount("demo_finance", "马红霞", "finance_reviewer", COUNTY, "CZJ", "鲁山县财政局",
                note="全县批次的财政复核"),
    DemoAccount("demo_bank", "刘晓东", "bank_operator", COUNTY, unit="中国农业银行鲁山县支行",
                note="全县批次的代发与发放结果"),
    DemoAccount("demo_auditor", "韩秀梅", "auditor", COUNTY, unit="鲁山县审计局",
                note="全县只读：批次、明细、人员与审计记录；核实异常信号"),
    DemoAccount("demo_supervisor", "罗建国", "supervisor", COUNTY, unit="鲁山县纪委监委",
                note="全县只读，办理要求保密的举报，核实异常信号"),
)


def _scope_text(account: DemoAccount) -> str:
    return f"{regions.full_name(account.region_code)}（{account.note}）"


def demo_accounts(config: Config) -> list[dict[str, str]]:
    """The demo accounts of the built demo data (empty outside demo mode or before such a build).

    Keys: username, name, role, role_label, region_code, scope, unit, password."""
    if not config.demo:
        return []
    marker = read_marker(config.data_dir)
    version = marker.get("version") if marker else None
    if not isinstance(version, int) or version < ACCOUNTS_SINCE_VERSION:
        return []
    return [{"username": a.username, "name": a.name, "role": a.role, "role_label": ROLE_LABELS[a.role],
             "region_code": a.region_code, "scope": _scope_text(a), "unit": a.unit, "password": DEMO_PASSWORD}
            for a in ACCOUNTS]


def create_accounts(session: Any, config: Config) -> None:
    """Create the demo accounts (called by the demo build, inside its transaction)."""
    if not config.demo:  # pragma: no cover - the build refuses outside demo mode already
        raise ValueError("demo accounts exist only in demo mode")
    password_hash = operators.hash_password(DEMO_PASSWORD)  # one hash for every account
    for account in ACCOUNTS:
        project_ids: list[int] = []
        if account.all_projects:
            project_ids = list(session.scalars(
                select(Project.id).join(Department, Department.id == Project.department_id)
                .where(Department.code == account.department_code).order_by(Project.id)))
        operators.create_operator(
            session, config, actor="system", username=account.username, name=account.name, role=account.role,
            region_code=account.region_code, password=DEMO_PASSWORD, unit=account.unit,
            department_code=account.department_code, project_ids=project_ids,
            must_change_password=False, password_hash=password_hash)


# --- the clerk's sample roster -----------------------------------------------------------------

# The deliberately bad lines, in the order they are used (then again from the start).
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("ID_CHECKSUM", "身份证号校验位错误"),
    ("CARD_LUHN", "社保卡号校验位错误"),
    ("AMOUNT_ABOVE_STANDARD", "金额超过项目标准上限"),
    ("DUPLICATE_IN_FILE", "同一人重复出现"),
)
VALID_LINES = 6


@dataclass(frozen=True)
class RosterSample:
    data: bytes
    batch_id: int
    batch_code: str
    batch_title: str
    valid: int
    bad: dict[int, str]   # spreadsheet row number (header = row 1) → the issue code it must raise


def _draft_batch(session: Any) -> Any:
    return session.scalars(
        select(Batch).join(Project, Project.id == Batch.project_id)
        .where(Batch.state == "draft", Batch.region_code == COUNTY,
               Project.code.startswith(f"{COUNTY}{DRAFT_POLICY}"))
        .order_by(Batch.id.desc()).limit(1)).first()


def _candidates(session: Any, config: Config, batch: Any, needed: int) -> list[tuple[str, str, str, str]]:
    """(name, ID number, active card number, village code) of registered people of the clerk's
    township with no line of this project and period yet (so they pass every check)."""
    taken = set(session.scalars(
        select(PaymentLine.person_id).join(Batch, Batch.id == PaymentLine.batch_id)
        .where(Batch.project_id == batch.project_id, Batch.period == batch.period, Batch.state != "cancelled")))
    decrypt = cipher(config.field_key).decrypt
    out: list[tuple[str, str, str, str]] = []
    rows = session.execute(
        select(Person.id, Person.name, Person.id_number_enc, Person.region_code)
        .where(Person.region_code.startswith(CLERK_TOWNSHIP)).order_by(Person.id))
    for pid, name, id_enc, village in rows:
        if pid in taken:
            continue
        cards = list(session.scalars(select(CardAccount).where(CardAccount.person_id == pid)
                                     .order_by(CardAccount.id)))
        if len(cards) != 1 or cards[0].status != "active":  # one plain active card: no card history to explain
            continue
        out.append((name, decrypt(id_enc), decrypt(cards[0].card_number_enc), village))
        if len(out) >= needed:
            break
    return out


def _newcomers(session: Any, config: Config, batch: Any, needed: int) -> list[tuple[str, str, str, str]]:
    """People not yet in the registry (new 低保 households of the township), when the registry has
    too few: valid ID numbers of 鲁山县, Luhn-valid cards, villages of the township. Deterministic."""
    villages = list(session.scalars(select(Region.code).where(
        Region.level == "village", Region.code.startswith(CLERK_TOWNSHIP)).order_by(Region.code)))
    if not villages or needed <= 0:
        return []
    rng = Random(f"roster:{batch.code}")
    county = COUNTY_BY_CODE[COUNTY]
    first, last = GROUP_BIRTH_YEARS["poor"]
    used_ids: set[str] = set()
    used_cards: set[str] = set()
    out: list[tuple[str, str, str, str]] = []
    while len(out) < needed:
        birth = random_birth(rng, first, last)
        sex = "M" if rng.random() < 0.5 else "F"
        number = make_id_number(COUNTY, birth, sex, rng, used_ids)
        name = make_name(rng, sex, birth.year, county.surnames)
        card, _bank = make_card_number(rng, used_cards)
        village = rng.choice(villages)
        key = personkey.person_key(config.hmac_key, number)
        if session.scalar(select(Person.id).where(Person.person_key == key)) is not None:
            continue
        out.append((name, number, card, village))
    return out


def _wrong_check_digit(number: str) -> str:
    last = number[-1]
    digits = "0123456789X"
    return number[:-1] + digits[(digits.index(last) + 1) % len(digits)]


def _wrong_luhn(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def roster_file(config: Config, bad: int = len(BAD_KINDS), *, session: Any = None) -> RosterSample:
    """The sample roster for demo_clerk's draft batch (raises LookupError without demo data).
    `session`: a batch database session to read from (else the command opens one)."""
    if not config.demo:
        raise LookupError("示例花名册只在演示模式下提供（设置 YIKATONG_DEMO=1）")
    if session is None:
        db = Database(config.batch_database_url)
        try:
            with db.session() as own:
                return roster_file(config, bad, session=own)
        finally:
            db.dispose()
    bad = max(0, min(bad, 40))
    batch = _draft_batch(session) if demo_accounts(config) else None
    if batch is None:
        raise LookupError("尚未生成演示数据（或数据版本过旧），请先运行 yikatong demo")
    project = batch.project
    n_other = sum(1 for i in range(bad) if BAD_KINDS[i % len(BAD_KINDS)][0] != "DUPLICATE_IN_FILE")
    people = _candidates(session, config, batch, VALID_LINES + n_other)
    people += _newcomers(session, config, batch, VALID_LINES + n_other - len(people))
    names = dict(session.execute(select(Region.code, Region.name).where(
        Region.level == "village", Region.code.startswith(COUNTY))).all())
    batch_id, batch_code, batch_title = batch.id, batch.code, batch.title
    low, high = Decimal(project.amount_min), Decimal(project.amount_max)
    if not people:
        raise LookupError("演示数据中找不到本镇的村，请重新运行 yikatong demo")
    per_name: dict[str, int] = {}
    for name in names.values():
        per_name[name] = per_name.get(name, 0) + 1

    def village(code: str) -> str:  # the name as a clerk writes it; the code where the name is ambiguous
        name = names.get(code, code)
        return name if per_name.get(name) == 1 else code

    amount = (low + high) / 2 if high > low else low
    amount = amount.quantize(Decimal("1")) if high - low >= 2 else amount.quantize(Decimal("0.01"))
    valid_people = people[: max(1, min(VALID_LINES, len(people) - n_other))]
    spare = people[len(valid_people):]
    rows: list[list[str]] = [[n, i, c, "", f"{amount:.2f}", village(v)] for n, i, c, v in valid_people]
    bad_rows: dict[int, str] = {}
    for k in range(bad):
        code = BAD_KINDS[k % len(BAD_KINDS)][0]
        if code == "DUPLICATE_IN_FILE":
            row = list(rows[k % len(valid_people)])
        else:
            if not spare:
                break
            n, i, c, v = spare.pop(0)
            row = [n, i, c, "", f"{amount:.2f}", village(v)]
            if code == "ID_CHECKSUM":
                row[1] = _wrong_check_digit(i)
            elif code == "CARD_LUHN":
                row[2] = _wrong_luhn(c)
            else:
                row[4] = f"{high + Decimal('100'):.2f}"
        rows.append(row)
        bad_rows[len(rows) + 1] = code
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "花名册"
    sheet.append(xlsx_row(sheet, COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in {"A": 12, "B": 22, "C": 24, "D": 15, "E": 12, "F": 16}.items():
        sheet.column_dimensions[column].width = width
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
        for cell in sheet[sheet.max_row][:4]:
            cell.number_format = "@"
    out = io.BytesIO()
    workbook.save(out)
    return RosterSample(_stable_xlsx(out.getvalue()), batch_id, batch_code, batch_title, len(valid_people), bad_rows)


def _stable_xlsx(data: bytes) -> bytes:
    """openpyxl stamps the creation time into docProps/core.xml and the zip entries: fix both."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-11-20T09:00:00Z", body)
            entry = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 20, 9, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, body)
    return out.getvalue()
