"""Documents for the search indexes, built from the batch database (fields per
:mod:`search.schemas`). Every person-related value passes through :mod:`indexer.masking`.

* ``policies``: published :class:`~admin.models.Policy` rows with their approved change history.
* ``disclosures`` (public, masked): a batch in publicity → one ``publicity`` document (公示名单)
  per line that was not withdrawn; a published batch → one ``result`` document (发放结果) per
  *paid* line. A failed line that was re-issued appears once, as its paid re-issue; failed,
  returned and withdrawn lines are never disclosed.
* ``payments`` (private, per person key): every line of every batch past draft (not cancelled)
  — pending with the workflow stage, paid, failed with the bank's reason and what to do,
  re-issued, returned, and withdrawn at first review, approval or after an objection in publicity
  (``withdrawn``: stage 未通过初审/未通过审批/公示异议核实后撤回, the reviewer's reason and what to
  do next); ``published`` once the batch's results are public (the event the WeChat arrival
  notices wait for). A withdrawn line without a withdrawal code (:data:`EXPLAINED_WITHDRAWALS`) is
  left out. Card: last 4 digits and a keyed digest only.
* ``persons`` (private, per person key): ONE document per person with ``payments`` lines, made
  from exactly those documents (:func:`person_document`): the factors (name digest, card last 4,
  card digest) of each distinct card, and the personal answer already grouped into years and
  labelled (:func:`portal.lookup.person_answer`, the code that renders it) — a personal lookup
  reads one document and serves it without regrouping. When some of the person's lines change,
  the stored document is patched with them (:func:`patch_person_document`: ``line_factors``
  says which factor each line came with); built from all the person's lines
  (:meth:`DocumentBuilder.persons_for`) when there is no patchable document (indexer/sync.py).

The reviewer's reason is free text: :func:`indexer.masking.free_text_or` masks the person's own
name and falls back to a generic reason of the step when the text holds an ID, card or phone
number, a long run of digits, or the name of another person on the batch in the same village (who
objected must not be told).

Lines are read in keyset-paginated chunks with one joined query per chunk (no N+1; a withdrawn
line adds one query for the names of its batch and village, cached), so a rebuild streams over
millions of lines in constant memory. The ``payments`` rebuild reads them person by person
(``by_person``): a person's documents then sit side by side in the index's document store, so a
personal lookup decompresses one or two store blocks instead of one per line (≈ 5 µs per line
saved, docs/benchmarks.md). Document ids are stable (``publicity-<line>``,
``result-<line>``, ``<line>``, ``<policy>``) so re-applying a change is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from admin.batches.workflow import WITHDRAWAL_ADVICE
from admin.fieldcrypt import FieldCipher, cipher
from admin.models import (
    Batch,
    BatchState,
    CardAccount,
    Department,
    LineState,
    PaymentLine,
    Person,
    Policy,
    PolicyChange,
    Project,
    Region,
)
from core import personkey, regions
from core.timeutil import local
from core.validation import normalize_card_number, normalize_name
from indexer.masking import MaskingPolicy, card_last4, free_text_or, load_policy, mask_name, redact
from portal.lookup import person_answer, stand_in_document

__all__ = [
    "CHUNK",
    "EXPLAINED_WITHDRAWALS",
    "WITHDRAWN_REASONS",
    "WITHDRAWN_STAGES",
    "DocumentBuilder",
    "LineDocs",
    "advice_for",
    "disclosure_ids",
    "format_amount",
    "person_document",
    "person_documents",
    "patch_person_document",
    "policy_document",
    "stage_for",
]

CHUNK = 5000
NO_PAYMENT_STATES = (BatchState.draft.value, BatchState.cancelled.value)
_PUBLICITY, _PUBLISHED = BatchState.publicity.value, BatchState.published.value
_PENDING, _PAID, _WITHDRAWN = LineState.pending.value, LineState.paid.value, LineState.withdrawn.value
_FAILED_STATES = (LineState.failed.value, LineState.reissued.value, LineState.returned.value)

STAGE_BY_BATCH_STATE: dict[str, str] = {
    "submitted": "已提交待初审",
    "publicity": "公示中",
    "approval": "审批中",
    "finance_check": "财政复核中",
    "bank": "银行发放中",
    "paid": "银行发放中",
    "published": "银行发放中",
    "returned": "退回修改中",
}
STAGE_BY_LINE_STATE: dict[str, str] = {
    "paid": "已发放到卡",
    "failed": "发放失败",
    "reissued": "发放失败，已重新发放",
    "returned": "资金已退回",
}
# Withdrawn lines the person is told about (admin/batches/workflow.py sets the code), with the
# stage shown and the reason used when the reviewer's own words cannot be shown.
WITHDRAWN_STAGES: dict[str, str] = {
    "WITHDRAWN_REVIEW": "未通过初审",
    "WITHDRAWN_APPROVAL": "未通过审批",
    "WITHDRAWN_OBJECTION": "公示异议核实后撤回",
}
WITHDRAWN_REASONS: dict[str, str] = {
    "WITHDRAWN_REVIEW": "经初审核实，不符合本期发放条件。",
    "WITHDRAWN_APPROVAL": "经主管部门审批，不符合本期发放条件。",
    "WITHDRAWN_OBJECTION": "公示期间收到异议，经核实不符合本期发放条件。",
}
EXPLAINED_WITHDRAWALS = tuple(code for code in WITHDRAWN_STAGES if code in WITHDRAWAL_ADVICE)

_DEFAULT_FAILURE_ADVICE = "请携带身份证和社会保障卡到乡镇（街道）财政所或主管部门核实账户信息，更正后将重新发放。"
# (words in the bank's code or reason, what the person should do)
_FAILURE_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("closed", "销户", "注销", "已销"),
     "您的社会保障卡账户已销户。请携带身份证到社保卡合作银行补办或换卡，再到乡镇（街道）财政所更新账户，之后将重新发放。"),
    (("frozen", "冻结", "止付"),
     "您的社会保障卡账户被冻结。请携带身份证和社保卡到开户银行解除冻结，再告知乡镇（街道）财政所，之后将重新发放。"),
    (("inactive", "激活", "未启用", "金融功能"),
     "您的社会保障卡金融功能尚未激活。请携带身份证和社保卡到社保卡合作银行网点激活，再告知乡镇（街道）财政所。"),
    (("lost", "挂失"),
     "您的社会保障卡已挂失。请携带身份证到社保卡合作银行补卡，再到乡镇（街道）财政所更新账户，之后将重新发放。"),
    (("name", "户名", "姓名"),
     "银行账户户名与登记的姓名不一致。请携带身份证和社保卡到乡镇（街道）财政所核对姓名，更正后将重新发放。"),
    (("account", "card", "账号", "卡号", "不存在", "无此"),
     "登记的社会保障卡卡号有误或不存在。请携带身份证和社保卡到乡镇（街道）财政所更新账户，之后将重新发放。"),
    (("deceased", "死亡"),
     "该补贴对象已登记为死亡，资金已停发。如有疑问请联系村（社区）或主管部门。"),
)


def format_amount(amount: Decimal) -> tuple[str, int]:
    """``Decimal('1234.5')`` → ``("1234.50", 123450)``."""
    value = Decimal(amount).quantize(Decimal("0.01"))
    return f"{value:.2f}", int(value * 100)


def advice_for(state: str, failure_code: str | None = None, failure_reason: str | None = None) -> str:
    """What the person should do, in plain Chinese (empty when nothing is needed)."""
    if state == LineState.failed.value:
        text = f"{failure_code or ''} {failure_reason or ''}".lower()
        for words, advice in _FAILURE_ADVICE:
            if any(word in text for word in words):
                return advice
        return _DEFAULT_FAILURE_ADVICE
    if state == LineState.reissued.value:
        return "这笔发放失败后已重新发放，请查看同一项目的新发放记录。"
    if state == LineState.returned.value:
        return "资金已按规定退回国库。如仍符合补贴条件，请联系主管部门或乡镇（街道）财政所核实后重新发放。"
    if state == LineState.pending.value:
        return "正在办理中，请留意后续发放结果。"
    return ""


def stage_for(batch_state: str, line_state: str) -> str:
    """Where a line is, in Chinese (已提交待初审/公示中/审批中/财政复核中/银行发放中/已发放到卡 …)."""
    if line_state in STAGE_BY_LINE_STATE:
        return STAGE_BY_LINE_STATE[line_state]
    return STAGE_BY_BATCH_STATE.get(batch_state, "办理中")


def disclosure_ids(line_id: int) -> tuple[str, str]:
    return f"publicity-{line_id}", f"result-{line_id}"


def _iso(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local(value).date().isoformat()
    return value.isoformat()


# --- policies -----------------------------------------------------------------------------------

def policy_document(policy: Policy, department: str, changes: Iterable[PolicyChange]) -> dict[str, Any] | None:
    """The ``policies`` document, or ``None`` when the policy is not (or no longer) published."""
    if policy.status != "published":
        return None
    history = [
        {"date": _iso(change.reviewed_at or change.requested_at), "change": change.summary}
        for change in changes
        if change.status == "approved"
    ]
    return {
        "id": str(policy.id),
        "code": policy.code,
        "name": policy.name,
        "short_name": policy.short_name,
        "department": department,
        "level": policy.level,
        "year": int(policy.year),
        "budget_source": policy.budget_source or "",
        "scope": policy.scope or "",
        "beneficiaries": policy.beneficiaries or "",
        "standard": policy.standard or "",
        "document_title": policy.document_title or "",
        "document_number": policy.document_number or "",
        "document_url": policy.document_url or "",
        "delivery": policy.delivery or "",
        "status": policy.status,
        "history": history,
    }


# --- lines --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _BatchInfo:
    id: int
    code: str
    state: str
    year: int
    period: str
    project_code: str
    project_name: str
    policy_name: str
    department: str
    publicity_date: str
    paid_date: str
    region_level: str
    name_style: str


@dataclass
class LineDocs:
    """What one line should look like in the indexes now (``None`` = must not be there)."""

    line_id: int
    disclosure: dict[str, Any] | None
    payment: dict[str, Any] | None
    person_key: str = ""  # the line's person (also when ``payment`` is None)


_LINE_COLUMNS = (
    PaymentLine.id,
    PaymentLine.batch_id,
    PaymentLine.person_id,
    PaymentLine.village_code,
    PaymentLine.amount,
    PaymentLine.state,
    PaymentLine.failure_code,
    PaymentLine.failure_reason,
    PaymentLine.advice,
    PaymentLine.paid_on,
    Person.person_key,
    Person.name,
    CardAccount.card_number_enc,
)


def disclosure_filter() -> ColumnElement[bool]:
    """SQL twin of :meth:`DocumentBuilder._disclosure` (used to count expected documents)."""
    return or_(
        and_(Batch.state == BatchState.publicity.value, PaymentLine.state != LineState.withdrawn.value),
        and_(Batch.state == BatchState.published.value, PaymentLine.state == LineState.paid.value),
    )


def payment_filter() -> ColumnElement[bool]:
    """SQL twin of :meth:`DocumentBuilder._payment`."""
    return and_(Batch.state.notin_(NO_PAYMENT_STATES),
                or_(PaymentLine.state != LineState.withdrawn.value,
                    PaymentLine.failure_code.in_(EXPLAINED_WITHDRAWALS)))


@dataclass
class DocumentBuilder:
    """Builds documents from one session's view of the batch database."""

    hmac_key: bytes
    field_key: str
    masking: MaskingPolicy = field(default_factory=MaskingPolicy)
    chunk: int = CHUNK
    _cipher: FieldCipher | None = field(default=None, init=False, repr=False)
    _village_names: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _cards: dict[str, tuple[str, str]] = field(default_factory=dict, init=False, repr=False)
    _names: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _regions: dict[tuple[str, str], tuple[list[str], str, str, str]] = field(default_factory=dict, init=False,
                                                                          repr=False)
    _neighbours: dict[tuple[int, str], frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Any, masking: MaskingPolicy | None = None) -> DocumentBuilder:
        return cls(config.hmac_key, config.field_key, masking or load_policy(config.data_dir))

    # -- policies ------------------------------------------------------------------------------

    def policies(self, session: Session, policy_ids: Iterable[int] | None = None) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """``(policy id, document or None)`` for the given policies, or every published one."""
        stmt = select(Policy, Department.name).join(Department, Department.id == Policy.department_id)
        if policy_ids is None:
            stmt = stmt.where(Policy.status == "published")
        else:
            stmt = stmt.where(Policy.id.in_(list(policy_ids)))
        rows = session.execute(stmt.order_by(Policy.id)).all()
        ids = [policy.id for policy, _ in rows]
        changes: dict[int, list[PolicyChange]] = {}
        if ids:
            for change in session.scalars(
                select(PolicyChange).where(PolicyChange.policy_id.in_(ids)).order_by(PolicyChange.id)
            ):
                changes.setdefault(change.policy_id, []).append(change)
        for policy, department in rows:
            yield policy.id, policy_document(policy, department, changes.get(policy.id, []))

    def count_policies(self, session: Session) -> int:
        return session.scalar(select(func.count()).select_from(Policy).where(Policy.status == "published")) or 0

    # -- lines ---------------------------------------------------------------------------------

    def count_disclosures(self, session: Session) -> int:
        stmt = select(func.count()).select_from(PaymentLine).join(Batch, Batch.id == PaymentLine.batch_id)
        return session.scalar(stmt.where(disclosure_filter())) or 0

    def count_payments(self, session: Session) -> int:
        stmt = select(func.count()).select_from(PaymentLine).join(Batch, Batch.id == PaymentLine.batch_id)
        return session.scalar(stmt.where(payment_filter())) or 0

    def disclosures(self, session: Session) -> Iterator[dict[str, Any]]:
        """Every ``disclosures`` document (for a rebuild)."""
        for docs in self.lines(session, where=disclosure_filter(), with_payments=False):
            if docs.disclosure is not None:
                yield docs.disclosure

    def payments(self, session: Session) -> Iterator[dict[str, Any]]:
        """Every ``payments`` document (for a rebuild)."""
        for docs in self.lines(session, where=payment_filter(), with_disclosures=False, by_person=True):
            if docs.payment is not None:
                yield docs.payment

    def count_persons(self, session: Session) -> int:
        stmt = (select(func.count(func.distinct(PaymentLine.person_id))).select_from(PaymentLine)
                .join(Batch, Batch.id == PaymentLine.batch_id))
        return (session.scalar(stmt.where(payment_filter())) or 0) + 1  # + the stand-in

    def persons(self, session: Session) -> Iterator[dict[str, Any]]:
        """Every ``persons`` document (for a rebuild): the stand-in (portal/lookup.py), then the
        payments lines read person by person, one person's lines held at a time."""
        yield stand_in_document()
        yield from person_documents(self.payments(session))

    def persons_for(self, session: Session, person_keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """The ``persons`` document of each key now (``None``: the person has no payments line
        any more, the document must go)."""
        keys = sorted(set(person_keys))
        out: dict[str, dict[str, Any] | None] = {key: None for key in keys}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            where = and_(payment_filter(), Person.person_key.in_(part))
            docs = (d.payment for d in self.lines(session, where=where, with_disclosures=False, by_person=True)
                    if d.payment is not None)
            for doc in person_documents(docs):
                out[doc["id"]] = doc
        return out

    def lines(self, session: Session, *, batch_ids: Iterable[int] | None = None,
              line_ids: Iterable[int] | None = None, where: ColumnElement[bool] | None = None,
              with_disclosures: bool = True, with_payments: bool = True,
              by_person: bool = False) -> Iterator[LineDocs]:
        """:class:`LineDocs` for every line matching the filters, in line id order (``by_person``:
        in person order, then line id), chunk by chunk."""
        batches: dict[int, _BatchInfo] = {}
        stmt = (
            select(*_LINE_COLUMNS)
            .join(Person, Person.id == PaymentLine.person_id)
            .join(Batch, Batch.id == PaymentLine.batch_id)
            .outerjoin(CardAccount, CardAccount.id == PaymentLine.card_account_id)
        )
        if batch_ids is not None:
            stmt = stmt.where(PaymentLine.batch_id.in_(list(batch_ids)))
        if line_ids is not None:
            stmt = stmt.where(PaymentLine.id.in_(list(line_ids)))
        if where is not None:
            stmt = stmt.where(where)
        last, last_person = 0, 0
        while True:
            if by_person:  # keyset over (person_id, id): ix_payment_lines_person
                page = stmt.where(or_(PaymentLine.person_id > last_person,
                                      and_(PaymentLine.person_id == last_person, PaymentLine.id > last)))
                page = page.order_by(PaymentLine.person_id, PaymentLine.id)
            else:
                page = stmt.where(PaymentLine.id > last).order_by(PaymentLine.id)
            rows = session.execute(page.limit(self.chunk)).all()
            if not rows:
                return
            last, last_person = rows[-1].id, rows[-1].person_id
            missing = {row.batch_id for row in rows} - batches.keys()
            if missing:
                batches.update(self._load_batches(session, missing))
            self._load_region_names(session, {code for row in rows for code in _levels(row.village_code)})
            fallback_cards = {}
            if with_payments:
                need = {row.person_id for row in rows if row.card_number_enc is None}
                if need:
                    fallback_cards = self._current_cards(session, need)
            for row in rows:
                batch = batches[row.batch_id]
                card_enc = row.card_number_enc or fallback_cards.get(row.person_id)
                yield LineDocs(
                    row.id,
                    self._disclosure(row, batch) if with_disclosures else None,
                    self._payment(session, row, batch, card_enc) if with_payments else None,
                    row.person_key,
                )

    # -- helpers -------------------------------------------------------------------------------

    def _load_batches(self, session: Session, ids: set[int]) -> dict[int, _BatchInfo]:
        stmt = (
            select(Batch, Project.code, Project.name, Policy.name, Department.name)
            .join(Project, Project.id == Batch.project_id)
            .join(Policy, Policy.id == Project.policy_id)
            .join(Department, Department.id == Project.department_id)
            .where(Batch.id.in_(ids))
        )
        out = {}
        for batch, project_code, project_name, policy_name, department in session.execute(stmt):
            out[batch.id] = _BatchInfo(
                id=batch.id,
                code=batch.code,
                state=batch.state,
                year=int(batch.year),
                period=batch.period,
                project_code=project_code,
                project_name=project_name,
                policy_name=policy_name,
                department=department,
                publicity_date=_iso(batch.publicity_start or batch.step_started_on or batch.created_at),
                paid_date=_iso(batch.paid_on or batch.published_on),
                region_level=self.masking.region_level_for(project_name),
                name_style=self.masking.name_style_for(project_name),
            )
        return out

    def _load_region_names(self, session: Session, codes: set[str]) -> None:
        missing = [code for code in codes if code not in self._village_names]
        if not missing:
            return
        for code, name in session.execute(select(Region.code, Region.name).where(Region.code.in_(missing))):
            self._village_names[code] = name
        for code in missing:
            self._village_names.setdefault(code, "")

    def _current_cards(self, session: Session, person_ids: set[int]) -> dict[int, str]:
        stmt = (
            select(CardAccount.person_id, CardAccount.card_number_enc)
            .where(CardAccount.person_id.in_(person_ids), CardAccount.status == "active")
            .order_by(CardAccount.id)
        )
        return {person_id: enc for person_id, enc in session.execute(stmt)}  # newest active wins

    def _region(self, village_code: str, level: str) -> tuple[list[str], str, str, str]:
        key = (village_code, level)
        cached = self._regions.get(key)
        if cached is None:
            cached = self._regions[key] = self._region_uncached(village_code, level)
        codes, county, township, village = cached
        return list(codes), county, township, village

    def _region_uncached(self, village_code: str, level: str) -> tuple[list[str], str, str, str]:
        code = (village_code or "").strip()
        lengths = {"village": 12, "township": 9, "county": 6}[level]
        codes = [code[:n] for n in (2, 4, 6, 9, 12) if n <= lengths and len(code) >= n]
        county = self._region_name(code[:6]) if len(code) >= 6 else ""
        township = self._region_name(code[:9]) if len(code) >= 9 and lengths >= 9 else ""
        village = self._village_names.get(code, "") if len(code) == 12 and lengths >= 12 else ""
        return codes, county, township, village

    def _region_name(self, code: str) -> str:
        """Name of a county/township: the batch database's region table, else the NBS data."""
        name = self._village_names.get(code)
        if name:
            return name
        region = regions.get(code)
        return region.name if region is not None else ""

    def _disclosure(self, row: Any, batch: _BatchInfo) -> dict[str, Any] | None:
        if batch.state == _PUBLICITY and row.state != _WITHDRAWN:
            kind, doc_id, day, status = "publicity", f"publicity-{row.id}", batch.publicity_date, "公示中"
        elif batch.state == _PUBLISHED and row.state == _PAID:
            kind, doc_id, day, status = "result", f"result-{row.id}", _iso(row.paid_on) or batch.paid_date, "已发放"
        else:
            return None
        amount, cents = format_amount(row.amount)
        codes, county, township, village = self._region(row.village_code, batch.region_level)
        return {
            "id": doc_id,
            "kind": kind,
            "name_masked": mask_name(row.name, batch.name_style),  # type: ignore[arg-type]
            "region_codes": codes,
            "county": county,
            "township": township,
            "village": village,
            "project_code": batch.project_code,
            "project_name": batch.project_name,
            "policy_name": batch.policy_name,
            "department": batch.department,
            "year": batch.year,
            "period": batch.period,
            "amount": amount,
            "amount_cents": cents,
            "date": day,
            "batch_code": batch.code,
            "status": status,
        }

    def _card(self, card_enc: str | None, person_key: str) -> tuple[str, str]:
        if not card_enc:
            return "", ""
        cached = self._cards.get(card_enc)
        if cached is None:
            if self._cipher is None:
                self._cipher = cipher(self.field_key)
            number = normalize_card_number(self._cipher.decrypt(card_enc))
            cached = (card_last4(number), personkey.card_digest(self.hmac_key, person_key, number))
            if len(self._cards) > 200_000:
                self._cards.clear()
            self._cards[card_enc] = cached
        return cached

    def _name_digest(self, person_key: str, name: str) -> str:
        key = (person_key, name)
        digest = self._names.get(key)
        if digest is None:
            if len(self._names) > 200_000:
                self._names.clear()
            digest = self._names[key] = personkey.name_digest(self.hmac_key, person_key, normalize_name(name))
        return digest

    def _neighbour_names(self, session: Session, batch_id: int, village_code: str) -> frozenset[str]:
        """Full names of the people on the batch in the same village (for :meth:`_withdrawal`)."""
        key = (batch_id, village_code)
        names = self._neighbours.get(key)
        if names is None:
            if len(self._neighbours) > 1000:
                self._neighbours.clear()
            names = self._neighbours[key] = frozenset(session.scalars(
                select(Person.name).distinct().join(PaymentLine, PaymentLine.person_id == Person.id)
                .where(PaymentLine.batch_id == batch_id, PaymentLine.village_code == village_code)))
        return names

    def _withdrawal(self, session: Session, row: Any, batch: _BatchInfo) -> tuple[str, str, str]:
        """Stage, reason (made safe) and advice of a withdrawn line the person is told about."""
        code = row.failure_code
        others = self._neighbour_names(session, batch.id, row.village_code) - {row.name}
        reason = free_text_or(row.failure_reason, WITHDRAWN_REASONS[code], own_names=(row.name,),
                              other_names=others)
        advice = free_text_or(row.advice, WITHDRAWAL_ADVICE[code])
        return WITHDRAWN_STAGES[code], reason, advice

    def _payment(self, session: Session, row: Any, batch: _BatchInfo, card_enc: str | None) -> dict[str, Any] | None:
        if batch.state in NO_PAYMENT_STATES:
            return None
        withdrawn = row.state == _WITHDRAWN
        if withdrawn and row.failure_code not in EXPLAINED_WITHDRAWALS:
            return None
        amount, cents = format_amount(row.amount)
        last4, digest = self._card(card_enc, row.person_key)
        codes, _county, _township, village = self._region(row.village_code, "village")
        if row.state == _PAID:
            day = _iso(row.paid_on) or batch.paid_date
        elif row.state == _PENDING and batch.state == _PUBLICITY:
            day = batch.publicity_date
        else:
            day = _iso(row.paid_on) or batch.paid_date or batch.publicity_date
        failed = row.state in _FAILED_STATES
        stage = stage_for(batch.state, row.state)
        reason = redact(row.failure_reason, (row.name,)) if failed else ""
        advice = advice_for(row.state, row.failure_code, row.failure_reason)
        if withdrawn:
            stage, reason, advice = self._withdrawal(session, row, batch)
        return {
            "id": str(row.id),
            "person_key": row.person_key,
            "name_digest": self._name_digest(row.person_key, row.name),
            "card_last4": last4,
            "card_digest": digest,
            "project_code": batch.project_code,
            "project_name": batch.project_name,
            "department": batch.department,
            "year": batch.year,
            "period": batch.period,
            "amount": amount,
            "amount_cents": cents,
            "date": day,
            "state": row.state,
            "stage": stage,
            "failure_code": (row.failure_code or "") if failed or withdrawn else "",
            "failure_reason": reason,
            # a failed line carries the instruction for its bank reason (admin/bank/reasons.py)
            "advice": (row.advice if row.state == LineState.failed.value and row.advice else advice),
            "published": batch.state == _PUBLISHED,
            "region_codes": codes,
            "village": village,
            "batch_code": batch.code,
        }


def _factor(payment: dict[str, Any]) -> tuple[str, str, str]:
    """The second factors one ``payments`` document accepts: (name digest, card last 4, card digest)."""
    return (payment.get("name_digest") or "", payment.get("card_last4") or "", payment.get("card_digest") or "")


def person_document(person_key: str, payments: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``persons`` document of one person from all their ``payments`` documents (in line id
    order). ``line_factors`` says which factor each of ``lines`` came with, so that
    :func:`patch_person_document` can replace some lines without reading the others again."""
    each = [_factor(d) for d in payments]
    factors = list(dict.fromkeys(each))
    where = {f: i for i, f in enumerate(factors)}
    return {"id": person_key, "person_key": person_key, "factors": [list(f) for f in factors],
            **person_answer(person_key, payments),
            "line_factors": orjson.dumps([where[f] for f in each]).decode()}


def patch_person_document(stored: dict[str, Any] | None, fresh: list[dict[str, Any]],
                          touched: set[str]) -> dict[str, Any] | None | bool:
    """The person's document with the lines in ``touched`` (line ids whose documents were just
    rebuilt) replaced by ``fresh`` (the person's new ``payments`` documents among them): exactly
    what :func:`person_document` makes from all the person's lines, without reading the lines
    that did not change. ``None``: no line left, the document must go. ``False``: the stored
    document cannot be patched (none stored, or written before ``line_factors`` existed) — build
    it from the database instead."""
    if not stored or "line_factors" not in stored:
        return False
    try:
        lines = orjson.loads(stored["lines"])
        which = orjson.loads(stored["line_factors"])
        factors = [tuple(f) for f in stored["factors"]]
        kept = [(line, factors[i]) for line, i in zip(lines, which, strict=True) if str(line.get("id")) not in touched]
    except (ValueError, TypeError, KeyError, IndexError):
        return False  # damaged: rebuild from the database
    kept += [(doc, _factor(doc)) for doc in fresh]  # person_answer keeps only the LINE_FIELDS of each
    if not kept:
        return None
    kept.sort(key=lambda item: int(item[0]["id"]))
    key = str(stored["person_key"])
    payments = [dict(line, name_digest=f[0], card_last4=f[1], card_digest=f[2]) for line, f in kept]
    return person_document(key, payments)


def person_documents(payments: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``persons`` documents from ``payments`` documents that come person by person."""
    key: str | None = None
    group: list[dict[str, Any]] = []
    for doc in payments:
        if doc["person_key"] != key:
            if group:
                yield person_document(key, group)  # type: ignore[arg-type]
            key, group = doc["person_key"], []
        group.append(doc)
    if group:
        yield person_document(key, group)  # type: ignore[arg-type]


def _levels(village_code: str | None) -> tuple[str, ...]:
    code = (village_code or "").strip()
    return tuple(code[:n] for n in (6, 9, 12) if len(code) >= n)
