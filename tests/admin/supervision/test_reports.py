"""Supervision reports (监督：统计报表) over data built by the real services: two departments' batches
through roster entry / roster import and the workflow (one across the National Day holiday of
2025, one returned for correction), bank files exported and results imported with failures, a
correction and a re-issue, complaints taken in and answered. Every figure of every report (page
JSON, Excel) equals a direct count over the same rows; scope: a department sees only its own,
a township clerk is refused."""

from __future__ import annotations

import io
import zipfile
from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import takewhile
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from admin.access import operators
from admin.bank import files, results, service as bank
from admin.batches import service as batches
from admin.complaints import workflow as complaints
from admin.models import (
    Batch,
    CardAccount,
    Complaint,
    LineCorrection,
    PaymentLine,
    PaymentRequest,
    Project,
    WorkflowEvent,
)
from admin.batches.workflow import STEP_OF_STATE
from admin.supervision import reports
from core.deadlines import DEFAULT_RULES
from core.timeutil import SHANGHAI, local
from core.workdays import add_workdays, workdays_between
from tests.admin.bank.conftest import BANK_A, BANK_B, act, at_bank, operator  # noqa: F401 (fixture)
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import COUNTY, TEST_PASSWORD, TOWNSHIP
from tests.admin.test_admin_bad_input import XSS, assert_safe, get

TODAY = date(2025, 10, 21)  # the business day the admin app and the reports run on
H2 = "2025H2"


def _ops(batch_db, config) -> None:
    with batch_db.session() as s:
        for username, role in (("agri_rev", "department_reviewer"), ("supervisor", "supervisor")):
            operators.create_operator(s, config, actor="seed", username=username, name="测试员", role=role,
                                      region_code=COUNTY, password=TEST_PASSWORD,
                                      department_code="NY410423" if role.startswith("department") else None,
                                      must_change_password=False, password_hash=admin_fixtures.test_password_hash())


def _complaint(batch_db, n: int, filed: date, project: str, region: str, *, kind: str = "complaint",
               confidential: bool = False) -> int:
    with batch_db.session() as s:
        return complaints.receive(
            s, tracking_code=f"TS{filed:%Y%m%d}REP{n:03d}", kind=kind, subject=f"反映事项{n}", text="具体情况",
            filed_at=datetime(filed.year, filed.month, filed.day, 9, 30, tzinfo=SHANGHAI),
            due_on=add_workdays(filed, 15), project_code=project, region_code=region,
            confidential=confidential).id


def _answer(batch_db, username: str, case_id: int, day: date) -> None:
    for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "已核实答复。"})):
        with batch_db.session() as s:
            complaints.perform(s, operator(s, username), case_id, name, form, day)


@pytest.fixture
def world(at_bank, seeded, batch_db, config, roster) -> dict[str, Any]:  # noqa: F811
    """The civil batch of tests/admin/bank (payment request on 9 Oct 2025, after National Day) paid
    with two failures; an agricultural batch imported from a roster file, returned late and
    re-submitted late; complaints of both projects, one confidential, one of 2024."""
    _ops(batch_db, config)
    b, code = at_bank["batch"], at_bank["code"]
    # bank results: BANK_A on 10 Oct (line 2 failed), BANK_B on 13 Oct (line 4 failed) → paid
    for bank_name, day, failures in ((BANK_A, date(2025, 10, 10), {2: "账户已销户"}),
                                     (BANK_B, date(2025, 10, 13), {4: "户名不符"})):
        with batch_db.session() as s:
            info = bank.find_file(s, b, bank_name)
            data = bank.export_file(s, config, operator(s, "bank"), b, file_id=info.id, fmt="xlsx", today=day).data
        result = files.with_results(data, {files.line_ref(code, n): (False, why) for n, why in failures.items()})
        with batch_db.session() as s:
            assert bank.import_results(s, config, operator(s, "bank"), result, "回盘.xlsx", day).changed
    # line 2 corrected (new card) and re-issued on 14 Oct; line 4 never corrected (due 16 Oct)
    with batch_db.session() as s:
        results.correct_failed(s, config, operator(s, "clerk"), b, {
            "line": "2", "card_number": roster.make_card(902), "bank_name": BANK_A, "note": "已补办新卡"},
            date(2025, 10, 14))
    with batch_db.session() as s:
        results.reissue(s, operator(s, "civil_op"), b, {}, date(2025, 10, 14))

    # the agricultural batch: a roster file imported, submitted 22 Sep, returned 26 Sep (late),
    # re-submitted 10 Oct (late correction), still awaiting its first review (overdue)
    with batch_db.session() as s:
        project = s.get(Project, seeded["project2"])
        agri = batches.create_batch(s, actor="agri_op", project=project, region_code=TOWNSHIP, year=2025,
                                    period="2025", title="鲁阳街道耕地地力保护补贴")
        data = roster.csv([roster.row(i, amount="300.00", village="王庄村") for i in (21, 22, 23)])
        outcome = batches.import_roster(s, config, agri, data, "花名册.csv", actor="agri_op", scope_region=COUNTY)
        assert outcome.ok and outcome.imported == 3, outcome
        agri_id = agri.id
    act(batch_db, "agri_op", agri_id, "submit", date(2025, 9, 22))
    act(batch_db, "agri_rev", agri_id, "return", date(2025, 9, 26), reason="第2行金额有误")
    act(batch_db, "agri_op", agri_id, "submit", date(2025, 10, 10))

    # a civil batch cancelled while awaiting its first review: that step is not counted at all
    with batch_db.session() as s:
        cancelled = batches.create_batch(s, actor="civil_op", project=s.get(Project, seeded["project"]),
                                         region_code=TOWNSHIP, year=2025, period="2025-10", title="重复建立的批次")
        values = dict(zip(roster.header, roster.row(31, amount="100.00")))
        assert batches.add_line(s, config, cancelled, values, actor="clerk", scope_region=TOWNSHIP)[1].ok
        cancelled_id = cancelled.id
    act(batch_db, "clerk", cancelled_id, "submit", date(2025, 10, 13))
    act(batch_db, "civil_op", cancelled_id, "cancel", date(2025, 10, 20), reason="与已有批次重复")

    # complaints: civil answered on time, civil answered late, civil open and overdue, a confidential
    # tip-off on the civil project, agri open (not yet due), one filed in 2024 (outside the period)
    on_time = _complaint(batch_db, 1, date(2025, 9, 30), "GLJT-410423", "410423100001")
    _answer(batch_db, "civil_op", on_time, date(2025, 10, 13))
    late = _complaint(batch_db, 2, date(2025, 8, 1), "GLJT-410423", "410423100002")
    _answer(batch_db, "civil_op", late, date(2025, 10, 9))
    _complaint(batch_db, 3, date(2025, 8, 4), "GLJT-410423", "410423100001")
    _complaint(batch_db, 4, date(2025, 9, 1), "GLJT-410423", "410423100002", kind="tipoff", confidential=True)
    _complaint(batch_db, 5, date(2025, 10, 15), "GDBH-410423", "410423101001")
    _complaint(batch_db, 6, date(2024, 11, 4), "GLJT-410423", "410423100001")
    return {"civil_batch": b, "agri_batch": agri_id, "civil": seeded["civil"], "agri": seeded["agri"]}


@pytest.fixture
def app_client(world, config, login):
    """``app_client("auditor")``: the admin app on the business day TODAY, logged in."""
    from starlette.testclient import TestClient

    from admin.app import create_admin_app

    app = create_admin_app(config, today=lambda: TODAY)
    clients = []

    def make(username: str) -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        assert login(c, username).status_code == 303
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


# --- direct counts over the rows -------------------------------------------------------------------


def direct_steps(batch_db, department_id: int | None = None) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (department, step): from the workflow events, each exit (an event leaving a step's state)
    paired with the event that entered the state; due = the latest due_on recorded in the state."""
    with batch_db.session() as s:
        rows = s.execute(select(WorkflowEvent, Project.department_id).join(Batch, Batch.id == WorkflowEvent.batch_id)
                         .join(Project, Project.id == Batch.project_id)
                         .order_by(WorkflowEvent.batch_id, WorkflowEvent.id)).all()
        events = [(e.batch_id, e.from_state, e.to_state, local(e.at).date(), e.due_on, d) for e, d in rows]
    out: dict[tuple[int, str], dict[str, Any]] = defaultdict(lambda: {"finished": 0, "on_time": 0, "days": [],
                                                                      "open": 0, "overdue": 0})
    by_batch: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for e in events:
        by_batch[e[0]].append(e)
    for evs in by_batch.values():
        dept = evs[0][5]
        for i, (_b, frm, to, day, due, _d) in enumerate(evs):
            if to == frm or to not in STEP_OF_STATE:
                continue
            step = STEP_OF_STATE[to].value
            later = evs[i + 1:]
            in_state = list(takewhile(lambda e: e[2] == to, later))
            exit_ = later[len(in_state)] if len(in_state) < len(later) else None
            due_in_force = ([due] + [e[4] for e in in_state])[-1]
            cell = out[(dept, step)]
            if exit_ is None:
                cell["open"] += 1
                cell["overdue"] += DEFAULT_RULES[step].kind == "max" and TODAY > due_in_force
                continue
            if exit_[2] == "cancelled":
                continue
            end = exit_[3]
            cell["finished"] += 1
            ok = end >= due_in_force if DEFAULT_RULES[step].kind == "min" else end <= due_in_force
            cell["on_time"] += ok
            cell["days"].append(workdays_between(day, end))
    return {k: v for k, v in out.items() if department_id is None or k[0] == department_id}


def direct_banks(batch_db) -> dict[str, dict[str, Any]]:
    with batch_db.session() as s:
        rows = s.execute(select(PaymentLine, CardAccount.bank_name, PaymentRequest.requested_on)
                         .join(CardAccount, CardAccount.id == PaymentLine.card_account_id)
                         .join(PaymentRequest, PaymentRequest.id == PaymentLine.payment_request_id)).all()
        lines = [(line.state, line.failure_code, line.paid_on, bank_name, requested)
                 for line, bank_name, requested in rows]
    out: dict[str, dict[str, Any]] = {}
    for state, code, paid_on, bank_name, requested in lines:
        if state == "pending":
            continue
        cell = out.setdefault(bank_name, {"sent": 0, "paid": 0, "failed": 0, "reasons": Counter(), "days": []})
        cell["sent"] += 1
        if state == "paid":
            cell["paid"] += 1
            cell["days"].append(workdays_between(requested, paid_on))
        else:
            cell["failed"] += 1
            cell["reasons"][code] += 1
    return out


def json_of(client, path: str) -> dict[str, Any]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sheet_rows(client, path: str) -> list[list[Any]]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    book = load_workbook(io.BytesIO(answer.content))
    sheet = book.active
    assert not any(isinstance(c.value, str) and c.data_type == "f" for row in sheet.iter_rows() for c in row)
    return [[c.value for c in row] for row in sheet.iter_rows()]


# --- the tests -------------------------------------------------------------------------------------


def test_timeliness_per_department_and_step_equals_a_direct_count(world, app_client, batch_db):
    data = json_of(app_client("auditor"), f"/reports/timeliness.json?period={H2}")
    got = {(r["department_id"], r["step"]): r for r in data["rows"]}
    expected = direct_steps(batch_db)
    assert set(got) == set(expected)
    for key, cell in expected.items():
        row = got[key]
        assert (row["finished"], row["on_time"], row["late"], row["open"], row["overdue"]) == (
            cell["finished"], cell["on_time"], cell["finished"] - cell["on_time"], cell["open"], cell["overdue"]), key
        assert row["max_days"] == (max(cell["days"]) if cell["days"] else None)
        assert row["average_days"] == (round(sum(cell["days"]) / len(cell["days"]), 2) if cell["days"] else None)
    civil, agri = world["civil"], world["agri"]
    # the working-day arithmetic, by hand: finance check 30 Sep → 9 Oct is 1 working day (National
    # Day 1–8 Oct off); publicity 25 → 29 Sep is 3 (Sunday 28 Sep is a make-up working day); the
    # bank took 9 → 13 Oct = 3 (Saturday 11 Oct worked) against a limit of 2: late
    assert got[(civil, "first_verification")]["finished"] == 1  # the cancelled batch's review is not counted
    assert (got[(civil, "finance_check")]["max_days"], got[(civil, "finance_check")]["on_time"]) == (1, 1)
    assert (got[(civil, "publicity")]["max_days"], got[(civil, "publicity")]["on_time"]) == (3, 1)
    assert (got[(civil, "bank_crediting")]["max_days"], got[(civil, "bank_crediting")]["late"]) == (3, 1)
    assert (got[(civil, "results_publication")]["open"], got[(civil, "results_publication")]["overdue"]) == (1, 1)
    assert (got[(agri, "first_verification")]["late"], got[(agri, "first_verification")]["overdue"]) == (1, 1)
    assert (got[(agri, "correction")]["max_days"], got[(agri, "correction")]["late"]) == (5, 1)

    # a date range: only the steps that finished in it (October: finance check, bank, correction)
    october = json_of(app_client("auditor"), "/reports/timeliness.json?start=2025-10-01&end=2025-10-31")
    assert {(r["department_id"], r["step"]) for r in october["rows"] if r["finished"]} == {
        (civil, "finance_check"), (civil, "bank_crediting"), (agri, "correction")}
    # the first half of 2025: nothing finished, nothing open yet
    assert json_of(app_client("auditor"), "/reports/timeliness.json?period=2025H1")["rows"] == []

    # the Excel export holds the same figures, as values
    rows = sheet_rows(app_client("auditor"), f"/reports/timeliness.xlsx?period={H2}")
    header = rows[2]
    assert header[:4] == ["主管部门", "环节", "默认时限", "办结数"]
    table = {(r[0], r[1]): r for r in rows[3:3 + len(data["rows"])]}
    for r in data["rows"]:
        x = table[(r["department"], r["step_label"])]
        assert x[3:6] == [r["finished"], r["on_time"], r["late"]] and x[7:] == [r["average_days"], r["max_days"],
                                                                             r["open"], r["overdue"]]


def test_failed_payments_and_crediting_time_per_bank(world, app_client, batch_db):
    data = json_of(app_client("supervisor"), f"/reports/banks.json?period={H2}")
    got = {r["bank"]: r for r in data["rows"]}
    expected = direct_banks(batch_db)
    assert set(got) == set(expected) == {BANK_A, BANK_B}
    for bank_name, cell in expected.items():
        row = got[bank_name]
        assert (row["sent"], row["paid"], row["failed"]) == (cell["sent"], cell["paid"], cell["failed"])
        assert row["failure_rate"] == round(cell["failed"] / cell["sent"], 4)
        assert {x["code"]: x["lines"] for x in row["reasons"]} == dict(cell["reasons"])
        days = sorted(cell["days"])
        assert row["average_days"] == round(sum(days) / len(days), 2) and row["max_days"] == max(days)
        assert row["p90_days"] == days[-(-9 * len(days) // 10) - 1]
        assert row["within_limit"] == sum(d <= 2 for d in days)
    # by hand: BANK_A 3 lines, line 2 failed (closed account, then re-issued: still a failure), paid
    # the next working day; BANK_B line 4 failed (name), line 5 paid in 3 working days
    assert (got[BANK_A]["sent"], got[BANK_A]["failed"], got[BANK_A]["reasons"][0]["code"]) == (3, 1, "ACCOUNT_CLOSED")
    assert (got[BANK_A]["average_days"], got[BANK_A]["within_limit_share"]) == (1, 1.0)
    assert (got[BANK_B]["failure_rate"], got[BANK_B]["max_days"], got[BANK_B]["within_limit_share"]) == (0.5, 3, 0.0)
    with batch_db.session() as s:  # the re-issued line waits for the bank: not counted yet
        assert s.scalar(select(PaymentLine.state).where(PaymentLine.reissue_of_id.is_not(None))) == "pending"

    export = app_client("supervisor").get(f"/reports/banks.xlsx?period={H2}")
    with zipfile.ZipFile(io.BytesIO(export.content)) as package:  # a native Excel chart over the cells
        assert any(n.startswith("xl/charts/chart") for n in package.namelist())
    rows = sheet_rows(app_client("supervisor"), f"/reports/banks.xlsx?period={H2}")
    table = {r[0]: r for r in rows[3:5]}
    assert table[BANK_A][1:5] == [3, 2, 1, "33.3%"] and table[BANK_B][1:5] == [2, 1, 1, "50.0%"]
    assert table[BANK_B][6:11] == [1, 3, 3, 3, 0]
    # the page draws both charts on the server
    page = app_client("supervisor").get(f"/reports/banks?period={H2}")
    assert page.status_code == 200 and page.text.count('<rect class="bar"') == 4 and "<script" not in page.text


def test_half_yearly_evaluation_is_the_documented_score_of_direct_counts(world, app_client, batch_db):
    data = json_of(app_client("auditor"), f"/reports/evaluation.json?period={H2}")
    got = {r["department_id"]: r for r in data["rows"]}
    steps = direct_steps(batch_db)
    banks_by_dept: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    with batch_db.session() as s:
        for state, dept in s.execute(select(PaymentLine.state, Project.department_id)
                                     .join(Batch, Batch.id == PaymentLine.batch_id)
                                     .join(Project, Project.id == Batch.project_id)
                                     .where(PaymentLine.payment_request_id.is_not(None))):
            if state != "pending":
                banks_by_dept[dept][0] += 1
                banks_by_dept[dept][1] += state != "paid"
        corrected = set(s.scalars(select(LineCorrection.line_id)))
        overdue_lines = Counter(dept for line, dept in s.execute(
            select(PaymentLine, Project.department_id).join(Batch, Batch.id == PaymentLine.batch_id)
            .join(Project, Project.id == Batch.project_id))
            if line.state == "failed" and line.correction_due_on and line.correction_due_on < TODAY
            and line.id not in corrected)
        cases = [c for c in s.scalars(select(Complaint)) if local(c.filed_at).date() >= date(2025, 7, 1)]
        answered = Counter()
        on_time = Counter()
        for c in cases:
            if not c.confidential and c.status in ("answered", "closed", "rejected"):
                answered[c.department_id] += 1
                on_time[c.department_id] += local(c.answered_at).date() <= c.due_on
    weights = reports.SCORE_WEIGHTS
    for dept in (world["civil"], world["agri"]):
        mine = [v for (d, step), v in steps.items() if d == dept and step != "correction"]
        finished, in_time = sum(v["finished"] for v in mine), sum(v["on_time"] for v in mine)
        overdue_open = sum(v["overdue"] for v in mine)
        correction = steps.get((dept, "correction"), {"finished": 0, "on_time": 0, "overdue": 0})
        overdue_corrections = (correction["finished"] - correction["on_time"] + correction["overdue"]
                               + overdue_lines[dept])
        sent, failed = banks_by_dept[dept]
        row = got[dept]
        assert (row["steps_finished"], row["steps_on_time"], row["steps_overdue_open"]) == (finished, in_time,
                                                                                           overdue_open)
        assert (row["lines_sent"], row["lines_failed"], row["overdue_corrections"]) == (sent, failed,
                                                                                       overdue_corrections)
        assert (row["complaints_finished"], row["complaints_on_time"]) == (answered[dept], on_time[dept])
        judged = finished + overdue_open  # an overdue open step counts as not on time
        parts = [(weights["on_time_rate"], in_time / judged if judged else None),
                 (weights["success_rate"], (sent - failed) / sent if sent else None),
                 (weights["complaint_on_time"], on_time[dept] / answered[dept] if answered[dept] else None),
                 (weights["correction"], max(0.0, 1 - 0.25 * overdue_corrections))]
        parts = [(w, v) for w, v in parts if v is not None]
        assert row["score"] == pytest.approx(round(100 * sum(w * v for w, v in parts) / sum(w for w, _ in parts), 1))
    # by hand: civil finished 5 steps, 4 on time (the bank was late), the publication is overdue, 5
    # lines sent, 2 failed, line 4 not corrected in time, 1 of 2 answered complaints on time; agri:
    # the first review late and (re-submitted) overdue again, its correction late, no payments
    civil, agri = got[world["civil"]], got[world["agri"]]
    assert (civil["steps_finished"], civil["steps_on_time"], civil["steps_overdue_open"]) == (5, 4, 1)
    assert (civil["lines_failed"], civil["overdue_corrections"]) == (2, 1)
    assert (civil["complaints_finished"], civil["complaints_on_time"]) == (2, 1)
    assert civil["score"] == round(40 * 4 / 6 + 20 * 0.6 + 20 * 0.5 + 20 * 0.75, 1) == 63.7
    assert (agri["steps_finished"], agri["steps_on_time"], agri["steps_overdue_open"]) == (1, 0, 1)
    assert (agri["overdue_corrections"], agri["lines_sent"]) == (1, 0)
    assert agri["score"] == round(100 * (40 * 0 + 20 * 0.75) / 60, 1) == 25.0
    assert [r["department_id"] for r in data["rows"]] == [world["civil"], world["agri"]]  # best first
    # a half-year with nothing to evaluate: no score, not a perfect one
    empty = json_of(app_client("auditor"), "/reports/evaluation.json?period=2024H1")
    assert [r["score"] for r in empty["rows"]] == [None, None]

    # the half-year is picked with a select; a year is refused for the evaluation
    page = app_client("auditor").get(f"/reports/evaluation?period={H2}")
    assert page.status_code == 200 and '<option value="2025H2" selected>2025年下半年</option>' in page.text
    refused = app_client("auditor").get("/reports/evaluation.json?period=2025")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_period"
    rows = sheet_rows(app_client("auditor"), f"/reports/evaluation.xlsx?period={H2}")
    table = {r[0]: r for r in rows[3:5]}
    for r in data["rows"]:
        assert table[r["department"]][1] == r["steps_finished"] and table[r["department"]][12] == r["score"]


def test_complaints_per_project_and_region_confidential_only_for_supervision(world, app_client, batch_db):
    with batch_db.session() as s:
        cases = [c for c in s.scalars(select(Complaint)) if local(c.filed_at).date().year == 2025]
    expected_projects = Counter(c.project_code for c in cases)
    expected_regions = Counter(c.region_code[:9] for c in cases)
    supervision = json_of(app_client("supervisor"), "/reports/complaints.json?period=2025")
    assert {r["code"]: r["received"] for r in supervision["by_project"]} == dict(expected_projects)
    assert {r["code"]: r["received"] for r in supervision["by_region"]} == dict(expected_regions)
    assert supervision["total"]["received"] == len(cases) == 5 and supervision["total"]["confidential"] == 1
    civil = {r["code"]: r for r in supervision["by_project"]}["GLJT-410423"]
    # open: one complaint of August and the tip-off of 1 September, both past their 15 working days
    assert (civil["received"], civil["finished"], civil["on_time"], civil["open"], civil["overdue"]) == (4, 2, 1, 2, 2)
    # the system admin does not count the confidential tip-off; a department only its own cases
    admin = json_of(app_client("admin"), "/reports/complaints.json?period=2025")
    assert admin["total"]["received"] == 4 and admin["total"]["confidential"] == 0
    agri_only = json_of(app_client("agri_op"), "/reports/complaints.json?period=2025")
    assert [r["code"] for r in agri_only["by_project"]] == ["GDBH-410423"]
    rows = sheet_rows(app_client("supervisor"), "/reports/complaints.xlsx?period=2025")
    by_code = {r[1]: r for r in rows[3:] if r[1] and r[0] != "合计"}
    for r in supervision["by_project"] + supervision["by_region"]:
        assert by_code[r["code"]][2:6] == [r["received"], r["confidential"], r["finished"], r["on_time"]]
        assert by_code[r["code"]][7:9] == [r["open"], r["overdue"]]
    assert [r[2:4] for r in rows if r[0] == "合计"] == [[5, 1]]


def test_scope_a_department_sees_its_own_and_a_clerk_is_refused(world, app_client, unchanged):
    civil_op = app_client("civil_op")
    timeliness = json_of(civil_op, f"/reports/timeliness.json?period={H2}")
    assert {r["department_id"] for r in timeliness["rows"]} == {world["civil"]}
    # asking for another department's figures gets their own anyway
    forced = json_of(civil_op, f"/reports/evaluation.json?period={H2}&department={world['agri']}")
    assert [r["department_id"] for r in forced["rows"]] == [world["civil"]]
    agri = json_of(app_client("agri_op"), f"/reports/banks.json?period={H2}")
    assert agri["rows"] == []  # the agricultural batch never reached a bank
    # the auditor can narrow to one department; a region outside the operator's is refused
    narrowed = json_of(app_client("auditor"), f"/reports/timeliness.json?period={H2}&department={world['agri']}")
    assert {r["department_id"] for r in narrowed["rows"]} == {world["agri"]}
    assert app_client("auditor").get("/reports/banks.json?region=410482").status_code == 403
    bad = app_client("auditor").get("/reports/banks.json?period=2025H3")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_period"
    bad = app_client("auditor").get("/reports/banks.json?start=2025-10-01&end=2025-09-01")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_period"
    clerk, bank_operator = app_client("clerk"), app_client("bank")
    with unchanged():
        for path in ("/reports", "/reports.json", "/reports/timeliness", "/reports/banks.json",
                     "/reports/evaluation.xlsx", "/reports/complaints.json"):
            assert clerk.get(path).status_code == 403, path
        assert bank_operator.get("/reports/banks.json").status_code == 403
    index = app_client("auditor").get("/reports")
    assert index.status_code == 200 and "/reports/evaluation.xlsx" in index.text and "统计报表" in index.text


HOSTILE_FILTERS: list[dict[str, str]] = [
    {"period": XSS}, {"period": "\x00"}, {"period": "2025H"}, {"period": "99999"}, {"period": "\ud800"},
    {"period": "２０２５"}, {"start": "2024-13-45", "end": "2024-12-31"}, {"start": "2025-01-01"},
    {"start": "1900-01-01", "end": "2100-01-01"}, {"region": "../../x"}, {"region": "9" * 500},
    {"region": "\u0661\u0662"}, {"department": "abc"}, {"department": "99999999999999999999999"},
    {"department": "\u00b2"}, {"department": "999"}, {"department": "-1"},
]


def test_hostile_filters_get_a_chinese_400_never_a_500(world, app_client, unchanged):
    auditor, civil_op = app_client("auditor"), app_client("civil_op")
    with unchanged():
        for name in ("", "/timeliness", "/banks", "/evaluation", "/complaints"):
            for suffix in ("", ".json", ".xlsx") if name else ("", ".json"):
                for params in HOSTILE_FILTERS:
                    for client in (auditor, civil_op):
                        response = get(client, f"/reports{name}{suffix}", params)
                        assert_safe(response)
                        assert response.status_code in (200, 400), (name, suffix, params, response.status_code)


def test_every_link_of_the_report_pages_answers(world, app_client):
    import html
    import re

    auditor = app_client("auditor")
    seen: set[str] = set()
    todo = ["/reports?period=2025", "/reports?start=2025-09-01&end=2025-10-31&region=410423100",
            f"/reports?period=2025&department={world['agri']}"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        answer = auditor.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        if "html" in answer.headers["content-type"]:
            todo += [html.unescape(h) for h in re.findall(r'href="(/reports[^"]*)"', answer.text)]
    assert any(p.startswith("/reports/evaluation.xlsx?") for p in seen) and len(seen) > 20
