"""Complaints and tip-offs: in from the public store, answers back out.

``pull`` copies every public complaint not yet taken in (``pulled_at`` empty) into the batch
database (:class:`admin.models.Complaint`, idempotent by tracking code, the contact encrypted with
the field key), then marks it pulled on the public side, shows the citizen 已转交主管部门 and
erases the contact there — the internet-facing store keeps no phone number once the internal side
holds it. Killed between the two steps, the next run finds the case already inside and only
finishes the marking.

``push`` sends status and answer back: it reads the ``complaint`` outbox rows (written by admin
when a case changes) after its own cursor (consumer ``inbound-complaints``), and for each case
whose public status or answer differs, updates the public complaint and adds a
:class:`portal.store.ComplaintUpdate` (a case's history is only appended to when something changed,
so re-running is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from admin.fieldcrypt import cipher
from admin.models import Complaint, OutboxCursor, OutboxEntry
from core.db import Database
from core.timeutil import now
from portal.store import COMPLAINT_STATUS_LABELS, ComplaintUpdate, PublicComplaint

__all__ = ["CONSUMER", "InboundReport", "public_status", "pull", "push", "run"]

CONSUMER = "inbound-complaints"
CHUNK = 200
FORWARDED_NOTE = "已转交主管部门办理"


@dataclass
class InboundReport:
    pulled: int = 0
    already_inside: int = 0
    pushed: int = 0
    unchanged: int = 0


def public_status(internal_status: str) -> str:
    """The status the citizen sees for an internal case status."""
    if internal_status == "received":
        return "forwarded"  # received inside = forwarded, from the citizen's point of view
    return internal_status if internal_status in COMPLAINT_STATUS_LABELS else "in_progress"


def pull(public_db: Database, batch_db: Database, field_key: str, *, limit: int | None = None,
         report: InboundReport | None = None) -> InboundReport:
    report = report or InboundReport()
    crypt = cipher(field_key)
    while limit is None or report.pulled + report.already_inside < limit:
        with public_db.session() as public:
            waiting = list(public.scalars(
                select(PublicComplaint).where(PublicComplaint.pulled_at.is_(None))
                .order_by(PublicComplaint.id).limit(CHUNK)
            ))
        if not waiting:
            break
        codes = [c.tracking_code for c in waiting]
        with batch_db.session() as internal:
            inside = set(internal.scalars(select(Complaint.tracking_code).where(Complaint.tracking_code.in_(codes))))
            for case in waiting:
                if case.tracking_code in inside:
                    report.already_inside += 1
                    continue
                internal.add(Complaint(
                    tracking_code=case.tracking_code,
                    kind=case.kind,
                    subject=case.subject,
                    project_code=case.project_code,
                    region_code=case.region_code,
                    text=case.text,
                    contact_enc=crypt.encrypt(case.contact) if case.contact else None,
                    real_name=bool(case.real_name),
                    status="received",
                    answer="",
                    filed_at=case.filed_at,
                    due_on=case.due_on,
                ))
                report.pulled += 1
        with public_db.session() as public:
            for case in public.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code.in_(codes))):
                case.pulled_at = now()
                case.contact = None
                if case.status == "received":
                    case.status = "forwarded"
                    public.add(ComplaintUpdate(complaint_id=case.id, status="forwarded", note=FORWARDED_NOTE))
    return report


def push(batch_db: Database, public_db: Database, *, codes: list[str] | None = None,
         report: InboundReport | None = None) -> InboundReport:
    """Send status/answer changes out: the given tracking codes, else the outbox's new rows."""
    report = report or InboundReport()
    if codes is not None:
        _push_codes(batch_db, public_db, codes, report)
        return report
    with batch_db.session() as session:
        if session.get(OutboxCursor, CONSUMER) is None:
            session.add(OutboxCursor(consumer=CONSUMER, last_id=0, updated_at=now()))
    while True:
        with batch_db.session() as session:
            cursor = int(session.get(OutboxCursor, CONSUMER).last_id)  # type: ignore[union-attr]
            rows = session.execute(
                select(OutboxEntry.id, OutboxEntry.key)
                .where(OutboxEntry.id > cursor, OutboxEntry.topic == "complaint")
                .order_by(OutboxEntry.id).limit(CHUNK)
            ).all()
        if not rows:
            return report
        _push_codes(batch_db, public_db, sorted({key for _, key in rows}), report)
        with batch_db.session() as session:
            row = session.get(OutboxCursor, CONSUMER)
            assert row is not None
            row.last_id = rows[-1][0]
            row.updated_at = now()


def _push_codes(batch_db: Database, public_db: Database, codes: list[str], report: InboundReport) -> None:
    with batch_db.session() as internal:
        cases = {c.tracking_code: (c.status, c.answer or "", c.answered_at)
                 for c in internal.scalars(select(Complaint).where(Complaint.tracking_code.in_(codes)))}
    with public_db.session() as public:
        for case in public.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code.in_(list(cases)))):
            status, answer, answered_at = cases[case.tracking_code]
            wanted = public_status(status)
            if case.status == wanted and (case.answer or "") == answer:
                report.unchanged += 1
                continue
            case.status = wanted
            case.answer = answer
            case.answered_at = answered_at
            note = answer if answer and wanted in ("answered", "closed") else COMPLAINT_STATUS_LABELS[wanted]
            public.add(ComplaintUpdate(complaint_id=case.id, status=wanted, note=note))
            report.pushed += 1


def run(public_db: Database, batch_db: Database, field_key: str) -> InboundReport:
    """Pull new cases in, then push changes out (what ``yikatong index sync`` does each round)."""
    report = pull(public_db, batch_db, field_key)
    return push(batch_db, public_db, report=report)
