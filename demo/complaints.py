"""The demo's complaints, tip-offs and requests (投诉举报), driven through the product's services.

After the batch replay (demo/build.py) a handful of cases of every kind of
:data:`core.complaints.COMPLAINT_KINDS` — 20 to 40, mildly more with ``--lines``, all drawn from
the build's seed — go the way a citizen's case goes in production:

1. filed through the public form's service, :func:`portal.complaints.file_complaint` (validated
   by :func:`portal.complaints.validate_complaint`, a tracking code as the product issues it,
   stamped on its past filing day), into the public store;
2. pulled into the batch database by the indexer, :func:`indexer.inbound.pull` (the contact
   encrypted, the department from the project, the receipt event and audit entry);
3. handled by the demo operator accounts (demo/accounts.py) — and, outside their scope, the county
   staff accounts of the batch replay — with :func:`admin.complaints.workflow.perform` on each
   step's past business day (``today=``), every step in day order: accept, refer (转办), start,
   answer, close, reopen, reject;
4. the answers sent back through the outbox (:func:`indexer.inbound.push`, the production
   consumer ``inbound-complaints``), then two complainants say on the public side whether they are
   satisfied (:func:`portal.complaints.give_feedback`), pulled in by
   :func:`indexer.inbound.pull_feedback`.

The mix (:data:`FIXED`, then fillers): answered on time, answered late, still open and overdue,
still open within the deadline (as of the demo's day, ``demo.data.AS_OF``), rejected, referred to
another department and to the township level, reopened, one confidential tip-off (only the
supervision roles see it; the supervisor handles it), one information-disclosure request (20
working days). Complainants are the demo's generated people. The public store's complaints are
replaced by each build (the batch database they belong to is rebuilt too). Only the tracking
codes (random, as the product draws them) and the times of day differ between builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Any, Sequence

from sqlalchemy import delete, inspect, select

from admin.complaints import workflow
from admin.models import Complaint, Department, Operator, Region
from core import migrate
from core.complaints import COMPLAINT_KINDS
from core.config import Config
from core.db import Database
from core.timeutil import SHANGHAI, local
from core.workdays import add_workdays, is_workday
from demo import accounts
from demo.data import AS_OF, COUNTY_BY_CODE, DEPARTMENTS, POLICIES, PolicySpec
from demo.persons import GenPerson, Village
from indexer import inbound
from portal import complaints as public_complaints
from portal.store import ComplaintFeedback, ComplaintUpdate, PublicComplaint

__all__ = ["CASES_MAX", "CASES_MIN", "FIXED", "case_count", "demo_complaints", "replay_complaints"]

CASES_MIN, CASES_MAX = 20, 40
OLDEST = date(2025, 1, 2)       # cases are filed from here to the demo's day
RECENT = date(2026, 7, 1)       # about half in the demo's current half-year (the reports' default period)
OTHER_COUNTIES = ("500241", "530128")

# Outcomes: the steps (action, working days after filing, who: "holder" / "reviewer" / "target").
Step = tuple[str, int, str]
OUTCOMES: dict[str, tuple[Step, ...]] = {
    "closed": (("accept", 1, "holder"), ("start", 2, "holder"), ("answer", 9, "holder"), ("close", 12, "reviewer")),
    "answered": (("accept", 1, "holder"), ("start", 3, "holder"), ("answer", 12, "holder")),
    "late": (("accept", 3, "holder"), ("start", 6, "holder"), ("answer", 19, "holder"), ("close", 21, "reviewer")),
    "request": (("accept", 1, "holder"), ("start", 2, "holder"), ("answer", 18, "holder"), ("close", 19, "reviewer")),
    "rejected": (("reject", 2, "holder"),),
    "referred": (("assign", 1, "holder"), ("accept", 2, "target"), ("start", 3, "target"), ("answer", 10, "target"),
                 ("close", 12, "target")),
    "reopened": (("accept", 1, "holder"), ("start", 2, "holder"), ("answer", 8, "holder"),
                 ("reopen", 11, "reviewer"), ("answer", 16, "holder"), ("close", 18, "reviewer")),
    "overdue": (("accept", 2, "holder"), ("start", 4, "holder")),
    "unaccepted": (),
    "accepted": (("accept", 1, "holder"),),
    "in_progress": (("accept", 1, "holder"), ("start", 2, "holder")),
}
@dataclass(frozen=True)
class Case:
    """One planned case: what the citizen files and how it is handled."""

    kind: str
    # demo: a 鲁山县民政局 project; dept: another 鲁山县 department's; county: none named, in 鲁山县;
    # township: none named, in 下汤镇; other: a project of another county
    scope: str
    outcome: str        # key of OUTCOMES
    policy: str = ""    # key of the named policy (empty: none named)
    confidential: bool = False
    refer: str = ""     # "township" (to 下汤镇's level) or a department key, for the "referred" outcome
    feedback: bool | None = None  # the complainant's 满意 (True) / 不满意 (False) on the public side


# Always present, whatever --lines: every kind, every outcome, every demo account that handles cases.
FIXED: tuple[Case, ...] = (
    Case("complaint", "demo", "closed", "GLJT", feedback=True),
    Case("complaint", "demo", "late", "KNCJ", feedback=False),
    Case("tipoff", "demo", "closed", "NCDB", confidential=True),
    Case("disclosure_request", "demo", "request", "TKGY"),
    Case("enquiry", "township", "answered"),
    Case("petition", "demo", "reopened", "NCDB"),
    Case("complaint", "demo", "referred", "LSJZ", refer="township"),
    Case("enquiry", "county", "referred", refer="NYNCJ"),
    Case("petition", "county", "rejected"),
    Case("complaint", "demo", "overdue", "GLJT"),
    Case("tipoff", "dept", "unaccepted", "GDDL"),
    Case("enquiry", "demo", "accepted", "GEJB"),
    Case("complaint", "county", "unaccepted"),
    Case("disclosure_request", "demo", "in_progress", "NCDB"),
    Case("complaint", "dept", "closed", "GDDL"),
    Case("complaint", "other", "late", "CXYL"),
    Case("tipoff", "other", "closed", "NCDB"),
)
FILLER_OUTCOMES = ("closed", "answered", "late", "closed", "rejected", "in_progress", "closed", "overdue")
FILLER_SCOPES = ("demo", "dept", "demo", "other", "township", "demo")
STAFFED = ("NYNCJ", "RSJ", "LYJ")  # departments the batch replay always gives staff accounts, in every county

SUBJECTS: dict[str, tuple[str, ...]] = {
    "complaint": ("{project}至今未到账", "{project}发放金额与公示不一致", "{project}公示期间提出的异议无人答复"),
    "tipoff": ("反映{place}{project}优亲厚友", "反映{place}有人冒领{project}", "反映{place}村干部截留{project}"),
    "enquiry": ("{project}的申请条件和标准", "{project}什么时候发放", "{project}到账后如何查询"),
    "disclosure_request": ("申请公开{county}{project}资金分配情况", "申请公开{county}{project}发放汇总"),
    "petition": ("对{project}资格认定有异议", "对取消{project}资格的决定不服"),
}
TEXTS: dict[str, str] = {
    "complaint": "我是{place}村民，{project}到现在还没有发到社保卡上，村里说已经报上去了，请帮忙核实一下是哪个环节的问题。",
    "tipoff": "{place}有不符合条件的人员被纳入{project}名单，村里公示时间很短，群众有意见，请调查核实。",
    "enquiry": "想了解{project}的补助标准、申请条件和办理流程，应向哪个部门申请，需要准备哪些材料？",
    "disclosure_request": "依据《中华人民共和国政府信息公开条例》，申请公开{county}{project}的资金分配和发放汇总情况（不含个人信息）。",
    "petition": "家里情况没有变化，今年却没有了{project}，认为认定不公，请求复查并书面答复。",
}
NO_PROJECT = {"complaint": "村里的补贴发放不公开", "tipoff": "反映{place}村干部违规办理补贴",
              "enquiry": "各项惠民补贴在哪里查询", "disclosure_request": "申请公开{county}惠民补贴资金清单",
              "petition": "反映{place}土地补偿问题"}
NO_PROJECT_TEXTS = {
    "complaint": "{place}的补贴发放情况从来没有张榜公布过，群众不清楚谁领了、领了多少，请有关部门给个说法。",
    "tipoff": "{place}村干部替不符合条件的人办理补贴，从中收取好处费，请调查核实。",
    "enquiry": "家里老人有哪些补贴可以领？在哪里能查到发放了没有？",
    "disclosure_request": "依据《中华人民共和国政府信息公开条例》，申请公开{county}本年度惠民惠农补贴资金清单。",
    "petition": "{place}修路占用了我家的承包地，补偿款至今没有落实，请求协调解决。",
}
ANSWERS: dict[str, str] = {
    "complaint": "经核查，您反映的{project}已按批次发放；因原社保卡账户状态异常，资金被银行退回，现已更正账户并重新发放，请注意查收。",
    "tipoff": "经调查核实，{place}反映的问题部分属实，已取消不符合条件人员的资格并追回资金，对相关责任人作出处理。",
    "enquiry": "{project}的补助标准和申请条件见本单位公开的惠民惠农政策清单；请向户籍所在地乡镇（街道）便民服务中心提出申请。",
    "disclosure_request": "您申请公开的{county}{project}资金分配和发放汇总情况属于主动公开范围，已在“一卡通”公开平台公布，可按项目查询。",
    "petition": "经复查，您家庭情况符合{project}条件，已恢复享受资格，并补发停发期间的资金。",
}
NO_PROJECT_ANSWERS: dict[str, str] = {
    "complaint": "已督促{place}按规定公示补贴发放名单，公示名单可在“一卡通”公开平台查询。",
    "tipoff": "经调查核实，{place}违规办理补贴的问题部分属实，已责令整改，并对相关人员作出处理。",
    "enquiry": "各项惠民惠农补贴的政策清单和发放结果可在“一卡通”公开平台查询，也可到乡镇（街道）便民服务中心咨询。",
    "disclosure_request": "{county}惠民补贴资金清单属于主动公开范围，已在“一卡通”公开平台“政策清单”栏目公布。",
    "petition": "您反映的土地补偿问题不属于补贴资金范围，已告知您向自然资源部门反映。",
}
REJECT_REASONS = {  # named project / none named
    True: "您反映的事项此前已作答复，本次未提出新的事实和理由，依规定不再重复受理。",
    False: "您反映的事项不属于惠民惠农补贴范围，依法应通过信访或诉讼渠道解决，本机关不予受理。",
}
REOPEN_REASON = "答复未说明补发时间，退回重新办理。"
FEEDBACK_COMMENTS = {True: "问题已解决，谢谢。", False: "答复太慢，拖了一个多月。"}


def case_count(lines: int) -> int:
    """How many cases a build of ``lines`` payment lines files: 20 at the smallest, 40 at most."""
    return max(CASES_MIN, min(CASES_MAX, len(FIXED) + 3 + lines // 2500))


def _plan_cases(count: int) -> list[Case]:
    cases = list(FIXED)
    kinds = list(COMPLAINT_KINDS)
    demo_policies = [p.key for p in POLICIES if p.dept == "MZJ"]
    other_policies = [p.key for p in POLICIES if p.dept in STAFFED]
    n = 0
    while len(cases) < count:
        scope = FILLER_SCOPES[n % len(FILLER_SCOPES)]
        policy = "" if scope == "township" else (demo_policies if scope == "demo" else other_policies)[
            n % len(demo_policies if scope == "demo" else other_policies)]
        cases.append(Case(kinds[n % len(kinds)], scope, FILLER_OUTCOMES[n % len(FILLER_OUTCOMES)], policy))
        n += 1
    return cases


# --- the replay -----------------------------------------------------------------------------------


@dataclass
class _Filed:
    case: Case
    county: str
    project: tuple[str, str] | None   # (code, name)
    department: str | None            # key of the holding department
    filed_at: datetime
    values: dict[str, Any]
    fill: dict[str, str]
    code: str = ""


def _workday_on_or_after(day: date) -> date:
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def _filing_day(rng: Random, case: Case, index: int) -> date:
    """A filing day that lets the case's steps end by the demo's day and leaves it where it should
    stand on that day (open within or past its deadline)."""
    steps = OUTCOMES[case.outcome]
    days = 20 if case.kind == "disclosure_request" else 15
    if case.outcome in ("accepted", "in_progress") or (case.outcome == "unaccepted" and case.scope == "county"):
        last = max((s[1] for s in steps), default=0)  # filed in the last days: open, within the deadline
        earliest, latest = add_workdays(AS_OF, -6), add_workdays(AS_OF, -last)
    elif case.outcome in ("overdue", "unaccepted"):
        earliest, latest = add_workdays(AS_OF, -days - 25), add_workdays(AS_OF, -days - 3)
    else:
        last = max(s[1] for s in steps)
        earliest = RECENT if index % 2 == 0 else OLDEST
        latest = add_workdays(AS_OF, -last - 2) if index % 2 == 0 else RECENT - timedelta(days=1)
    latest = max(latest, earliest)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _person(rng: Random, persons: Sequence[GenPerson], county: str, township: str | None) -> GenPerson:
    pool = [p for p in persons if p.phone and p.village.county_code == county
            and (township is None or p.village.township_code == township)]
    if not pool:
        pool = [p for p in persons if p.village.county_code == county] or list(persons)
    return rng.choice(pool)


def _policy_spec(key: str) -> PolicySpec:
    return next(p for p in POLICIES if p.key == key)


def _file(public_db: Database, config: Config, rng: Random, cases: Sequence[Case],
          persons: Sequence[GenPerson], villages: dict[str, list[Village]]) -> list[_Filed]:
    planned: list[_Filed] = []
    for index, case in enumerate(cases):
        county = rng.choice(OTHER_COUNTIES) if case.scope == "other" else accounts.COUNTY
        if case.policy and county not in _policy_spec(case.policy).counties:
            county = accounts.COUNTY
        township = accounts.CLERK_TOWNSHIP if case.scope == "township" or case.refer == "township" else None
        person = _person(rng, persons, county, township)
        village = person.village
        if township and village.township_code != township:
            village = rng.choice([v for v in villages[county] if v.township_code == township] or villages[county])
        day = _filing_day(rng, case, index)
        filed_at = datetime.combine(day, time(rng.randint(7, 21), rng.randint(0, 59), rng.randint(0, 59)),
                                    tzinfo=SHANGHAI)
        project = None
        if case.policy:
            spec = _policy_spec(case.policy)
            project = (f"{county}{spec.key}{day.year}", spec.short_name)
        fill = {"project": project[1] if project else "惠民补贴", "place": village.name,
                "county": COUNTY_BY_CODE[county].short}
        kind = case.kind
        subject = (rng.choice(SUBJECTS[kind]) if project else NO_PROJECT[kind]).format(**fill)
        real_name = kind != "tipoff" and rng.random() < 0.7
        values = {"kind": kind, "subject": subject,
                  "text": (TEXTS if project else NO_PROJECT_TEXTS)[kind].format(**fill),
                  "project_code": project[0] if project else "", "region_code": village.code,
                  "real_name": "1" if real_name else "0", "confidential": "1" if case.confidential else "",
                  "contact": f"{person.name} {person.phone}" if real_name else (person.phone or "")}
        department = _policy_spec(case.policy).dept if case.policy else None
        planned.append(_Filed(case, county, project, department, filed_at, values, fill))
    for filed in sorted(planned, key=lambda f: f.filed_at):  # filed in time order, as citizens did
        clean, problems = public_complaints.validate_complaint(filed.values)
        assert not problems, problems  # the demo's own texts fit the public form
        filed.code = public_complaints.file_complaint(public_db, config, clean, filed_at=filed.filed_at).tracking_code
    return planned


class _Handlers:
    """The operator accounts that take each step: the demo accounts in their scope (鲁山县民政局,
    下汤镇, the supervisor), the county staff of the batch replay elsewhere."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._cache: dict[str, Operator] = {}
        self._staff: dict[tuple[str, str, str], Operator] = {}

    def get(self, username: str) -> Operator:
        if username not in self._cache:
            self._cache[username] = self.session.execute(
                select(Operator).where(Operator.username == username)).scalar_one()
        return self._cache[username]

    def staff(self, county: str, department: str, who: str) -> Operator:
        """The department's operator (or reviewer) account: a demo account for 鲁山县民政局."""
        key = (county, department, who)
        if key not in self._staff:
            role = "department_reviewer" if who == "reviewer" else "department_operator"
            self._staff[key] = self.session.execute(
                select(Operator).join(Department, Department.id == Operator.department_id)
                .where(Department.code == f"{county}-{department}", Operator.role == role)
                .order_by(Operator.username).limit(1)).scalar_one()
        return self._staff[key]

    def of(self, filed: _Filed, who: str) -> Operator:
        case = filed.case
        if case.confidential:
            return self.get("demo_supervisor")
        if who == "target":
            if case.refer == "township":
                return self.get("demo_clerk")
            return self.staff(filed.county, case.refer, "op")
        if case.scope == "township":
            return self.get("demo_clerk")
        return self.staff(filed.county, filed.department or "MZJ", who)  # an unrouted case: 民政局 takes it


def _form(session: Any, filed: _Filed, action: str) -> dict[str, str]:
    fill = filed.fill
    if action == "reject":
        return {"reason": REJECT_REASONS[filed.project is not None]}
    if action == "assign":
        if filed.case.refer == "township":
            return {"department": "", "region": accounts.CLERK_TOWNSHIP,
                    "comment": f"涉及{fill['place']}的核实工作，转下汤镇人民政府办理。"}
        department = session.execute(select(Department.id).where(
            Department.code == f"{filed.county}-{filed.case.refer}")).scalar_one()
        return {"department": str(department), "region": "",
                "comment": f"属{DEPARTMENTS[filed.case.refer]}职责，转办。"}
    if action == "answer":
        template = (ANSWERS if filed.project else NO_PROJECT_ANSWERS)[filed.case.kind]
        return {"answer": template.format(**fill), "comment": "已电话告知反映人。" if filed.values["contact"] else ""}
    if action == "reopen":
        return {"reason": REOPEN_REASON}
    return {"comment": {"accept": "已登记受理。", "start": "已安排人员核查。", "close": "答复已送达，办结。"}.get(action, "")}


def demo_complaints(config: Config) -> list[dict[str, Any]]:
    """The demo's cases as the command line lists them (tracking code, kind, status, holder,
    confidential, subject), oldest first; empty outside demo mode or before a build."""
    if not config.demo:
        return []
    db = Database(config.batch_database_url)
    try:
        if not inspect(db.engine).has_table(Complaint.__tablename__):
            return []
        with db.session() as session:
            cases = list(session.scalars(select(Complaint).order_by(Complaint.filed_at, Complaint.id)))
            departments = dict(session.execute(select(Department.id, Department.name)).all())
            regions = dict(session.execute(select(Region.code, Region.name).where(
                Region.code.in_(sorted({c.handling_region for c in cases if c.handling_region})))).all())
            return [{"tracking_code": c.tracking_code, "kind": c.kind, "kind_label": COMPLAINT_KINDS[c.kind],
                     "status": c.status, "status_label": workflow.COMPLAINT_STATE_LABELS[c.status],
                     "filed_on": local(c.filed_at).date().isoformat(), "due_on": c.due_on.isoformat(),
                     "holder": workflow.holder_label(c, departments, regions), "confidential": c.confidential,
                     "subject": c.subject} for c in cases]
    finally:
        db.dispose()


def replay_complaints(config: Config, seed: int, lines: int, persons: Sequence[GenPerson],
                      villages: dict[str, list[Village]]) -> list[str]:
    """File, pull in, handle and answer the demo's cases (see the module doc); their tracking codes."""
    migrate.upgrade(config.public_database_url, "public")
    public_db, batch_db = Database(config.public_database_url), Database(config.batch_database_url)
    try:
        with public_db.session() as public:  # the previous build's cases belong to the batch database just rebuilt
            for model in (ComplaintFeedback, ComplaintUpdate, PublicComplaint):
                public.execute(delete(model))
        rng = Random(f"{seed}:complaints")
        filed = _file(public_db, config, rng, _plan_cases(case_count(lines)), persons, villages)
        inbound.pull(public_db, batch_db, config.field_key)
        limits = workflow.Limits.of(config)
        with batch_db.session() as session:
            ids = dict(session.execute(select(Complaint.tracking_code, Complaint.id)).all())
            handlers = _Handlers(session)
            steps = sorted(((add_workdays(_workday_on_or_after(f.filed_at.date()), offset), n, order, f, action, who)
                            for n, f in enumerate(filed)
                            for order, (action, offset, who) in enumerate(OUTCOMES[f.case.outcome])),
                           key=lambda s: s[:3])
            for day, _n, _order, f, action, who in steps:
                workflow.perform(session, handlers.of(f, who), ids[f.code], action, _form(session, f, action),
                                 today=day, limits=limits)
        inbound.push(batch_db, public_db)  # the answers out through the outbox, as the running app does
        for f in filed:
            if f.case.feedback is not None:
                public_complaints.give_feedback(public_db, f.code, f.case.feedback, FEEDBACK_COMMENTS[f.case.feedback])
        inbound.pull_feedback(public_db, batch_db)
        return [f.code for f in filed]
    finally:
        public_db.dispose()
        batch_db.dispose()
