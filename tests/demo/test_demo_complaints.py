"""The demo build files complaints, tip-offs and requests of every kind through the public form's
service, pulls them in with the indexer and handles them with the complaints workflow as the demo
accounts: every kind in several states, answers on the public status page, the confidential
tip-off only for the supervision roles, the complaints report equal to a direct count."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from admin.complaints import workflow
from admin.models import AuditEntry, Complaint, ComplaintEvent
from cli.apps import admin_app
from core import workdays
from core.complaints import COMPLAINT_KINDS
from core.config import Config
from core.db import Database
from core.timeutil import format_datetime_zh, local
from demo.accounts import COUNTY, DEMO_PASSWORD
from demo.build import build
from demo.complaints import case_count
from demo.data import AS_OF
from indexer.inbound import public_status
from portal.complaints import find_complaint
from portal.store import PublicComplaint
from tests.conftest import TEST_SECRETS, _fresh_url

N = 600
SEED = 11


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    tmp = tmp_path_factory.mktemp("democomplaints")
    url, cleanup = _fresh_url(tmp, "democomp")
    config = Config.from_env({"YIKATONG_DATA_DIR": str(tmp / "data"), "YIKATONG_DEMO": "1",
                              "BATCH_DATABASE_URL": url,
                              "PUBLIC_DATABASE_URL": f"sqlite:///{tmp / 'public.sqlite3'}", **TEST_SECRETS})
    build(config, N, SEED)
    yield config
    cleanup()  # type: ignore[operator]


def _cases(config: Config) -> list[Complaint]:
    db = Database(config.batch_database_url)
    try:
        with db.session() as s:
            cases = list(s.scalars(select(Complaint).order_by(Complaint.id)))
            s.expunge_all()
            return cases
    finally:
        db.dispose()


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.status_code
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                           "csrf_token": token.group(1)}, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_every_kind_in_several_states_handled_through_the_workflow(built: Config) -> None:
    cases = _cases(built)
    assert len(cases) == case_count(N) >= 20
    assert {c.kind for c in cases} == set(COMPLAINT_KINDS)
    assert {"received", "accepted", "in_progress", "answered", "closed", "rejected"} <= {c.status for c in cases}
    infos = [workflow.case_info(c, AS_OF) for c in cases]
    assert any(i.on_time is True for i in infos) and any(i.on_time is False for i in infos)  # answered on time, late
    assert any(i.overdue for i in infos)                                                   # open past the deadline
    assert any(c.status in workflow.OPEN_STATES and not i.overdue for c, i in zip(cases, infos))  # open within it
    assert len({local(c.filed_at).year for c in cases}) >= 2  # spread over the past years
    assert all(c.filed_at.date() <= AS_OF for c in cases)
    request = next(c for c in cases if c.kind == "disclosure_request" and c.status == "closed")
    assert request.due_on == workdays.add_workdays(local(request.filed_at).date(), 20)
    assert workdays.workdays_between(local(request.filed_at).date(), local(request.answered_at).date()) > 15
    assert sorted(c.satisfaction for c in cases if c.satisfaction) == ["dissatisfied", "satisfied"]
    db = Database(built.batch_database_url)
    try:
        with db.session() as s:
            events = list(s.scalars(select(ComplaintEvent).order_by(ComplaintEvent.id)))
            audited = Counter(s.execute(select(AuditEntry.object_id, AuditEntry.action)
                                        .where(AuditEntry.action.like("complaint.%"))).all())
    finally:
        db.dispose()
    actions = Counter(e.action for e in events)
    assert actions["receive"] == len(cases) and actions["feedback"] == 2
    assert all(actions[name] for name in workflow.ACTION_NAMES)  # accept, reject, assign, start, answer, close, reopen
    # every step by an operator account, with its audit entry; only the receipt by the indexer's pull
    assert all((e.actor == "portal") == (e.action == "receive") for e in events)
    assert {e.actor for e in events} >= {"demo_dept", "demo_reviewer", "demo_clerk", "demo_supervisor"}
    assert all(audited[(str(e.complaint_id), f"complaint.{e.action}")] >= 1 for e in events)
    assert sum(audited.values()) == len(events)


def test_the_public_status_page_shows_the_answers_sent_through_the_outbox(built: Config) -> None:
    cases = _cases(built)
    public_db = Database(built.public_database_url)
    try:
        with public_db.session() as s:
            stored = {p.tracking_code: p for p in s.scalars(select(PublicComplaint))}
        assert set(stored) == {c.tracking_code for c in cases}
        assert all(p.contact is None and p.pulled_at is not None for p in stored.values())  # erased once pulled
        for case in cases:
            view = find_complaint(public_db, case.tracking_code)
            assert view is not None and view.status == public_status(case.status)
            assert view.filed_on == local(case.filed_at).date() and view.due_on == case.due_on
            if case.status in workflow.FINISHED_STATES:
                assert view.answer == case.answer and view.answer_unit == case.answer_unit
                assert view.answered_at == format_datetime_zh(case.answered_at)  # the same moment on both sides
                assert "demo_" not in view.answer_unit
            else:
                assert view.answer == ""
        secret = next(c for c in cases if c.confidential)
        assert find_complaint(public_db, secret.tracking_code).answer_unit == "鲁山县纪委监委"  # type: ignore[union-attr]
        given = [find_complaint(public_db, c.tracking_code) for c in cases if c.satisfaction]
        assert sorted(v.feedback["label"] for v in given if v and v.feedback) == ["不满意", "满意"]
    finally:
        public_db.dispose()


def test_the_confidential_tipoff_is_seen_only_by_the_supervision_roles(built: Config) -> None:
    cases = _cases(built)
    secret = [c for c in cases if c.confidential]
    assert len(secret) == 1 and secret[0].kind == "tipoff" and secret[0].department_id is not None
    code = secret[0].tracking_code
    for username, sees in (("demo_dept", False), ("demo_clerk", False), ("demo_supervisor", True),
                           ("demo_auditor", True)):
        with TestClient(admin_app(built)) as client:
            _login(client, username)
            listed = client.get("/complaints.json", params={"q": code})
            assert listed.status_code == 200
            assert [c["tracking_code"] for c in listed.json()["complaints"]] == ([code] if sees else []), username
            detail = client.get(f"/complaints/{secret[0].id}.json")
            assert detail.status_code == (200 if sees else 404), username
            assert (code in detail.text) == sees
            everything = client.get("/complaints.json").json()
            assert everything["total"] > 0  # the queue is not empty for anyone who handles or reads cases
    with TestClient(admin_app(built)) as client:
        _login(client, "demo_dept")
        mine = client.get("/complaints.json").json()["complaints"]
        assert any(any(a["name"] == "accept" for a in client.get(f"/complaints/{c['id']}.json").json()["actions"])
                   for c in mine if c["status"] == "received")  # a case waiting for demo_dept to accept


def test_the_complaints_report_for_the_auditor_equals_a_direct_count(built: Config) -> None:
    start, end = date(2025, 1, 1), AS_OF
    with TestClient(admin_app(built)) as client:
        _login(client, "demo_auditor")
        response = client.get("/reports/complaints.json", params={"start": start.isoformat(), "end": end.isoformat()})
        today = workdays.today()
    assert response.status_code == 200, response.text
    report = response.json()
    cases = [c for c in _cases(built)
             if ((c.region_code or "").startswith(COUNTY) or c.handling_region.startswith(COUNTY))
             and start <= local(c.filed_at).date() <= end]
    finished = [c for c in cases if c.status in workflow.FINISHED_STATES]
    still_open = [c for c in cases if c.status in workflow.OPEN_STATES]
    expected = {"received": len(cases), "confidential": sum(c.confidential for c in cases),
                "finished": len(finished),
                "on_time": sum(local(c.answered_at).date() <= c.due_on for c in finished),
                "open": len(still_open), "overdue": sum(today > c.due_on for c in still_open)}
    assert {k: report["total"][k] for k in expected} == expected
    assert expected["received"] > 0 and expected["confidential"] == 1 and expected["finished"] > 0
    assert expected["open"] > 0 and expected["on_time"] > 0
    assert report["confidential_counted"] is True
    assert sum(r["received"] for r in report["by_project"]) == len(cases)
    assert any(r["code"] and r["received"] for r in report["by_project"])
