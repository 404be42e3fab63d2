"""The village publicity list (村务公开栏): what is posted on each village's notice board.

While a batch is in publicity (and in approval, for a reprint of the list as it stood), each
village of the batch gets a printable list — an A4 or A3 page and a PDF — with the SAME lines and
the SAME masking as the online 公示名单 the indexer publishes (indexer/documents.py):

- the lines: the batch's lines of that village that are not withdrawn, in line order;
- the names: :func:`core.masking.mask_name` in the style :class:`core.masking.MaskingPolicy` gives
  the project (the deployment's ``<data dir>/masking.json``, as the indexer reads it), so a
  sensitive project (低保 …) shows the surname only here as on the web;
- the amounts: yuan with 2 places; the total count and amount of the village.

The page also carries what a villager needs to object: the publicity period, the place, who takes
objections and their phone (entered with ``publicity_open``), the department, and where the same
list is online. Below the list (on screen only) are the postings recorded for the village
(``publicity_posting``: dates, place, photo), which :func:`admin.batches.workflow.record_posting`
keeps with the batch.

Who may see it: anyone who may view the batch, for villages inside their own region (a township
clerk prints the lists of that township's villages). Nothing here changes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.access.roles import Actor, region_inside
from admin.batches import workflow
from admin.batches.service import period_label
from admin.models import Batch, BatchState, Department, LineState, PaymentLine, Person, Policy, PublicityPosting, Region
from admin.web import AdminError, forbidden
from core import regions
from core.masking import MaskingPolicy, mask_name
from core.pdf import PAPERS, find_cjk_font, new_pdf
from core.timeutil import format_date_zh, format_datetime_zh, now

__all__ = [
    "LIST_STATES",
    "PAPERS",
    "ListLine",
    "Posting",
    "VillageList",
    "VillageSummary",
    "parse_paper",
    "render_pdf",
    "village_list",
    "villages",
]

# The list is printed while the batch is in publicity, and reprinted (as it stood) during approval.
LIST_STATES = (BatchState.publicity.value, BatchState.approval.value)
WITHDRAWN = LineState.withdrawn.value
TWO_PLACES = Decimal("0.01")
REGION_CUT = {"village": 12, "township": 9, "county": 6}


@dataclass(frozen=True)
class ListLine:
    line_no: int
    name_masked: str
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "name_masked": self.name_masked, "amount": f"{self.amount:.2f}"}


@dataclass(frozen=True)
class Posting:
    """A recorded posting of the list on a village board."""

    id: int
    village_code: str
    place: str
    posted_on: date
    removed_on: date | None
    photo_ref: str
    note: str
    recorded_by: str

    @classmethod
    def of(cls, row: PublicityPosting) -> Posting:
        return cls(row.id, row.village_code, row.place, row.posted_on, row.removed_on, row.photo_ref, row.note,
                   row.recorded_by)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "village_code": self.village_code, "place": self.place,
                "posted_on": self.posted_on.isoformat(),
                "removed_on": self.removed_on.isoformat() if self.removed_on else None,
                "photo": bool(self.photo_ref), "photo_ref": self.photo_ref, "note": self.note,
                "recorded_by": self.recorded_by}


@dataclass(frozen=True)
class VillageSummary:
    """One village of a batch, for the links on the batch page."""

    code: str
    name: str
    lines: int
    total: Decimal
    postings: list[Posting] = field(default_factory=list)

    def as_dict(self, batch_id: int) -> dict[str, Any]:
        url = f"/batches/{batch_id}/publicity/{self.code}"
        return {"code": self.code, "name": self.name, "lines": self.lines, "total": f"{self.total:.2f}",
                "url": url, "pdf_url": url + ".pdf", "postings": [p.as_dict() for p in self.postings]}


@dataclass(frozen=True)
class VillageList:
    """Everything printed on one village's list."""

    batch_id: int
    batch_code: str
    batch_title: str
    state: str
    project_code: str
    project_name: str
    policy_name: str
    department: str
    period: str
    period_label: str
    county: str
    township: str
    village: str
    village_code: str
    publicity_start: date | None
    publicity_end: date | None
    place: str
    contact: str
    complaints_url: str
    online_url: str
    lines: list[ListLine]
    postings: list[Posting]
    printed_at: str

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00")).quantize(TWO_PLACES)

    @property
    def reprint(self) -> bool:
        """The publicity is over (the batch is in approval): a reprint of the list as it stood."""
        return self.state != BatchState.publicity.value

    @property
    def place_name(self) -> str:
        return f"{self.county}{self.township}{self.village}"

    @property
    def title(self) -> str:
        return f"{self.project_name}补贴对象公示名单"

    @property
    def intro(self) -> str:
        return (f"根据{self.policy_name}有关规定，现将{self.village}{self.period_label}{self.project_name}"
                "拟发放对象及金额予以公示，接受群众监督。")

    @property
    def period_text(self) -> str:
        if self.publicity_start is None or self.publicity_end is None:
            return ""
        return f"{format_date_zh(self.publicity_start)}至{format_date_zh(self.publicity_end)}"

    @property
    def objection_text(self) -> str:
        """Where and how to object, as printed."""
        who = self.contact or f"村（社区）委员会、乡镇（街道）或{self.department}"
        return (f"公示期间，对名单有异议的，请向{who}反映，也可登录{self.complaints_url}在线投诉举报。"
                "反映人信息将严格保密。")

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": {"id": self.batch_id, "code": self.batch_code, "title": self.batch_title, "state": self.state},
            "project_code": self.project_code, "project_name": self.project_name, "policy_name": self.policy_name,
            "department": self.department, "period": self.period, "period_label": self.period_label,
            "county": self.county, "township": self.township, "village": self.village,
            "village_code": self.village_code,
            "publicity": {"start": self.publicity_start.isoformat() if self.publicity_start else None,
                          "end": self.publicity_end.isoformat() if self.publicity_end else None,
                          "place": self.place, "contact": self.contact, "objection": self.objection_text,
                          "reprint": self.reprint},
            "online_url": self.online_url, "count": self.count, "total": f"{self.total:.2f}",
            "lines": [line.as_dict() for line in self.lines],
            "postings": [p.as_dict() for p in self.postings],
        }


def parse_paper(raw: str | None) -> str:
    """``?paper=A3`` (any case); A4 by default. Anything else is a 400."""
    paper = (raw or "A4").strip().upper()
    if paper not in PAPERS:
        raise AdminError(400, "bad_paper", "纸张只能选 A4 或 A3。")
    return paper


def _check_state(batch: Batch) -> None:
    if batch.state not in LIST_STATES:
        raise AdminError(409, "not_in_publicity", "批次不在公示阶段（公示中或公示结束后待审批），没有村务公开名单。")


def _live_in(batch_id: int, scope: str) -> Any:
    return (PaymentLine.batch_id == batch_id, PaymentLine.state != WITHDRAWN,
            PaymentLine.village_code.startswith(scope))


def _region_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Names from the batch database's region table, else the national data (core.regions)."""
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes or {""}))).all())
    for code in codes:
        if not names.get(code):
            region = regions.get(code)
            names[code] = region.name if region is not None else ""
    return names


def _postings(session: Session, batch_id: int, scope: str) -> dict[str, list[Posting]]:
    out: dict[str, list[Posting]] = {}
    for row in workflow.postings(session, batch_id):
        if region_inside(row.village_code, scope):
            out.setdefault(row.village_code, []).append(Posting.of(row))
    return out


def villages(session: Session, actor: Actor, batch: Batch) -> list[VillageSummary]:
    """The batch's villages inside the actor's region with lines on the list (empty outside the
    publicity and approval states), with their recorded postings."""
    if batch.state not in LIST_STATES:
        return []
    rows = session.execute(
        select(PaymentLine.village_code, func.count(PaymentLine.id), func.coalesce(func.sum(PaymentLine.amount), 0))
        .where(*_live_in(batch.id, actor.region_code)).group_by(PaymentLine.village_code)
        .order_by(PaymentLine.village_code)).all()
    names = _region_names(session, {code for code, _, _ in rows})
    postings = _postings(session, batch.id, actor.region_code)
    return [VillageSummary(code, names.get(code) or code, count, Decimal(str(total)).quantize(TWO_PLACES),
                           postings.get(code, [])) for code, count, total in rows]


def village_list(session: Session, actor: Actor, batch: Batch, village_code: str, *, masking: MaskingPolicy,
                 public_base_url: str) -> VillageList:
    """The list of one village (raises AdminError: 409 outside publicity/approval, 403 for a village
    outside the actor's region, 404 for a village without lines on the list)."""
    _check_state(batch)
    if not (village_code.isascii() and village_code.isdigit() and len(village_code) == 12):
        raise AdminError(404, "not_found", "村（社区）代码应为 12 位数字。")
    if not region_inside(village_code, actor.region_code):
        raise forbidden()
    project = batch.project
    policy_name, department = session.execute(
        select(Policy.name, Department.name).join(Department, Department.id == project.department_id)
        .where(Policy.id == project.policy_id)).one()
    style = masking.name_style_for(project.name)
    rows = session.execute(
        select(PaymentLine.line_no, PaymentLine.amount, Person.name).join(Person, Person.id == PaymentLine.person_id)
        .where(*_live_in(batch.id, village_code), PaymentLine.village_code == village_code)
        .order_by(PaymentLine.line_no, PaymentLine.id)).all()
    if not rows:
        raise AdminError(404, "not_found", "该村（社区）在本批次中没有公示的发放对象。")
    lines = [ListLine(line_no, mask_name(name, style), Decimal(amount).quantize(TWO_PLACES))
             for line_no, amount, name in rows]
    names = _region_names(session, {village_code[:6], village_code[:9], village_code})
    level = masking.region_level_for(project.name)
    region = village_code[:REGION_CUT[level]]
    base = public_base_url.rstrip("/")
    online = f"{base}/disclosures?" + urlencode({"kind": "publicity", "region": region, "project": project.code})
    return VillageList(
        batch_id=batch.id, batch_code=batch.code, batch_title=batch.title, state=batch.state,
        project_code=project.code, project_name=project.name, policy_name=policy_name, department=department,
        period=batch.period, period_label=period_label(batch.period), county=names[village_code[:6]],
        township=names[village_code[:9]], village=names[village_code] or village_code, village_code=village_code,
        publicity_start=batch.publicity_start, publicity_end=batch.publicity_end, place=batch.publicity_place or "",
        contact=batch.publicity_contact or "", complaints_url=f"{base}/complaints/new", online_url=online,
        lines=lines, postings=_postings(session, batch.id, village_code).get(village_code, []),
        printed_at=format_datetime_zh(now()))


# --- the PDF ------------------------------------------------------------------------------------

_SCALE = {"A4": 1.0, "A3": 1.4}


def render_pdf(vlist: VillageList, paper: str = "A4", *, demo: bool = False) -> bytes:
    """The village list as a PDF on A4 or A3 (portrait), the same text as the page (in demo mode
    marked 演示数据 at the top, so a generated list is never taken for a real one)."""
    # Lazy on purpose: fpdf2 is heavy and only a PDF download needs it (core/pdf.py).
    from fpdf import FontFace
    from fpdf.enums import XPos, YPos

    font = find_cjk_font()
    if font is None:
        raise AdminError(503, "pdf_unavailable", "服务器没有中文字体，PDF暂不可用，请打开名单页面后使用浏览器的“打印”功能。")
    scale = _SCALE[paper]
    pdf, family = new_pdf(font, paper=paper, margin=15 * scale, title=f"{vlist.village}{vlist.title}")
    pdf.add_page()
    nl = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
    if demo:
        pdf.set_font(family, size=12 * scale)
        pdf.cell(0, 8 * scale, "演示数据：本名单为生成的演示数据，不得张贴。", align="C", **nl)
    pdf.set_font(family, size=18 * scale)
    pdf.cell(0, 11 * scale, vlist.title, align="C", **nl)
    pdf.set_font(family, size=11 * scale)
    pdf.cell(0, 7 * scale, f"{vlist.place_name}　{vlist.period_label}", align="C", **nl)
    if vlist.reprint:
        pdf.cell(0, 7 * scale, "（公示期已结束，本件为存档重印）", align="C", **nl)
    pdf.ln(2 * scale)
    pdf.multi_cell(0, 7 * scale, vlist.intro, **nl)
    if vlist.period_text:
        pdf.multi_cell(0, 7 * scale, f"公示期：{vlist.period_text}", **nl)
    if vlist.place:
        pdf.multi_cell(0, 7 * scale, f"公示地点：{vlist.place}", **nl)
    pdf.ln(2 * scale)
    width = pdf.epw
    with pdf.table(col_widths=(width * 0.2, width * 0.45, width * 0.35), text_align=("CENTER", "CENTER", "RIGHT"),
                   line_height=7 * scale, first_row_as_headings=True,
                   headings_style=FontFace(emphasis=None, fill_color=(235, 235, 235))) as table:
        table.row(("序号", "姓名", "金额（元）"))
        for n, line in enumerate(vlist.lines, 1):
            table.row((str(n), line.name_masked, f"{line.amount:,.2f}"))
        table.row(("合计", f"{vlist.count}人（户）", f"{vlist.total:,.2f}"))
    pdf.ln(3 * scale)
    pdf.multi_cell(0, 7 * scale, f"本村（社区）共{vlist.count}人（户），合计{vlist.total:,.2f}元。", **nl)
    pdf.multi_cell(0, 7 * scale, vlist.objection_text, **nl)
    pdf.multi_cell(0, 7 * scale, f"网上公示：{vlist.online_url}", **nl)
    pdf.ln(3 * scale)
    pdf.set_font(family, size=10 * scale)
    pdf.multi_cell(0, 6 * scale, f"公示单位：{vlist.department}　批次编号：{vlist.batch_code}　打印时间：{vlist.printed_at}",
                   **nl)
    pdf.multi_cell(0, 6 * scale, "为保护个人隐私，姓名按规定部分隐去，不公开身份证号码、银行卡号和电话号码。", **nl)
    return bytes(pdf.output())
