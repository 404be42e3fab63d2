"""Complaints through HTTP: filed on the portal, pulled in, handled in admin by the right role,
answered back onto the public status page; confidential tip-offs; refusals; due work; statistics."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from admin.models import Complaint
from core.timeutil import today
from core.workdays import add_workdays
from tests.admin.complaints.conftest import portal_csrf


def xlsx_text(body: bytes) -> str:
    sheet = load_workbook(io.BytesIO(body)).active
    return "\n".join(" ".join("" if v is None else str(v) for v in row) for row in sheet.iter_rows(values_only=True))


def case_id_of(batch_db, code: str) -> int:
    with batch_db.session() as s:
        return s.scalars(select(Complaint.id).where(Complaint.tracking_code == code)).one()


def do(client, get_csrf, case_id: int, action: dict, **values: str):
    """Submit one action's form as the page renders it (the URL and fields from the actions list)."""
    token = get_csrf(client, f"/complaints/{case_id}")
    form = {f["name"]: values.get(f["name"], "") for f in action["fields"]}
    return client.post(action["url"], data={**form, "csrf_token": token}, follow_redirects=False)


def actions_of(client, case_id: int) -> dict[str, dict]:
    return {a["name"]: a for a in client.get(f"/complaints/{case_id}.json").json()["actions"]}


def test_from_the_portal_to_the_answer_on_the_public_status_page(
        seeded, portal, file_on_portal, sync, batch_db, user_client, get_csrf) -> None:
    code = file_on_portal()
    assert sync().pulled == 1
    case_id = case_id_of(batch_db, code)
    civil = user_client("civil_op")
    listed = civil.get("/complaints.json?state=received").json()
    assert [c["tracking_code"] for c in listed["complaints"]] == [code]
    assert listed["complaints"][0]["holder"] == "鲁山县民政局"
    assert "contact" not in listed["complaints"][0] and "text" not in listed["complaints"][0]
    page = civil.get(f"/complaints/{case_id}")
    assert page.status_code == 200 and "王建国 13912345678" in page.text  # the holder sees the contact
    detail = civil.get(f"/complaints/{case_id}.json").json()
    assert detail["complaint"]["contact"] == "王建国 13912345678"
    assert [a["name"] for a in detail["actions"]] == ["accept", "reject", "assign"]
    accept = detail["actions"][0]
    assert accept == {"name": "accept", "label": "受理", "method": "POST", "url": f"/complaints/{case_id}/actions/accept",
                      "fields": [{"name": "comment", "label": "办理说明（内部）", "type": "textarea", "required": False}]}
    # the page renders the same actions as forms with a CSRF field
    for action in detail["actions"]:
        form = re.search(rf'<form method="post" action="{action["url"]}"[^>]*>(.*?)</form>', page.text, re.S)
        assert form and 'name="csrf_token"' in form.group(1), action["name"]
    assert 'id="action-answer"' not in page.text

    assert do(civil, get_csrf, case_id, accept, comment="已登记").status_code == 303
    reviewer = user_client("civil_rev")
    assert do(reviewer, get_csrf, case_id, actions_of(reviewer, case_id)["start"]).status_code == 303
    answer = "经核实，您父亲3月高龄津贴因社保卡挂失未能到账，已于4月2日补发，请查收。"
    response = do(reviewer, get_csrf, case_id, actions_of(reviewer, case_id)["answer"], answer=answer)
    assert response.status_code == 303 and response.headers["location"] == f"/complaints/{case_id}"
    assert "已答复" in reviewer.get(f"/complaints/{case_id}").text

    before = portal.get(f"/api/complaints/{code}").json()
    assert before["status"] == "forwarded" and before["answer"] == ""
    assert sync().pushed == 1
    public = portal.get(f"/api/complaints/{code}").json()
    assert public["status"] == "answered" and public["answer"] == answer
    assert public["answer_unit"] == "鲁山县民政局" and public["answered_at"]
    assert [h["status"] for h in public["history"]] == ["received", "forwarded", "answered"]
    status_page = portal.get(f"/complaints?code={code.lower()}")  # find by code → the status page
    assert status_page.status_code == 200 and answer in status_page.text
    assert "答复单位：鲁山县民政局" in status_page.text and public["answered_at"] in status_page.text
    for private in ("测试员", "civil_rev", "13912345678", "王建国"):  # never the handler, never the contact
        assert private not in status_page.text and private not in str(public)

    # the complainant is not satisfied: said on the status page, recorded inside, handled by reopen
    token = portal_csrf(portal, f"/complaints/{code}")
    said = portal.post(f"/complaints/{code}/feedback", data={"satisfied": "no", "comment": "钱还是没到",
                                                             "csrf_token": token}, follow_redirects=False)
    assert said.status_code == 303 and said.headers["location"] == f"/complaints/{code}?feedback=1"
    assert "不满意" in portal.get(f"/complaints/{code}").text
    again = portal.post(f"/complaints/{code}/feedback", data={"satisfied": "yes", "csrf_token": token})
    assert again.status_code == 409
    assert sync().feedback == 1 and sync().feedback == 0
    detail = civil.get(f"/complaints/{case_id}.json").json()
    assert detail["complaint"]["satisfaction"] == "dissatisfied"
    assert detail["complaint"]["satisfaction_comment"] == "钱还是没到"
    assert detail["events"][-1]["action"] == "feedback" and detail["events"][-1]["actor"] == "complainant"
    response = do(civil, get_csrf, case_id, actions_of(civil, case_id)["reopen"], reason="反映人不满意，重新核实")
    assert response.status_code == 303
    sync()
    public = portal.get(f"/api/complaints/{code}").json()
    assert public["status"] == "in_progress" and public["answer"] == "" and public["history"][-1]["note"] == "已重新办理"
    assert public["due_on"] == add_workdays(today(), 15).isoformat()


def test_a_confidential_tipoff_is_invisible_to_the_department_it_names(
        seeded, supervisor, portal, file_on_portal, sync, batch_db, user_client, get_csrf, unchanged) -> None:
    subject = "民政局经办人员虚报冒领高龄津贴"
    code = file_on_portal(kind="tipoff", subject=subject, confidential="1")
    ordinary = file_on_portal(subject="高龄津贴发放延迟")
    sync()
    case_id = case_id_of(batch_db, code)
    with batch_db.session() as s:
        case = s.get(Complaint, case_id)
        assert case.confidential and case.department_id == seeded["civil"]
    for username in ("civil_op", "civil_rev", "admin", "clerk"):
        c = user_client(username)
        page = c.get("/complaints")
        assert page.status_code == 200 and ordinary in page.text, username
        assert code not in page.text and subject not in page.text, username
        listed = c.get("/complaints.json").json()
        assert code not in str(listed) and listed["total"] == 1, username
        assert c.get(f"/complaints.json?q={code}").json()["total"] == 0
        assert c.get(f"/complaints.json?kind=tipoff").json()["total"] == 0
        export = c.get("/complaints/export.xlsx")
        assert export.status_code == 200 and ordinary in xlsx_text(export.content)
        assert code not in xlsx_text(export.content) and subject not in xlsx_text(export.content), username
        assert c.get(f"/complaints/{case_id}").status_code == 404
        assert c.get(f"/complaints/{case_id}.json").status_code == 404
        assert "tipoff" not in c.get("/complaints/statistics.json").text
        assert code not in c.get("/complaints/due.json").text
    civil = user_client("civil_op")
    token = get_csrf(civil, "/complaints")
    with unchanged():
        refused = civil.post(f"/complaints/{case_id}/actions/accept", data={"csrf_token": token},
                             follow_redirects=False)
        assert refused.status_code == 403 and subject not in refused.text
    # the supervisor sees it everywhere, and handles it; the auditor reads it
    boss = user_client("supervisor")
    assert code in boss.get("/complaints").text and code in boss.get("/complaints.json").text
    assert code in xlsx_text(boss.get("/complaints/export.xlsx").content)
    detail = boss.get(f"/complaints/{case_id}.json").json()
    assert detail["complaint"]["confidential"] and detail["complaint"]["holder"] == "纪检监察机构"
    assert detail["complaint"]["contact"] == "王建国 13912345678"
    assert [a["name"] for a in detail["actions"]] == ["accept", "reject", "assign"]
    assert [f["name"] for f in detail["actions"][2]["fields"]] == ["region", "comment"]  # no department to refer to
    assert "保密件" in boss.get(f"/complaints/{case_id}").text
    auditor = user_client("auditor")
    assert auditor.get(f"/complaints/{case_id}.json").json()["actions"] == []
    assert "contact" not in auditor.get(f"/complaints/{case_id}.json").json()["complaint"]
    assert user_client("other_supervisor").get(f"/complaints/{case_id}").status_code == 404
    for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "经查，反映问题部分属实，已追回资金并问责。"})):
        assert do(boss, get_csrf, case_id, actions_of(boss, case_id)[name], **form).status_code == 303
    sync()
    public = portal.get(f"/api/complaints/{code}").json()
    assert public["status"] == "answered" and public["answer_unit"] == "鲁山县纪委监委"


def test_a_wrong_role_or_out_of_scope_action_is_403_and_changes_nothing(
        seeded, file_on_portal, sync, batch_db, user_client, get_csrf, unchanged, county_admin) -> None:
    code = file_on_portal()
    sync()
    case_id = case_id_of(batch_db, code)
    clients = {name: user_client(name) for name in ("auditor", "agri_op", "finance", "clerk2", "outsider", "bank",
                                                   "civil_op")}
    tokens = {name: get_csrf(c, "/") for name, c in clients.items()}
    with unchanged():
        for name in ("auditor", "agri_op", "finance", "clerk2", "outsider", "bank"):
            for action in ("accept", "reject", "assign", "answer"):
                response = clients[name].post(f"/complaints/{case_id}/actions/{action}",
                                              data={"csrf_token": tokens[name], "reason": "x", "answer": "x",
                                                    "comment": "x", "department": str(seeded["agri"])},
                                              follow_redirects=False)
                assert response.status_code == 403, (name, action)
        refused = clients["agri_op"].post(f"/complaints/{case_id}/actions/accept", data={"csrf_token": tokens["agri_op"]},
                                          headers={"accept": "application/json"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        no_csrf = clients["civil_op"].post(f"/complaints/{case_id}/actions/accept", data={})
        assert no_csrf.status_code == 403
        wrong_state = clients["civil_op"].post(f"/complaints/{case_id}/actions/answer",
                                               data={"csrf_token": tokens["civil_op"], "answer": "x"},
                                               headers={"accept": "application/json"})
        assert wrong_state.status_code == 409 and wrong_state.json()["error"]["code"] == "wrong_state"
        missing = clients["civil_op"].post(f"/complaints/{case_id}/actions/reject", data={"csrf_token": tokens["civil_op"]},
                                           follow_redirects=False)
        assert missing.status_code == 303  # back to the page with the message
        assert "请填写「不予受理的理由" in clients["civil_op"].get(f"/complaints/{case_id}").text
    assert clients["outsider"].get(f"/complaints/{case_id}").status_code == 404
    assert clients["bank"].get("/complaints").status_code == 403


def test_due_and_overdue_cases_on_the_home_page_and_per_department(
        seeded, take_in, batch_db, user_client) -> None:
    overdue = take_in(today() - timedelta(days=40), subject="逾期未答复")
    soon = take_in(add_workdays(today(), -14), subject="明天到期")
    later = take_in(today(), subject="刚收到")
    agri = take_in(today() - timedelta(days=40), project_code="GDBH-410423", subject="耕地补贴逾期")
    civil = user_client("civil_op")
    home = civil.get("/").text
    assert 'id="complaints-due"' in home and "逾期未答复" in home and "明天到期" in home
    assert "刚收到" not in home and "耕地补贴逾期" not in home  # not due / not its department
    assert re.search(r'class="overdue"><a href="/complaints/%d"' % overdue, home)
    assert "complaints-due" not in user_client("auditor").get("/").text  # reads, holds nothing
    due = user_client("admin").get("/complaints/due.json").json()
    units = {u["unit"]: [c["id"] for c in u["complaints"]] for u in due["units"]}
    assert units == {"鲁山县民政局": [overdue, soon], "鲁山县农业农村局": [agri]}
    page = user_client("admin").get("/complaints/due").text
    assert "<h2>鲁山县民政局（2 件）</h2>" in page and "已超期" in page
    assert [c["id"] for c in civil.get("/complaints.json?overdue=1").json()["complaints"]] == [overdue]
    assert later not in [c["id"] for c in civil.get("/complaints.json?state=open&overdue=1").json()["complaints"]]


def test_statistics_page_json_and_excel(seeded, take_in, batch_db, user_client, get_csrf) -> None:
    filed = today() - timedelta(days=3)
    case_id = take_in(filed)
    take_in(filed, kind="disclosure_request", days=20)
    civil = user_client("civil_op")
    for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "已答复"})):
        assert do(civil, get_csrf, case_id, actions_of(civil, case_id)[name], **form).status_code == 303
    data = civil.get(f"/complaints/statistics.json?year={filed.year}").json()
    rows = {(r["unit"], r["kind"]): r for r in data["rows"]}
    assert rows[("鲁山县民政局", "complaint")]["on_time_rate"] == 1.0
    assert rows[("鲁山县民政局", "disclosure_request")]["open"] == 1
    page = civil.get("/complaints/statistics")
    assert page.status_code == 200 and "按期答复率" in page.text and "100.0%" in page.text
    sheet = xlsx_text(civil.get("/complaints/statistics.xlsx").content)
    assert "鲁山县民政局 投诉 1 1 1 100.0%" in sheet and "信息公开申请" in sheet
    assert civil.get("/complaints/statistics.json?year=abc").status_code == 400


def test_the_list_filters_by_state_and_kind(seeded, take_in, user_client) -> None:
    take_in(date(2024, 9, 30), kind="enquiry", subject="咨询补贴标准")
    take_in(date(2024, 9, 30), kind="petition", subject="信访事项")
    civil = user_client("civil_op")
    assert [c["kind_label"] for c in civil.get("/complaints.json?kind=petition").json()["complaints"]] == ["信访"]
    assert civil.get("/complaints.json?state=answered").json()["total"] == 0
    assert civil.get("/complaints.json?state=nonsense").json()["total"] == 2  # an unknown filter is ignored
    page = civil.get("/complaints?kind=enquiry&q=%E5%92%A8%E8%AF%A2")
    assert "咨询补贴标准" in page.text and "信访事项" not in page.text



REFUSED = [
    ("reject", {"reason": "理由"}, "reason", ["", " ", "\x00", "a\x00b", "王" * 5000]),
    ("assign", {"department": "", "region": "", "comment": "转办"}, "department",
     ["-1", "9" * 100, "\u00b2", "' OR 1=1 --", "😀", "\ud800"]),
    ("assign", {"department": "", "region": "", "comment": "转办"}, "region", ["../../x", "9" * 100, "410482"]),
    ("answer", {"answer": "x"}, "answer", ["x"]),  # wrong state
    ("nonsense", {}, "x", [""]),
]


def test_hostile_action_forms_are_refused_in_chinese_and_change_nothing(
        seeded, take_in, batch_db, user_client, get_csrf, unchanged) -> None:
    from urllib.parse import quote_plus

    case_id = take_in()
    civil = user_client("civil_op")
    token = get_csrf(civil, f"/complaints/{case_id}")
    with unchanged():
        for name, base, field, values in REFUSED:
            for value in values:
                body = "&".join(f"{quote_plus(k)}={quote_plus(v, errors='surrogatepass')}"
                                for k, v in {**base, field: value, "csrf_token": token}.items())
                response = civil.post(f"/complaints/{case_id}/actions/{name}", content=body.encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded",
                                               "Accept": "application/json"})
                assert response.status_code in (400, 404, 409), (name, field, value[:10], response.text[:200])
                assert re.search(r"[\u4e00-\u9fff]", response.json()["error"]["message"])
    xss = "<script>alert(1)</script>"
    response = civil.post(f"/complaints/{case_id}/actions/reject", data={"reason": xss, "csrf_token": token},
                          follow_redirects=False)
    assert response.status_code == 303
    page = civil.get(f"/complaints/{case_id}").text
    assert xss not in page and "&lt;script&gt;" in page
