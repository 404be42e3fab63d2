"""Complaints in from the public store, answers back out — idempotent in both directions."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from admin import outbox
from admin.fieldcrypt import cipher
from admin.models import Complaint, ComplaintEvent
from core.timeutil import now
from indexer import inbound
from portal.store import ComplaintUpdate, PublicComplaint


def file(public_db, code: str, contact: str | None = "13812345678") -> None:
    with public_db.session() as s:
        s.add(PublicComplaint(tracking_code=code, kind="complaint", subject="补贴未到账",
                              project_code="P-GDDL", region_code="410423101", text="2025年耕地补贴至今未到账",
                              contact=contact, real_name=contact is not None, due_on=date(2025, 5, 6)))


def public(public_db, code: str) -> tuple[PublicComplaint, list[ComplaintUpdate]]:
    with public_db.session() as s:
        case = s.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == code)).one()
        updates = list(s.scalars(select(ComplaintUpdate).where(ComplaintUpdate.complaint_id == case.id)
                                 .order_by(ComplaintUpdate.id)))
        return case, updates


def test_pull_is_idempotent_and_keeps_the_contact_only_inside(public_db, batch_db, config) -> None:
    file(public_db, "TS2025A")
    file(public_db, "TS2025B", contact=None)
    first = inbound.pull(public_db, batch_db, config.field_key)
    assert first.pulled == 2
    assert inbound.pull(public_db, batch_db, config.field_key).pulled == 0
    with batch_db.session() as s:
        cases = {c.tracking_code: c for c in s.scalars(select(Complaint))}
    assert set(cases) == {"TS2025A", "TS2025B"}
    assert "13812345678" not in (cases["TS2025A"].contact_enc or "")
    assert cipher(config.field_key).decrypt(cases["TS2025A"].contact_enc) == "13812345678"
    assert cases["TS2025B"].contact_enc is None and cases["TS2025A"].due_on == date(2025, 5, 6)
    case, updates = public(public_db, "TS2025A")
    assert case.pulled_at is not None and case.contact is None and case.status == "forwarded"
    assert [u.status for u in updates] == ["forwarded"]


def test_a_pull_killed_before_marking_does_not_duplicate(public_db, batch_db, config) -> None:
    file(public_db, "TS2025C")
    inbound.pull(public_db, batch_db, config.field_key)
    with public_db.session() as s:  # as if the run died after the internal commit
        case = s.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == "TS2025C")).one()
        case.pulled_at = None
    report = inbound.pull(public_db, batch_db, config.field_key)
    assert report.pulled == 0 and report.already_inside == 1
    with batch_db.session() as s:
        assert len(list(s.scalars(select(Complaint)))) == 1


def test_answers_flow_back_once(public_db, batch_db, config) -> None:
    file(public_db, "TS2025D")
    file(public_db, "TS2025E")
    inbound.pull(public_db, batch_db, config.field_key)
    with batch_db.session() as s:
        case = s.scalars(select(Complaint).where(Complaint.tracking_code == "TS2025D")).one()
        case.status, case.handler = "in_progress", "clerk"
        outbox.emit(s, "complaint", "TS2025D")
    with batch_db.session() as s:
        case = s.scalars(select(Complaint).where(Complaint.tracking_code == "TS2025D")).one()
        case.status, case.answer, case.answered_at = "answered", "经核实，补贴已于4月8日重新发放到您的社保卡。", now()
        outbox.emit(s, "complaint", "TS2025D")
        outbox.emit(s, "complaint", "TS2025E")  # nothing changed for this one
    report = inbound.push(batch_db, public_db)
    assert report.pushed == 1 and report.unchanged == 1
    case, updates = public(public_db, "TS2025D")
    assert case.status == "answered" and case.answer.startswith("经核实") and case.answered_at is not None
    assert [u.status for u in updates] == ["forwarded", "answered"]
    assert updates[-1].note == case.answer
    again = inbound.run(public_db, batch_db, config.field_key)  # nothing new: nothing written
    assert again.pushed == 0 and again.pulled == 0
    assert inbound.push(batch_db, public_db, codes=["TS2025D", "TS2025E"]).pushed == 0
    assert len(public(public_db, "TS2025D")[1]) == 2


def test_public_history_is_dated_by_the_step_not_by_the_push(public_db, batch_db, config) -> None:
    """A push that runs late (the background loop was down for days) still dates each public
    history entry by when the case changed inside, not by when the push ran."""
    file(public_db, "TS2025G")
    inbound.pull(public_db, batch_db, config.field_key)
    answered = datetime(2025, 4, 9, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with batch_db.session() as s:
        case = s.scalars(select(Complaint).where(Complaint.tracking_code == "TS2025G")).one()
        case.status, case.answer, case.answered_at = "answered", "经核实，补贴已重新发放。", answered
        s.add(ComplaintEvent(complaint_id=case.id, action="answer", from_state="in_progress", to_state="answered",
                             actor="clerk", at=answered))
        outbox.emit(s, "complaint", "TS2025G")
    inbound.push(batch_db, public_db)
    case, updates = public(public_db, "TS2025G")
    assert updates[-1].status == "answered"
    at = updates[-1].at if updates[-1].at.tzinfo else updates[-1].at.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) == datetime(2025, 4, 9, 10, 30)
