"""The deadline table on the web (``/deadlines``): the built-in limits and the overrides per project and
region; a system admin adds, changes and deletes an override (each change audited), and a batch whose
step begins afterwards is due under the new limit. Anyone else, or outside the admin's region: 403."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from admin.batches import workflow
from admin.models import AuditEntry, DeadlineOverride, Operator
from core.deadlines import DEFAULT_RULES
from core.workdays import add_workdays
from tests.admin.batches.test_workflow_views import page_actions
from tests.admin.conftest import seed_lines

JSON = {"Accept": "application/json"}
APPROVAL_7 = {"step": "approval", "days": "7", "region_code": "410423", "project_code": "GLJT-410423",
              "source": "鲁山县高龄津贴实施方案（鲁政办〔2025〕8号）"}


def audit(batch_db, prefix: str = "deadline.") -> list[AuditEntry]:
    with batch_db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def post(client, get_csrf, path: str, data: dict[str, str], *, as_json: bool = True) -> Any:
    return client.post(path, data={**data, "csrf_token": get_csrf(client, "/")}, headers=JSON if as_json else {},
                       follow_redirects=False)


def test_admin_sets_changes_and_deletes_an_override(user_client, get_csrf, seeded, batch_db, config, roster):
    admin = user_client("admin")
    body = admin.get("/deadlines.json").json()
    assert [r["step"] for r in body["defaults"]] == list(DEFAULT_RULES)
    approval = next(r for r in body["defaults"] if r["step"] == "approval")
    assert (approval["days"], approval["kind"], approval["step_label"]) == (10, "max", "审批")
    assert body["overrides"] == []
    assert body["actions"] == [{"name": "deadline_set", "label": "保存时限设置", "method": "POST", "url": "/deadlines",
                                "fields": [f.as_dict() for f in workflow.DEADLINE_FIELDS]}]
    page = admin.get("/deadlines").text
    assert page_actions(page) == [{**a, "multipart": False} for a in body["actions"]]
    assert 'href="/deadlines"' in page  # in the menu

    # add (through the page's form, as a browser does)
    response = post(admin, get_csrf, "/deadlines", APPROVAL_7, as_json=False)
    assert response.status_code == 303 and response.headers["location"] == "/deadlines"
    assert "已保存：审批 7 个工作日" in admin.get("/deadlines").text
    [row] = admin.get("/deadlines.json").json()["overrides"]
    assert (row["step"], row["days"], row["region_code"], row["project_code"]) == (
        "approval", 7, "410423", "GLJT-410423")
    assert row["project_name"] == "80周岁以上高龄津贴" and row["region_name"] == "鲁山县" and row["default_days"] == 10
    assert row["actions"] == [{"name": "deadline_delete", "label": "删除", "method": "POST",
                               "url": f"/deadlines/{row['id']}/delete", "fields": []}]

    # change: the same step, region and project → the same row, audited with before and after
    saved = post(admin, get_csrf, "/deadlines", {**APPROVAL_7, "days": "8"}).json()
    assert (saved["id"], saved["days"]) == (row["id"], 8)
    entries = audit(batch_db)
    assert [e.action for e in entries] == ["deadline.set", "deadline.set"] and entries[0].actor == "admin"
    assert (entries[1].before["days"], entries[1].after["days"]) == (7, 8)

    # a batch entering approval now is due in 8 working days, not 10
    seed_lines(config, batch_db, seeded, roster)
    with batch_db.session() as s:
        ops = {o.username: o for o in s.scalars(select(Operator))}
        b = seeded["batch"]
        workflow.perform(s, ops["civil_op"], b, "submit", {}, date(2025, 9, 22))
        workflow.perform(s, ops["civil_rev"], b, "review_pass", {}, date(2025, 9, 23))
        workflow.perform(s, ops["civil_op"], b, "publicity_open",
                         {"start": "2025-09-23", "end": "2025-09-26", "place": "公开栏"}, date(2025, 9, 23))
        workflow.perform(s, ops["civil_op"], b, "publicity_close", {}, date(2025, 9, 26))
    step = user_client("civil_rev").get(f"/batches/{b}.json").json()["step"]
    assert step["due_on"] == add_workdays(date(2025, 9, 26), 8).isoformat() == "2025-10-14"

    # delete
    response = post(admin, get_csrf, f"/deadlines/{row['id']}/delete", {}, as_json=False)
    assert response.status_code == 303
    assert admin.get("/deadlines.json").json()["overrides"] == []
    assert [e.action for e in audit(batch_db)] == ["deadline.set", "deadline.set", "deadline.delete"]
    with batch_db.session() as s:
        assert s.scalars(select(DeadlineOverride)).all() == []


@pytest.mark.parametrize("field,value,code", [
    ("days", "abc", "bad_number"), ("days", "0", "bad_days"), ("days", "61", "bad_days"), ("days", "2.5", "bad_days"),
    ("step", "bogus", "bad_option"), ("step", "", "missing_field"), ("region_code", "41x", "bad_region"),
    ("project_code", "NOPE", "bad_project"), ("source", "依" * 300, "too_long"),
])
def test_bad_override_input_is_refused_with_its_field(user_client, get_csrf, unchanged, seeded, field, value, code):
    admin = user_client("admin")
    with unchanged():
        response = post(admin, get_csrf, "/deadlines", {**APPROVAL_7, field: value})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code and response.json()["error"]["field"] == field
        html = post(admin, get_csrf, "/deadlines", {**APPROVAL_7, field: value}, as_json=False)
        assert html.status_code == 303 and html.headers["location"] == "/deadlines"


def test_publicity_cannot_be_set_below_its_minimum(user_client, get_csrf, unchanged, seeded):
    admin = user_client("admin")
    with unchanged():
        response = post(admin, get_csrf, "/deadlines", {**APPROVAL_7, "step": "publicity", "days": "2"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_days"
        assert "不得少于3个工作日" in response.json()["error"]["message"]


def test_only_a_system_admin_of_the_region_edits(user_client, get_csrf, unchanged, seeded, county_admin, batch_db):
    admin = user_client("admin")
    provincial = post(admin, get_csrf, "/deadlines", {**APPROVAL_7, "region_code": "41", "project_code": ""}).json()
    county = user_client("county_admin")
    civil, auditor = user_client("civil_op"), user_client("auditor")
    with unchanged():
        for username, client in (("civil_op", civil), ("auditor", auditor)):
            response = post(client, get_csrf, "/deadlines", APPROVAL_7)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", username
            response = post(client, get_csrf, f"/deadlines/{provincial['id']}/delete", {})
            assert response.status_code == 403, username
        # a county admin cannot set a wider region's limit, nor delete the province's override
        response = post(county, get_csrf, "/deadlines", {**APPROVAL_7, "region_code": "4104"})
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        response = post(county, get_csrf, f"/deadlines/{provincial['id']}/delete", {})
        assert response.status_code == 403
        page = post(county, get_csrf, f"/deadlines/{provincial['id']}/delete", {}, as_json=False)
        assert page.status_code == 403 and "无法完成" in page.text
        assert post(admin, get_csrf, "/deadlines/999999/delete", {}).status_code == 404
        # without the CSRF token
        assert admin.post("/deadlines", data=APPROVAL_7, headers=JSON).json()["error"]["code"] == "csrf_failed"
    # everyone reads the table; only the admin of the region gets the forms
    for client, forms in ((civil, []), (county, ["deadline_set"])):
        body = client.get("/deadlines.json").json()
        assert [a["name"] for a in body["actions"]] == forms
        assert [(o["region_code"], o["actions"]) for o in body["overrides"]] == [("41", [])]
    assert 'href="/deadlines"' not in civil.get("/").text
    county_set = post(county, get_csrf, "/deadlines", APPROVAL_7)
    assert county_set.status_code == 200 and county_set.json()["region_code"] == "410423"
