"""Complaints, tip-offs, enquiries, information-disclosure requests and petitions (投诉 / 举报 /
咨询 / 信息公开申请 / 信访): file one, get a tracking code, follow its status, say whether the
answer satisfies you.

Pipeline (as in fixmystreet): validate → store durably in the public store (committed, SQLite
``synchronous=FULL``) → only then show the tracking code → the indexer pulls it into the
internal side, where the department answers; status updates and the answer (with its date and
the answering unit, never a person) come back as :class:`~portal.store.ComplaintUpdate` rows. The
status page never shows the contact details or the text as filed — only kind, subject, dates,
status, history and the answer. A tip-off may ask to be confidential (only the supervision
bodies handle it inside). Once answered, the complainant can say on the status page whether they
are satisfied (one :class:`~portal.store.ComplaintFeedback` per answer), which the indexer pulls
in like the complaints.

Deadline: ``COMPLAINT_DEADLINE_DAYS`` working days (15) after filing, or
``DISCLOSURE_REQUEST_DEADLINE_DAYS`` (20) for an information-disclosure request.

Routes: ``GET /complaints`` (start page, find by code), ``GET /complaints/new`` (form),
``POST /complaints`` (form, CSRF), ``GET /complaints/{code}`` (status), ``POST
/complaints/{code}/feedback`` (满意 / 不满意, form, CSRF), ``POST /api/complaints`` and ``GET
/api/complaints/{code}`` (JSON, no CSRF, rate limited per client).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from core.complaints import COMPLAINT_KINDS
from core.config import Config
from core.db import Database
from core.timeutil import format_date_zh, format_datetime_zh, local, now, today
from core.web import json_response, json_route, path_for, route
from core.workdays import add_workdays
from portal import csrf
from portal.errors import PublicError, parse_json_body
from portal.ratelimit import client_address, enforce, read_body_limited
from portal.services import services
from portal.store import COMPLAINT_STATUS_LABELS, ComplaintFeedback, ComplaintUpdate, PublicComplaint

__all__ = [
    "CODE_ALPHABET",
    "TEXT_MAX",
    "ComplaintView",
    "deadline_days",
    "file_complaint",
    "find_complaint",
    "give_feedback",
    "new_tracking_code",
    "normalize_code",
    "routes",
    "validate_complaint",
]

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: easy to read aloud over the phone and to type on a phone.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
CODE_RANDOM = 6
_CODE_SHAPE = re.compile(r"^TS\d{8}[" + CODE_ALPHABET + r"]{" + str(CODE_RANDOM) + r"}$")

TEXT_MAX = 2000
SUBJECT_MAX = 100
CONTACT_MAX = 100
FEEDBACK_MAX = 500
FORM_MAX_BYTES = 64 * 1024  # 2,000 Chinese characters percent-encoded are ~18 KB
JSON_MAX_BYTES = 32 * 1024
FILE_RATE = (5, 600)  # complaints filed per client address: 5 per 10 minutes
LOOKUP_RATE = (60, 60)  # status look-ups per client address
_REF_SHAPE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

NO_STORE = {"Cache-Control": "no-store"}

RECEIVED_NOTE = "已收到，将转交主管部门办理。"
ANSWERED_STATES = ("answered", "closed", "rejected")


# --- the service ------------------------------------------------------------------------------


def new_tracking_code(filed_on: date) -> str:
    """``TS`` + filing date + 6 random characters, e.g. ``TS20240618K7M3QX`` (25^6 ≈ 2.4e8 a day)."""
    return "TS" + filed_on.strftime("%Y%m%d") + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM))


def normalize_code(raw: str) -> str | None:
    """A typed tracking code (any case, spaces or dashes) in its stored form, or None."""
    code = re.sub(r"[\s\-]", "", raw or "").upper()
    return code if _CODE_SHAPE.match(code) else None


def deadline_days(config: Config, kind: str) -> int:
    return config.disclosure_request_deadline_days if kind == "disclosure_request" else config.complaint_deadline_days


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        return "\0invalid"
    return value.replace("\r\n", "\n").strip()


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "real"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", "anonymous"):
        return False
    return None


def validate_complaint(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean values and field messages (empty when all is well) from a form or JSON body."""
    fields: dict[str, str] = {}
    kind = _text(values, "kind")
    if kind not in COMPLAINT_KINDS:
        fields["kind"] = "请选择类型：投诉、举报、咨询、信息公开申请或信访"
    subject = _text(values, "subject")
    if not subject:
        fields["subject"] = "请填写标题"
    elif "\0" in subject or len(subject) > SUBJECT_MAX:
        fields["subject"] = f"标题不能超过{SUBJECT_MAX}个字"
    text = _text(values, "text")
    if not text:
        fields["text"] = "请填写具体内容"
    elif "\0" in text:
        fields["text"] = "内容格式不正确"
    elif len(text) > TEXT_MAX:
        fields["text"] = f"内容不能超过{TEXT_MAX}字（现为{len(text)}字），请精简后再提交"
    refs: dict[str, str | None] = {}
    for name, label in (("project_code", "项目代码"), ("disclosure_id", "公示记录编号")):
        value = _text(values, name)
        if value and not _REF_SHAPE.match(value):
            fields[name] = f"{label}只能包含字母、数字和“-”，不超过64位"
        refs[name] = value or None
    region = _text(values, "region_code")
    if region and not (region.isascii() and region.isdigit() and len(region) in (2, 4, 6, 9, 12)):
        fields["region_code"] = "地区代码应为2至12位数字"
    contact = _text(values, "contact")
    if "\0" in contact or len(contact) > CONTACT_MAX:
        fields["contact"] = f"联系方式不能超过{CONTACT_MAX}个字"
    real_name = _flag(values.get("real_name"))
    if real_name is None:
        fields["real_name"] = "请选择实名或匿名"
    elif real_name and not contact:
        fields["contact"] = "实名反映请留下姓名和联系电话，以便办理单位联系您"
    confidential = _flag(values.get("confidential"))
    if confidential is None:
        fields["confidential"] = "请选择是否要求保密"
    clean = {
        "kind": kind, "subject": subject, "text": text, "contact": contact or None,
        "real_name": bool(real_name), "region_code": region or None,
        "confidential": bool(confidential) and kind == "tipoff", **refs,
    }
    return clean, fields


@dataclass(frozen=True)
class ComplaintView:
    """What the public may see of a complaint (never the contact, never the text as filed)."""

    tracking_code: str
    kind: str
    subject: str
    status: str
    filed_at: str
    filed_on: date
    due_on: date
    answered_at: str | None
    answer: str
    answer_unit: str
    history: list[dict[str, str]]
    overdue: bool
    feedback: dict[str, Any] | None  # the complainant's word on the current answer
    feedback_open: bool  # the status page offers the 满意 / 不满意 form

    @property
    def kind_label(self) -> str:
        return COMPLAINT_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return COMPLAINT_STATUS_LABELS.get(self.status, self.status)

    @property
    def due_on_zh(self) -> str:
        return format_date_zh(self.due_on)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_code": self.tracking_code, "kind": self.kind, "kind_label": self.kind_label,
            "subject": self.subject, "status": self.status, "status_label": self.status_label,
            "filed_at": self.filed_at, "filed_on": self.filed_on.isoformat(),
            "due_on": self.due_on.isoformat(), "overdue": self.overdue,
            "answered_at": self.answered_at, "answer": self.answer, "answer_unit": self.answer_unit,
            "history": self.history, "feedback": self.feedback, "feedback_open": self.feedback_open,
        }


def _current_feedback(row: PublicComplaint) -> ComplaintFeedback | None:
    """The feedback given on the current answer (an earlier answer's does not count)."""
    if row.status not in ANSWERED_STATES or row.answered_at is None or not row.feedback:
        return None
    latest = row.feedback[-1]
    return latest if local(latest.at) >= local(row.answered_at) else None


def _view(row: PublicComplaint) -> ComplaintView:
    filed_at = local(row.filed_at)
    answered = row.status in ANSWERED_STATES
    given = _current_feedback(row)
    return ComplaintView(
        tracking_code=row.tracking_code, kind=row.kind, subject=row.subject, status=row.status,
        filed_at=format_datetime_zh(filed_at), filed_on=filed_at.date(), due_on=row.due_on,
        answered_at=format_datetime_zh(row.answered_at) if row.answered_at else None,
        answer=row.answer or "", answer_unit=row.answer_unit or "",
        history=[{"at": format_datetime_zh(u.at), "status": u.status,
                  "status_label": COMPLAINT_STATUS_LABELS.get(u.status, u.status), "note": u.note or ""}
                 for u in row.updates],
        overdue=not answered and today() > row.due_on,
        feedback={"satisfied": given.satisfied, "label": "满意" if given.satisfied else "不满意",
                  "at": format_datetime_zh(given.at)} if given is not None else None,
        feedback_open=row.status in ANSWERED_STATES and row.answered_at is not None and given is None,
    )


def file_complaint(db: Database, config: Config, clean: dict[str, Any], *,
                   filed_at: datetime | None = None) -> ComplaintView:
    """Store a validated complaint; returns only after the transaction has committed. Filed now,
    or at ``filed_at`` (the demo build replays cases filed on past days)."""
    filed_at = filed_at or now()
    due_on = add_workdays(filed_at.date(), deadline_days(config, clean["kind"]))
    for _attempt in range(5):
        code = new_tracking_code(filed_at.date())
        try:
            with db.session() as session:
                row = PublicComplaint(tracking_code=code, status="received", answer="", filed_at=filed_at,
                                      due_on=due_on, **clean)
                session.add(row)
                session.flush()
                session.add(ComplaintUpdate(complaint_id=row.id, at=filed_at, status="received",
                                            note=RECEIVED_NOTE))
        except IntegrityError:  # the same code drawn twice on one day: draw again
            continue
        found = find_complaint(db, code)
        assert found is not None
        return found
    raise PublicError(503, "unavailable", "系统繁忙，请稍后再提交。")


def find_complaint(db: Database, code: str) -> ComplaintView | None:
    normalized = normalize_code(code)
    if normalized is None:
        return None
    with db.session() as session:
        row = session.scalars(
            select(PublicComplaint)
            .options(selectinload(PublicComplaint.updates), selectinload(PublicComplaint.feedback))
            .where(PublicComplaint.tracking_code == normalized)
        ).one_or_none()
        return _view(row) if row is not None else None


def give_feedback(db: Database, code: str, satisfied: bool, comment: str) -> ComplaintView | None:
    """Record 满意 / 不满意 on the current answer (once per answer); None when no such case.
    Raises :class:`PublicError` 409 when there is no answer yet or the word was already given."""
    normalized = normalize_code(code)
    if normalized is None:
        return None
    with db.session() as session:
        row = session.scalars(
            select(PublicComplaint).options(selectinload(PublicComplaint.feedback))
            .where(PublicComplaint.tracking_code == normalized).with_for_update()
        ).one_or_none()
        if row is None:
            return None
        if row.status not in ANSWERED_STATES or row.answered_at is None:
            raise PublicError(409, "not_answered", "尚未答复，答复后才能评价。", headers=NO_STORE)
        if _current_feedback(row) is not None:
            raise PublicError(409, "feedback_given", "您已对这次答复作出评价，谢谢。", headers=NO_STORE)
        session.add(ComplaintFeedback(complaint_id=row.id, at=now(), satisfied=satisfied, comment=comment))
    return find_complaint(db, normalized)


# --- pages and JSON ---------------------------------------------------------------------------


def _feedback_values(values: dict[str, Any]) -> tuple[bool, str]:
    satisfied = values.get("satisfied")
    if satisfied not in ("yes", "no"):
        raise PublicError(422, "invalid_input", "请选择“满意”或“不满意”。", fields={"satisfied": "请选择"},
                          headers=NO_STORE)
    comment = _text(values, "comment")
    if "\0" in comment or len(comment) > FEEDBACK_MAX:
        raise PublicError(422, "invalid_input", f"意见不能超过{FEEDBACK_MAX}字。",
                          fields={"comment": f"不能超过{FEEDBACK_MAX}字"}, headers=NO_STORE)
    return satisfied == "yes", comment


def _kind_options() -> list[tuple[str, str]]:
    return [("", "请选择"), *COMPLAINT_KINDS.items()]


def _form(request: Request, values: dict[str, Any], fields: dict[str, str], status: int = 200) -> Response:
    token = csrf.token_for(request)
    config = services(request).config
    response = request.app.state.templates.TemplateResponse(
        request, "complaint_new.html",
        {"csrf_token": token, "values": values, "fields": fields, "kinds": _kind_options(),
         "text_max": TEXT_MAX, "deadline_days": config.complaint_deadline_days,
         "request_deadline_days": config.disclosure_request_deadline_days},
        status_code=status, headers=NO_STORE,
    )
    csrf.set_cookie(request, response)
    return response


async def complaints_index(request: Request) -> Response:
    raw = request.query_params.get("code")
    error = None
    if raw is not None:
        code = normalize_code(raw)
        if code:
            return RedirectResponse(path_for(request, "complaint_status", code=code), status_code=303)
        error = "查询码格式不正确：应为TS开头、共16位，例如 TS20240618K7M3QX。"
    config = services(request).config
    return request.app.state.templates.TemplateResponse(
        request, "complaints.html",
        {"error": error, "deadline_days": config.complaint_deadline_days,
         "request_deadline_days": config.disclosure_request_deadline_days},
        status_code=400 if error else 200, headers=NO_STORE,
    )


async def complaint_new(request: Request) -> Response:
    params = request.query_params
    values = {"kind": params.get("kind", ""), "project_code": params.get("project", "")[:64],
              "disclosure_id": params.get("disclosure", "")[:64], "real_name": "0", "confidential": ""}
    if values["kind"] not in COMPLAINT_KINDS:
        values["kind"] = ""
    return _form(request, values, {})


async def complaint_submit(request: Request) -> Response:
    form = await csrf.verified_form(request, FORM_MAX_BYTES)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    clean, fields = validate_complaint(values)
    if fields:
        shown = {**values, "real_name": "1" if clean["real_name"] else "0",
                 "confidential": "1" if _flag(values.get("confidential")) else ""}
        return _form(request, shown, fields, status=422)
    svc = services(request)
    await run_in_threadpool(enforce, svc.limiter, "c:f:" + client_address(request), FILE_RATE,
                            "提交过于频繁，请10分钟后再试。如情况紧急，请直接拨打当地财政部门电话。")
    view = await run_in_threadpool(file_complaint, svc.public_db, svc.config, clean)
    return RedirectResponse(path_for(request, "complaint_status", code=view.tracking_code) + "?filed=1",
                            status_code=303)


async def _lookup(request: Request) -> ComplaintView:
    svc = services(request)
    await run_in_threadpool(enforce, svc.limiter, "c:l:" + client_address(request), LOOKUP_RATE, None)
    view = await run_in_threadpool(find_complaint, svc.public_db, request.path_params["code"])
    if view is None:
        raise PublicError(404, "complaint_not_found",
                          "未找到该查询码对应的记录，请核对查询码（TS开头，共16位）后重试。", headers=NO_STORE)
    return view


async def complaint_status(request: Request) -> Response:
    view = await _lookup(request)
    token = csrf.token_for(request)
    response = request.app.state.templates.TemplateResponse(
        request, "complaint_status.html",
        {"complaint": view, "just_filed": request.query_params.get("filed") == "1",
         "feedback_given": request.query_params.get("feedback") == "1", "csrf_token": token,
         "feedback_max": FEEDBACK_MAX}, headers=NO_STORE,
    )
    csrf.set_cookie(request, response)
    return response


async def complaint_feedback(request: Request) -> Response:
    """满意 / 不满意 on the answer, from the status page's form (by tracking code)."""
    form = await csrf.verified_form(request, FORM_MAX_BYTES)
    satisfied, comment = _feedback_values({k: v for k, v in form.items() if isinstance(v, str)})
    svc = services(request)
    await run_in_threadpool(enforce, svc.limiter, "c:l:" + client_address(request), LOOKUP_RATE, None)
    view = await run_in_threadpool(give_feedback, svc.public_db, request.path_params["code"], satisfied, comment)
    if view is None:
        raise PublicError(404, "complaint_not_found",
                          "未找到该查询码对应的记录，请核对查询码（TS开头，共16位）后重试。", headers=NO_STORE)
    return RedirectResponse(path_for(request, "complaint_status", code=view.tracking_code) + "?feedback=1",
                            status_code=303)


async def complaint_status_api(request: Request) -> Response:
    view = await _lookup(request)
    return json_response(view.to_dict(), headers=NO_STORE)


async def complaint_api_submit(request: Request) -> Response:
    body = await read_body_limited(request, JSON_MAX_BYTES)
    payload = parse_json_body(body)
    if not isinstance(payload, dict):
        raise PublicError(400, "invalid_json", "请求内容应为JSON对象。")
    clean, fields = validate_complaint(payload)
    if fields:
        raise PublicError(422, "invalid_input", "填写的内容有误，请检查后重试。", fields=fields)
    svc = services(request)
    await run_in_threadpool(enforce, svc.limiter, "c:f:" + client_address(request), FILE_RATE,
                            "提交过于频繁，请10分钟后再试。")
    view = await run_in_threadpool(file_complaint, svc.public_db, svc.config, clean)
    return json_response({
        "tracking_code": view.tracking_code, "status": view.status, "status_label": view.status_label,
        "due_on": view.due_on.isoformat(), "status_url": path_for(request, "complaint_status", code=view.tracking_code),
        "message": f"已受理。请记下查询码 {view.tracking_code}，"
                   f"办理期限为{deadline_days(svc.config, view.kind)}个工作日（{view.due_on_zh}前答复）。",
    }, status=201, headers=NO_STORE)


def routes() -> list[BaseRoute]:
    return [
        *route("/complaints", complaints_index, name="complaints_index", methods=["GET"]),
        *route("/complaints", complaint_submit, name="complaint_submit", methods=["POST"]),
        *route("/complaints/new", complaint_new, name="complaint_new", methods=["GET"]),  # before {code}
        *route("/complaints/{code}", complaint_status, name="complaint_status", methods=["GET"]),
        *route("/complaints/{code}/feedback", complaint_feedback, name="complaint_feedback", methods=["POST"]),
        json_route("/api/complaints", complaint_api_submit, name="complaint_api_submit", methods=["POST"]),
        json_route("/api/complaints/{code}", complaint_status_api, name="complaint_status_api", methods=["GET"]),
    ]
