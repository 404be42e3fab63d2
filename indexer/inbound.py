"""Complaints and tip-offs: in from the public store, answers back out.

``pull`` copies every public complaint not yet taken in (``pulled_at`` empty) into the batch
database through :func:`admin.complaints.workflow.receive` (idempotent by tracking code, the
contact encrypted with the field key; the department from the project, the due date in force,
a receipt event and its audit entry), then marks it pulled on the public side, shows the citizen
已转交主管部门 and erases the contact there — the internet-facing store keeps no phone number once
the internal side holds it. Killed between the two steps, the next run finds the case already
inside and only finishes the marking. The complainants' satisfaction feedback
(:class:`portal.store.ComplaintFeedback`) comes in the same way
(:func:`admin.complaints.workflow.record_feedback`, idempotent).

``push`` sends status, answer, answering unit and due date back: it reads the ``complaint``
outbox rows (written by admin when a case changes) after its own cursor (consumer
``inbound-complaints``), and for each case whose public copy differs, updates the public
complaint and, when its status or answer changed, adds a :class:`portal.store.ComplaintUpdate`
(a case's history is only appended to when something changed, so re-running is harmless). The
public answer is the case's answer only while it stands (answered, closed, not accepted): a
reopened case shows 办理中 again, its earlier answer stays in the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from admin.complaints import workflow
from admin.fieldcrypt import cipher
from admin.models import Complaint, ComplaintEvent, OutboxCursor, OutboxEntry
from core.db import Database
from core.timeutil import local, now
from portal.store import COMPLAINT_STATUS_LABELS, ComplaintFeedback, ComplaintUpdate, PublicComplaint

__all__ = ["CONSUMER", "InboundReport", "public_status", "pull", "push", "run"]

CONSUMER = "inbound-complaints"
CHUNK = 200
FORWARDED_NOTE = "已转交主管部门办理"
REOPENED_NOTE = "已重新办理"
ANSWERED = ("answered", "closed", "rejected")


@dataclass
class InboundReport:
    pulled: int = 0
    already_inside: int = 0
    pushed: int = 0
    unchanged: int = 0
    feedback: int = 0


def public_status(internal_status: str) -> str:
    """The status the citizen sees for an internal case status."""
    if internal_status == "received":
        return "forwarded"  # received inside (or referred on) = forwarded, from the citizen's point of view
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
                workflow.receive(
                    internal,
                    tracking_code=case.tracking_code,
                    kind=case.kind,
                    subject=case.subject,
                    project_code=case.project_code,
                    region_code=case.region_code,
                    text=case.text,
                    contact_enc=crypt.encrypt(case.contact) if case.contact else None,
                    real_name=bool(case.real_name),
                    confidential=bool(case.confidential),
                    filed_at=local(case.filed_at),  # the public store may be SQLite: naive, Shanghai time
                    due_on=case.due_on,
                )
                report.pulled += 1
        with public_db.session() as public:
            for case in public.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code.in_(codes))):
                case.pulled_at = now()
                case.contact = None
                if case.status == "received":
                    case.status = "forwarded"
                    public.add(ComplaintUpdate(complaint_id=case.id, status="forwarded", note=FORWARDED_NOTE))
    return pull_feedback(public_db, batch_db, report=report)


def pull_feedback(public_db: Database, batch_db: Database, *, report: InboundReport | None = None) -> InboundReport:
    """The complainants' 满意 / 不满意 into the cases, then marked pulled on the public side."""
    report = report or InboundReport()
    while True:
        with public_db.session() as public:
            waiting = list(public.execute(
                select(ComplaintFeedback.id, PublicComplaint.tracking_code, ComplaintFeedback.satisfied,
                       ComplaintFeedback.comment, ComplaintFeedback.at)
                .join(PublicComplaint, ComplaintFeedback.complaint_id == PublicComplaint.id)
                .where(ComplaintFeedback.pulled_at.is_(None)).order_by(ComplaintFeedback.id).limit(CHUNK)
            ))
        if not waiting:
            return report
        with batch_db.session() as internal:
            for _id, code, satisfied, comment, at in waiting:
                report.feedback += workflow.record_feedback(internal, code, satisfied=bool(satisfied),
                                                            comment=comment or "", at=at)
        with public_db.session() as public:
            for row in public.scalars(select(ComplaintFeedback).where(
                    ComplaintFeedback.id.in_([w[0] for w in waiting]))):
                row.pulled_at = now()


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
        cases = {}
        found = list(internal.scalars(select(Complaint).where(Complaint.tracking_code.in_(codes))))
        # when the case last changed inside: the public history is dated by the step, not by this push
        latest = (select(func.max(ComplaintEvent.id))
                  .where(ComplaintEvent.complaint_id.in_([c.id for c in found] or [0]))
                  .group_by(ComplaintEvent.complaint_id))
        changed_at = dict(internal.execute(
            select(ComplaintEvent.complaint_id, ComplaintEvent.at).where(ComplaintEvent.id.in_(latest))).all())
        for c in found:
            standing = c.status in ANSWERED
            last = changed_at.get(c.id)
            cases[c.tracking_code] = (c.status, (c.answer or "") if standing else "",
                                      local(c.answered_at) if standing and c.answered_at else None,
                                      (c.answer_unit or "") if standing else "", c.due_on,
                                      local(last) if last else now())
    with public_db.session() as public:
        for case in public.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code.in_(list(cases)))):
            status, answer, answered_at, unit, due_on, changed_at = cases[case.tracking_code]
            wanted = public_status(status)
            news = case.status != wanted or (case.answer or "") != answer
            if not news and (case.answer_unit or "") == unit and case.due_on == due_on:
                report.unchanged += 1
                continue
            if news:
                if answer and wanted in ANSWERED:
                    note = answer
                elif wanted == "in_progress" and case.status in ANSWERED:
                    note = REOPENED_NOTE
                else:
                    note = COMPLAINT_STATUS_LABELS[wanted]
                public.add(ComplaintUpdate(complaint_id=case.id, status=wanted, note=note, at=changed_at))
            case.status, case.answer, case.answered_at = wanted, answer, answered_at
            case.answer_unit, case.due_on = unit, due_on
            report.pushed += 1


def run(public_db: Database, batch_db: Database, field_key: str) -> InboundReport:
    """Pull new cases in, then push changes out (what ``yikatong index sync`` does each round)."""
    report = pull(public_db, batch_db, field_key)
    return push(batch_db, public_db, report=report)
