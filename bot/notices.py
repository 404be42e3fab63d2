"""Proactive notices: a template message when a bound person's payment is published.

``yikatong wechat notify`` (run it from cron every few minutes, or once a working day):

1. :func:`queue_new` — for every binding, the person's *paid* lines in the ``payments`` index
   whose batch is published (the same event that queues the arrival SMS on the internal side,
   admin/sms) and dated on or after the binding day become :class:`portal.store.WechatNotice` rows (unique per
   openid + line, so running again queues nothing twice), due within
   :data:`NOTICE_WORKDAYS` working days of the line's date (core.workdays; DESIGN.md: results
   public ≤ 5 working days, notices by default "when the line is published").
2. :func:`send_due` — every queued notice is claimed (``queued`` → ``sending`` in one guarded
   UPDATE, so two runs never send the same one), sent through the sender adapter and marked
   ``sent``; a refused send goes back to ``queued`` with the attempt counted, and after
   :data:`MAX_ATTEMPTS` it stays ``failed``.

The payload holds the project, amount, date and department only — no name, no ID, no card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.bindings import all_bindings
from bot.sender import Sender, SendError
from core.db import Database
from core.timeutil import format_date_zh, local, now, today
from core.workdays import add_workdays
from portal.lookup import lookup_by_person_key
from portal.store import WechatNotice
from search.base import SearchEngine

log = logging.getLogger("yikatong.bot")

NOTICE_WORKDAYS = 5
MAX_ATTEMPTS = 5


@dataclass
class NotifyReport:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    overdue: int = 0  # still unsent after their due day

    def summary(self) -> str:
        return (f"新排队 {self.queued} 条，已发送 {self.sent} 条，发送失败 {self.failed} 条，"
                f"逾期未发 {self.overdue} 条")


def payload_of(item) -> dict[str, Any]:
    return {
        "project": item.project_name,
        "amount": f"{item.amount:.2f}",
        "date": item.date.isoformat() if item.date else "",
        "department": item.department,
    }


def queue_new(db: Database, search: SearchEngine) -> int:
    """Queue a notice for each new paid line of each bound person; returns how many were queued."""
    queued = 0
    for openid, person_key, bound_at in all_bindings(db):
        person = lookup_by_person_key(search, person_key)
        if person is None:
            continue
        since = local(bound_at).date()  # type: ignore[arg-type]
        with db.session() as session:
            known = set(session.scalars(select(WechatNotice.line_id).where(WechatNotice.openid == openid)))
        for year in person.years:
            for item in year.paid:
                if item.id in known or not item.published or item.date is None or item.date < since:
                    continue
                try:
                    with db.session() as session:
                        session.add(WechatNotice(openid=openid, line_id=item.id, payload=payload_of(item),
                                                 status="queued", attempts=0, queued_at=now(),
                                                 due_on=add_workdays(item.date, NOTICE_WORKDAYS),
                                                 last_error=""))
                    queued += 1
                except IntegrityError:  # another run queued it meanwhile
                    pass
    return queued


def template_data(payload: dict[str, Any]) -> dict[str, dict[str, str]]:
    when = payload.get("date") or ""
    try:
        when = format_date_zh(date.fromisoformat(when)) if when else ""
    except ValueError:
        pass
    return {
        "first": {"value": "您有一笔惠民惠农补贴资金已发放到社保卡（一卡通）账户。"},
        "keyword1": {"value": str(payload.get("project", ""))},
        "keyword2": {"value": f"{payload.get('amount', '')}元"},
        "keyword3": {"value": when},
        "keyword4": {"value": str(payload.get("department", ""))},
        "remark": {"value": "如有疑问，可在公众号发送“明白条”查看，或发送“投诉”反映问题。"},
    }


def _claim(db: Database, notice_id: int) -> bool:
    with db.session() as session:
        result = session.execute(
            update(WechatNotice).where(WechatNotice.id == notice_id, WechatNotice.status == "queued")
            .values(status="sending", attempts=WechatNotice.attempts + 1)
        )
        return result.rowcount == 1


def send_due(db: Database, sender: Sender, *, template_id: str = "", base_url: str = "",
             limit: int = 1000) -> NotifyReport:
    """Send queued notices (oldest due first)."""
    report = NotifyReport()
    with db.session() as session:
        ids = list(session.scalars(
            select(WechatNotice.id).where(WechatNotice.status == "queued")
            .order_by(WechatNotice.due_on, WechatNotice.id).limit(limit)
        ))
    url = f"{base_url.rstrip('/')}/query" if base_url else None
    for notice_id in ids:
        if not _claim(db, notice_id):
            continue  # another run took it
        with db.session() as session:
            notice = session.get(WechatNotice, notice_id)
            openid, payload, attempts = notice.openid, dict(notice.payload), notice.attempts
        try:
            sender.send_template(openid, template_id, template_data(payload), url)
        except SendError as exc:
            status = "failed" if attempts >= MAX_ATTEMPTS else "queued"
            with db.session() as session:
                session.execute(update(WechatNotice).where(WechatNotice.id == notice_id)
                                .values(status=status, last_error=str(exc)[:200]))
            report.failed += 1
            continue
        with db.session() as session:
            session.execute(update(WechatNotice).where(WechatNotice.id == notice_id)
                            .values(status="sent", sent_at=now(), last_error=""))
        report.sent += 1
    with db.session() as session:
        report.overdue = len(list(session.scalars(
            select(WechatNotice.id).where(WechatNotice.status != "sent", WechatNotice.due_on < today())
        )))
    return report


def notify(db: Database, search: SearchEngine, sender: Sender, *, template_id: str = "",
           base_url: str = "") -> NotifyReport:
    """Queue new notices and send everything due: what ``yikatong wechat notify`` runs."""
    queued = queue_new(db, search)
    report = send_due(db, sender, template_id=template_id, base_url=base_url)
    report.queued = queued
    log.info("wechat notices: %s", report.summary())
    return report
