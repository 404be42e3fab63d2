"""Bulk actions on batch lines with a confirmation step (remove, mark for re-check) — scoped like
every other change, audited; Chinese formats on the batch pages. (Persons put on a reference list
in bulk: tests/admin/people/test_views.py.)"""

from __future__ import annotations

from sqlalchemy import func, select

from admin.models import AuditEntry, Batch, PaymentLine
from tests.admin.conftest import seed_lines


def bulk(c, get_csrf, batch_id, action, ids, confirm=False):
    token = get_csrf(c, f"/batches/{batch_id}")
    data = {"csrf_token": token, "action": action, "line_id": [str(i) for i in ids]}
    if confirm:
        data["confirm"] = "yes"
    return c.post(f"/batches/{batch_id}/lines/bulk", data=data, follow_redirects=False)


def test_remove_selected_asks_first_then_removes(user_client, seeded, config, batch_db, roster, get_csrf):
    ids = seed_lines(config, batch_db, seeded, roster)
    c = user_client("clerk")
    page = bulk(c, get_csrf, seeded["batch"], "delete", [ids[1], ids[2]])
    assert page.status_code == 200 and "确认删除 2 行" in page.text and "241.00元" in page.text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3
    r = bulk(c, get_csrf, seeded["batch"], "delete", [ids[1], ids[2]], confirm=True)
    assert r.status_code == 303 and "已删除 2 行" in c.get(r.headers["location"]).text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 1
        assert s.execute(select(func.count(AuditEntry.id)).where(AuditEntry.action == "line.delete")).scalar_one() == 2


def test_mark_for_recheck_also_after_submission(user_client, seeded, config, batch_db, roster, get_csrf):
    ids = seed_lines(config, batch_db, seeded, roster)
    with batch_db.session() as s:
        s.get(Batch, seeded["batch"]).state = "submitted"
    reviewer = user_client("civil_rev")
    assert "确认标记为待复核 1 行" in bulk(reviewer, get_csrf, seeded["batch"], "recheck", [ids[3]]).text
    r = bulk(reviewer, get_csrf, seeded["batch"], "recheck", [ids[3]], confirm=True)
    assert r.status_code == 303
    assert "待复核" in reviewer.get(f"/batches/{seeded['batch']}").text
    with batch_db.session() as s:
        assert s.get(PaymentLine, ids[3]).check_issues[0]["code"] == "RECHECK"
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "line.recheck")).scalar_one().actor == "civil_rev"
    # removal is no longer possible once submitted
    clerk = user_client("clerk")
    assert bulk(clerk, get_csrf, seeded["batch"], "delete", [ids[1]], confirm=True).status_code == 403


def test_bulk_refused_outside_scope(user_client, seeded, config, batch_db, roster, get_csrf):
    ids = seed_lines(config, batch_db, seeded, roster)
    clerk = user_client("clerk")  # line 3 lies in the other township
    for action in ("delete", "recheck"):
        assert bulk(clerk, get_csrf, seeded["batch"], action, [ids[1], ids[3]]).status_code == 404
        assert bulk(clerk, get_csrf, seeded["batch"], action, [ids[1], ids[3]], confirm=True).status_code == 404
    agri = user_client("agri_op")  # another department's project
    assert bulk(agri, get_csrf, seeded["batch"], "recheck", [ids[1]], confirm=True).status_code == 404
    assert bulk(agri, get_csrf, seeded["batch"], "delete", [ids[1]], confirm=True).status_code == 404
    for username in ("auditor", "other_auditor", "finance", "bank"):
        c = user_client(username)
        assert bulk(c, get_csrf, seeded["batch"], "recheck", [ids[1]], confirm=True).status_code == 403
        assert bulk(c, get_csrf, seeded["batch"], "delete", [ids[1]], confirm=True).status_code == 403
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3
        assert all(not line.check_issues for line in s.execute(select(PaymentLine)).scalars())


def test_chinese_formats_on_pages(user_client, seeded, config, batch_db, roster):
    from core.timeutil import today

    seed_lines(config, batch_db, seeded, roster)
    c = user_client("civil_op")
    listing = c.get("/batches").text
    assert f"<td>{today().year}年1月</td>" in listing  # the period, not 2025-01
    assert f"{today().year}年{today().month}月{today().day}日" in listing
    assert "合计 361.50 元" in c.get(f"/batches/{seeded['batch']}").text
    assert "50.00–300.00" in c.get("/projects").text
