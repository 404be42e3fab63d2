"""The internal batch database (SQLAlchemy 2 typed models).

Only admin/ and the internal half of indexer/ import this module; the public side never
does (import contract in pyproject.toml, checked in CI).

ID and card numbers are stored encrypted (`*_enc`, Fernet with YIKATONG_FIELD_KEY) beside
the HMAC `person_key` used for matching; names are stored in clear (clerks need them).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.timeutil import now

Money = Numeric(14, 2)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class BatchState(str, enum.Enum):
    draft = "draft"                  # 录入中: townships enter the roster
    submitted = "submitted"          # 已提交, awaiting first review (初审)
    publicity = "publicity"          # 公示中 (≥ 3 working days)
    approval = "approval"            # 待审批 (≤ 10 working days)
    finance_check = "finance_check"  # 财政复核 (≤ 5 working days)
    bank = "bank"                    # 已送银行, awaiting results (≤ 2 working days)
    paid = "paid"                    # 发放完成, results to be published (≤ 5 working days)
    published = "published"          # 结果已公开
    returned = "returned"            # 已退回 for correction (≤ 3 working days)
    cancelled = "cancelled"          # 已撤销


BATCH_STATE_LABELS: dict[str, str] = {
    "draft": "录入中",
    "submitted": "待初审",
    "publicity": "公示中",
    "approval": "待审批",
    "finance_check": "财政复核中",
    "bank": "银行发放中",
    "paid": "已发放待公开",
    "published": "已公开",
    "returned": "已退回修改",
    "cancelled": "已撤销",
}


class LineState(str, enum.Enum):
    pending = "pending"      # in the pipeline (see the batch state for where)
    paid = "paid"            # 已发放
    failed = "failed"        # 发放失败, awaiting correction
    reissued = "reissued"    # failed, and a new line re-issues it
    returned = "returned"    # money returned to the treasury
    withdrawn = "withdrawn"  # removed after an objection or correction


class Region(Base):
    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(12), index=True)


class Policy(Base):
    """补贴政策清单 entry (one per policy and year)."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("code", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    short_name: Mapped[str] = mapped_column(String(7))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    level: Mapped[str] = mapped_column(String(4))  # 中央/省/市/县
    budget_source: Mapped[str] = mapped_column(String(100), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    beneficiaries: Mapped[str] = mapped_column(Text, default="")
    standard: Mapped[str] = mapped_column(Text, default="")
    document_title: Mapped[str] = mapped_column(String(200), default="")
    document_number: Mapped[str] = mapped_column(String(100), default="")
    document_url: Mapped[str] = mapped_column(String(500), default="")
    delivery: Mapped[str] = mapped_column(String(4), default="到人")  # 到户/到人
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft/published/withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    department: Mapped[Department] = relationship()
    changes: Mapped[list["PolicyChange"]] = relationship(back_populates="policy", order_by="PolicyChange.id")


class PolicyChange(Base):
    """A change request on a policy list entry, reviewed before it takes effect."""

    __tablename__ = "policy_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    summary: Mapped[str] = mapped_column(String(200))
    change: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/approved/rejected
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_comment: Mapped[str] = mapped_column(Text, default="")

    policy: Mapped[Policy] = relationship(back_populates="changes")


class Project(Base):
    """补贴项目 in the project library; batches are created for a project."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    unit: Mapped[str] = mapped_column(String(20), default="元/人")
    amount_min: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.01"))
    amount_max: Mapped[Decimal] = mapped_column(Money)
    period_kind: Mapped[str] = mapped_column(String(10), default="year")  # year/half/quarter/month/once
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # 每户上限: the most one household may receive in one period (None = no cap; signals only)
    household_cap: Mapped[Decimal | None] = mapped_column(Money)
    # 单位标准: yuan per unit of the line's quantity (e.g. 元/亩), when the amount is quantity × rate
    unit_rate: Mapped[Decimal | None] = mapped_column(Money)

    policy: Mapped[Policy] = relationship()
    department: Mapped[Department] = relationship()


class Person(Base):
    """补贴对象. The ID number is kept encrypted; `person_key` is the HMAC used for matching."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_enc: Mapped[str] = mapped_column(Text)
    id_last4: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(40), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    region_code: Mapped[str] = mapped_column(String(12), index=True)  # village
    phone_enc: Mapped[str | None] = mapped_column(Text)
    # HMAC of the normalised 家庭住址 from the last roster that gave one (never the address itself)
    address_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    cards: Mapped[list["CardAccount"]] = relationship(back_populates="person", order_by="CardAccount.id")


class CardAccount(Base):
    """社会保障卡 / 一卡通 account of a person (history kept: closed cards stay)."""

    __tablename__ = "card_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    card_number_enc: Mapped[str] = mapped_column(Text)
    card_digest: Mapped[str] = mapped_column(String(64), index=True)
    card_last4: Mapped[str] = mapped_column(String(4))
    bank_name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(10), default="active")  # active/frozen/closed
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # HMAC of the card number alone (core.personkey.card_fingerprint): one card used by several people
    card_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    # 社保卡激活: activated / not_activated (None = not known); the day it was activated
    activation: Mapped[str | None] = mapped_column(String(16))
    activated_on: Mapped[date | None] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="cards")


class Batch(Base):
    """补贴批次: one project, one region, one period."""

    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    period: Mapped[str] = mapped_column(String(20))  # e.g. 2024, 2024H1, 2024Q3, 2024-07
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=BatchState.draft.value, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    step_started_on: Mapped[date | None] = mapped_column(Date)
    step_due_on: Mapped[date | None] = mapped_column(Date)
    publicity_start: Mapped[date | None] = mapped_column(Date)
    publicity_end: Mapped[date | None] = mapped_column(Date)
    publicity_place: Mapped[str] = mapped_column(String(200), default="")
    publicity_contact: Mapped[str] = mapped_column(String(200), default="")  # who takes objections, phone
    paid_on: Mapped[date | None] = mapped_column(Date)
    published_on: Mapped[date | None] = mapped_column(Date)

    project: Mapped[Project] = relationship()
    lines: Mapped[list["PaymentLine"]] = relationship(back_populates="batch", order_by="PaymentLine.id")


class PaymentLine(Base):
    """发放明细: one amount for one person in one batch."""

    __tablename__ = "payment_lines"
    __table_args__ = (
        Index("ix_payment_lines_batch_state", "batch_id", "state"),
        Index("ix_payment_lines_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    card_account_id: Mapped[int | None] = mapped_column(ForeignKey("card_accounts.id"))
    village_code: Mapped[str] = mapped_column(String(12), index=True)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # e.g. 亩数
    amount: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(10), default=LineState.pending.value)
    check_issues: Mapped[list[Any]] = mapped_column(default=list)  # [{code, message}] from roster checks
    failure_code: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    advice: Mapped[str | None] = mapped_column(String(200))  # what the person should do (withdrawn lines)
    reissue_of_id: Mapped[int | None] = mapped_column(ForeignKey("payment_lines.id"))
    paid_on: Mapped[date | None] = mapped_column(Date)
    # the payment request (首次发放 or 补发) that sent the line to the bank (admin/bank)
    payment_request_id: Mapped[int | None] = mapped_column(ForeignKey("payment_requests.id"), index=True)
    correction_due_on: Mapped[date | None] = mapped_column(Date)  # failed: to be corrected by this day
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    batch: Mapped[Batch] = relationship(back_populates="lines")
    person: Mapped[Person] = relationship()
    card_account: Mapped[CardAccount | None] = relationship()
    reissue_of: Mapped["PaymentLine | None"] = relationship(remote_side="PaymentLine.id")


class ReferenceEntry(Base):
    """Reference lists for cross-checks: deceased, supported persons, public employees, …"""

    __tablename__ = "reference_entries"
    __table_args__ = (UniqueConstraint("list_kind", "person_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_kind: Mapped[str] = mapped_column(String(32))  # deceased/supported/public_employee/…
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    effective_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ReferenceKind(Base):
    """A kind of reference list (比对名单类型), data not code: a system admin adds one and imports it.

    ``date_meaning`` says what an entry's ``effective_on`` means (死亡日期, 入职日期 …);
    ``paid_after_is_problem``: a payment dated after that day is an anomaly signal."""

    __tablename__ = "reference_kinds"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    date_meaning: Mapped[str] = mapped_column(String(40), default="生效日期")
    paid_after_is_problem: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class WorkflowEvent(Base):
    """One step of a batch through the workflow (who, when, from → to, deadline)."""

    __tablename__ = "workflow_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    comment: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date)
    action: Mapped[str | None] = mapped_column(String(32))  # the workflow action (admin/workflow.py)


class AuditEntry(Base):
    """Append-only, hash-chained audit trail (see admin/audit/trail.py)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(12), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)




class Complaint(Base):
    """投诉/举报/咨询/信息公开申请/信访 pulled in from the public store (idempotent by tracking code),
    and handled by the workflow of admin/complaints/workflow.py.

    Who holds it: ``department_id`` (the department; for a confidential tip-off, the department
    it names, which never sees it), ``handling_region`` (a level it was referred to, "" = where it
    was filed), ``confidential`` (only the supervision roles see and handle it)."""

    __tablename__ = "complaint_cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    project_code: Mapped[str | None] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    contact_enc: Mapped[str | None] = mapped_column(Text)
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handler: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    handling_region: Mapped[str] = mapped_column(String(12), default="")
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answer_unit: Mapped[str] = mapped_column(String(100), default="")  # shown to the public, never a person
    answered_by: Mapped[str | None] = mapped_column(String(64))
    satisfaction: Mapped[str | None] = mapped_column(String(16))  # satisfied / dissatisfied (the complainant's)
    satisfaction_comment: Mapped[str] = mapped_column(Text, default="")
    satisfaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    department: Mapped[Department | None] = relationship()


class ComplaintEvent(Base):
    """One step of a complaint (who, when, which action, from → to, the holder after it, the deadline)."""

    __tablename__ = "complaint_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint_cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    comment: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    handling_region: Mapped[str] = mapped_column(String(12), default="")
    due_on: Mapped[date | None] = mapped_column(Date)


class DeadlineOverride(Base):
    """A deployment's own time limit for a step, per project and/or region (seeds 003/004)."""

    __tablename__ = "deadline_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[str] = mapped_column(String(32))
    days: Mapped[int] = mapped_column(Integer)
    project_code: Mapped[str | None] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(200), default="")  # the local document that sets it


class OutboxEntry(Base):
    """A change that must reach the public indexes. Written in the same transaction as the change."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))  # batch / policy / line / complaint
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class OutboxCursor(Base):
    """How far a named consumer (one per search server) has read the outbox."""

    __tablename__ = "outbox_cursors"
    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Operator(Base):
    """A real-name admin user, scoped to a region (and for departments, to projects)."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(20), default="")
    unit: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class OperatorProject(Base):
    __tablename__ = "operator_projects"
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)


class KioskDevice(Base):
    """Registry of village kiosks on the internal side (credentials live in the public store)."""

    __tablename__ = "kiosk_registry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), unique=True)
    location: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12))


# --- the approval chain (admin/workflow.py) ---------------------------------------------------


class Objection(Base):
    """An objection (异议) to one line during publicity, and what was done about it."""

    __tablename__ = "objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(16))  # withdraw / correct / dismiss
    reason: Mapped[str] = mapped_column(Text)
    amount_before: Mapped[Decimal | None] = mapped_column(Money)
    amount_after: Mapped[Decimal | None] = mapped_column(Money)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PublicityPosting(Base):
    """The record that the list was posted on a village notice board (村务公开栏)."""

    __tablename__ = "publicity_postings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    village_code: Mapped[str] = mapped_column(String(12))
    place: Mapped[str] = mapped_column(String(200))
    posted_on: Mapped[date] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    photo_ref: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PaymentRequest(Base):
    """资金支付申请: the payment plan of a batch, with its totals per disbursing bank."""

    __tablename__ = "payment_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_on: Mapped[date] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    kind: Mapped[str] = mapped_column(String(16), default="payment")  # payment 首次发放 / reissue 补发

    banks: Mapped[list["PaymentRequestBank"]] = relationship(order_by="PaymentRequestBank.bank_name",
                                                             back_populates="request")


class PaymentRequestBank(Base):
    """One disbursing bank's share of a payment request (bank = the card account's bank_name)."""

    __tablename__ = "payment_request_banks"
    __table_args__ = (UniqueConstraint("request_id", "bank_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("payment_requests.id"))
    bank_name: Mapped[str] = mapped_column(String(64))  # "" when the card's bank is not registered
    line_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(Money)
    # the bank file of this share (admin/bank): exports and the imported result
    export_count: Mapped[int] = mapped_column(Integer, default=0)
    exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exported_by: Mapped[str | None] = mapped_column(String(64))
    results_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    results_by: Mapped[str | None] = mapped_column(String(64))
    paid_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)

    request: Mapped[PaymentRequest] = relationship(back_populates="banks")


# --- money out and back (admin/bank, admin/batches/results.py, admin/sms) ---------------------


class LineCorrection(Base):
    """A failed line corrected (new card account, corrected name), and the line that re-issues it."""

    __tablename__ = "line_corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id"), index=True)  # the failed line
    card_account_id: Mapped[int | None] = mapped_column(ForeignKey("card_accounts.id"))  # new card, if any
    name_before: Mapped[str | None] = mapped_column(String(40))  # set when the name was corrected
    name_after: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    corrected_by: Mapped[str] = mapped_column(String(64))
    corrected_on: Mapped[date] = mapped_column(Date)
    reissue_line_id: Mapped[int | None] = mapped_column(ForeignKey("payment_lines.id"))


class SmsMessage(Base):
    """One arrival notice (到账短信) per paid line: queued at publication, sent exactly once."""

    __tablename__ = "sms_messages"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id"), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    text: Mapped[str] = mapped_column(Text)  # no name, ID, card or phone number
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)  # queued/sending/sent/failed/no_phone
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    gateway: Mapped[str] = mapped_column(String(16), default="")
    gateway_id: Mapped[str] = mapped_column(String(64), default="")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SmsSandboxMessage(Base):
    """What the sandbox SMS gateway "delivered" (the default gateway): readable by tests and the demo."""

    __tablename__ = "sms_sandbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)  # the message's idempotency key
    phone_masked: Mapped[str] = mapped_column(String(20))  # 138****5678
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


# --- supervision: spot checks, findings, rectification (admin/supervision/spot_checks.py) ------


class SpotCheck(Base):
    """抽查: a random sample of payment lines drawn from a recorded seed over one batch, or over a
    region (and optionally one project, year, period). ``region_code`` is the region the lines
    were drawn in (for a batch, the narrower of the batch's region and the drawer's); the
    population (its size and a SHA-256 of its line ids in order) is kept to prove a re-draw."""

    __tablename__ = "spot_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    year: Mapped[int | None] = mapped_column(Integer)
    period: Mapped[str | None] = mapped_column(String(20))
    sample_size: Mapped[int] = mapped_column(Integer)
    rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # percent, when drawn by rate
    seed: Mapped[int] = mapped_column(BigInteger)
    population_size: Mapped[int] = mapped_column(Integer)
    population_digest: Mapped[str] = mapped_column(String(64))
    drawn_by: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    batch: Mapped[Batch | None] = relationship()
    project: Mapped[Project | None] = relationship()


class SpotCheckLine(Base):
    """One sampled line, in the order it was drawn (``position`` from 1)."""

    __tablename__ = "spot_check_lines"
    __table_args__ = (UniqueConstraint("spot_check_id", "position"), UniqueConstraint("spot_check_id", "line_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id"))


class SpotFinding(Base):
    """The finding on one sampled line: 无问题, or 有问题 with a category, a description, the unit
    responsible for the rectification (a department, or a township/region), its due date and
    where it stands (``open`` → ``reported`` → ``closed``; ``none`` when nothing was wrong)."""

    __tablename__ = "spot_findings"
    __table_args__ = (UniqueConstraint("spot_check_id", "line_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id"))
    result: Mapped[str] = mapped_column(String(10))  # ok / problem
    category: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    responsible_region: Mapped[str] = mapped_column(String(12), default="", index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # none / open / reported / closed
    due_days: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_on: Mapped[date] = mapped_column(Date)
    rectification: Mapped[str] = mapped_column(Text, default="")  # what the responsible unit reported
    reported_by: Mapped[str | None] = mapped_column(String(64))
    reported_on: Mapped[date | None] = mapped_column(Date)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_on: Mapped[date | None] = mapped_column(Date)

    department: Mapped[Department | None] = relationship()


class SpotCheckEvent(Base):
    """One step of a spot check or of one of its findings (draw, finding, report, close, return)."""

    __tablename__ = "spot_check_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("spot_findings.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str | None] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    comment: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date)
# --- supervision (admin/supervision) ---------------------------------------------------------


class Signal(Base):
    """An anomaly signal (异常信号, admin/supervision/signals.py), one per (kind, key).

    Refreshes keep it (status and reviews survive); ``active`` is False while its condition is
    gone (``cleared_at``) and True again if it comes back."""

    __tablename__ = "signals"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open/explained/confirmed
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    summary: Mapped[str] = mapped_column(String(300), default="")
    region_code: Mapped[str] = mapped_column(String(12), default="")  # common prefix of its lines' villages
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    period: Mapped[str] = mapped_column(String(20), default="")
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(Text, default="")


class SignalLine(Base):
    """The payment lines behind a signal."""

    __tablename__ = "signal_lines"
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), primary_key=True)
    # a line removed from a draft roster leaves its signals (the next refresh recounts them)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_lines.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class SignalReview(Base):
    """One review of a signal (explain / confirm / reopen) with its note."""

    __tablename__ = "signal_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    note: Mapped[str] = mapped_column(Text)
