"""Failed lines: correction, re-issue in a supplementary payment (补发), return of unpayable money.

Seed 002 (第六条, 第九条, 第二十二条): data the bank reports as failed is checked and corrected
within 3 working days and paid again until it is paid; money that cannot be paid goes back by
the next working day. Three workflow actions, each one transaction with its event, audit entry
and (where the public side changes) outbox entry:

- ``correct_failed`` (township clerk for lines of the township, department operator): a new card
  account (number checked, encrypted; the new card's bank decides which bank file it goes in; a
  card of the person already registered, e.g. by a later roster, is used, not registered twice,
  and a closed one is refused with ``closed_card``), a
  corrected name, or only the finding (账户已激活 …). Recorded as a :class:`LineCorrection`; the
  line's correction deadline is met.
- ``reissue`` (department operator): every corrected line becomes a new pending line linked to it
  (``reissue_of_id``) with the same amount, in a new payment request of kind ``reissue`` with its
  totals per bank; the failed line becomes ``reissued``. The new request's bank files are exported
  and their results imported like the first (admin/bank/service.py), as often as needed.
- ``return_unpaid`` (department operator): a failed line that cannot be paid (the person died,
  no account can be opened …) is ``returned`` with the reason.

Throughout, the batch balance holds: allocated = paid + returned + pending (admin/bank/ledger.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.access.roles import Actor
from admin.audit import trail
from admin.bank import ledger
from admin.batches import workflow
from admin.actions import WorkflowError
from admin.fieldcrypt import cipher
from admin.models import (
    CardAccount,
    LineCorrection,
    LineState,
    Operator,
    PaymentLine,
    PaymentRequest,
    PaymentRequestBank,
)
from core import personkey
from core.config import Config
from core.validation import check_card_number, check_name, normalize_card_number, normalize_name

__all__ = ["correct_failed", "reissue", "return_unpaid"]


def _line(ctx: workflow.Context, line_no: str) -> PaymentLine:
    """The failed line the form names (the select field already limited it to the actor's lines)."""
    line = ctx.session.execute(select(PaymentLine).where(
        PaymentLine.batch_id == ctx.batch.id, PaymentLine.line_no == int(line_no),
        PaymentLine.state == LineState.failed.value)).scalar_one_or_none()
    if line is None:  # pragma: no cover - the select's options are these lines
        raise WorkflowError("unknown_line", f"第 {line_no} 行不是发放失败的明细。", field="line")
    return line


def _snapshot(line: PaymentLine) -> dict[str, Any]:
    return {"batch_id": line.batch_id, "line_no": line.line_no, "amount": str(line.amount), "state": line.state,
            "failure_code": line.failure_code, "failure_reason": line.failure_reason}


def correct_failed(session: Session, config: Config, operator: Actor | Operator, batch_id: int,
                   form: Mapping[str, Any], today: date) -> workflow.ActionResult:
    """``correct_failed`` with the form ``{line, card_number, bank_name, name, note}`` (line: its line number)."""

    def run(ctx: workflow.Context, v: dict[str, Any]) -> workflow.Outcome:
        line = _line(ctx, v["line"])
        person = line.person
        old_card = line.card_account
        correction = LineCorrection(batch_id=ctx.batch.id, line_id=line.id, note=v["note"],
                                    corrected_by=ctx.actor.username, corrected_on=ctx.today)
        after: dict[str, Any] = {"line_no": line.line_no, "note": v["note"]}
        if v["card_number"]:
            issues = check_card_number(v["card_number"])
            if issues:
                raise WorkflowError("bad_card", issues[0].message, field="card_number")
            number = normalize_card_number(v["card_number"])
            digest = personkey.card_digest(config.hmac_key, person.person_key, number)
            if old_card is not None and old_card.card_digest == digest:
                raise WorkflowError("same_card", "新卡号与发放失败的卡号相同；如按原账户重新发放，请不填卡号，只写核实情况。",
                                    field="card_number")
            known = next((c for c in person.cards if c.card_digest == digest), None)
            if known is not None and known.status == "closed":
                raise WorkflowError("closed_card", "这张社会保障卡已销户，请填写本人现在使用的卡号。", field="card_number")
            card = known or CardAccount(person_id=person.id, card_number_enc=cipher(config.field_key).encrypt(number),
                                        card_digest=digest, card_last4=number[-4:], status="active",
                                        opened_on=ctx.today,
                                        bank_name=v["bank_name"] or (old_card.bank_name if old_card else ""))
            if known is None:  # a card the registry already has (a later roster) is not registered twice
                ctx.session.add(card)
                ctx.session.flush()
            correction.card_account_id = card.id
            after.update(card_last4=card.card_last4, bank_name=card.bank_name)
        elif v["bank_name"]:
            raise WorkflowError("missing_field", "换卡时请同时填写新的社会保障卡号。", field="card_number")
        if v["name"]:
            issues = check_name(v["name"])
            if issues:
                raise WorkflowError("bad_name", issues[0].message, field="name")
            name = normalize_name(v["name"])
            if name == person.name:
                raise WorkflowError("same_name", "更正后的姓名与登记的姓名相同。", field="name")
            correction.name_before, correction.name_after = person.name, name
            person.name = name
            after["name_corrected"] = True
        ctx.session.add(correction)
        line.correction_due_on = None
        trail.record(ctx.session, actor=ctx.actor.username, action="line.correct", object_type="payment_line",
                     object_id=line.id, region_code=line.village_code, before=_snapshot(line), after=after)
        what = "、".join(w for w, done in (("新卡号", v["card_number"]), ("姓名", v["name"])) if done) or "核实情况"
        return workflow.Outcome(ctx.batch.state, f"第 {line.line_no} 行发放失败已更正（{what}）：{v['note']}",
                                after, f"第 {line.line_no} 行已更正（{what}），请补发。", emit=False)

    return workflow.perform(session, operator, batch_id, "correct_failed", form, today, run=run)


def reissue(session: Session, operator: Actor | Operator, batch_id: int, form: Mapping[str, Any],
            today: date) -> workflow.ActionResult:
    """``reissue``: every corrected failed line paid again as a new line, in a supplementary payment."""

    def run(ctx: workflow.Context, v: dict[str, Any]) -> workflow.Outcome:
        corrections = ledger.corrections_to_reissue(ctx.session, ctx.batch.id)
        next_no = (ctx.session.execute(select(func.max(PaymentLine.line_no)).where(
            PaymentLine.batch_id == ctx.batch.id)).scalar_one() or 0) + 1
        request = PaymentRequest(batch_id=ctx.batch.id, requested_by=ctx.actor.username, requested_on=ctx.today,
                                 line_count=len(corrections), total=Decimal("0.00"), kind="reissue")
        ctx.session.add(request)
        ctx.session.flush()
        banks: dict[str, list[Decimal]] = defaultdict(list)
        pairs = []
        for offset, correction in enumerate(corrections):
            failed = ctx.session.get(PaymentLine, correction.line_id)
            card_id = correction.card_account_id or failed.card_account_id
            card = ctx.session.get(CardAccount, card_id) if card_id else None
            new = PaymentLine(batch_id=ctx.batch.id, line_no=next_no + offset, person_id=failed.person_id,
                              card_account_id=card_id, village_code=failed.village_code, quantity=failed.quantity,
                              amount=failed.amount, state=LineState.pending.value, check_issues=[],
                              reissue_of_id=failed.id, payment_request_id=request.id)
            ctx.session.add(new)
            ctx.session.flush()
            correction.reissue_line_id = new.id
            failed.state, failed.correction_due_on = LineState.reissued.value, None
            banks[card.bank_name if card else ""].append(new.amount)
            pairs.append((failed.line_no, new.line_no, new.amount))
        request.total = sum((amount for _, _, amount in pairs), Decimal("0.00"))
        request.banks = [PaymentRequestBank(bank_name=name, line_count=len(amounts), total=sum(amounts, Decimal("0")))
                         for name, amounts in sorted(banks.items())]
        ctx.session.flush()
        shown = "、".join(f"第 {old} 行→第 {new} 行" for old, new, _ in pairs[:10]) + ("等" if len(pairs) > 10 else "")
        after = {"payment_request_id": request.id, "lines": {str(old): new for old, new, _ in pairs},
                 "total": f"{request.total:.2f}",
                 "banks": [{"bank": b.bank_name, "label": ledger.bank_label(b.bank_name), "count": b.line_count,
                            "total": f"{b.total:.2f}"} for b in request.banks]}
        comment = v["comment"] or f"补发 {len(pairs)} 笔，合计 {request.total:.2f} 元（{shown}）"
        return workflow.Outcome(ctx.batch.state, comment, after,
                                f"已生成补发支付申请：{len(pairs)} 笔，合计 {request.total:.2f} 元，请导出代发文件送银行。",
                                emit=True, details={"payment_request_id": request.id, "lines": len(pairs),
                                                    "total": f"{request.total:.2f}"})

    return workflow.perform(session, operator, batch_id, "reissue", form, today, run=run)


def return_unpaid(session: Session, operator: Actor | Operator, batch_id: int, form: Mapping[str, Any],
                  today: date) -> workflow.ActionResult:
    """``return_unpaid`` with the form ``{line, reason}``: the failed line's money is returned (退回)."""

    def run(ctx: workflow.Context, v: dict[str, Any]) -> workflow.Outcome:
        line = _line(ctx, v["line"])
        before = _snapshot(line)
        line.state, line.correction_due_on = LineState.returned.value, None
        line.failure_reason = "；".join(t for t in (line.failure_reason, v["reason"]) if t)[:200]
        line.advice = None
        trail.record(ctx.session, actor=ctx.actor.username, action="line.return", object_type="payment_line",
                     object_id=line.id, region_code=line.village_code, before=before,
                     after={**_snapshot(line), "reason": v["reason"]})
        money = ledger.balance(ctx.session, ctx.batch.id)
        return workflow.Outcome(ctx.batch.state, f"第 {line.line_no} 行无法发放，资金退回：{v['reason']}",
                                {"line_no": line.line_no, "amount": str(line.amount), "reason": v["reason"],
                                 "returned_total": str(money.returned)},
                                f"第 {line.line_no} 行已确认无法发放，{line.amount:.2f} 元资金退回。", emit=True)

    return workflow.perform(session, operator, batch_id, "return_unpaid", form, today, run=run)
