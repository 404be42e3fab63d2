"""Personal lookup (我的补贴): the one lookup shared by the portal's query page, the kiosk and the bot.

The normalised ID number becomes a ``person_key`` (HMAC, core.personkey); the person's ONE
document is read from the private ``persons`` index by that key only (search/schemas.py: the
indexer writes it from the person's ``payments`` lines, already grouped into the answer); a
second factor (the name as typed and the card's last 4 digits, or the full card number read at a
kiosk) must match before anything is returned. Wrong factor and unknown person give the same
answer (``None``) after the same work: every digest is always computed, one document of a
person's size is always read (for an unknown person the stand-in document, :data:`STAND_IN`),
the typed factor is compared with the factors and nothing of the answer is decoded before a
factor matched.
:func:`guarded_lookup` puts the lookup behind the rate limits (per client, and per person key
for failures); :func:`validate_fields` gives the field messages of the three-field form (the
portal's query page and the WeChat binding page).

``persons`` document fields (search/schemas.py): ``id`` = ``person_key``, ``factors``
([name digest, card last 4, card digest] per distinct card), ``paid_years``, ``answer`` (JSON
text: the ``years`` of :meth:`PersonPayments.to_dict`, made by the indexer with
:func:`person_answer`) and ``lines`` (JSON text: the person's payments lines with the fields
below, for the channels that read :class:`PaymentItem` objects — bot, kiosk statements, 明白条).

Payments line fields relied on (search/schemas.py, ``payments``):
``id``, ``person_key``, ``name_digest``, ``card_last4``, ``card_digest``, ``project_code``,
``project_name``, ``department``, ``year``, ``period``, ``amount`` ("1234.50", yuan),
``date`` ("YYYY-MM-DD", may be empty for pending lines), ``state``
(pending/paid/failed/returned/reissued/withdrawn), ``stage`` (a batch-state code such as
``approval``, or already a Chinese label), ``failure_code``, ``failure_reason``, ``advice``,
``village``, ``batch_code``, ``published`` (the batch's results are public; absent = true).

A ``withdrawn`` line did not pass first review or approval, or was withdrawn after an objection
during publicity: it goes into its year's ``withdrawn`` list with its stage (未通过初审 …), the
reason and what the person can do next, so every channel (query page, kiosk, bot) explains it.
It counts in no total.

Personal data never goes into a URL, a log line or a cache.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from core import personkey
from core.timeutil import format_date_zh
from core.validation import check_id_number, check_name, normalize_id_number, normalize_name
from portal.errors import PublicError
from portal.ratelimit import client_address, enforce_query_limits_async, record_failed_lookup_async
from portal.services import services
from search.base import IndexNotFound, SearchEngine
from search.embedded import EmbeddedEngine

__all__ = [
    "LINE_FIELDS",
    "NOT_FOUND_MESSAGE",
    "PERSONS_INDEX",
    "STAND_IN",
    "PaymentItem",
    "PersonPayments",
    "YearPayments",
    "group_by_year",
    "guarded_lookup",
    "invalid_id_error",
    "lookup_by_person_key",
    "lookup_person",
    "person_answer",
    "person_key_for",
    "stand_in_document",
    "validate_fields",
]

PERSONS_INDEX = "persons"
# what a persons document keeps of each payments line (what _item reads)
LINE_FIELDS = ("id", "project_code", "project_name", "department", "year", "period", "amount", "date",
               "state", "stage", "failure_reason", "advice", "village", "published")
# the factors an unknown person's typed factor is compared with (never matches: "-" is no digest)
_NO_FACTORS = (("-", "-", "-"),)
# The id of the stand-in ``persons`` document (not hex: never a person key). It holds no one's
# data, has the size of a typical person's document and never matches a factor; an unknown
# person's lookup reads it, so that it costs what a wrong factor costs (one document read).
STAND_IN = "stand-in"
# A year object of the stored answer opens with its "year" key; nothing else in the answer does (a
# line opens with "id", and a quote inside a string value is escaped).
_YEAR_OPENING = re.compile(r'\{"year":(-?\d+),')
CENT = Decimal("0.01")
CARD_DIGITS = 4

NOT_FOUND_MESSAGE = (
    "未查询到记录。请核对身份证号码、姓名和社保卡（一卡通）卡号后4位是否填写正确；"
    "如确认无误仍查不到，可能是补贴尚未公开，请咨询户籍所在乡镇（街道）或村（社区）。"
)

STATE_LABELS: dict[str, str] = {
    "pending": "待发放",
    "paid": "已发放",
    "failed": "发放失败",
    "returned": "资金已退回",
    "reissued": "发放失败，已重新发放",
    "withdrawn": "未通过审核",
}

# Where a pending line is: the batch states of the internal workflow (kept here because the
# public side never imports admin/). Unknown values are shown as they are.
STAGE_LABELS: dict[str, str] = {
    "draft": "乡镇（村）录入中",
    "submitted": "待主管部门初审",
    "publicity": "公示中",
    "approval": "主管部门审批中",
    "finance_check": "财政部门复核中",
    "bank": "银行发放中",
    "paid": "已发放，结果待公开",
    "published": "结果已公开",
    "returned": "已退回修改",
}

DEFAULT_ADVICE = (
    "请携带身份证和社保卡到户籍所在乡镇（街道）或村（社区）核对信息；"
    "如社保卡已挂失、注销或未激活金融功能，请先到社保卡合作银行办理，"
    "更正后将重新发放。"
)
REISSUED_ADVICE = "已更正信息并重新发放，请查看同一项目的新发放记录。"
RETURNED_ADVICE = "资金已按规定退回，请咨询户籍所在乡镇（街道）或补贴主管部门重新申请发放。"
WITHDRAWN_REASON = "经审核，不符合本期发放条件。"
DEFAULT_REASONS = {"failed": "发放未成功", "withdrawn": WITHDRAWN_REASON}
WITHDRAWN_ADVICE = "如有疑问，请携带身份证到户籍所在村（社区）、乡镇（街道）或补贴主管部门咨询，可申请复核。"


# --- the result ------------------------------------------------------------------------------


@dataclass(slots=True)
class PaymentItem:
    """One payment line as the person sees it. Not frozen: a frozen dataclass's ``__init__``
    costs eight times as much (``object.__setattr__`` per field), ≈ 50 µs for a person with 50
    lines on every personal query (docs/benchmarks.md)."""

    id: str
    project_code: str
    project_name: str
    department: str
    year: int
    period: str
    amount: Decimal
    date: date | None
    state: str
    stage: str
    failure_reason: str
    advice: str
    village: str
    published: bool = True  # the batch's results are public (the event arrival notices wait for)

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def date_zh(self) -> str:
        return format_date_zh(self.date) if self.date else ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "project_code": self.project_code,
            "project_name": self.project_name,
            "department": self.department,
            "year": self.year,
            "period": self.period,
            "amount": f"{self.amount:.2f}",
            "date": self.date.isoformat() if self.date else None,
            "state": self.state,
            "state_label": self.state_label,
            "village": self.village,
        }
        if self.state in ("pending", "withdrawn"):
            out["stage"] = self.stage
        if self.state in ("failed", "returned", "reissued", "withdrawn"):
            out["failure_reason"] = self.failure_reason
            out["advice"] = self.advice
        return out


@dataclass
class YearPayments:
    year: int
    paid: list[PaymentItem] = field(default_factory=list)
    pending: list[PaymentItem] = field(default_factory=list)
    failed: list[PaymentItem] = field(default_factory=list)
    withdrawn: list[PaymentItem] = field(default_factory=list)  # not passed review or publicity: no total

    @property
    def total_paid(self) -> Decimal:
        return sum((i.amount for i in self.paid), Decimal("0.00")).quantize(CENT)

    @property
    def total_pending(self) -> Decimal:
        return sum((i.amount for i in self.pending), Decimal("0.00")).quantize(CENT)

    @property
    def total_failed(self) -> Decimal:
        """Money not (yet) received because a line failed and was not re-issued."""
        return sum((i.amount for i in self.failed if i.state == "failed"), Decimal("0.00")).quantize(CENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "total_paid": f"{self.total_paid:.2f}",
            "total_pending": f"{self.total_pending:.2f}",
            "total_failed": f"{self.total_failed:.2f}",
            "paid": [i.to_dict() for i in self.paid],
            "pending": [i.to_dict() for i in self.pending],
            "failed": [i.to_dict() for i in self.failed],
            "withdrawn": [i.to_dict() for i in self.withdrawn],
        }


class PersonPayments:
    """A person's published lines, newest year first. ``name`` is the name the person typed
    (the index never holds names); ``None`` when looked up by person key alone (the bot).

    Read from a ``persons`` document (:meth:`from_document`) it holds the answer as the indexer
    rendered it: :meth:`to_dict` decodes that text and :attr:`years` (the objects the bot, the
    kiosk's statements and the 明白条 read) is built from the stored lines on first use only.
    """

    __slots__ = ("_answer", "_lines", "_paid_years", "_years", "name", "person_key")

    def __init__(self, person_key: str, name: str | None, years: list[YearPayments] | None = None, *,
                 answer: str | None = None, lines: str | None = None,
                 paid_years: list[int] | None = None) -> None:
        self.person_key = person_key
        self.name = name
        self._years = years
        self._answer = answer
        self._lines = lines
        self._paid_years = paid_years

    @classmethod
    def from_document(cls, doc: dict[str, Any], name: str | None) -> PersonPayments:
        return cls(str(doc["person_key"]), name, answer=str(doc.get("answer") or "[]"),
                   lines=str(doc.get("lines") or "[]"),
                   paid_years=[int(y) for y in doc.get("paid_years") or ()])

    @property
    def years(self) -> list[YearPayments]:
        if self._years is None:
            self._years = group_by_year(self.person_key, self.name, orjson.loads(self._lines or "[]")).years
        return self._years

    @property
    def paid_years(self) -> list[int]:
        """The years with paid lines, newest first (the statement links)."""
        if self._paid_years is None:
            self._paid_years = [y.year for y in self.years if y.paid]
        return self._paid_years

    def year(self, year: int) -> YearPayments | None:
        return next((y for y in self.years if y.year == year), None)

    @property
    def failed_count(self) -> int:
        return sum(1 for y in self.years for i in y.failed if i.state == "failed")

    @property
    def withdrawn_count(self) -> int:
        return sum(len(y.withdrawn) for y in self.years)

    def to_dict(self) -> dict[str, Any]:
        """The answer (a fresh structure on every call: callers add their links to it)."""
        if self._answer is not None:
            years = orjson.loads(self._answer)
        else:
            years = [y.to_dict() for y in self.years]
        return {"person": {"name": self.name}, "years": years}

    def answer_json(self, statement_urls: Mapping[int, str]) -> bytes:
        """The personal query's JSON: :meth:`to_dict` with each year's ``statement_url`` (its
        明白条 link, or null), encoded — made from the answer text the indexer stored without
        decoding it: the link goes in after each year object's ``"year"`` key. Decoding the
        answer and encoding it again took most of a lookup's CPU (docs/benchmarks.md)."""
        answer = self._answer if self._answer is not None else orjson.dumps([y.to_dict() for y in self.years]).decode()

        def with_link(opening: re.Match[str]) -> str:
            url = statement_urls.get(int(opening.group(1)))
            return f'{{"year":{opening.group(1)},"statement_url":{orjson.dumps(url).decode()},'

        years = _YEAR_OPENING.sub(with_link, answer)
        return b'{"person":{"name":' + orjson.dumps(self.name) + b'},"years":' + years.encode() + b"}"


# --- lookup ----------------------------------------------------------------------------------


def _amount(value: object) -> Decimal:
    try:
        return Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, ValueError):
        return Decimal("0.00")


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


_ADVICE_BY_STATE = {"failed": DEFAULT_ADVICE, "reissued": REISSUED_ADVICE, "returned": RETURNED_ADVICE,
                    "withdrawn": WITHDRAWN_ADVICE}


def _item(doc: dict[str, Any]) -> PaymentItem:
    # runs once per line on every personal query: one ``get`` per field, positional arguments
    get = doc.get
    state = str(get("state") or "pending")
    stage_code = str(get("stage") or "")
    year_value = get("year")
    if type(year_value) is int:
        year = year_value
    else:
        try:
            year = int(year_value or 0)
        except (TypeError, ValueError):
            year = 0
    when = _date(get("date"))
    if not year and when:
        year = when.year
    return PaymentItem(
        str(get("id") or ""),
        str(get("project_code") or ""),
        str(get("project_name") or ""),
        str(get("department") or ""),
        year,
        str(get("period") or ""),
        _amount(get("amount")),
        when,
        state,
        STAGE_LABELS.get(stage_code, stage_code) or "办理中",
        str(get("failure_reason") or DEFAULT_REASONS.get(state, "")),
        str(get("advice") or _ADVICE_BY_STATE.get(state, "")),
        str(get("village") or ""),
        get("published") is not False,
    )


def group_by_year(person_key: str, name: str | None, docs: list[dict[str, Any]]) -> PersonPayments:
    """Turn payments documents into the person's view (newest year and date first)."""
    years: dict[int, YearPayments] = {}
    for doc in docs:
        item = _item(doc)
        bucket = years.setdefault(item.year, YearPayments(item.year))
        if item.state == "paid":
            bucket.paid.append(item)
        elif item.state == "pending":
            bucket.pending.append(item)
        elif item.state == "withdrawn":
            bucket.withdrawn.append(item)
        else:
            bucket.failed.append(item)
    for bucket in years.values():
        for items in (bucket.paid, bucket.pending, bucket.failed, bucket.withdrawn):
            items.sort(key=lambda i: (i.date or date.min, i.id), reverse=True)
    return PersonPayments(person_key, name, [years[y] for y in sorted(years, reverse=True)])


def person_answer(person_key: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer fields of a ``persons`` document, from the person's payments lines: written
    by the indexer (indexer/documents.py) with the code that renders the answer, so a lookup
    serves exactly what grouping the lines on every query used to produce."""
    person = group_by_year(person_key, None, lines)
    kept = [{name: line.get(name) for name in LINE_FIELDS if name in line} for line in lines]
    return {
        "paid_years": person.paid_years,
        "answer": orjson.dumps([y.to_dict() for y in person.years]).decode(),
        "lines": orjson.dumps(kept).decode(),
    }


def stand_in_document() -> dict[str, Any]:
    """The stand-in ``persons`` document (:data:`STAND_IN`): 24 lines of nobody, no factor."""
    line = {"id": "0", "project_code": "", "project_name": "补贴发放记录（占位）", "department": "主管部门",
            "year": 0, "period": "", "amount": "0.00", "date": "", "state": "paid", "stage": "已发放到卡",
            "failure_reason": "", "advice": "", "village": "", "published": False}
    return {"id": STAND_IN, "person_key": STAND_IN, "factors": [list(f) for f in _NO_FACTORS], "paid_years": [],
            "answer": orjson.dumps([{"year": 0, "paid": [line] * 24}]).decode(),
            "lines": orjson.dumps([line] * 24).decode()}


def _fetch(search: SearchEngine, person_key: str, *, stand_in: bool = False) -> dict[str, Any] | None:
    """The person's ``persons`` document (one keyed read), or ``None``. ``stand_in``: when there
    is none, read the stand-in document instead (the same work; its content is not used)."""
    if person_key == STAND_IN:
        return None
    try:
        doc = search.get(PERSONS_INDEX, person_key)
        if doc is None and stand_in:
            search.get(PERSONS_INDEX, STAND_IN)
    except IndexNotFound:
        return None
    # Belt and braces: an engine must never hand back another person's document.
    if doc is None or doc.get("person_key") != person_key:
        return None
    return doc


def invalid_id_error(id_number: str | None) -> PublicError | None:
    """A 400 for an ID number that is not well formed (saying so reveals nothing)."""
    issues = check_id_number(id_number)
    if not issues:
        return None
    return PublicError(400, "invalid_id_number", issues[0].message,
                       fields={"id_number": issues[0].message})


def person_key_for(hmac_key: bytes, id_number: str) -> str:
    """The person key of a typed ID number; raises PublicError 400 if it is not valid."""
    error = invalid_id_error(id_number)
    if error:
        raise error
    return personkey.person_key(hmac_key, normalize_id_number(id_number))


def lookup_person(search: SearchEngine, hmac_key: bytes, *, id_number: str, name: str | None = None,
                  card_digits: str | None = None, card_number: str | None = None,
                  person_key: str | None = None) -> PersonPayments | None:
    """The person's payments when the second factor matches, else ``None``.

    Second factor: the name (required with ``card_digits``, optional with a full
    ``card_number``) and the card's last 4 digits (``card_digits``, portal and bot) or the full
    card number (``card_number``, kiosk card reader). A person whose lines carry several cards
    (a card changed after a failed payment) may give any of them.

    Raises PublicError 400 ``invalid_id_number`` for a malformed ID number and 422 for a missing
    or malformed factor — before any lookup, since that reveals nothing about anyone.
    ``person_key``: the key of ``id_number`` when the caller already computed it
    (:func:`guarded_lookup`).
    """
    pk = person_key or person_key_for(hmac_key, id_number)
    digits = "".join(ch for ch in (card_digits or "") if not ch.isspace())
    card = "".join(ch for ch in (card_number or "") if ch.isdigit())
    if card_number is None and card_digits is None:
        raise PublicError(422, "missing_factor", "请填写社保卡（一卡通）卡号后4位。",
                          fields={"card_digits": "请填写社保卡（一卡通）卡号后4位"})
    if card_number is None and not (len(digits) == CARD_DIGITS and digits.isascii() and digits.isdigit()):
        raise PublicError(422, "invalid_card_digits", "卡号后4位应为4位数字。",
                          fields={"card_digits": "请填写社保卡（一卡通）卡号的最后4位数字"})
    if card_number is None and not normalize_name(name):
        raise PublicError(422, "missing_name", "请填写姓名。", fields={"name": "请填写姓名"})

    # Always the same work: both digests, one keyed read, a comparison with every factor (an
    # unknown person is compared with a stand-in), nothing of the answer decoded before a match.
    typed_name = normalize_name(name)
    want_name = personkey.name_digest(hmac_key, pk, typed_name)
    want_card = personkey.card_digest(hmac_key, pk, card or secrets.token_hex(8))
    doc = _fetch(search, pk, stand_in=True)
    factors = (doc.get("factors") if doc else None) or _NO_FACTORS
    matched = False
    equal = personkey.constant_time_equal
    for factor in factors:
        name_digest, last4, card_digest = (str(part or "-") for part in factor)
        name_ok = equal(name_digest, want_name)
        if card_number is not None:
            card_ok = equal(card_digest, want_card)
            if not typed_name:
                name_ok = True
        else:
            card_ok = equal(last4, digits)
        matched |= name_ok and card_ok
    if not matched or doc is None:
        return None
    return PersonPayments.from_document(doc, typed_name or None)


def lookup_by_person_key(search: SearchEngine, person_key: str) -> PersonPayments | None:
    """The person's payments by key alone (a WeChat binding made after a verified lookup)."""
    doc = _fetch(search, person_key)
    if doc is None:
        return None
    return PersonPayments.from_document(doc, None)


# --- the form fields and the guarded lookup ---------------------------------------------------


FIELD_LABELS = {"id_number": "身份证号码", "name": "姓名", "card_digits": "社保卡号后4位"}


def validate_fields(values: dict[str, Any]) -> dict[str, str]:
    """Field messages for missing or malformed input (empty when all is well)."""
    fields: dict[str, str] = {}
    for name in ("id_number", "name", "card_digits"):
        value = values.get(name)
        if not isinstance(value, str) or not value.strip():
            fields[name] = f"请填写{FIELD_LABELS[name]}"
    if "id_number" not in fields:
        issues = check_id_number(values["id_number"])
        if issues:
            fields["id_number"] = issues[0].message
    if "name" not in fields:
        issues = check_name(values["name"])
        if issues:
            fields["name"] = issues[0].message
    if "card_digits" not in fields:
        digits = "".join(values["card_digits"].split())
        if not (len(digits) == CARD_DIGITS and digits.isascii() and digits.isdigit()):
            fields["card_digits"] = "请填写社保卡（一卡通）卡号的最后4位数字"
    return fields


async def guarded_lookup(request: Request, *, id_number: str, name: str | None = None,
                         card_digits: str | None = None, card_number: str | None = None,
                         client: str | None = None) -> PersonPayments | None:
    """``lookup_person`` behind the rate limits (per client, and per person key for failures).

    The kiosk passes ``client`` (its device id); the portal uses the client address.
    """
    svc = services(request)
    pk = person_key_for(svc.config.hmac_key, id_number)
    client = client or client_address(request)

    await enforce_query_limits_async(svc.limiter, svc.config, client, pk)
    lookup = partial(lookup_person, svc.search, svc.config.hmac_key, id_number=id_number, name=name,
                     card_digits=card_digits, card_number=card_number, person_key=pk)
    if isinstance(svc.search, EmbeddedEngine):
        # Local work (tantivy in this process): ≈ 0.3 ms of CPU for a person with 50 lines, less
        # than a trip to the thread pool costs under load (docs/benchmarks.md): run it here.
        result = lookup()
    else:
        result = await run_in_threadpool(lookup)  # a search server: wait on a pool thread
    if result is None:
        await record_failed_lookup_async(svc.limiter, svc.config, pk)
    return result
