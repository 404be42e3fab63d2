"""Spot checks (抽查) and rectification (整改) through HTTP and the services: the sample is drawn
again from its recorded seed, it stays inside the drawer's region, findings go open → reported →
closed (or sent back) by the right units only, due dates count working days across a holiday."""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from admin.access import operators
from admin.batches import service
from admin.models import AuditEntry, Batch, Operator, PaymentLine, SpotCheck, SpotFinding
from admin.supervision import spot_checks
from core.workdays import add_workdays, workdays_between
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import COUNTY, TEST_PASSWORD, TOWNSHIP

VILLAGE_NAMES = ("王庄村", "李湾村", "张店村")  # the first two in the clerk's township, the third in the other


@pytest.fixture
def lines(seeded, batch_db, config, roster) -> list[int]:
    """30 lines in the civil batch: 20 in the clerk's township (410423100), 10 in the other."""
    with batch_db.session() as s:
        batch = s.get(Batch, seeded["batch"])
        for i in range(1, 31):
            village = VILLAGE_NAMES[i % 3]
            line, result = service.add_line(s, config, batch, dict(zip(roster.header, roster.row(i, village=village))),
                                            actor="seed", scope_region=None)
            assert result.ok, result.issues
    with batch_db.session() as s:
        return list(s.scalars(select(PaymentLine.id).order_by(PaymentLine.id)))


@pytest.fixture
def supervisors(seeded, batch_db, config) -> None:
    """A supervisor (纪检监察) of the county and an auditor of the clerk's township."""
    with batch_db.session() as s:
        for username, role, region in (("supervisor", "supervisor", COUNTY), ("town_auditor", "auditor", TOWNSHIP)):
            operators.create_operator(s, config, actor="seed", username=username, name="监督员", role=role,
                                      region_code=region, password=TEST_PASSWORD, must_change_password=False,
                                      password_hash=admin_fixtures.test_password_hash())


def act(client, get_csrf, url: str, page: str, **values: Any):
    """POST an action's form as JSON (the URL and fields from the JSON twin's actions)."""
    token = get_csrf(client, page)
    return client.post(url, data={**{k: str(v) for k, v in values.items()}, "csrf_token": token},
                        headers={"Accept": "application/json"}, follow_redirects=False)


def actions_of(client, path: str) -> dict[str, dict]:
    return {a["name"]: a for a in client.get(path).json()["actions"]}


def draw(client, get_csrf, **values: Any):
    draw_action = actions_of(client, "/spot-checks.json")["draw"]
    form = {f["name"]: "" for f in draw_action["fields"]}
    return act(client, get_csrf, draw_action["url"], "/spot-checks", **{**form, **values})


def test_the_sample_is_drawn_again_exactly_from_its_recorded_seed(
        seeded, lines, supervisors, user_client, get_csrf, batch_db) -> None:
    auditor = user_client("auditor")
    answer = draw(auditor, get_csrf, batch=seeded["batch_code"], size=8)  # seed left blank: generated, recorded
    assert answer.status_code == 200, answer.text
    spot_id = answer.json()["spot_check_id"]
    body = auditor.get(f"/spot-checks/{spot_id}.json").json()
    seed = body["spot_check"]["seed"]
    drawn = [line["line_id"] for line in body["lines"]]
    assert len(drawn) == 8 == len(set(drawn)) and set(drawn) <= set(lines)
    assert body["spot_check"]["population_size"] == 30
    # the same draw by hand: random.Random(seed) over the candidate ids in ascending order
    assert spot_checks.sample_ids(sorted(lines), seed, 8) == drawn
    with batch_db.session() as s:
        again = spot_checks.redraw(s, s.get(SpotCheck, spot_id))
    assert again.line_ids == drawn and again.population_unchanged and again.same_as_recorded
    # a new draw typed with the recorded seed gives the same lines, another seed other lines
    same = draw(auditor, get_csrf, batch=seeded["batch_code"], size=8, seed=seed).json()["spot_check_id"]
    assert [x["line_id"] for x in auditor.get(f"/spot-checks/{same}.json").json()["lines"]] == drawn
    others = [spot_checks.sample_ids(sorted(lines), seed + k, 8) for k in range(1, 4)]
    assert all(o != drawn for o in others)
    # the list's JSON twin shows every sample with its seed, scope and lines
    listed = {s["id"]: s for s in auditor.get("/spot-checks.json").json()["spot_checks"]}
    assert listed[spot_id]["seed"] == seed and listed[spot_id]["line_ids"] == drawn
    assert listed[spot_id]["scope"]["batch_code"] == seeded["batch_code"]
    # by rate: 10 % of 30 lines → 3
    by_rate = draw(auditor, get_csrf, region=COUNTY, project="GLJT-410423", rate="10", seed=7).json()
    body = auditor.get(f"/spot-checks/{by_rate['spot_check_id']}.json").json()
    assert body["spot_check"]["sample_size"] == 3
    assert [x["line_id"] for x in body["lines"]] == spot_checks.sample_ids(sorted(lines), 7, 3)
    with batch_db.session() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "spot_check.draw")
                          .order_by(AuditEntry.id)).first()
        assert audit.actor == "auditor" and audit.after["seed"] == seed and audit.after["line_ids"] == drawn


def test_a_sample_stays_inside_the_drawers_region(
        seeded, lines, supervisors, user_client, get_csrf, batch_db, unchanged) -> None:
    town = user_client("town_auditor")
    answer = draw(town, get_csrf, batch=seeded["batch_code"], size=20)  # a county batch, a township auditor
    assert answer.status_code == 200, answer.text
    body = town.get(f"/spot-checks/{answer.json()['spot_check_id']}.json").json()
    assert body["spot_check"]["population_size"] == 20
    assert body["spot_check"]["scope"]["region_code"] == TOWNSHIP
    assert all(line["village_code"].startswith(TOWNSHIP) for line in body["lines"])
    with batch_db.session() as s:
        in_township = set(s.scalars(select(PaymentLine.id).where(PaymentLine.village_code.startswith(TOWNSHIP))))
    assert {line["line_id"] for line in body["lines"]} == in_township
    too_many = draw(town, get_csrf, batch=seeded["batch_code"], size=21)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "bad_size"
    other = user_client("other_auditor")  # another county
    county = user_client("supervisor")
    with unchanged():
        refused = draw(town, get_csrf, region="410423101", size=1)  # the other township
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        refused = draw(other, get_csrf, batch=seeded["batch_code"], size=1)
        assert refused.status_code == 403
        assert draw(county, get_csrf, region="410482", size=1).status_code == 403
        assert draw(county, get_csrf, batch="B1999-NONE", size=1).json()["error"]["code"] == "bad_batch"
        assert draw(county, get_csrf, batch=seeded["batch_code"], region=COUNTY, size=1).status_code == 400
    # the other county's auditor does not see the township's spot check
    assert other.get(f"/spot-checks/{answer.json()['spot_check_id']}").status_code == 404
    assert other.get("/spot-checks.json").json()["spot_checks"] == []


def test_findings_and_rectification_through_the_pages(
        seeded, lines, supervisors, user_client, get_csrf, batch_db, unchanged) -> None:
    auditor = user_client("auditor")
    spot_id = draw(auditor, get_csrf, batch=seeded["batch_code"], size=6, seed=2024).json()["spot_check_id"]
    page = f"/spot-checks/{spot_id}"
    body = auditor.get(page + ".json").json()
    first, second = body["lines"][0], body["lines"][1]
    assert list(actions_of(auditor, page + ".json")) == ["record_finding"]
    record = actions_of(auditor, page + ".json")["record_finding"]
    html = auditor.get(page).text
    assert f'action="{record["url"]}"' in html and 'data-action="record_finding"' in html
    assert str(body["spot_check"]["seed"]) in html
    assert {o["value"] for o in next(f for f in record["fields"] if f["name"] == "line")["options"]} == \
        {str(line["line_id"]) for line in body["lines"]}
    units = {o["value"]: o["label"] for o in next(f for f in record["fields"] if f["name"] == "responsible")["options"]}
    assert units[f"region:{TOWNSHIP}"].startswith("鲁阳街道") and units[f"dept:{seeded['civil']}"] == "鲁山县民政局"
    # a problem without its category is refused with the field named
    missing = act(auditor, get_csrf, record["url"], page, line=first["line_id"], result="problem")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "category"
    ok = act(auditor, get_csrf, record["url"], page, line=second["line_id"], result="ok")
    assert ok.json()["status"] == "none"
    found = act(auditor, get_csrf, record["url"], page, line=first["line_id"], result="problem",
                category="false_claim", description="本人已于去年去世，家属继续领取", responsible=f"region:{TOWNSHIP}")
    assert found.status_code == 200, found.text
    finding_id = found.json()["finding_id"]
    assert found.json()["status"] == "open"
    again = act(auditor, get_csrf, record["url"], page, line=first["line_id"], result="ok")
    assert again.status_code == 409 and again.json()["error"]["code"] == "wrong_state"

    # the responsible unit: the clerk of that township sees it on the home page and reports
    clerk = user_client("clerk")
    home = clerk.get("/").text
    assert 'id="findings-due"' in home and f'/spot-checks/{spot_id}' in home
    assert list(actions_of(clerk, page + ".json")) == ["report_rectification"]
    clerk_view = clerk.get(page + ".json").json()
    assert [line["line_id"] for line in clerk_view["lines"]] == [first["line_id"]]  # only its own finding
    rows = clerk.get("/findings.json").json()["units"]
    assert [(u["unit"], [f["id"] for f in u["findings"]]) for u in rows] == [("鲁阳街道", [finding_id])]
    assert rows[0]["findings"][0]["overdue"] is False and rows[0]["findings"][0]["days_left"] == 15

    # nobody else acts, and nothing changes when they try
    clerk2, civil, finance = user_client("clerk2"), user_client("civil_op"), user_client("finance")
    report_url = f"/spot-checks/{spot_id}/actions/report_rectification"
    with unchanged():
        assert act(clerk, get_csrf, record["url"], "/", line=second["line_id"], result="ok").status_code == 403
        assert act(clerk, get_csrf, f"/spot-checks/{spot_id}/actions/close_finding", "/",
                   finding=finding_id).status_code == 403
        assert act(clerk2, get_csrf, report_url, "/", finding=finding_id, measures="x").status_code == 404
        assert act(civil, get_csrf, report_url, "/", finding=finding_id, measures="x").status_code == 404
        assert act(finance, get_csrf, report_url, "/", finding=finding_id, measures="x").status_code == 403
        assert finance.get("/spot-checks").status_code == 403
        assert act(auditor, get_csrf, report_url, page, finding=finding_id, measures="x").status_code == 403
        assert act(clerk, get_csrf, "/spot-checks/actions/draw", "/", batch=seeded["batch_code"],
                   size=1).status_code == 403
        assert act(auditor, get_csrf, f"/spot-checks/{spot_id}/actions/close_finding", page,
                   finding=finding_id).status_code == 409  # not reported yet
    reported = act(clerk, get_csrf, report_url, "/", finding=finding_id, measures="已停发并追回多领资金 1,200 元")
    assert reported.status_code == 200 and reported.json()["status"] == "reported"
    # supervision sends it back, the clerk reports again, supervision closes it
    assert list(actions_of(auditor, page + ".json")) == ["record_finding", "close_finding", "return_rectification"]
    back = act(auditor, get_csrf, f"/spot-checks/{spot_id}/actions/return_rectification", page,
               finding=finding_id, reason="未提供追回凭证")
    assert back.json()["status"] == "open"
    act(clerk, get_csrf, report_url, "/", finding=finding_id, measures="已补充追回凭证")
    closed = act(auditor, get_csrf, f"/spot-checks/{spot_id}/actions/close_finding", page, finding=finding_id,
                 comment="整改到位")
    assert closed.json()["status"] == "closed"
    assert clerk.get("/findings.json").json()["units"] == []
    assert 'id="findings-due"' not in clerk.get("/").text
    events = auditor.get(page + ".json").json()["events"]
    assert [(e["action"], e["to_status"]) for e in events] == [
        ("draw", None), ("record_finding", "none"), ("record_finding", "open"), ("report_rectification", "reported"),
        ("return_rectification", "open"), ("report_rectification", "reported"), ("close_finding", "closed")]
    with batch_db.session() as s:
        trail = [(a.actor, a.action) for a in s.scalars(select(AuditEntry).where(AuditEntry.action.like("spot_check.%"))
                                                        .order_by(AuditEntry.id))]
    assert trail[-3:] == [("auditor", "spot_check.return_rectification"), ("clerk", "spot_check.report_rectification"),
                          ("auditor", "spot_check.close_finding")]
    # the rectification list by status, and its Excel export
    closed_all = auditor.get("/findings.json?status=closed").json()["units"]
    assert [f["id"] for u in closed_all for f in u["findings"]] == [finding_id]
    export = auditor.get("/findings.xlsx?status=all")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    cells = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[1][0] == "抽查" and any("冒领" in row and "鲁阳街道" in row and "已销号" in row for row in cells)
    assert not any(re.search(r"\d{17}[\dX]", str(c)) for row in cells for c in row)  # no ID number
    assert auditor.get("/findings.json?status=nonsense").status_code == 400


def test_a_department_reports_through_the_form_and_the_page_redirects(
        seeded, lines, supervisors, user_client, get_csrf, batch_db) -> None:
    sup = user_client("supervisor")
    spot_id = draw(sup, get_csrf, region=COUNTY, size=2, seed=5).json()["spot_check_id"]
    page = f"/spot-checks/{spot_id}"
    line = sup.get(page + ".json").json()["lines"][0]["line_id"]
    token = get_csrf(sup, page)
    answer = sup.post(f"{page}/actions/record_finding", data={
        "csrf_token": token, "line": str(line), "result": "problem", "category": "wrong_amount",
        "description": "金额超过标准", "responsible": f"dept:{seeded['civil']}", "due_days": "5"},
        follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == page
    assert "已登记问题（金额错误）" in sup.get(page).text
    civil = user_client("civil_op")
    assert list(actions_of(civil, page + ".json")) == ["report_rectification"]
    assert 'id="findings-due"' in civil.get("/").text
    with batch_db.session() as s:
        finding = s.scalars(select(SpotFinding).where(SpotFinding.spot_check_id == spot_id)).one()
        assert finding.due_days == 5 and workdays_between(finding.recorded_on, finding.due_on) == 5
    assert user_client("agri_op").get(page).status_code == 404


def test_due_dates_count_working_days_across_a_holiday(
        seeded, lines, supervisors, batch_db, config) -> None:
    friday = date(2024, 9, 27)  # before the National Day holiday (1–7 Oct 2024; 29 Sep and 12 Oct worked)
    with batch_db.session() as s:
        spot = spot_checks.draw(s, s.scalars(select(Operator).where(
            Operator.username == "auditor")).one(), today=friday, batch_code=seeded["batch_code"], size=3,
            seed=11)
        spot_id, drawn = spot.id, spot_checks.sampled_ids(s, spot.id)
    with batch_db.session() as s:
        auditor = s.scalars(select(Operator).where(Operator.username == "auditor")).one()
        result = spot_checks.record_finding(s, auditor, spot_id, line_id=drawn[0], today=friday, result="problem",
                                            category="incomplete_records", description="缺少申请表",
                                            responsible=f"region:{TOWNSHIP}")
        finding = s.get(SpotFinding, result.finding_id)
        # 15 working days: 29 Sep (make-up Sunday), 30 Sep, 8–11 Oct, 12 Oct (make-up Saturday), 14–18, 21–23 Oct
        assert finding.due_on == date(2024, 10, 23) == add_workdays(friday, 15)
    with batch_db.session() as s:
        rows = spot_checks.finding_rows(s, s.scalars(select(Operator).where(
            Operator.username == "clerk")).one(), today=date(2024, 10, 25))
        assert [(r.id, r.overdue, r.days_left) for r in rows] == [(result.finding_id, True, -2)]
        on_time = spot_checks.finding_rows(s, s.scalars(select(Operator).where(
            Operator.username == "clerk")).one(), today=date(2024, 10, 23))
        assert on_time[0].overdue is False and on_time[0].days_left == 0


HOSTILE = ["", "\ud800", "<script>alert(1)</script>", "王" * 5000, "9" * 100, "-1", "\u00b2", "1e400", "NaN",
           "Infinity", "' OR 1=1 --", "\u202e\u200f", "😀", "dept:999", "region:../"]


def test_hostile_input_is_refused_in_chinese_and_changes_nothing(
        seeded, lines, supervisors, user_client, get_csrf, batch_db) -> None:
    sup = user_client("supervisor")
    spot_id = draw(sup, get_csrf, batch=seeded["batch_code"], size=3, seed=1).json()["spot_check_id"]
    line = sup.get(f"/spot-checks/{spot_id}.json").json()["lines"][0]["line_id"]
    token = get_csrf(sup, "/spot-checks")
    cases = [("/spot-checks/actions/draw", {"batch": "", "region": COUNTY, "project": "", "year": "", "period": "",
                                            "size": "1", "rate": "", "seed": "", "title": ""}),
             (f"/spot-checks/{spot_id}/actions/record_finding",
              {"line": str(line), "result": "problem", "category": "duplicate", "description": "重复",
               "responsible": f"region:{TOWNSHIP}", "due_days": ""}),
             (f"/spot-checks/{spot_id}/actions/close_finding", {"finding": "1", "comment": ""})]
    for url, base in cases:
        for field in base:
            for value in HOSTILE:
                with batch_db.session() as s:
                    before = s.scalar(select(func.count()).select_from(AuditEntry))
                body = urlencode({**base, field: value, "csrf_token": token}, errors="surrogatepass")
                answer = sup.post(url, content=body, follow_redirects=False,
                                  headers={"Content-Type": "application/x-www-form-urlencoded",
                                           "Accept": "application/json"})
                assert answer.status_code < 500, (url, field, value[:10], answer.text[:200])
                if answer.status_code >= 400:
                    error = answer.json()["error"]
                    assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]) and re.search(r"[\u4e00-\u9fff]",
                                                                                         error["message"])
                    with batch_db.session() as s:
                        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
    for bad in ("abc", "-1", "0", "1.5", "99999999999999999999999", "\u00b2"):
        assert sup.get(f"/spot-checks/{bad}").status_code in (400, 404)
        assert sup.post(f"/spot-checks/{bad}/actions/close_finding", data={"csrf_token": token},
                        follow_redirects=False).status_code in (400, 404)
    assert sup.post(f"/spot-checks/{spot_id}/actions/nonsense", data={"csrf_token": token},
                    headers={"Accept": "application/json"}).json()["error"]["code"] == "unknown_action"
