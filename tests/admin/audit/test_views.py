"""Audit trail page: filters, chain check, Excel export and JSON — all inside the reader's scope."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from admin.audit import trail
from admin.models import AuditEntry
from core.timeutil import today


def _seed_entries(batch_db):
    with batch_db.session() as s:
        trail.record(s, actor="alice", action="batch.create", object_type="batch", object_id=1, region_code="410423")
        trail.record(s, actor="bob", action="batch.create", object_type="batch", object_id=2, region_code="410482")
        trail.record(s, actor="alice", action="line.delete", object_type="payment_line", object_id=7,
                     region_code="410423100001", before={"amount": "12.00"})


def test_filters_by_actor_object_and_dates(user_client, seeded, batch_db):
    _seed_entries(batch_db)
    c = user_client("auditor")
    body = c.get("/audit.json", params={"actor": "alice"}).json()
    assert {e["action"] for e in body["entries"]} == {"batch.create", "line.delete"}
    body = c.get("/audit.json", params={"object_type": "payment_line", "object_id": "7"}).json()
    assert [e["before"] for e in body["entries"]] == [{"amount": "12.00"}]
    tomorrow = (today() + timedelta(days=1)).isoformat()
    assert c.get("/audit.json", params={"from": tomorrow}).json()["total"] == 0
    assert c.get("/audit.json", params={"actor": "alice", "from": today().isoformat(),
                                        "to": today().isoformat()}).json()["total"] == 2
    assert c.get("/audit", params={"from": "31/01/2025"}).status_code == 400
    page = c.get("/audit", params={"actor": "alice"}).text
    assert "删除明细" in page and f"{today().year}年" in page


def test_scope_page_json_and_export(user_client, seeded, batch_db):
    _seed_entries(batch_db)
    county = user_client("auditor")
    assert "bob" not in county.get("/audit").text
    assert all(e["region_code"].startswith("410423") for e in county.get("/audit.json").json()["entries"])
    other = user_client("other_auditor")
    body = other.get("/audit", params={"action": "batch."}, headers={"Accept": "application/json"}).json()
    assert [e["actor"] for e in body["entries"]] == ["bob"]
    assert {e["region_code"][:6] for e in other.get("/audit.json").json()["entries"]} == {"410482"}
    rows = list(load_workbook(io.BytesIO(other.get("/audit/export.xlsx", params={"action": "batch."}).content)
                              ).active.iter_rows(values_only=True))
    assert rows[0][1] == "时间" and [r[2] for r in rows[1:]] == ["bob"]
    rows = list(load_workbook(io.BytesIO(county.get("/audit/export.xlsx", params={"actor": "alice"}).content)
                              ).active.iter_rows(values_only=True))
    assert len(rows) == 3 and "年" in rows[1][1]
    for username in ("clerk", "civil_op", "finance"):
        c = user_client(username)
        assert c.get("/audit").status_code == 403
        assert c.get("/audit.json").status_code == 403
        assert c.get("/audit/export.xlsx").status_code == 403
        assert c.get("/audit/verify").status_code == 403


def test_verify_chain_button(user_client, seeded, batch_db):
    _seed_entries(batch_db)
    c = user_client("auditor")
    assert "审计链完整" in c.get("/audit/verify").text
    with batch_db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.actor == "alice").order_by(AuditEntry.id)).scalars().first()
        entry.actor = "mallory"
        broken = entry.id
    page = c.get("/audit/verify").text
    assert "审计链已断开" in page and f"第 {broken} 号记录" in page
    other = user_client("other_auditor")
    page = other.get("/audit/verify").text
    assert "审计链已断开" in page and "管辖范围之外" in page
