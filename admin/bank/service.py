"""Bank files out, bank results in: the ``bank_export`` and ``bank_import`` workflow actions.

- :func:`export_file` — one bank file (a bank's share of a payment request, see
  :mod:`admin.bank.ledger`) as CSV or .xlsx, in memory. Only the roles of ``batch.bank_export``
  (bank operator, finance) may; every export is audited (``bank.export``: file, bank, format,
  count, total — never a number of a person) and counted on the file. The bytes are handed to the
  caller and never written to the server's disk or a log.
- :func:`import_results` — the file returned by the bank with 处理结果/失败原因
  (:mod:`admin.bank.files`). All-or-nothing: the whole file is checked against what was exported
  (batch, payment request, bank, every line reference, ID and card number and amount, the count,
  the total and the checksum) before anything is written, and refused with a
  :class:`~admin.bank.files.BankFileError` naming the row otherwise. Idempotent: a file whose
  results are already recorded changes nothing (not even the audit trail) and says so; a file
  that contradicts a recorded result (成功 where the line failed, or the reverse) is refused.
  Each failed line gets its reason's code, the bank's words, what the person should do
  (:mod:`admin.bank.reasons`) and the day it must be corrected by (3 working days, the
  ``correction`` limit). When no line of the batch awaits a result any more, the batch is
  ``paid`` (``paid_on``) and the publication step starts (5 working days). The import is the
  workflow action ``bank_import``: its event, audit entry and outbox entry commit with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.access.roles import Actor
from admin.audit import trail
from admin.bank import files, ledger, reasons
from admin.bank.files import BankFileError
from admin.batches import workflow
from admin.actions import WorkflowError
from admin.fieldcrypt import cipher
from admin.models import Batch, BatchState, LineState, Operator, PaymentLine, PaymentRequest, PaymentRequestBank
from admin.sms import messages as sms
from core.config import Config
from core.deadlines import Step
from core.timeutil import format_date_zh, now

__all__ = ["BankFile", "ImportResult", "export_file", "find_file", "import_results"]

FORMATS = {"csv": files.CSV, "xlsx": files.XLSX}


@dataclass(frozen=True)
class BankFile:
    """An exported bank file, in memory."""

    data: bytes = field(repr=False)
    filename: str
    media_type: str
    info: ledger.BankFileInfo


def find_file(session: Session, batch_id: int, bank: str, request_id: int | None = None) -> ledger.BankFileInfo:
    """The bank file of ``bank`` (its name, or 未登记开户银行 for cards without one): of the given
    payment request, else the newest one still awaiting a result, else the newest."""
    name = "" if bank in ("", ledger.NO_BANK_LABEL) else bank
    candidates = [f for f in ledger.bank_files(session, batch_id) if f.bank_name == name
                  and (request_id is None or f.request_id == request_id)]
    if not candidates:
        raise WorkflowError("bad_option", f"本批次没有“{bank or ledger.NO_BANK_LABEL}”的代发文件。", field="file")
    waiting = [f for f in candidates if f.pending]
    return (waiting or candidates)[-1]


def _filename(batch: Batch, info: ledger.BankFileInfo, fmt: str) -> str:
    bank = re.sub(r"[\\/:*?\"<>|\s]+", "", info.bank) or "bank"
    return f"代发文件-{batch.code}-申请{info.request_id}-{bank}.{fmt}"


def _rows(config: Config, batch: Batch, lines: list[PaymentLine]) -> list[files.FileRow]:
    """The file's rows of these lines (the only place the numbers are decrypted)."""
    crypt = cipher(config.field_key)
    return [files.FileRow(files.line_ref(batch.code, line.line_no), line.person.name,
                          crypt.decrypt(line.person.id_number_enc),
                          crypt.decrypt(line.card_account.card_number_enc) if line.card_account else "",
                          Decimal(line.amount))
            for line in lines]


def export_file(session: Session, config: Config, operator: Actor | Operator, batch_id: int, *,
                file_id: int | str | None, fmt: str, today: date) -> BankFile:
    """The bank file ``file_id`` (a :class:`~admin.bank.ledger.BankFileInfo` id awaiting a result) as
    ``fmt`` ("csv" or "xlsx"); audited in the caller's transaction."""
    ctx = workflow.require(session, operator, batch_id, "bank_export", today)
    batch = ctx.batch
    if fmt not in FORMATS:
        raise WorkflowError("bad_option", "「文件格式」的选项无效。", field="format")
    waiting = {str(f.id): f for f in ledger.open_bank_files(session, batch.id)}
    info = waiting.get(str(file_id))
    if info is None:
        raise WorkflowError("bad_option", "「代发文件」的选项无效，或该文件已导入处理结果。", field="file")
    rows = _rows(config, batch, ledger.file_lines(session, info.request_id, info.bank_name))
    total = sum((row.amount for row in rows), Decimal("0.00"))
    header = files.FileHeader(batch.code, batch.title, info.request_id, info.kind_label, info.bank, len(rows), total,
                              now())
    data = files.build(header, rows, fmt)
    share = session.get(PaymentRequestBank, info.id)
    share.export_count = (share.export_count or 0) + 1
    share.exported_at, share.exported_by = now(), ctx.actor.username
    trail.record(session, actor=ctx.actor.username, action="bank.export", object_type="batch", object_id=batch.id,
                 region_code=batch.region_code,
                 after={"file": info.id, "payment_request_id": info.request_id, "bank": info.bank, "format": fmt,
                        "lines": len(rows), "total": f"{total:.2f}", "export_count": share.export_count})
    session.flush()
    return BankFile(data, _filename(batch, info, fmt), FORMATS[fmt], info)


# --- the result file ---------------------------------------------------------------------------


@dataclass
class _Plan:
    """A checked result file: what it changes."""

    batch: Batch
    info: ledger.BankFileInfo
    lines: list[PaymentLine]  # every line of the file
    paid: list[PaymentLine]  # lines to mark paid
    failed: list[tuple[PaymentLine, reasons.FailureReason, str]]  # lines to mark failed, with the reason
    unchanged: int


@dataclass(frozen=True)
class ImportResult:
    changed: bool
    batch_id: int
    batch_code: str
    file: ledger.BankFileInfo
    paid: int  # lines newly paid by this import
    failed: int  # lines newly failed
    message: str
    action: workflow.ActionResult | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"changed": self.changed, "batch_id": self.batch_id, "batch_code": self.batch_code,
               "file": self.file.as_dict(), "paid": self.paid, "failed": self.failed, "message": self.message}
        if self.action is not None:
            out["result"] = self.action.as_dict()
        return out


def _refuse(code: str, message: str, row: int | None = None) -> BankFileError:
    return BankFileError(code, message, row)


def _plan(session: Session, config: Config, batch: Batch, parsed: files.ParsedFile) -> _Plan:
    """Check the whole file against the export; what it would change (nothing written)."""
    request = (session.get(PaymentRequest, parsed.request_id) if parsed.request_id is not None else None)
    if request is None or request.batch_id != batch.id:
        raise _refuse("unknown_request", f"文件的支付申请号“{parsed.header.get('支付申请号', '')}”不属于批次 {batch.code}。")
    bank_name = "" if parsed.bank == ledger.NO_BANK_LABEL else parsed.bank
    info = next((f for f in ledger.bank_files(session, batch.id)
                 if f.request_id == request.id and f.bank_name == bank_name), None)
    if info is None:
        raise _refuse("unknown_bank", f"支付申请 {request.id} 中没有代发银行“{parsed.bank}”。")
    if not parsed.has_results:
        raise _refuse("no_results", f"文件没有“{files.RESULT_COLUMNS[0]}”“{files.RESULT_COLUMNS[1]}”两列："
                                    "请在导出的代发文件明细后加上这两列，逐行填写 成功 或 失败 及失败原因。")
    file_lines = ledger.file_lines(session, info.request_id, info.bank_name)
    rows = _rows(config, batch, file_lines)
    lines = {files.line_ref(batch.code, line.line_no): line for line in file_lines}
    expected = {row.ref: row for row in rows}
    total = sum((row.amount for row in rows), Decimal("0.00"))
    count_text, total_text, checksum_text = parsed.control
    if len(parsed.rows) != len(rows):
        raise _refuse("count_mismatch", f"文件有 {len(parsed.rows)} 笔明细，导出时为 {len(rows)} 笔：请返回导出文件的全部明细，"
                                        "不要增删行。")
    for label, text in (("表头笔数", parsed.header.get("笔数", "")), ("控制行笔数", count_text)):
        if text != str(len(rows)):
            raise _refuse("count_mismatch", f"{label}“{text}”与导出时的 {len(rows)} 笔不符。")
    for label, text in (("表头金额合计", parsed.header.get("金额合计", "")), ("控制行金额合计", total_text)):
        if files.parse_amount(text) != total:
            raise _refuse("total_mismatch", f"{label}“{text}”与导出时的 {total:.2f} 元不符。")
    if checksum_text.upper() != files.checksum((r.ref, r.id_number, r.card_number, f"{r.amount:.2f}") for r in rows):
        raise _refuse("checksum_mismatch", "控制行的校验码与导出时不符：明细被改动过，或不是本次导出的文件。",
                      parsed.control_row)
    seen: set[str] = set()
    paid: list[PaymentLine] = []
    failed: list[tuple[PaymentLine, reasons.FailureReason, str]] = []
    unchanged = 0
    for row in parsed.rows:
        where = f"第{row.row}行（{row.ref or '无明细编号'}）"
        want = expected.get(row.ref)
        if want is None:
            raise _refuse("unknown_ref", f"{where}：明细编号不在导出的文件中。", row.row)
        if row.ref in seen:
            raise _refuse("duplicate_ref", f"{where}：明细编号重复出现。", row.row)
        seen.add(row.ref)
        amount = files.parse_amount(row.amount_text)
        if amount is None or amount != want.amount:
            raise _refuse("amount_mismatch", f"{where}：金额“{row.amount_text}”与导出时的 {want.amount:.2f} 元不符。", row.row)
        if row.id_number.upper() != want.id_number.upper():
            raise _refuse("id_mismatch", f"{where}：身份证号与导出文件不一致（请确认表格软件没有把号码改成数字）。", row.row)
        if row.card_number != want.card_number:
            raise _refuse("card_mismatch", f"{where}：社保卡号与导出文件不一致（请确认表格软件没有把卡号改成数字或科学计数法）。",
                          row.row)
        if row.result not in (files.SUCCESS, files.FAILURE):
            raise _refuse("bad_result", f"{where}：处理结果应为“{files.SUCCESS}”或“{files.FAILURE}”。", row.row)
        line = lines[row.ref]
        if line.state == LineState.pending.value:
            if row.succeeded:
                paid.append(line)
            else:
                reason = reasons.classify(row.reason)
                failed.append((line, reason, reasons.reason_text(row.reason, reason)))
        elif (line.state == LineState.paid.value) == row.succeeded and line.state != LineState.withdrawn.value:
            unchanged += 1
        else:
            recorded = "成功" if line.state == LineState.paid.value else "失败"
            raise _refuse("result_conflict", f"{where}：已导入的处理结果为“{recorded}”，与本文件的“{row.result}”不一致；"
                                             "如银行更正了结果，请联系系统管理员。", row.row)
    return _Plan(batch, info, file_lines, paid, failed, unchanged)


def _apply(plan: _Plan, ctx: workflow.Context, values: dict[str, Any]) -> workflow.Outcome:
    session, batch, today = ctx.session, ctx.batch, ctx.today
    correction_due = ctx.due(Step.CORRECTION, today)
    for line in plan.paid:
        line.state, line.paid_on = LineState.paid.value, today
        line.failure_code = line.failure_reason = line.advice = None
        line.correction_due_on = None
    for line, reason, text in plan.failed:
        line.state, line.paid_on = LineState.failed.value, None
        line.failure_code, line.failure_reason, line.advice = reason.code, text, reason.advice
        line.correction_due_on = correction_due
    session.flush()
    share = session.get(PaymentRequestBank, plan.info.id)
    states: dict[str, int] = {}
    for line in plan.lines:
        states[line.state] = states.get(line.state, 0) + 1
    share.paid_count = states.get(LineState.paid.value, 0)
    share.failed_count = sum(n for state, n in states.items()
                             if state in (LineState.failed.value, LineState.reissued.value, LineState.returned.value))
    share.results_at, share.results_by = now(), ctx.actor.username
    waiting = session.execute(select(func.count(PaymentLine.id)).where(
        PaymentLine.batch_id == batch.id, PaymentLine.state == LineState.pending.value)).scalar_one()
    to_state = batch.state
    if batch.state == BatchState.bank.value and waiting == 0:
        to_state, batch.paid_on = BatchState.paid.value, today
    if batch.state == BatchState.published.value and plan.paid:
        sms.queue_paid(session, batch)
    bank = plan.info.bank
    comment = f"导入{bank}处理结果：成功 {len(plan.paid)} 笔，失败 {len(plan.failed)} 笔"
    message = f"已导入{bank}的处理结果：成功 {len(plan.paid)} 笔，失败 {len(plan.failed)} 笔。"
    if plan.failed:
        message += f"发放失败的明细请于{format_date_zh(correction_due)}前核实更正。"
    if to_state == BatchState.paid.value and batch.state != to_state:
        message += "本批次已全部有处理结果。"
    after = {"file": plan.info.id, "payment_request_id": plan.info.request_id, "bank": bank,
             "paid_lines": [line.line_no for line in plan.paid],
             "failed_lines": {str(line.line_no): reason.code for line, reason, _ in plan.failed},
             "correction_due_on": correction_due.isoformat() if plan.failed else None}
    details = {"file": plan.info.id, "paid": len(plan.paid), "failed": len(plan.failed),
               "correction_due_on": correction_due if plan.failed else None}
    return workflow.Outcome(to_state, comment, after, message, emit=True, details=details)


def import_results(session: Session, config: Config, operator: Actor | Operator, data: bytes, filename: str,
                   today: date, *, batch_id: int | None = None) -> ImportResult:
    """Import a result file (the batch is named in the file; ``batch_id``, when given, must be it).
    Raises BankFileError (bad file, 400) or WorkflowError (role, scope, state)."""
    parsed = files.parse(data, filename)
    batch = session.execute(select(Batch).where(Batch.code == parsed.batch_code)).scalar_one_or_none()
    if batch is None:
        raise _refuse("unknown_batch", f"找不到文件中的批次“{parsed.batch_code}”。")
    if batch_id is not None and batch.id != batch_id:
        raise _refuse("other_batch", f"这是批次 {batch.code} 的文件，不是本批次的。")
    try:
        workflow.require(session, operator, batch.id, "bank_import", today)
    except WorkflowError as error:
        if error.code != "no_bank_file":
            raise
        plan = _plan(session, config, batch, parsed)  # permitted, nothing awaits: the same file again?
        if plan.paid or plan.failed:
            raise
        return _unchanged(plan)
    plan = _plan(session, config, batch, parsed)
    if not plan.paid and not plan.failed:
        return _unchanged(plan)
    result = workflow.perform(session, operator, batch.id, "bank_import", {"file": filename or "回盘文件"}, today,
                              run=lambda ctx, values: _apply(plan, ctx, values))
    info = next(f for f in ledger.bank_files(session, batch.id) if f.id == plan.info.id)
    return ImportResult(True, batch.id, batch.code, info, len(plan.paid), len(plan.failed), result.message, result)


def _unchanged(plan: _Plan) -> ImportResult:
    return ImportResult(False, plan.batch.id, plan.batch.code, plan.info, 0, 0,
                        f"{plan.info.bank}的处理结果已导入过，本文件与已导入的结果一致，未作任何修改。")
