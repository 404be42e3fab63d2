"""JSON twins of the main lists for the internal reporting tools: same data, same scope as the pages."""

from __future__ import annotations

from tests.admin.conftest import seed_lines


def test_batches_json_by_suffix_and_accept_header(user_client, seeded):
    civil = user_client("civil_op")
    body = civil.get("/batches.json").json()
    assert [b["code"] for b in body["batches"]] == [seeded["batch_code"]]
    assert body["batches"][0]["state_label"] == "录入中"
    same = civil.get("/batches", headers={"Accept": "application/json"}).json()
    assert same == body
    agri = user_client("agri_op")
    assert seeded["batch_code"] not in [b["code"] for b in agri.get("/batches.json").json()["batches"]]
    other = user_client("other_auditor")
    assert other.get("/batches.json").json() == {"total": 0, "page": 1, "page_size": 50, "batches": []}


def test_lines_json_respects_township_and_project_scope(user_client, seeded, config, batch_db, roster):
    seed_lines(config, batch_db, seeded, roster)
    clerk = user_client("clerk")
    body = clerk.get(f"/batches/{seeded['batch']}/lines.json").json()
    assert [line["name"] for line in body["lines"]] == [roster.make_name(1), roster.make_name(2)]
    assert body["sum"] == "241.00" and body["lines"][0]["amount"] == "120.50"
    assert body["lines"][0]["id_last4"] == roster.make_id(1)[-4:]
    text = clerk.get(f"/batches/{seeded['batch']}.json").text
    assert roster.make_id(1) not in text and roster.make_card(1) not in text
    assert [line["name"] for line in user_client("clerk2").get(
        f"/batches/{seeded['batch']}/lines.json").json()["lines"]] == [roster.make_name(3)]
    assert user_client("auditor").get(f"/batches/{seeded['batch']}.json").json()["total"] == 3
    for username in ("agri_op", "other_auditor"):
        r = user_client(username).get(f"/batches/{seeded['batch']}/lines.json")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    bank = user_client("bank").get(f"/batches/{seeded['batch']}/lines.json").json()  # sees the batch, no lines
    assert bank["batch"]["code"] == seeded["batch_code"] and bank["lines"] == [] and bank["total"] == 0


def test_persons_json_inside_region_only(user_client, seeded, config, batch_db, roster):
    seed_lines(config, batch_db, seeded, roster)
    clerk = user_client("clerk")
    found = clerk.get("/persons.json", params={"q": roster.make_id(1)}).json()["persons"]
    assert [p["name"] for p in found] == [roster.make_name(1)]
    assert roster.make_id(1) not in str(found) and found[0]["cards"][0]["last4"] == roster.make_card(1)[-4:]
    assert user_client("clerk2").get("/persons.json", params={"q": roster.make_id(1)}).json()["persons"] == []
    assert user_client("bank").get("/persons.json", params={"q": "王"}).status_code == 403


def test_policies_and_projects_json_scoped(user_client, seeded):
    civil = user_client("civil_op")
    assert {p["code"] for p in civil.get("/projects.json").json()["projects"]} == {"GLJT-410423"}
    project = civil.get("/projects.json").json()["projects"][0]
    assert project["amount_max"] == "300.00" and project["department"] == "鲁山县民政局"
    assert {p["code"] for p in civil.get("/policies.json").json()["policies"]} == {"GLJT", "GDBH"}
    other = user_client("other_auditor")
    assert other.get("/policies.json").json()["policies"] == []
    assert other.get("/projects.json").json()["projects"] == []


def test_json_twin_needs_login(admin_app):
    from starlette.testclient import TestClient

    with TestClient(admin_app) as c:
        r = c.get("/batches.json")
        assert r.status_code == 401 and r.json()["error"]["code"] == "login_required"
