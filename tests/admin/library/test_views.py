"""Library pages through HTTP: a policy change reviewed and published through the outbox; a
reference list that blocks a roster line."""

from __future__ import annotations

import re

from sqlalchemy import select

from admin.models import OutboxEntry
from tests.admin.conftest import add_line


def test_policy_change_review_and_publication_through_outbox(user_client, seeded, get_csrf, batch_db, unchanged):
    op = user_client("civil_op")
    token = get_csrf(op, f"/policies/{seeded['policy']}")
    r = op.post(f"/policies/{seeded['policy']}/changes", data={"summary": "提高标准", "standard": "每人每月200元",
                                                                 "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    # the agriculture department may not touch it
    agri = user_client("agri_op")
    t2 = get_csrf(agri, "/policies")
    with unchanged():
        assert agri.post(f"/policies/{seeded['policy']}/changes", data={"summary": "x", "standard": "y",
                                                                         "csrf_token": t2}).status_code == 403
    reviewer = user_client("civil_rev")
    page = reviewer.get(f"/policies/{seeded['policy']}")
    change_id = re.search(r"/policy-changes/(\d+)/review", page.text).group(1)
    t3 = get_csrf(reviewer, f"/policies/{seeded['policy']}")
    reviewer.post(f"/policy-changes/{change_id}/review", data={"decision": "approve", "csrf_token": t3})
    with batch_db.session() as s:
        from admin.models import Policy
        assert s.get(Policy, seeded["policy"]).standard == "每人每月200元"
        topics = [(e.topic, e.key) for e in s.execute(select(OutboxEntry)).scalars()]
        assert ("policy", str(seeded["policy"])) in topics


def test_reference_list_blocks_a_line(user_client, seeded, get_csrf, roster):
    c = user_client("civil_op")
    token = get_csrf(c, "/persons")
    data = roster.csv([[roster.make_id(7), "2024-05-01"]], header=["身份证号", "死亡日期"])
    r = c.post("/references/import", data={"csrf_token": token, "list_kind": "deceased", "region_code": "410423"},
               files={"file": ("d.csv", data, "text/csv")})
    assert "新增 1 人" in r.text
    clerk = user_client("clerk")
    r = add_line(clerk, get_csrf, seeded["batch"], dict(zip(roster.header, roster.row(7))))
    assert r.status_code == 400 and "死亡人员" in r.text
