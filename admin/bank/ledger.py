"""Where a batch's money stands: bank files, failed lines, corrections, and the balance.

Plain queries over the batch database (no writes, no permission checks: callers scope them).
The workflow (admin/batches/workflow.py) reads them for the preconditions and form fields of
``bank_export``, ``bank_import``, ``correct_failed``, ``reissue`` and ``return_unpaid``.

A *bank file* is one disbursing bank's share of one payment request
(:class:`admin.models.PaymentRequestBank`): the lines the request sent to the bank
(``PaymentLine.payment_request_id``) whose card account is at that bank (``CardAccount.bank_name``,
"" when not registered). The first request of a batch is its payment (首次发放); each re-issue makes
a supplementary one (补发, ``kind = "reissue"``).

The balance, per batch, in yuan::

    allocated = paid + returned + pending

- allocated: every line that was not withdrawn and is not itself a re-issue (a re-issue carries
  the money of the failed line it replaces, so it is not allocated twice);
- paid: lines paid (re-issues included); returned: lines whose money went back (退回);
- pending: lines still on their way: waiting for the bank, or failed and not yet re-issued or
  returned (``failed`` is that part of pending). A failed line that was re-issued counts through
  its re-issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, selectinload

from admin.models import CardAccount, LineCorrection, LineState, PaymentLine, PaymentRequest, PaymentRequestBank

__all__ = [
    "NO_BANK_LABEL",
    "REQUEST_KIND_LABELS",
    "Balance",
    "BankFileInfo",
    "balance",
    "bank_files",
    "bank_label",
    "corrections_to_reissue",
    "failed_lines",
    "file_lines",
    "open_bank_files",
]

NO_BANK_LABEL = "未登记开户银行"
REQUEST_KIND_LABELS = {"payment": "首次发放", "reissue": "补发"}
ZERO = Decimal("0.00")
_PENDING, _PAID, _FAILED = LineState.pending.value, LineState.paid.value, LineState.failed.value
_RETURNED, _REISSUED, _WITHDRAWN = LineState.returned.value, LineState.reissued.value, LineState.withdrawn.value


def bank_label(bank_name: str) -> str:
    return bank_name or NO_BANK_LABEL


def _bank_of_line() -> Any:
    return func.coalesce(CardAccount.bank_name, "")


@dataclass(frozen=True)
class BankFileInfo:
    """One bank file: a bank's share of a payment request, and where its result stands."""

    id: int  # PaymentRequestBank.id: the file's number in forms and URLs
    request_id: int
    kind: str
    bank_name: str
    line_count: int
    total: Decimal
    pending: int  # lines still awaiting the bank's result
    export_count: int
    exported_at: datetime | None
    results_at: datetime | None
    paid_count: int
    failed_count: int

    @property
    def bank(self) -> str:
        return bank_label(self.bank_name)

    @property
    def kind_label(self) -> str:
        return REQUEST_KIND_LABELS.get(self.kind, self.kind)

    @property
    def label(self) -> str:
        return (f"支付申请 {self.request_id}（{self.kind_label}）{self.bank}：{self.line_count} 笔，"
                f"{self.total:.2f} 元")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "request_id": self.request_id, "kind": self.kind, "kind_label": self.kind_label,
                "bank": self.bank_name, "bank_label": self.bank, "line_count": self.line_count,
                "total": self.total, "pending": self.pending, "export_count": self.export_count,
                "exported_at": self.exported_at, "results_at": self.results_at, "paid_count": self.paid_count,
                "failed_count": self.failed_count}


def bank_files(session: Session, batch_id: int) -> list[BankFileInfo]:
    """Every bank file of the batch, oldest request first, banks by name."""
    bank = _bank_of_line()
    pending = {(request_id, name): count for request_id, name, count in session.execute(
        select(PaymentLine.payment_request_id, bank, func.count(PaymentLine.id)).select_from(PaymentLine)
        .join(CardAccount, CardAccount.id == PaymentLine.card_account_id)
        .where(PaymentLine.batch_id == batch_id, PaymentLine.state == _PENDING,
               PaymentLine.payment_request_id.is_not(None))
        .group_by(PaymentLine.payment_request_id, bank))}
    rows = session.execute(select(PaymentRequestBank, PaymentRequest.kind).join(
        PaymentRequest, PaymentRequest.id == PaymentRequestBank.request_id)
        .where(PaymentRequest.batch_id == batch_id).order_by(PaymentRequest.id, PaymentRequestBank.bank_name)).all()
    return [BankFileInfo(row.id, row.request_id, kind or "payment", row.bank_name, row.line_count,
                         Decimal(row.total).quantize(Decimal("0.01")), pending.get((row.request_id, row.bank_name), 0),
                         row.export_count or 0, row.exported_at, row.results_at, row.paid_count or 0,
                         row.failed_count or 0)
            for row, kind in rows]


def open_bank_files(session: Session, batch_id: int) -> list[BankFileInfo]:
    """The bank files some of whose lines still await the bank's result."""
    return [f for f in bank_files(session, batch_id) if f.pending]


def file_lines(session: Session, request_id: int, bank_name: str) -> list[PaymentLine]:
    """The lines of one bank file, by line number, with person and card loaded."""
    return list(session.scalars(
        select(PaymentLine).join(CardAccount, CardAccount.id == PaymentLine.card_account_id)
        .where(PaymentLine.payment_request_id == request_id, _bank_of_line() == bank_name)
        .options(selectinload(PaymentLine.person), selectinload(PaymentLine.card_account))
        .order_by(PaymentLine.line_no)))


def _open_correction(line_id_column: Any) -> Any:
    return exists().where(LineCorrection.line_id == line_id_column, LineCorrection.reissue_line_id.is_(None))


def failed_lines(session: Session, batch_id: int, region: str = "", *, corrected: bool | None = None,
                 ids: Sequence[int] | None = None) -> list[PaymentLine]:
    """Failed lines of the batch (inside ``region``, a village-code prefix), by line number.
    ``corrected``: True = corrected and awaiting re-issue, False = awaiting correction."""
    stmt = (select(PaymentLine).where(PaymentLine.batch_id == batch_id, PaymentLine.state == _FAILED,
                                      PaymentLine.village_code.startswith(region))
            .options(selectinload(PaymentLine.person)).order_by(PaymentLine.line_no))
    if corrected is True:
        stmt = stmt.where(_open_correction(PaymentLine.id))
    elif corrected is False:
        stmt = stmt.where(~_open_correction(PaymentLine.id))
    if ids is not None:
        stmt = stmt.where(PaymentLine.id.in_(list(ids)))
    return list(session.scalars(stmt))


def corrections_to_reissue(session: Session, batch_id: int) -> list[LineCorrection]:
    """Corrections of failed lines not yet re-issued, oldest first."""
    return list(session.scalars(
        select(LineCorrection).join(PaymentLine, PaymentLine.id == LineCorrection.line_id)
        .where(LineCorrection.batch_id == batch_id, LineCorrection.reissue_line_id.is_(None),
               PaymentLine.state == _FAILED).order_by(LineCorrection.id)))


@dataclass(frozen=True)
class Balance:
    """allocated = paid + returned + pending (in yuan), with the number of lines in each."""

    allocated: Decimal
    paid: Decimal
    returned: Decimal
    pending: Decimal
    failed: Decimal  # part of pending: failed, awaiting correction, re-issue or return
    counts: dict[str, int]
    correction_due_on: date | None  # the earliest day a failed line must be corrected by

    @property
    def holds(self) -> bool:
        return self.allocated == self.paid + self.returned + self.pending

    def as_dict(self) -> dict[str, Any]:
        return {"allocated": self.allocated, "paid": self.paid, "returned": self.returned, "pending": self.pending,
                "failed": self.failed, "holds": self.holds, "counts": dict(self.counts),
                "correction_due_on": self.correction_due_on}


def balance(session: Session, batch_id: int) -> Balance:
    rows = session.execute(
        select(PaymentLine.state, PaymentLine.reissue_of_id.is_(None), func.count(PaymentLine.id),
               func.coalesce(func.sum(PaymentLine.amount), 0))
        .where(PaymentLine.batch_id == batch_id)
        .group_by(PaymentLine.state, PaymentLine.reissue_of_id.is_(None))).all()
    sums: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    allocated = ZERO
    for state, original, count, total in rows:
        amount = Decimal(str(total)).quantize(Decimal("0.01"))
        if state == _WITHDRAWN:
            continue
        if original:
            allocated += amount
        sums[state] = sums.get(state, ZERO) + amount
        counts[state] = counts.get(state, 0) + count
    due = session.execute(select(func.min(PaymentLine.correction_due_on)).where(and_(
        PaymentLine.batch_id == batch_id, PaymentLine.state == _FAILED))).scalar_one()
    return Balance(allocated=allocated, paid=sums.get(_PAID, ZERO), returned=sums.get(_RETURNED, ZERO),
                   pending=sums.get(_PENDING, ZERO) + sums.get(_FAILED, ZERO), failed=sums.get(_FAILED, ZERO),
                   counts={state: counts.get(state, 0) for state in (_PENDING, _PAID, _FAILED, _REISSUED, _RETURNED)},
                   correction_due_on=due)
