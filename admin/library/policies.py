"""The policy list (补贴政策清单): yearly entries, change requests with review, publication.

Publishing (and every approved change to a published entry) emits a "policy" outbox entry in
the same transaction, so the indexer refreshes the public `policies` index.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import outbox
from admin.audit import trail
from admin.models import Department, Policy, PolicyChange
from core.timeutil import now

EDITABLE_FIELDS: dict[str, str] = {
    "name": "政策名称", "short_name": "简称", "level": "层级", "budget_source": "资金来源",
    "scope": "实施范围", "beneficiaries": "补贴对象", "standard": "补贴标准", "document_title": "政策依据（文件名称）",
    "document_number": "文号", "document_url": "文件链接", "delivery": "发放方式",
}
LEVELS = ("中央", "省", "市", "县")
DELIVERY = ("到人", "到户")
STATUS_LABELS = {"draft": "草稿", "published": "已公布", "withdrawn": "已撤回"}
CHANGE_STATUS_LABELS = {"pending": "待审核", "approved": "已批准", "rejected": "已驳回"}


class PolicyError(ValueError):
    pass


def snapshot(policy: Policy) -> dict[str, Any]:
    return {"code": policy.code, "year": policy.year, "status": policy.status,
            **{name: getattr(policy, name) for name in EDITABLE_FIELDS}}


def clean_values(values: Mapping[str, Any], *, partial: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in EDITABLE_FIELDS:
        if name in values:
            out[name] = str(values[name] or "").strip()
    if not partial or "name" in out:
        if not out.get("name"):
            raise PolicyError("请填写政策名称")
        if len(out["name"]) > 100:
            raise PolicyError("政策名称不超过100个字")
    if not partial or "short_name" in out:
        if not out.get("short_name") or len(out["short_name"]) > 7:
            raise PolicyError("简称为1至7个字（用于短信和明白条）")
    if (not partial or "level" in out) and out.get("level") not in LEVELS:
        raise PolicyError("层级应为：" + "、".join(LEVELS))
    if "delivery" in out and out["delivery"] not in DELIVERY:
        raise PolicyError("发放方式应为“到人”或“到户”")
    if out.get("document_url") and not out["document_url"].startswith(("http://", "https://")):
        raise PolicyError("文件链接应以 http:// 或 https:// 开头")
    return out


def create_policy(session: Session, *, actor: str, code: str, year: int, department: Department,
                  region_code: str, values: Mapping[str, Any]) -> Policy:
    code = code.strip().upper()
    if not code or len(code) > 32 or not code.replace("-", "").isalnum():
        raise PolicyError("政策编码由字母、数字和短横线组成，不超过32位")
    if not 2000 <= year <= 2100:
        raise PolicyError("年度有误")
    if session.execute(select(Policy.id).where(Policy.code == code, Policy.year == year)).first():
        raise PolicyError(f"{year}年清单中已有编码为 {code} 的政策")
    policy = Policy(code=code, year=year, department_id=department.id, region_code=region_code, status="draft",
                    **clean_values(values))
    session.add(policy)
    session.flush()
    trail.record(session, actor=actor, action="policy.create", object_type="policy", object_id=policy.id,
                 region_code=region_code, after=snapshot(policy))
    return policy


def publish(session: Session, policy: Policy, *, actor: str) -> None:
    if policy.status == "published":
        raise PolicyError("该政策已公布")
    before = snapshot(policy)
    policy.status = "published"
    outbox.emit(session, "policy", policy.id)
    trail.record(session, actor=actor, action="policy.publish", object_type="policy", object_id=policy.id,
                 region_code=policy.region_code, before=before, after=snapshot(policy))


def withdraw(session: Session, policy: Policy, *, actor: str) -> None:
    if policy.status != "published":
        raise PolicyError("只有已公布的政策可以撤回")
    before = snapshot(policy)
    policy.status = "withdrawn"
    outbox.emit(session, "policy", policy.id)
    trail.record(session, actor=actor, action="policy.withdraw", object_type="policy", object_id=policy.id,
                 region_code=policy.region_code, before=before, after=snapshot(policy))


def request_change(session: Session, policy: Policy, *, actor: str, summary: str,
                   values: Mapping[str, Any]) -> PolicyChange:
    summary = summary.strip()
    if not summary:
        raise PolicyError("请填写变更说明")
    cleaned = clean_values(values, partial=True)
    change = {name: value for name, value in cleaned.items() if getattr(policy, name) != value}
    if not change:
        raise PolicyError("没有任何内容发生变化")
    request = PolicyChange(policy_id=policy.id, summary=summary[:200], change=change, status="pending",
                           requested_by=actor)
    session.add(request)
    session.flush()
    trail.record(session, actor=actor, action="policy.change_request", object_type="policy_change",
                 object_id=request.id, region_code=policy.region_code, after={"policy_id": policy.id, **change})
    return request


def review_change(session: Session, change: PolicyChange, *, actor: str, approve: bool, comment: str = "") -> None:
    """Approve (the change is applied, and republished if the entry is public) or reject."""
    if change.status != "pending":
        raise PolicyError("该变更申请已审核过")
    if change.requested_by == actor:
        raise PolicyError("不能审核自己提交的变更申请")
    policy = change.policy
    before = snapshot(policy)
    change.status = "approved" if approve else "rejected"
    change.reviewed_by = actor
    change.reviewed_at = now()
    change.review_comment = comment.strip()[:500]
    if approve:
        for name, value in clean_values(change.change, partial=True).items():
            setattr(policy, name, value)
        if policy.status == "published":
            outbox.emit(session, "policy", policy.id)
    trail.record(session, actor=actor, action="policy.change_approve" if approve else "policy.change_reject",
                 object_type="policy", object_id=policy.id, region_code=policy.region_code,
                 before=before, after=snapshot(policy))
