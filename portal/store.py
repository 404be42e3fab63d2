"""The public store: what the public side itself must keep (SQLAlchemy 2 typed models).

Complaints inbox, WeChat bindings and notices, kiosk devices and nonces. Never the batch
database: portal/ and bot/ read disbursement data only from the search indexes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.timeutil import now


class PublicBase(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}



COMPLAINT_STATUS_LABELS: dict[str, str] = {
    "received": "已受理",
    "forwarded": "已转交主管部门",
    "accepted": "主管部门已受理",
    "in_progress": "办理中",
    "answered": "已答复",
    "closed": "已办结",
    "rejected": "不予受理",
}


class PublicComplaint(PublicBase):
    """A complaint / tip-off / enquiry as filed. Committed before the tracking code is shown."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    project_code: Mapped[str | None] = mapped_column(String(32))
    disclosure_id: Mapped[str | None] = mapped_column(String(64))
    region_code: Mapped[str | None] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(100))  # never displayed on the public side
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)  # a tip-off for the supervision bodies only
    status: Mapped[str] = mapped_column(String(16), default="received")
    answer: Mapped[str] = mapped_column(Text, default="")
    answer_unit: Mapped[str] = mapped_column(String(100), default="")  # the unit that answered, never a person
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    due_on: Mapped[date] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pulled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # taken in by the indexer
    updates: Mapped[list["ComplaintUpdate"]] = relationship(order_by="ComplaintUpdate.id")
    feedback: Mapped[list["ComplaintFeedback"]] = relationship(order_by="ComplaintFeedback.id")


class ComplaintUpdate(PublicBase):
    __tablename__ = "complaint_updates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class ComplaintFeedback(PublicBase):
    """The complainant's word on an answer (满意 / 不满意), one per answer; pulled in like complaints."""

    __tablename__ = "complaint_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    pulled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WechatBinding(PublicBase):
    """openid → person_key. Never the ID number itself."""

    __tablename__ = "wechat_bindings"
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class WechatNotice(PublicBase):
    """A template message for a published line, sent once per (openid, line)."""

    __tablename__ = "wechat_notices"
    __table_args__ = (UniqueConstraint("openid", "line_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    due_on: Mapped[date | None] = mapped_column(Date)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(String(200), default="")


class KioskDevice(PublicBase):
    __tablename__ = "kiosk_devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12))
    contact: Mapped[str] = mapped_column(String(100), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    rekeyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    query_count: Mapped[int] = mapped_column(Integer, default=0)


class KioskNonce(PublicBase):
    __tablename__ = "kiosk_nonces"
    __table_args__ = (UniqueConstraint("device_id", "nonce"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
