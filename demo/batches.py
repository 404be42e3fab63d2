"""Batch slots (project × period) for the demo data and their workflow timelines.

Each batch walks draft → submitted → publicity → approval → finance_check → bank → paid →
published with step lengths in Chinese working days (core.workdays) inside the time limits of
core.deadlines — a few overdue, a few returned once. Its state is where that walk stands on the
demo's fixed "today" (demo.data.AS_OF); a handful are forced into a given state so every state
is present whatever the size of the data. The timeline only fixes the days: demo/build.py
replays each step on its day through the workflow services (``COMMENTS`` are what the actors
write).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from random import Random

from demo.data import AS_OF, YEARS, PolicySpec
from core.timeutil import SHANGHAI
from core.workdays import add_workdays, is_workday

# What the actors write, by workflow action (demo/build.py passes them as the form's comment).
COMMENTS: dict[str, str] = {
    "submit": "各乡镇花名册汇总完成，提交初审",
    "spot_finding": "档案中缺少本人签字的申请表和村级评议记录，请补齐并说明原因",
    "resubmit": "已核实更正，重新提交初审",
    "return": "部分人员姓名与社会保障卡登记信息不一致，请核实后重新提交",
    "return_line": "姓名与社会保障卡登记信息不一致，请核实后更正",
    "review_pass": "初审通过",
    "publicity_open": "初审通过，在各村村务公开栏和县政府网站公示",
    "publicity_close": "公示期满，无异议",
    "approve": "审批通过，报财政部门复核",
    "finance_pass": "复核通过，发放数据与预算指标相符",
    "payment_request": "复核通过，已生成支付申请并送代发银行",
    "returned": "逾期未能更正账户信息，资金退回财政",
    "published": "发放结果已公开",
    "cancel": "花名册录入有误，撤销本批次后重新建立",
}
# A forced state that is not a BatchState: submitted, with the first review passed long enough
# ago that publicity may be opened backdated to that day and closed at once.
REVIEW_PASSED = "review_passed"


@dataclass(slots=True)
class Slot:
    county: str
    policy: PolicySpec
    year: int
    period: str          # 2024, 2024H1, 2024Q3
    label: str           # 2024年度 / 2024年上半年 / 2024年第三季度
    months: int          # months the amount covers
    start: date          # first day of the period (ages are taken on it)
    created: date
    cancelled: bool = False
    forced: str | None = None
    id: int = 0
    count: int = 0       # generated line rows (incl. re-issues)
    state: str = "draft"
    events: list[tuple[str | None, str, datetime]] = field(default_factory=list)
    publicity_start: date | None = None
    publicity_end: date | None = None
    paid_on: date | None = None
    published_on: date | None = None
    review_passed_on: date | None = None  # forced REVIEW_PASSED: the day the first review passed

    @property
    def key(self) -> tuple[str, str]:
        return (self.county, self.policy.key)

    @property
    def code(self) -> str:
        return f"{self.county}-{self.policy.key}-{self.period}" + ("-C" if self.cancelled else "")

    @property
    def final(self) -> bool:
        return self.state in ("paid", "published")


_QUARTER = ("一", "二", "三", "四")

def _workday_on_or_after(d: date) -> date:
    while not is_workday(d):
        d += timedelta(days=1)
    return d


def slots_for(county: str, policy: PolicySpec, rng: Random) -> list[Slot]:
    """Every period of the policy in 2021–2026 whose batch would have been created by AS_OF."""
    out: list[Slot] = []
    for year in YEARS:
        if policy.period == "year":
            periods = [(str(year), f"{year}年度", 12, date(year, 1, 1), date(year, 4, 1) + timedelta(days=rng.randint(0, 60)))]
        elif policy.period == "half":
            periods = [
                (f"{year}H1", f"{year}年上半年", 6, date(year, 1, 1), date(year, 5, 6) + timedelta(days=rng.randint(0, 20))),
                (f"{year}H2", f"{year}年下半年", 6, date(year, 7, 1), date(year, 10, 20) + timedelta(days=rng.randint(0, 14))),
            ]
        else:
            periods = [
                (f"{year}Q{q}", f"{year}年第{_QUARTER[q - 1]}季度", 3, date(year, 3 * q - 2, 1),
                 date(year, 3 * q - 1, 1) + timedelta(days=rng.randint(0, 15)))
                for q in range(1, 5)
            ]
        for period, label, months, start, created in periods:
            created = _workday_on_or_after(created)
            if created <= AS_OF:
                out.append(Slot(county, policy, year, period, label, months, start, created))
    return out


def _durations(rng: Random) -> tuple[list[str], list[int], int]:
    """States in order, working days spent in each (until the next), and the publicity length."""
    states: list[str] = ["draft", "submitted"]
    days: list[int] = [rng.randint(2, 6)]
    if rng.random() < 0.04:
        states += ["returned", "submitted"]
        days += [rng.randint(1, 3), rng.randint(1, 3)]
    publicity_len = rng.randint(3, 5)
    days += [
        rng.randint(1, 3) if rng.random() > 0.03 else rng.randint(4, 6),      # first review
        publicity_len + 1,                                                     # publicity, then approval starts
        rng.randint(2, 8) if rng.random() > 0.04 else rng.randint(11, 13),    # approval
        rng.randint(1, 4),                                                     # finance check
        rng.randint(1, 2),                                                     # bank
        rng.randint(1, 4),                                                     # results published
    ]
    states += ["publicity", "approval", "finance_check", "bank", "paid", "published"]
    return states, days, publicity_len


def _at(d: date, rng: Random) -> datetime:
    return datetime.combine(d, time(rng.randint(8, 17), rng.randint(0, 59)), tzinfo=SHANGHAI)


def plan_timeline(slot: Slot, rng: Random) -> None:
    """Fill the slot's state, events and dates (forward from `created`, or back from AS_OF)."""
    if slot.cancelled:
        cancelled_on = add_workdays(slot.created, rng.randint(1, 4))
        slot.events = [(None, "draft", _at(slot.created, rng)), ("draft", "cancelled", _at(cancelled_on, rng))]
        slot.state = "cancelled"
        return
    states, days, publicity_len = _durations(rng)
    forced = "submitted" if slot.forced == REVIEW_PASSED else slot.forced
    if forced == "returned" and "returned" not in states:
        states[2:2] = ["returned", "submitted"]
        days[1:1] = [1, 1]
    if forced is not None:
        k = len(states) - 1 - states[::-1].index(forced)
        if forced == "returned":
            k = states.index("returned")
        back = 1 if forced in ("publicity", "bank", "paid") else rng.randint(1, 2)
        if slot.forced == REVIEW_PASSED:
            back = 6  # submitted, passed the next working day: publicity may start ≥ 3 working days ago
        dates = [date.min] * (k + 1)
        dates[k] = add_workdays(AS_OF, -back)
        for i in range(k - 1, -1, -1):
            dates[i] = add_workdays(dates[i + 1], -days[i])
        slot.created = dates[0]
        states = states[: k + 1]
    else:
        dates = [slot.created]
        for i in range(len(states) - 1):
            nxt = add_workdays(dates[-1], days[i])
            if nxt > AS_OF:
                break
            dates.append(nxt)
        states = states[: len(dates)]
    prev: str | None = None
    slot.events = []
    for state, d in zip(states, dates):
        slot.events.append((prev, state, _at(d, rng)))
        prev = state
        if state == "publicity":
            slot.publicity_start = d
            slot.publicity_end = add_workdays(d, publicity_len)
        elif state == "paid":
            slot.paid_on = d
        elif state == "published":
            slot.published_on = d
    slot.state = states[-1]
    if slot.forced == REVIEW_PASSED:
        slot.review_passed_on = add_workdays(dates[-1], 1)
