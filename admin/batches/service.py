"""Batches (批次) and their rosters (花名册): creation, line entry, import, fixes, error report.

Import is all-or-nothing per file: the file is read and every line checked (file checks and
database checks); if any line fails, nothing is written and the lines are kept, encrypted, in a
staged import (admin/batches/imports.py) where the clerk fixes or removes the failing lines and
checks again; when every line passes, all lines are written in one transaction with one audit entry.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from admin import outbox
from admin.access.roles import EDITABLE_BATCH_STATES
from admin.audit import trail
from admin.batches import rosters
from admin.batches.rosters import LineResult, RosterRow
from admin.fieldcrypt import cipher
from admin.models import Batch, BatchState, CardAccount, LineState, PaymentLine, Person, Project, Region, WorkflowEvent
from core import personkey
from core.config import Config
from core.spreadsheets import xlsx_row
from core.timeutil import moment_on
from core.timeutil import today as today_shanghai
from core.validation import parse_id_number

BULK_CHUNK = 5000  # lines per multi-row INSERT (enter_rows)
PERIOD_HINT = "期次格式：年度 2025，半年 2025H1，季度 2025Q3，月份 2025-07"


class BatchError(ValueError):
    """A batch operation that cannot be done (Chinese message)."""


def get_by_code(session: Session, code: str) -> Batch | None:
    return session.execute(select(Batch).where(Batch.code == code)).scalar_one_or_none()


def _valid_period(period: str, year: int) -> bool:
    if not re.fullmatch(r"\d{4}(H[12]|Q[1-4]|-(0[1-9]|1[0-2]))?", period):
        return False
    return int(period[:4]) == year


def batch_snapshot(batch: Batch) -> dict[str, Any]:
    return {"code": batch.code, "project_id": batch.project_id, "region_code": batch.region_code,
            "year": batch.year, "period": batch.period, "title": batch.title, "state": batch.state}


def create_batch(session: Session, *, actor: str, project: Project, region_code: str, year: int, period: str,
                 title: str, code: str | None = None, today: date | None = None) -> Batch:
    """A new draft batch. The project's policy must be in the current, published policy list.
    ``today``: the business day of the creation (default: today; the demo replays past days)."""
    day = today or today_shanghai()
    policy = project.policy
    if not project.active:
        raise BatchError("该项目已停用，不能新建批次")
    if policy.status != "published" or policy.year != day.year:
        raise BatchError(f"项目所属政策不在{day.year}年已公布的补贴政策清单中，不能新建批次")
    if not region_code.startswith(project.region_code):
        raise BatchError("批次的发放区域必须在项目的实施区域之内")
    if not _valid_period(period, year):
        raise BatchError("期次与年度不符。" + PERIOD_HINT)
    title = title.strip()
    if not title:
        raise BatchError("请填写批次名称")
    code = (code or "").strip() or f"B{year}-{project.code}-{region_code}-{secrets.token_hex(2).upper()}"
    if get_by_code(session, code):
        raise BatchError(f"批次编号 {code} 已存在")
    at = moment_on(day)
    batch = Batch(code=code, project_id=project.id, region_code=region_code, year=year, period=period,
                  title=title[:200], state=BatchState.draft.value, created_by=actor, created_at=at,
                  step_started_on=day)
    session.add(batch)
    session.flush()
    session.add(WorkflowEvent(batch_id=batch.id, from_state=None, to_state=batch.state, actor=actor, at=at,
                              comment="新建批次"))
    trail.record(session, actor=actor, action="batch.create", object_type="batch", object_id=batch.id,
                 region_code=region_code, after=batch_snapshot(batch))
    return batch


# --- checking lines -------------------------------------------------------------------------


def row_from_values(line_no: int, values: dict[str, Any]) -> RosterRow:
    raw = {column: values.get(column, "") for column in rosters.COLUMNS + rosters.EXTRA_COLUMNS}
    return RosterRow(line_no=line_no, name=str(raw["姓名"]), id_number="", card_number="", phone="",
                     amount_text="", village=str(raw["村"]), raw=raw)


def check_rows(session: Session, config: Config, batch: Batch, rows: Sequence[RosterRow], *,
               scope_region: str | None, exclude_line_ids: Sequence[int] = (),
               today: date | None = None) -> tuple[list[LineResult], dict[int, dict[str, Any]]]:
    results = rosters.check_lines(rows, today)
    resolved = rosters.check_against_batch(session, batch, results, config.hmac_key,
                                           scope_region=scope_region, exclude_line_ids=exclude_line_ids)
    return results, resolved


def _write_lines(session: Session, config: Config, batch: Batch, results: Sequence[LineResult],
                 resolved: dict[int, dict[str, Any]], progress: Callable[[int, int], None] | None = None) -> list[PaymentLine]:
    """Persons and cards created where new, one payment line per result (all results passed)."""
    crypt = cipher(config.field_key)
    next_no = (session.execute(select(func.max(PaymentLine.line_no)).where(PaymentLine.batch_id == batch.id))
               .scalar_one() or 0) + 1
    new_persons: dict[str, Person] = {}
    pending: list[tuple[LineResult, dict[str, Any]]] = []
    for result in results:
        info = resolved[result.line_no]
        row = result.row
        if info["person_id"] is None and info["person_key"] not in new_persons:
            id_info = parse_id_number(row.id_number)
            person = Person(person_key=info["person_key"], id_number_enc=crypt.encrypt(id_info.number),
                            id_last4=id_info.number[-4:], name=row.name, birth_date=id_info.birth_date,
                            sex="M" if id_info.sex == "male" else "F", region_code=info["village_code"],
                            phone_enc=crypt.encrypt(row.phone) if row.phone else None)
            new_persons[info["person_key"]] = person
            session.add(person)
        pending.append((result, info))
    session.flush()
    new_cards: dict[tuple[int, str], CardAccount] = {}
    lines: list[PaymentLine] = []
    total = len(pending)
    for index, (result, info) in enumerate(pending, start=1):
        row = result.row
        person_id = info["person_id"] or new_persons[info["person_key"]].id
        card_id = info["card_account_id"]
        card: CardAccount | None = None
        if card_id is None:
            digest = personkey.card_digest(config.hmac_key, info["person_key"], row.card_number)
            card = new_cards.get((person_id, digest))
            if card is None:
                card = CardAccount(person_id=person_id, card_number_enc=crypt.encrypt(row.card_number),
                                   card_digest=digest, card_last4=row.card_number[-4:], status="active",
                                   opened_on=today_shanghai(),
                                   card_fingerprint=personkey.card_fingerprint(config.hmac_key, row.card_number),
                                   activation=row.card_activation, activated_on=row.activated_on)
                new_cards[(person_id, digest)] = card
                session.add(card)
        line = PaymentLine(batch_id=batch.id, line_no=next_no, person_id=person_id, card_account_id=card_id,
                           village_code=info["village_code"], amount=row.amount, state="pending", check_issues=[])
        if card is not None:
            line.card_account = card
        lines.append(line)
        next_no += 1
        if progress is not None and (index % 5000 == 0 or index == total):
            progress(index, total)
    session.add_all(lines)
    session.flush()
    record_extras(session, config, [(r.row, line.person_id, line.card_account_id)
                                    for (r, _info), line in zip(pending, lines)])
    return lines


def record_extras(session: Session, config: Config, entered: Sequence[tuple[RosterRow, int, int | None]]) -> None:
    """What the supervision signals need from entered lines (row, person id, card id): the card's
    fingerprint where missing, the card's activation and the household address digest where the
    roster gave them. Bulk statements (executemany), no per-line ORM objects."""
    cards = CardAccount.__table__
    persons = Person.__table__
    card_ids = sorted({card_id for _row, _pid, card_id in entered if card_id is not None})
    missing: set[int] = set()
    for chunk in rosters.chunks(card_ids):
        missing.update(session.execute(select(CardAccount.id).where(CardAccount.id.in_(chunk),
                                                                    CardAccount.card_fingerprint.is_(None))).scalars())
    fingerprints = {card_id: personkey.card_fingerprint(config.hmac_key, row.card_number)
                    for row, _pid, card_id in entered if card_id in missing}
    activations = {card_id: (row.card_activation, row.activated_on)
                   for row, _pid, card_id in entered if card_id is not None and row.card_activation}
    addresses = {pid: personkey.address_digest(config.hmac_key, row.address) for row, pid, _cid in entered if row.address}
    connection = session.connection()
    if fingerprints:
        connection.execute(cards.update().where(cards.c.id == bindparam("b_id")).values(
            card_fingerprint=bindparam("b_fp")), [{"b_id": k, "b_fp": v} for k, v in fingerprints.items()])
    if activations:
        connection.execute(cards.update().where(cards.c.id == bindparam("b_id")).values(
            activation=bindparam("b_state"), activated_on=bindparam("b_on")),
            [{"b_id": k, "b_state": state, "b_on": on} for k, (state, on) in activations.items()])
    if addresses:
        connection.execute(persons.update().where(persons.c.id == bindparam("b_id")).values(
            address_digest=bindparam("b_digest")), [{"b_id": k, "b_digest": v} for k, v in addresses.items()])


def line_snapshot(line: PaymentLine) -> dict[str, Any]:
    return {"line_no": line.line_no, "person_id": line.person_id, "card_account_id": line.card_account_id,
            "village_code": line.village_code, "amount": str(line.amount), "state": line.state}


@dataclass
class ImportOutcome:
    ok: bool
    results: list[LineResult]
    imported: int = 0
    token: str | None = None  # the staged import holding the lines while they are fixed
    file_lines: int = 0


def _require_editable(batch: Batch) -> None:
    if batch.state not in EDITABLE_BATCH_STATES:
        raise BatchError("批次已提交，不能再修改花名册")


def enter_rows(session: Session, config: Config, batch: Batch, rows: Sequence[RosterRow], *, actor: str,
               scope_region: str | None, source: str, today: date | None = None) -> ImportOutcome:
    """Enter a whole roster at once, fast: a roster already held by another system, or the demo
    build replaying past batches (``today``: the business day of the entry, default today).

    The same checks as an import (:func:`check_rows`: every line on its own, then against the batch
    database) and the same all-or-nothing rule and ``roster.import`` audit entry; the lines (and any
    new persons and cards) are written with bulk inserts instead of one ORM object per line."""
    _require_editable(batch)
    day = today or today_shanghai()
    results, resolved = check_rows(session, config, batch, rows, scope_region=scope_region, today=day)
    if any(not r.ok for r in results):
        return ImportOutcome(False, results, file_lines=len(results))
    line_nos, total = _insert_lines(session, config, batch, results, resolved, day)
    trail.record(session, actor=actor, action="roster.import", object_type="batch", object_id=batch.id,
                 region_code=scope_region or batch.region_code,
                 after={"source": source[:100], "lines": len(results),
                        "line_nos": [line_nos[0], line_nos[-1]] if line_nos else [], "total": str(total)})
    return ImportOutcome(True, results, imported=len(results), file_lines=len(results))


def _insert_lines(session: Session, config: Config, batch: Batch, results: Sequence[LineResult],
                  resolved: dict[int, dict[str, Any]], day: date) -> tuple[list[int], Decimal]:
    """The bulk writer of :func:`enter_rows` (every result passed): new persons and cards through the
    ORM (few), then one multi-row INSERT per chunk of lines. Returns the line numbers and the total."""
    crypt = cipher(config.field_key)
    new_persons: dict[str, Person] = {}
    new_cards: dict[tuple[str, str], CardAccount] = {}
    for result in results:
        info, row = resolved[result.line_no], result.row
        key = info["person_key"]
        if info["person_id"] is None and key not in new_persons:
            id_info = parse_id_number(row.id_number, day)
            new_persons[key] = Person(person_key=key, id_number_enc=crypt.encrypt(id_info.number),
                                      id_last4=id_info.number[-4:], name=row.name, birth_date=id_info.birth_date,
                                      sex="M" if id_info.sex == "male" else "F", region_code=info["village_code"],
                                      phone_enc=crypt.encrypt(row.phone) if row.phone else None)
            session.add(new_persons[key])
        if info["card_account_id"] is None:
            digest = personkey.card_digest(config.hmac_key, key, row.card_number)
            if (key, digest) not in new_cards:
                card = CardAccount(card_number_enc=crypt.encrypt(row.card_number), card_digest=digest,
                                   card_last4=row.card_number[-4:], status="active", opened_on=day,
                                   card_fingerprint=personkey.card_fingerprint(config.hmac_key, row.card_number),
                                   activation=row.card_activation, activated_on=row.activated_on)
                if info["person_id"] is None:
                    card.person = new_persons[key]
                else:
                    card.person_id = info["person_id"]
                new_cards[(key, digest)] = card
                session.add(card)
    session.flush()
    next_no = (session.execute(select(func.max(PaymentLine.line_no)).where(PaymentLine.batch_id == batch.id))
               .scalar_one() or 0) + 1
    stamp = moment_on(day)
    rows: list[dict[str, Any]] = []
    total = Decimal("0.00")
    for result in results:
        info, row = resolved[result.line_no], result.row
        key = info["person_key"]
        person_id = info["person_id"] or new_persons[key].id
        card_id = info["card_account_id"]
        if card_id is None:
            card_id = new_cards[(key, personkey.card_digest(config.hmac_key, key, row.card_number))].id
        rows.append({"batch_id": batch.id, "line_no": next_no + len(rows), "person_id": person_id,
                     "card_account_id": card_id, "village_code": info["village_code"], "quantity": row.quantity,
                     "amount": row.amount, "state": LineState.pending.value, "check_issues": [],
                     "updated_at": stamp})
        total += row.amount  # type: ignore[operator]
    for chunk in rosters.chunks(rows, BULK_CHUNK):
        session.execute(insert(PaymentLine), chunk)
    record_extras(session, config, [(result.row, r["person_id"], r["card_account_id"])
                                    for result, r in zip(results, rows)])
    return [r["line_no"] for r in rows], total


def import_rows(session: Session, config: Config, batch: Batch, rows: Sequence[RosterRow], *, actor: str,
                scope_region: str | None, source: str,
                progress: Callable[[int, int], None] | None = None) -> ImportOutcome:
    _require_editable(batch)
    results, resolved = check_rows(session, config, batch, rows, scope_region=scope_region)
    if any(not r.ok for r in results):
        return ImportOutcome(False, results, file_lines=len(results))
    lines = _write_lines(session, config, batch, results, resolved, progress)
    trail.record(session, actor=actor, action="roster.import", object_type="batch", object_id=batch.id,
                 region_code=scope_region or batch.region_code,
                 after={"source": source[:100], "lines": len(lines),
                        "line_nos": [lines[0].line_no, lines[-1].line_no] if lines else [],
                        "total": str(sum((line.amount for line in lines), Decimal("0.00")))})
    return ImportOutcome(True, results, imported=len(lines), file_lines=len(results))


def import_roster(session: Session, config: Config, batch: Batch, data: bytes, filename: str, *, actor: str,
                  scope_region: str | None, progress: Callable[[int, int], None] | None = None) -> ImportOutcome:
    """Read, check and (only if every line passes) import a roster file. Raises RosterFileError."""
    roster = rosters.read_roster(data, filename)
    return import_rows(session, config, batch, roster.rows, actor=actor, scope_region=scope_region,
                       source=Path(filename).name, progress=progress)


# --- single lines -----------------------------------------------------------------------------


def add_line(session: Session, config: Config, batch: Batch, values: dict[str, Any], *, actor: str,
             scope_region: str | None) -> tuple[PaymentLine | None, LineResult]:
    """Enter one line by form: checked like an imported line; nothing is stored if it fails."""
    _require_editable(batch)
    row = row_from_values(1, values)
    results, resolved = check_rows(session, config, batch, [row], scope_region=scope_region)
    if not results[0].ok:
        return None, results[0]
    line = _write_lines(session, config, batch, results, resolved)[0]
    trail.record(session, actor=actor, action="line.create", object_type="payment_line", object_id=line.id,
                 region_code=line.village_code, after=line_snapshot(line))
    return line, results[0]


def line_values(session: Session, config: Config, line: PaymentLine) -> dict[str, str]:
    """The form values of a stored line (decrypted for the clerk who may edit it)."""
    crypt = cipher(config.field_key)
    village = session.get(Region, line.village_code)
    card = line.card_account
    return {"姓名": line.person.name, "身份证号": crypt.decrypt(line.person.id_number_enc),
            "社保卡号": crypt.decrypt(card.card_number_enc) if card else "",
            "手机号": crypt.decrypt(line.person.phone_enc) if line.person.phone_enc else "",
            "金额": f"{line.amount:.2f}", "村": village.name if village else line.village_code}


def update_line(session: Session, config: Config, line: PaymentLine, values: dict[str, Any], *, actor: str,
                scope_region: str | None) -> LineResult:
    """Fix a stored line: re-checked as a whole; stored only if it passes."""
    batch = line.batch
    _require_editable(batch)
    row = row_from_values(line.line_no, values)
    results, resolved = check_rows(session, config, batch, [row], scope_region=scope_region,
                                   exclude_line_ids=[line.id])
    result = results[0]
    if not result.ok:
        return result
    before = line_snapshot(line)
    replacement = _write_lines(session, config, batch, results, resolved)[0]
    # keep the line's number and id: move the freshly resolved values onto it
    line.person_id = replacement.person_id
    line.card_account_id = replacement.card_account_id
    line.card_account = replacement.card_account
    line.village_code = replacement.village_code
    line.amount = replacement.amount
    line.check_issues = []
    session.delete(replacement)
    session.flush()
    outbox.emit(session, "line", line.id)  # a returned batch's lines are on the portal (办理中): now, not at re-submission
    trail.record(session, actor=actor, action="line.update", object_type="payment_line", object_id=line.id,
                 region_code=line.village_code, before=before, after=line_snapshot(line))
    return result


def remove_line(session: Session, line: PaymentLine, *, actor: str) -> None:
    _require_editable(line.batch)
    before = line_snapshot(line)
    trail.record(session, actor=actor, action="line.delete", object_type="payment_line", object_id=line.id,
                 region_code=line.village_code, before=before)
    outbox.emit(session, "line", line.id)  # its documents go (the batch's re-submission would not see it)
    session.delete(line)


RECHECK = "RECHECK"


def mark_for_recheck(session: Session, line: PaymentLine, *, actor: str) -> bool:
    """Flag a line for re-check (shown on the batch page until the line is fixed). False if already flagged."""
    issues = list(line.check_issues or [])
    if any(i.get("code") == RECHECK for i in issues):
        return False
    before = line_snapshot(line)
    line.check_issues = [*issues, {"code": RECHECK, "message": f"已由 {actor} 标记为待复核"}]
    trail.record(session, actor=actor, action="line.recheck", object_type="payment_line", object_id=line.id,
                 region_code=line.village_code, before=before, after={**line_snapshot(line), "recheck": True})
    return True


# --- the error report -------------------------------------------------------------------------


def error_report_xlsx(results: Sequence[LineResult]) -> bytes:
    """Excel of the failing lines: the row as entered and the reasons, for the clerk to fix."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "问题行"
    sheet.append(xlsx_row(sheet, ["行号", *rosters.COLUMNS, "问题说明"]))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    red = PatternFill("solid", fgColor="FFF2CC")
    for result in results:
        if result.ok:
            continue
        raw = result.row.raw
        sheet.append(xlsx_row(sheet, [result.line_no, *(rosters.as_text(raw.get(c, "")) for c in rosters.COLUMNS),
                                      "；".join(i.message for i in result.issues)]))
        for cell in sheet[sheet.max_row]:
            cell.fill = red
    for column, width in {"A": 8, "B": 12, "C": 22, "D": 24, "E": 15, "F": 12, "G": 14, "H": 80}.items():
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=2, min_col=3, max_col=5):
        for cell in row:
            cell.number_format = "@"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def period_label(period: str) -> str:
    if len(period) == 4:
        return f"{period}年度"
    if "H" in period:
        return f"{period[:4]}年{'上' if period[-1] == '1' else '下'}半年"
    if "Q" in period:
        return f"{period[:4]}年第{period[-1]}季度"
    if "-" in period:
        return f"{period[:4]}年{int(period[5:])}月"
    return period


def default_period(kind: str, on: date) -> str:
    return {"year": str(on.year), "half": f"{on.year}H{1 if on.month <= 6 else 2}",
            "quarter": f"{on.year}Q{(on.month - 1) // 3 + 1}", "month": f"{on:%Y-%m}"}.get(kind, str(on.year))


__all__ = ["BatchError", "ImportOutcome", "add_line", "create_batch", "enter_rows", "error_report_xlsx", "get_by_code",
           "import_roster", "import_rows", "remove_line", "row_from_values", "update_line"]
