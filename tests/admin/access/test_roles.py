"""Scopes through HTTP: each role sees and changes only what its region and projects allow."""

from __future__ import annotations

from sqlalchemy import func, select

from admin.models import PaymentLine
from tests.admin.conftest import seed_lines


def test_township_clerk_sees_and_edits_only_own_township(user_client, seeded, config, batch_db, roster, get_csrf):
    ids = seed_lines(config, batch_db, seeded, roster)
    c = user_client("clerk")
    page = c.get(f"/batches/{seeded['batch']}")
    assert roster.make_name(1) in page.text and roster.make_name(3) not in page.text
    assert "明细 2 行" in page.text
    export = c.get(f"/batches/{seeded['batch']}/export.xlsx")
    from openpyxl import load_workbook
    import io
    names = [row[1] for row in load_workbook(io.BytesIO(export.content)).active.iter_rows(min_row=3, values_only=True)]
    assert sorted(names) == sorted([roster.make_name(1), roster.make_name(2)])
    # the other township's line: neither readable nor changeable
    assert c.get(f"/batches/{seeded['batch']}/lines/{ids[3]}").status_code == 404
    token = get_csrf(c, f"/batches/{seeded['batch']}")
    r = c.post(f"/batches/{seeded['batch']}/lines/{ids[3]}", data={**dict(zip(roster.header, roster.row(3, amount="60"))),
                                                                  "csrf_token": token})
    assert r.status_code == 404
    r = c.post(f"/batches/{seeded['batch']}/lines/delete", data={"line_id": [str(ids[3])], "confirm": "yes",
                                                                 "csrf_token": token})
    assert r.status_code == 404
    with batch_db.session() as s:
        assert s.get(PaymentLine, ids[3]) is not None


def test_department_sees_only_its_projects(user_client, seeded, config, batch_db, roster):
    seed_lines(config, batch_db, seeded, roster)
    agri = user_client("agri_op")
    listing = agri.get("/batches")
    assert seeded["batch_code"] not in listing.text
    assert agri.get(f"/batches/{seeded['batch']}").status_code == 404
    assert agri.get(f"/batches/{seeded['batch']}/export.xlsx").status_code == 404
    civil = user_client("civil_op")
    assert seeded["batch_code"] in civil.get("/batches").text
    assert "明细 3 行" in civil.get(f"/batches/{seeded['batch']}").text


def test_auditor_reads_everything_in_region_and_changes_nothing(user_client, seeded, config, batch_db, roster, get_csrf,
                                                                unchanged):
    ids = seed_lines(config, batch_db, seeded, roster)
    auditor = user_client("auditor")
    assert "明细 3 行" in auditor.get(f"/batches/{seeded['batch']}").text
    assert auditor.get("/audit").status_code == 200
    token = get_csrf(auditor, f"/batches/{seeded['batch']}")
    with unchanged():
        r = auditor.post(f"/batches/{seeded['batch']}/lines/delete", data={"line_id": [str(ids[1])], "confirm": "yes",
                                                                           "csrf_token": token})
        assert r.status_code == 403
        assert auditor.get(f"/batches/{seeded['batch']}/lines/{ids[1]}").status_code == 403
    other = user_client("other_auditor")
    assert other.get(f"/batches/{seeded['batch']}").status_code == 404
    assert seeded["batch_code"] not in other.get("/batches").text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3


def test_finance_and_bank_cannot_edit_rosters(user_client, seeded, get_csrf, roster, unchanged):
    for username in ("finance", "bank"):
        c = user_client(username)
        token = get_csrf(c, "/batches")
        with unchanged():
            r = c.post(f"/batches/{seeded['batch']}/lines", data={**dict(zip(roster.header, roster.row(1))),
                                                                  "csrf_token": token})
            assert r.status_code == 403
