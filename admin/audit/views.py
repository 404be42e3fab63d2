"""The audit trail (审计日志) for auditors and system admins: filters, chain check, Excel export.

Everything is inside `roles.scope_audit`: an auditor of a county sees and exports the entries of
that county only. The chain check runs `admin.audit.trail.verify_chain` over the whole chain (a
broken link anywhere is news to every auditor) but names the broken entry only when it lies in
the operator's scope.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from sqlalchemy import Select, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.audit import trail
from admin.models import AuditEntry
from admin.web import PAGE_SIZE, AdminError, json_response, page_number, render, services, wants_json, xlsx_download
from core.spreadsheets import xlsx_row
from core.timeutil import SHANGHAI, format_datetime_zh
from core.web import route

EXPORT_MAX_ROWS = 200_000
ACTION_LABELS = {
    "operator.create": "新建操作员", "operator.update": "修改操作员", "operator.activate": "启用账号",
    "operator.deactivate": "停用账号", "operator.password_reset": "重置密码", "operator.password_change": "修改密码",
    "operator.unlock": "解除锁定", "operator.locked": "账号锁定", "operator.login": "登录",
    "operator.projects": "分配项目", "batch.create": "新建批次", "roster.import": "导入花名册",
    "line.create": "录入明细", "line.update": "修改明细", "line.delete": "删除明细", "line.recheck": "标记复核",
    "policy.create": "新增政策", "policy.publish": "公布政策", "policy.withdraw": "撤回政策",
    "policy.change_request": "申请变更", "policy.change_approve": "批准变更", "policy.change_reject": "驳回变更",
    "project.create": "新增项目", "project.update": "修改项目", "persons.import": "导入人员信息",
    "reference.import": "导入比对名单", "reference.add": "加入比对名单",
    "complaint.receive": "收到投诉举报", "complaint.accept": "受理投诉举报", "complaint.reject": "不予受理",
    "complaint.assign": "转办投诉举报", "complaint.start": "办理投诉举报", "complaint.answer": "答复投诉举报",
    "complaint.close": "办结投诉举报", "complaint.reopen": "重新办理投诉举报", "complaint.feedback": "反映人评价",
}


def _date(raw: str, name: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise AdminError(400, "bad_date", f"{name}格式应为 2025-01-31。") from None


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    f: dict[str, Any] = {k: q.get(k, "").strip()[:64] for k in ("actor", "action", "object_type", "object_id")}
    f["from"] = _date(q.get("from", ""), "开始日期")
    f["to"] = _date(q.get("to", ""), "结束日期")
    if f["from"] and f["to"] and f["from"] > f["to"]:
        raise AdminError(400, "bad_date_range", "开始日期不能晚于结束日期。")
    return f


def _query(actor: roles.Actor, f: dict[str, Any]) -> Select:
    stmt = roles.scope_audit(select(AuditEntry), actor)
    if f["actor"]:
        stmt = stmt.where(AuditEntry.actor == f["actor"])
    if f["action"]:
        stmt = stmt.where(AuditEntry.action.startswith(f["action"]))
    if f["object_type"]:
        stmt = stmt.where(AuditEntry.object_type == f["object_type"])
    if f["object_id"]:
        stmt = stmt.where(AuditEntry.object_id == f["object_id"])
    if f["from"]:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(f["from"], time.min, SHANGHAI))
    if f["to"]:
        stmt = stmt.where(AuditEntry.at < datetime.combine(f["to"] + timedelta(days=1), time.min, SHANGHAI))
    return stmt


def _query_string(f: dict[str, Any]) -> str:
    return urlencode({k: (v.isoformat() if isinstance(v, date) else v) for k, v in f.items() if v})


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "object_type": entry.object_type, "object_id": entry.object_id, "region_code": entry.region_code,
            "before": entry.before, "after": entry.after, "hash": entry.hash}


async def audit_list(request: Request) -> Response:
    actor = await current_actor(request, "audit.view")
    page = page_number(request)
    f = _filters(request)
    verify = request.url.path == "/audit/verify"

    def load(session: Any) -> dict[str, Any]:
        stmt = _query(actor, f)
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = list(session.execute(stmt.order_by(AuditEntry.id.desc()).offset((page - 1) * PAGE_SIZE)
                                    .limit(PAGE_SIZE)).scalars())
        result: dict[str, Any] = {"entries": rows, "total": total}
        if verify:
            broken = trail.verify_chain(session)
            in_scope = broken is not None and session.execute(
                roles.scope_audit(select(AuditEntry.id).where(AuditEntry.id == broken), actor)).first() is not None
            result["verify"] = {"ok": broken is None, "broken_id": broken if in_scope else None,
                                "entries": session.execute(select(func.count(AuditEntry.id))).scalar_one()}
        return result

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"total": data["total"], "page": page, "page_size": PAGE_SIZE,
                              "entries": [entry_dict(e) for e in data["entries"]]})
    query = _query_string(f)
    return render(request, "audit/audit.html", {**data, "f": f, "page": page, "labels": ACTION_LABELS,
                                                "query": query + "&" if query else "", "export_query": query,
                                                "pages": max(1, -(-data["total"] // PAGE_SIZE))})


async def audit_export(request: Request) -> Response:
    actor = await current_actor(request, "audit.view")
    f = _filters(request)

    def build(session: Any) -> bytes:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("审计日志")
        sheet.append(xlsx_row(sheet, ["序号", "时间", "操作人", "操作", "对象类型", "对象编号", "区划", "修改前", "修改后",
                                      "哈希"]))
        stmt = _query(actor, f).order_by(AuditEntry.id).limit(EXPORT_MAX_ROWS)
        for e in session.execute(stmt).scalars():
            sheet.append(xlsx_row(sheet, [e.id, format_datetime_zh(e.at), e.actor, ACTION_LABELS.get(e.action, e.action),
                                          e.object_type, e.object_id, e.region_code,
                                          json.dumps(e.before, ensure_ascii=False) if e.before else "",
                                          json.dumps(e.after, ensure_ascii=False) if e.after else "", e.hash]))
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()

    body = await services(request).db.run(build)
    return xlsx_download(body, "审计日志.xlsx")


def routes() -> list[BaseRoute]:
    return [
        *route("/audit", audit_list, name="audit_list", methods=["GET"], json=True),
        Route("/audit/verify", audit_list, methods=["GET"], name="audit_list_verify"),
        Route("/audit/export.xlsx", audit_export, methods=["GET"], name="audit_export"),
    ]
