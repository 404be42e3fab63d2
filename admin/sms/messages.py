"""The arrival SMS queue: one message per paid line, queued once, sent exactly once.

- :func:`queue_paid` (in the caller's transaction — the publication's, or a later result import of
  a published batch): one ``sms_messages`` row per paid line of the batch that has none yet
  (``line_id`` is unique, so nothing is queued twice). The text names the project, the amount,
  the date paid, the paying department and the period (seed 002, 第十条); no name, ID, card or
  phone number. A person without a phone number gets a row with status ``no_phone``.
- :func:`send_pending` (after commit: ``yikatong sms send``, the background loop of ``yikatong
  serve --with-admin``, the demo): each due ``queued`` message is claimed (``queued`` →
  ``sending`` in one guarded UPDATE, so two senders never take the same one), handed to the
  gateway with its stable ``ref`` and marked ``sent``. A gateway failure puts it back to
  ``queued`` with a later ``next_attempt_at`` (1, 5, 30, 120 … minutes); after
  :data:`MAX_ATTEMPTS` it stays ``failed``. A sender that died while ``sending`` leaves the
  message to be taken again after :data:`CLAIM_MINUTES`; the gateway sees the same ``ref`` and
  does not deliver it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admin.batches.service import period_label
from admin.fieldcrypt import cipher
from admin.models import Batch, Department, LineState, PaymentLine, Person, Project, SmsMessage, SmsSandboxMessage
from admin.sms.gateways import OutgoingSms, SmsError, SmsGateway
from core.db import Database
from core.timeutil import format_date_zh, now as now_shanghai

__all__ = ["CLAIM_MINUTES", "MAX_ATTEMPTS", "SendReport", "message_ref", "queue_paid", "sandbox_messages",
           "send_pending", "sms_text"]

log = logging.getLogger("yikatong.sms")

MAX_ATTEMPTS = 6
CLAIM_MINUTES = 10
_BACKOFF_MINUTES = (1, 5, 30, 120, 360)


def sms_text(project: str, amount: Any, paid_on: Any, department: str, period: str) -> str:
    """The arrival notice: project, amount, date, paying department, period."""
    when = format_date_zh(paid_on) if paid_on else ""
    return (f"您的{project}{amount:.2f}元已于{when}发放到您的社会保障卡（一卡通）账户。"
            f"发放部门：{department}；发放周期：{period}。如有疑问请咨询{department}。")


REF_PREFIX = "yikatong-sms-"


def message_ref(message_id: int) -> str:
    """The message's idempotency key at the gateway."""
    return f"{REF_PREFIX}{message_id}"


def queue_paid(session: Session, batch: Batch) -> int:
    """Queue an arrival SMS for every paid line of the batch that has none; how many were queued."""
    project, department = session.execute(
        select(Project.name, Department.name).join(Department, Department.id == Project.department_id)
        .where(Project.id == batch.project_id)).one()
    period = period_label(batch.period)
    known = select(SmsMessage.line_id).where(SmsMessage.batch_id == batch.id)
    rows = session.execute(
        select(PaymentLine.id, PaymentLine.person_id, PaymentLine.amount, PaymentLine.paid_on,
               Person.phone_enc.is_not(None))
        .join(Person, Person.id == PaymentLine.person_id)
        .where(PaymentLine.batch_id == batch.id, PaymentLine.state == LineState.paid.value,
               PaymentLine.id.notin_(known)).order_by(PaymentLine.id)).all()
    at = now_shanghai()
    session.add_all([
        SmsMessage(line_id=line_id, batch_id=batch.id, person_id=person_id,
                   text=sms_text(project, amount, paid_on or batch.paid_on, department, period),
                   status="queued" if has_phone else "no_phone", attempts=0, next_attempt_at=at, last_error="",
                   gateway="", gateway_id="", queued_at=at)
        for line_id, person_id, amount, paid_on, has_phone in rows])
    session.flush()
    return len(rows)


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0  # the gateway failed; tried again later
    failed: int = 0  # gave up after MAX_ATTEMPTS

    def summary(self) -> str:
        return f"已发送 {self.sent} 条，稍后重试 {self.retrying} 条，放弃 {self.failed} 条"


def _claim(db: Database, message_id: int, at: datetime) -> bool:
    with db.session() as session:
        result = session.execute(
            update(SmsMessage).where(SmsMessage.id == message_id, SmsMessage.status == "queued")
            .values(status="sending", attempts=SmsMessage.attempts + 1,
                    next_attempt_at=at + timedelta(minutes=CLAIM_MINUTES)))
        return result.rowcount == 1


def send_pending(db: Database, gateway: SmsGateway, field_key: str, *, now: datetime | None = None,
                 limit: int = 500) -> SendReport:
    """Send the messages due at ``now`` (default: now), oldest first, at most ``limit``."""
    at = now or now_shanghai()
    report = SendReport()
    with db.session() as session:  # a sender that died mid-send: take its messages again
        session.execute(update(SmsMessage).where(SmsMessage.status == "sending", SmsMessage.next_attempt_at <= at)
                        .values(status="queued"))
        ids = list(session.scalars(select(SmsMessage.id).where(
            SmsMessage.status == "queued", SmsMessage.next_attempt_at <= at).order_by(SmsMessage.id).limit(limit)))
    crypt = cipher(field_key)
    for message_id in ids:
        if not _claim(db, message_id, at):
            continue  # another sender took it
        with db.session() as session:
            message = session.get(SmsMessage, message_id)
            phone_enc = session.execute(select(Person.phone_enc).where(Person.id == message.person_id)).scalar_one()
            text, attempts = message.text, message.attempts
        try:
            if not phone_enc:
                raise SmsError("没有手机号码")
            gateway_id = gateway.send(OutgoingSms(message_ref(message_id), crypt.decrypt(phone_enc), text))
        except SmsError as exc:
            gave_up = attempts >= MAX_ATTEMPTS
            wait = _BACKOFF_MINUTES[min(attempts, len(_BACKOFF_MINUTES)) - 1]
            with db.session() as session:
                session.execute(update(SmsMessage).where(SmsMessage.id == message_id).values(
                    status="failed" if gave_up else "queued", last_error=str(exc)[:200], gateway=gateway.name,
                    next_attempt_at=at + timedelta(minutes=wait)))
            log.warning("到账短信 %s 第 %d 次发送失败（%s）%s", message_ref(message_id), attempts, exc,
                        "，不再重试" if gave_up else "，稍后重试")
            if gave_up:
                report.failed += 1
            else:
                report.retrying += 1
            continue
        with db.session() as session:
            session.execute(update(SmsMessage).where(SmsMessage.id == message_id).values(
                status="sent", sent_at=now_shanghai(), gateway=gateway.name, gateway_id=gateway_id, last_error=""))
        report.sent += 1
    if ids:
        log.info("到账短信：%s", report.summary())
    return report


def sandbox_messages(session: Session, batch_id: int | None = None) -> list[dict[str, Any]]:
    """What the sandbox gateway received (oldest first), with the line each message is about:
    ``[{ref, line_id, batch_id, phone_masked, text, received_at}]``."""
    rows = list(session.scalars(select(SmsSandboxMessage).order_by(SmsSandboxMessage.id)))
    ids = {int(row.ref.rsplit("-", 1)[1]): row for row in rows if row.ref.startswith(REF_PREFIX)}
    owners = {message_id: (line_id, owner) for message_id, line_id, owner in session.execute(
        select(SmsMessage.id, SmsMessage.line_id, SmsMessage.batch_id).where(SmsMessage.id.in_(list(ids))))}
    out = []
    for row in rows:
        message_id = int(row.ref.rsplit("-", 1)[1]) if row.ref.startswith(REF_PREFIX) else None
        line_id, owner = owners.get(message_id, (None, None)) if message_id is not None else (None, None)
        if batch_id is not None and owner != batch_id:
            continue
        out.append({"ref": row.ref, "line_id": line_id, "batch_id": owner, "phone_masked": row.phone_masked,
                    "text": row.text, "received_at": row.received_at})
    return out
