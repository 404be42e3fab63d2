"""Person registry pages through HTTP: import, search, card history, scope; persons put on a
reference list in bulk, after confirmation."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from admin.models import AuditEntry, PaymentLine, ReferenceEntry
from tests.admin.conftest import add_line, seed_lines


def test_persons_import_search_and_card_history(user_client, seeded, get_csrf, roster, batch_db, config):
    c = user_client("civil_op")
    header = ["姓名", "身份证号", "社保卡号", "区划代码", "开户银行"]
    first = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(5), "410423100001", "农商银行"]],
                       header=header)
    token = get_csrf(c, "/persons")
    r = c.post("/persons/import", data={"csrf_token": token}, files={"file": ("p.csv", first, "text/csv")})
    assert "新增 1 人" in r.text
    second = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(6), "410423100001", "农商银行"]],
                        header=header)
    r = c.post("/persons/import", data={"csrf_token": token}, files={"file": ("p.csv", second, "text/csv")})
    assert "新登记社保卡 1 张" in r.text
    found = c.get("/persons", params={"q": roster.make_id(5)})
    person_url = re.search(r'href="(/persons/\d+)"', found.text).group(1)
    detail = c.get(person_url)
    assert "已注销" in detail.text and roster.make_card(6)[-4:] in detail.text
    # another township's clerk finds nothing
    other = user_client("clerk2")
    assert "没有找到" in other.get("/persons", params={"q": roster.make_id(5)}).text
    assert other.get(person_url).status_code == 404
    # a roster line with the old card is now refused
    clerk = user_client("clerk")
    r = add_line(clerk, get_csrf, seeded["batch"], dict(zip(roster.header, roster.row(5))))
    assert "卡号不一致" in r.text or "已注销" in r.text


def test_persons_put_on_a_reference_list_with_confirmation(user_client, seeded, config, batch_db, roster, get_csrf):
    seed_lines(config, batch_db, seeded, roster)
    with batch_db.session() as s:
        person_ids = [line.person_id for line in s.execute(select(PaymentLine).order_by(PaymentLine.line_no)).scalars()]
    c = user_client("civil_op")
    token = get_csrf(c, "/persons")
    data = {"csrf_token": token, "action": "reference", "list_kind": "deceased", "note": "民政核查",
            "person_id": [str(person_ids[0])]}
    page = c.post("/persons/bulk", data=data)
    assert "确认将 1 人加入死亡人员名单" in page.text and roster.make_id(1) not in page.text
    r = c.post("/persons/bulk", data={**data, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    with batch_db.session() as s:
        assert s.execute(select(func.count(ReferenceEntry.id))).scalar_one() == 1
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "reference.add")).scalar_one()
        assert roster.make_id(1) not in str(entry.after)
    # a clerk may not; another county's operator cannot reach these persons
    clerk = user_client("clerk")
    assert clerk.post("/persons/bulk", data={**data, "csrf_token": get_csrf(clerk, "/batches"),
                                             "confirm": "yes"}).status_code == 403
    with batch_db.session() as s:
        from admin.access import operators

        operators.create_operator(s, config, actor="t", username="far_op", name="测试员", role="department_operator",
                                  region_code="410482", password="Passw0rd!Test", department_code="NY410423",
                                  must_change_password=False)
    far = user_client("far_op", "Passw0rd!Test")
    r = far.post("/persons/bulk", data={**data, "csrf_token": get_csrf(far, "/batches"), "confirm": "yes",
                                        "person_id": [str(person_ids[1])]})
    assert r.status_code == 404
    with batch_db.session() as s:
        assert s.execute(select(func.count(ReferenceEntry.id))).scalar_one() == 1
