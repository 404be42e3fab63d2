"""The approval chain through the web app, as a script or a person drives it: log in (login form,
CSRF token), read ``/batches/{id}.json`` and follow only its ``actions`` (url, method, fields).

One township batch goes draft → submitted → returned (remark on a line) → fixed and resubmitted →
first review → publicity (a notice-board posting with a photo, an objection that withdraws a line;
the portal shows the 公示名单 through the outbox) → approval → finance check → payment request.
Before each action every operator who is not offered it tries it anyway: 403, nothing changes.
The batch page's forms are the JSON's actions, for several roles and states.
"""

from __future__ import annotations

import base64
import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from admin.access import operators
from admin.batches import workflow
from admin.models import Objection, Operator, PaymentLine, PaymentRequest, PublicityPosting
from core.workdays import add_workdays
from tests.admin.conftest import COUNTY, TEST_PASSWORD, TOWNSHIP, Clock, add_line, seed_lines
from tests.admin.conftest import test_password_hash as password_hash

# A 1×1 PNG: what a phone photo of the notice board stands for.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
                       "RU5ErkJggg==")
USERS = ("admin", "clerk", "clerk2", "civil_op", "civil_rev", "agri_op", "agri_rev", "finance", "far_finance", "bank",
         "auditor", "other_auditor")
JSON = {"Accept": "application/json"}
LINES = {1: "王庄村", 2: "李湾村", 3: "王庄村", 4: "李湾村"}



@pytest.fixture
def clock() -> Clock:
    return Clock(date(2025, 9, 22))


@pytest.fixture
def admin_app(config, seeded, clock, batch_db):
    from admin.app import create_admin_app

    with batch_db.session() as s:  # a reviewer of another department, a finance reviewer of another county
        for username, role, region, dept, projects in (
                ("agri_rev", "department_reviewer", COUNTY, "NY410423", [seeded["project2"]]),
                ("far_finance", "finance_reviewer", "410482", None, [])):
            operators.create_operator(s, config, actor="seed", username=username, name="测试员", role=role,
                                      region_code=region, password=TEST_PASSWORD, department_code=dept,
                                      project_ids=projects, must_change_password=False, password_hash=password_hash())
    return create_admin_app(config, today=clock)


class Web:
    """Everyone's logged-in client, and the script's one move: follow an action of the batch's JSON."""

    def __init__(self, user_client, get_csrf, usernames) -> None:
        self.clients = {name: user_client(name) for name in usernames}
        self.tokens = {name: get_csrf(c, "/") for name, c in self.clients.items()}

    def batch(self, user: str, batch_id: int) -> dict[str, Any]:
        response = self.clients[user].get(f"/batches/{batch_id}.json")
        return response.json() if response.status_code == 200 else {"actions": [], "status": response.status_code}

    def actions(self, user: str, batch_id: int) -> dict[str, dict[str, Any]]:
        return {a["name"]: a for a in self.batch(user, batch_id)["actions"]}

    def submit(self, user: str, action: dict[str, Any], values: dict[str, Any], *, json: bool = True) -> Any:
        """POST the action's form as its fields describe it (files as multipart)."""
        fields = {f["name"]: f for f in action["fields"]}
        assert set(values) <= set(fields), (action["name"], set(values) - set(fields))
        for f in fields.values():
            assert not f["required"] or f["name"] in values, f"required field {f['name']} of {action['name']}"
            if f["type"] == "select" and f["name"] in values:
                assert values[f["name"]] in {o["value"] for o in f["options"]}
        data = {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in values.items()
                if fields[k]["type"] != "file"}
        files = {k: v for k, v in values.items() if fields[k]["type"] == "file"} or None
        assert action["method"] == "POST"
        return self.clients[user].post(action["url"], data={**data, "csrf_token": self.tokens[user]}, files=files,
                                       headers=JSON if json else {}, follow_redirects=False)

    def follow(self, user: str, batch_id: int, name: str, **values: Any) -> dict[str, Any]:
        action = self.actions(user, batch_id).get(name)
        assert action is not None, f"{user} is not offered {name}"
        response = self.submit(user, action, values)
        assert response.status_code == 200, response.text
        return response.json()

    def refuse_others(self, unchanged, batch_id: int, name: str, acting: str, **values: Any) -> None:
        """Every operator not offered ``name`` posts it anyway (the acting user's form): 403, no change."""
        action = self.actions(acting, batch_id)[name]
        others = [u for u in self.clients if u != acting and name not in self.actions(u, batch_id)]
        assert others
        with unchanged():
            for user in others:
                response = self.submit(user, action, values)
                assert response.status_code == 403, (user, name, response.text)
                assert response.json()["error"]["code"] in ("forbidden", "separation_of_duties"), (user, name)


def portal_publicity(batch_db, config, engine, portal) -> list[dict[str, Any]]:
    """Run the outbox consumer into the portal's index, then read the 公示名单 as the public does."""
    from indexer.documents import DocumentBuilder
    from indexer.sync import sync

    sync(batch_db, engine, DocumentBuilder.from_config(config))
    response = portal.get("/disclosures.json", params={"kind": "publicity", "per_page": 50})
    assert response.status_code == 200, response.text
    return response.json()["hits"]


@pytest.fixture
def portal(config, public_db, tmp_path):
    from cli.apps import public_app
    from search import make_engine
    from search.schemas import SPECS

    engine = make_engine(tmp_path / "portal-search")
    for spec in SPECS.values():
        engine.ensure_index(spec)
    with TestClient(public_app(config, search=engine)) as client:
        yield engine, client


def test_one_batch_walked_through_the_chain_by_following_the_json_actions(
        user_client, get_csrf, unchanged, clock, batch_db, config, roster, seeded, portal):
    engine, public = portal
    web = Web(user_client, get_csrf, USERS)
    year = date.today().year

    # 9/22: the department opens a township batch; the clerk enters four lines through the form
    created = web.clients["civil_op"].post("/batches", data={
        "project_id": seeded["project"], "region_code": TOWNSHIP, "year": year, "period": f"{year}-09",
        "title": "鲁阳街道高龄津贴9月", "csrf_token": web.tokens["civil_op"]}, follow_redirects=False)
    assert created.status_code == 303
    b = int(created.headers["location"].rsplit("/", 1)[1])
    for i, village in LINES.items():
        response = add_line(web.clients["clerk"], get_csrf, b, dict(zip(roster.header, roster.row(i, village=village))))
        assert response.status_code == 303, response.text
    lines = {line["line_no"]: line["id"] for line in web.batch("clerk", b)["lines"]}
    assert sorted(lines) == [1, 2, 3, 4]
    draft = web.batch("clerk", b)
    assert draft["state"] == "draft" and draft["step"]["next_roles"] == ["township_clerk", "department_operator"]

    # 9/26 (Fri): the clerk submits, through the page's own form (a browser, not JSON)
    clock.day = date(2025, 9, 26)
    web.refuse_others(unchanged, b, "submit", "clerk")
    action = web.actions("clerk", b)["submit"]
    response = web.submit("clerk", action, {}, json=False)
    assert response.status_code == 303 and response.headers["location"] == f"/batches/{b}"
    page = web.clients["clerk"].get(f"/batches/{b}").text
    assert "已提交初审" in page and "2025年9月30日" in page  # Sat off, Sun 9/28 a make-up working day
    state = web.batch("civil_rev", b)
    assert state["state"] == "submitted"
    assert state["step"]["due_on"] == "2025-09-30" and state["step"]["step"] == "first_verification"
    assert state["step"]["days_left"] == 3 and state["step"]["next_roles"] == ["department_reviewer"]
    assert set(web.actions("civil_rev", b)) == {"review_pass", "return"}

    # first review returns it with a remark on line 2
    web.refuse_others(unchanged, b, "return", "civil_rev", reason="第2行金额有误", line_remarks="2：金额应为200元")
    result = web.follow("civil_rev", b, "return", reason="第2行金额有误", line_remarks="2：金额应为200元")
    assert (result["from_state"], result["state"], result["due_on"]) == ("submitted", "returned", "2025-09-30")

    # the remarked line blocks re-submission: not offered, and the reason is on the page
    clerk_view = web.batch("clerk", b)
    assert "submit" not in {a["name"] for a in clerk_view["actions"]}
    assert {(x["name"], x["code"]) for x in clerk_view["blocked_actions"]} == {("submit", "failing_lines")}
    line2 = next(line for line in clerk_view["lines"] if line["line_no"] == 2)
    assert line2["check_issues"] == [{"code": "RETURNED", "message": "初审退回：金额应为200元"}]
    fixed = dict(zip(roster.header, roster.row(2, amount="200.00", village=LINES[2])))
    response = web.clients["clerk"].post(f"/batches/{b}/lines/{lines[2]}",
                                         data={**fixed, "csrf_token": web.tokens["clerk"]}, follow_redirects=False)
    assert response.status_code == 303
    assert web.actions("clerk", b)["submit"]["label"] == "重新提交初审"
    web.refuse_others(unchanged, b, "submit", "clerk")
    assert web.follow("clerk", b, "submit", comment="第2行金额已更正")["state"] == "submitted"

    # 9/29 (Mon): the review passes; the department opens publicity (≥ 3 working days: 9/30, 10/9, 10/10)
    clock.day = date(2025, 9, 29)
    web.refuse_others(unchanged, b, "review_pass", "civil_rev")
    assert web.follow("civil_rev", b, "review_pass")["state"] == "submitted"
    assert portal_publicity(batch_db, config, engine, public) == []
    opening = {"start": date(2025, 9, 29), "end": date(2025, 10, 10), "place": "王庄村、李湾村村务公开栏"}
    with unchanged():
        too_short = web.submit("civil_op", web.actions("civil_op", b)["publicity_open"],
                               {**opening, "end": date(2025, 10, 9)})
        assert too_short.status_code == 400
        assert too_short.json()["error"] == {"code": "publicity_too_short", "field": "end",
                                             "message": too_short.json()["error"]["message"]}
        assert "2025年10月10日" in too_short.json()["error"]["message"]
    web.refuse_others(unchanged, b, "publicity_open", "civil_op", **opening)
    result = web.follow("civil_op", b, "publicity_open", **opening)
    assert (result["state"], result["due_on"]) == ("publicity", "2025-10-10")

    # the portal shows the 公示名单 (masked) while publicity is open
    hits = portal_publicity(batch_db, config, engine, public)
    assert len(hits) == 4 and {h["kind"] for h in hits} == {"publicity"}
    assert {h["village"] for h in hits} == {"王庄村", "李湾村"}
    names = {roster.make_name(i) for i in LINES}
    assert not any(name in str(hits) for name in names) and not any(roster.make_id(i) in str(hits) for i in LINES)

    # 9/30: the clerk records the notice-board posting with a photo (multipart); a non-image is refused
    clock.day = date(2025, 9, 30)
    posting = {"village": "410423100001", "place": "王庄村村委会公开栏", "posted_on": date(2025, 9, 29)}
    web.refuse_others(unchanged, b, "publicity_posting", "clerk", **posting)
    photo_dir = config.data_dir / "posting-photos"
    with unchanged():
        for upload in (("公开栏.jpg", b"<html>not a photo</html>", "image/jpeg"), ("空.png", b"", "image/png")):
            bad = web.submit("clerk", web.actions("clerk", b)["publicity_posting"], {**posting, "photo": upload})
            assert bad.status_code == 400, bad.text
            assert bad.json()["error"]["code"] in ("photo_not_image", "photo_empty")
            assert bad.json()["error"]["field"] == "photo"
        too_big = web.submit("clerk", web.actions("clerk", b)["publicity_posting"],
                             {**posting, "photo": ("大.png", PNG + b"\0" * (5 * 1024 * 1024), "image/png")})
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] in ("too_large", "photo_too_large")
        late = web.submit("clerk", web.actions("clerk", b)["publicity_posting"],
                          {**posting, "posted_on": date(2025, 10, 1), "photo": ("公开栏.png", PNG, "image/png")})
        assert late.status_code == 400 and late.json()["error"]["field"] == "posted_on"
    assert not photo_dir.exists() or not any(photo_dir.iterdir())  # a refused action keeps no photo
    result = web.follow("clerk", b, "publicity_posting", **posting, photo=("公开栏.png", PNG, "image/png"))
    assert result["state"] == "publicity"
    with batch_db.session() as s:
        first = s.scalars(select(PublicityPosting)).one()
        ref, posting_id = first.photo_ref, first.id
    assert re.fullmatch(r"[0-9a-f]{64}\.png", ref) and (photo_dir / ref).read_bytes() == PNG
    shown = web.clients["civil_op"].get(f"/batches/{b}/postings/{posting_id}/photo")
    assert shown.status_code == 200 and shown.content == PNG and shown.headers["content-type"] == "image/png"
    assert shown.headers["cache-control"] == "no-store"
    for outsider in ("clerk2", "agri_op", "bank", "other_auditor"):
        assert web.clients[outsider].get(f"/batches/{b}/postings/{posting_id}/photo").status_code in (403, 404)
    assert f"/batches/{b}/postings/{posting_id}/photo" in web.clients["auditor"].get(f"/batches/{b}").text
    # a text value under the photo field never becomes a photo reference (only an upload does)
    forged = web.clients["civil_op"].post(web.actions("civil_op", b)["publicity_posting"]["url"], data={
        "village": "410423100002", "place": "李湾村公开栏", "posted_on": "2025-09-30", "photo": ref,
        "csrf_token": web.tokens["civil_op"]}, headers=JSON)
    assert forged.status_code == 200
    with batch_db.session() as s:
        assert s.scalars(select(PublicityPosting.photo_ref).order_by(PublicityPosting.id)).all() == [ref, ""]

    # an objection withdraws line 1: it leaves the 公示名单
    objection = {"line_no": 1, "outcome": "withdraw", "reason": "经村委会核实，本人已于9月迁出本县"}
    web.refuse_others(unchanged, b, "objection", "civil_op", **objection)
    result = web.follow("civil_op", b, "objection", **objection, received_on=date(2025, 9, 30))
    assert result["state"] == "publicity"
    hits = portal_publicity(batch_db, config, engine, public)
    assert len(hits) == 3
    with batch_db.session() as s:
        withdrawn = s.execute(select(PaymentLine).where(PaymentLine.id == lines[1])).scalar_one()
        assert (withdrawn.state, withdrawn.failure_code) == ("withdrawn", "WITHDRAWN_OBJECTION")
        assert s.scalars(select(Objection.outcome)).all() == ["withdraw"]

    # publicity cannot close before its minimum: not offered, explained, and refused if posted
    assert "publicity_close" not in web.actions("civil_op", b)
    blocked = {x["name"]: x for x in web.batch("civil_op", b)["blocked_actions"]}
    assert blocked["publicity_close"]["code"] == "publicity_not_over"
    assert "2025年10月10日" in blocked["publicity_close"]["message"]
    with unchanged():
        early = web.clients["civil_op"].post(f"/batches/{b}/actions/publicity_close",
                                             data={"csrf_token": web.tokens["civil_op"]}, headers=JSON)
        assert early.status_code == 409 and early.json()["error"]["code"] == "publicity_not_over"
    assert "公示期未满" in web.clients["civil_op"].get(f"/batches/{b}").text

    # 10/10 (after the National Day holidays): publicity closes → approval, due in 10 working days
    clock.day = date(2025, 10, 10)
    web.refuse_others(unchanged, b, "publicity_close", "civil_op")
    result = web.follow("civil_op", b, "publicity_close")
    assert (result["state"], result["due_on"]) == ("approval", "2025-10-23")  # Sat 10/11 is a make-up working day
    assert result["due_on"] == add_workdays(date(2025, 10, 10), 10).isoformat()
    assert portal_publicity(batch_db, config, engine, public) == []

    # 10/11 (a Saturday, make-up working day): approval → finance check
    clock.day = date(2025, 10, 11)
    web.refuse_others(unchanged, b, "approve", "civil_rev")
    result = web.follow("civil_rev", b, "approve", comment="同意发放")
    assert (result["state"], result["due_on"]) == ("finance_check", "2025-10-17")

    # 10/13: finance passes, then generates the payment request (totals per disbursing bank)
    clock.day = date(2025, 10, 13)
    assert set(web.actions("finance", b)) == {"finance_pass", "return"}
    web.refuse_others(unchanged, b, "finance_pass", "finance")
    web.follow("finance", b, "finance_pass")
    assert set(web.actions("finance", b)) == {"payment_request", "return"}
    web.refuse_others(unchanged, b, "payment_request", "finance")
    result = web.follow("finance", b, "payment_request")
    assert result["state"] == "bank" and result["lines"] == 3
    assert Decimal(result["total"]) == Decimal("120.50") * 2 + Decimal("200.00")
    assert [bank["label"] for bank in result["banks"]] == ["未登记开户银行"]

    final = web.batch("auditor", b)
    assert final["state"] == "bank" and final["actions"] == [] and final["step"]["next_roles"] == ["bank_operator"]
    assert [e["action"] for e in final["events"]] == [
        None, "submit", "return", "submit", "review_pass", "publicity_open", "publicity_posting", "publicity_posting",
        "objection", "publicity_close", "approve", "finance_pass", "payment_request"]
    assert [e["actor"] for e in final["events"]][:6] == [
        "civil_op", "clerk", "civil_rev", "clerk", "civil_rev", "civil_op"]
    with batch_db.session() as s:
        request = s.scalars(select(PaymentRequest)).one()
        assert (request.batch_id, request.line_count, request.total) == (b, 3, Decimal("441.00"))
    for user in USERS:  # at the bank, only the money goes on: finance (and the bank) export the bank file
        expected = {"finance": {"bank_export"}, "bank": {"bank_export", "bank_import"}}.get(user, set())
        assert set(web.actions(user, b)) == expected, user


def test_refusals_answer_the_browser_with_a_page_or_a_message(user_client, get_csrf, unchanged, seeded, batch_db,
                                                              config, roster, clock):
    seed_lines(config, batch_db, seeded, roster)
    b = seeded["batch"]
    clerk, civil = user_client("clerk"), user_client("civil_op")
    with unchanged():
        # wrong role, as a browser: the 403 page
        page = clerk.post(f"/batches/{b}/actions/review_pass", data={"csrf_token": get_csrf(clerk, "/")})
        assert page.status_code == 403 and "无法完成" in page.text and "初审通过" in page.text
        # no CSRF token: refused before anything else
        no_token = civil.post(f"/batches/{b}/actions/submit", data={}, headers=JSON)
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
        # unknown action, unknown batch
        token = get_csrf(civil, "/")
        assert civil.post(f"/batches/{b}/actions/explode", data={"csrf_token": token}, headers=JSON).status_code == 404
        assert civil.post("/batches/999999/actions/submit", data={"csrf_token": token}, headers=JSON).status_code == 404
        # a form error, as a browser: a message on the batch page, nothing written
        response = civil.post(f"/batches/{b}/actions/cancel", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/batches/{b}"
        assert "请填写「撤销原因」" in civil.get(f"/batches/{b}").text
        # a township clerk cannot submit a county-wide batch
        answer = clerk.post(f"/batches/{b}/actions/submit", data={"csrf_token": get_csrf(clerk, "/")}, headers=JSON)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
        # a body over the bound is refused before it is read
        big = civil.post(f"/batches/{b}/actions/submit", content=b"x" * (6 * 1024 * 1024), headers={
            **JSON, "Content-Type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"


def test_batches_json_lists_id_and_state_and_filters_by_state(user_client, seeded, batch_db, config, roster):
    seed_lines(config, batch_db, seeded, roster)
    with batch_db.session() as s:
        op = s.execute(select(Operator).where(Operator.username == "civil_op")).scalar_one()
        workflow.perform(s, op, seeded["batch"], "submit", {}, date(2025, 9, 22))
    civil = user_client("civil_op")
    body = civil.get("/batches.json").json()
    assert [(b["id"], b["state"]) for b in body["batches"]] == [(seeded["batch"], "submitted")]
    assert [b["id"] for b in civil.get("/batches.json", params={"state": "submitted"}).json()["batches"]] == [
        seeded["batch"]]
    assert civil.get("/batches.json", params={"state": "draft"}).json()["batches"] == []
    bad = civil.get("/batches.json", params={"state": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_state"
    page = civil.get("/batches", params={"state": "submitted"}).text
    assert seeded["batch_code"] in page and 'value="submitted" selected' in page


# --- the page renders its forms from the same list as the JSON ------------------------------------------


class ActionForms(HTMLParser):
    """The action forms of a page, read back in the JSON's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[dict[str, Any]] = []
        self.form: dict[str, Any] | None = None
        self.label: list[str] | None = None
        self.select: dict[str, Any] | None = None
        self.option: dict[str, Any] | None = None
        self.button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and "action" in (a.get("class") or "").split():
            self.form = {"name": a["data-action"], "label": None, "method": (a.get("method") or "").upper(),
                         "url": a["action"], "fields": [], "multipart": a.get("enctype") == "multipart/form-data"}
            self.actions.append(self.form)
            return
        if self.form is None:
            return
        if tag == "label":
            self.label = []
        elif tag in ("input", "textarea", "select") and a.get("name") != "csrf_token":
            field: dict[str, Any] = {"name": a["name"], "label": "".join(self.label or []).strip().rstrip("*").strip(),
                                     "type": a["data-type"], "required": "required" in a}
            if tag == "select":
                field["options"] = []
                self.select = field
            self.form["fields"].append(field)
            self.label = None
        elif tag == "option" and self.select is not None:
            self.option = {"value": a.get("value"), "label": ""}
        elif tag == "button":
            self.button = []

    def handle_data(self, data: str) -> None:
        if self.label is not None:
            self.label.append(data)
        if self.option is not None:
            self.option["label"] += data
        if self.button is not None:
            self.button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self.option is not None:
            if self.option["value"] and self.select is not None:
                self.select["options"].append(self.option)
            self.option = None
        elif tag == "select":
            self.select = None
        elif tag == "button" and self.button is not None and self.form is not None:
            self.form["label"] = "".join(self.button).strip()
            self.button = None
        elif tag == "form":
            self.form = None


def page_actions(html: str) -> list[dict[str, Any]]:
    parser = ActionForms()
    parser.feed(html)
    return parser.actions


def test_the_batch_page_shows_exactly_the_json_actions(user_client, seeded, batch_db, config, roster, clock):
    seed_lines(config, batch_db, seeded, roster)
    b = seeded["batch"]  # a county batch: the department operator submits it
    clients = {u: user_client(u) for u in ("clerk", "civil_op", "civil_rev", "finance", "bank", "auditor")}

    def act(username: str, name: str, day: date, **form: str) -> None:
        clock.day = day
        with batch_db.session() as s:
            op = s.execute(select(Operator).where(Operator.username == username)).scalar_one()
            workflow.perform(s, op, b, name, form, day)

    def compare(expected: dict[str, set[str]]) -> None:
        for user, client in clients.items():
            json_actions = client.get(f"/batches/{b}.json").json()["actions"]
            shown = page_actions(client.get(f"/batches/{b}").text)
            assert {a["name"] for a in json_actions} == expected.get(user, set()), user
            assert len(shown) == len(json_actions), user
            for html_action, json_action in zip(shown, json_actions):
                multipart = html_action.pop("multipart")
                assert multipart == any(f["type"] == "file" for f in json_action["fields"])
                assert html_action == json_action, user

    compare({"civil_op": {"submit", "cancel"}})
    act("civil_op", "submit", date(2025, 9, 22))
    compare({"civil_rev": {"review_pass", "return"}, "civil_op": {"cancel"}})
    act("civil_rev", "review_pass", date(2025, 9, 23))
    compare({"civil_op": {"publicity_open", "cancel"}, "civil_rev": {"publicity_open", "return"}})
    act("civil_op", "publicity_open", date(2025, 9, 23), start="2025-09-23", end="2025-09-26", place="公开栏")
    compare({"civil_op": {"objection", "publicity_posting", "cancel"}, "civil_rev": {"objection", "publicity_posting"},
             "clerk": {"publicity_posting"}})
    page = clients["civil_op"].get(f"/batches/{b}").text
    assert 'data-action="publicity_close"' in page and "公示期未满" in page  # blocked: a reason, not a button
    assert 'enctype="multipart/form-data"' in page  # the posting form carries the photo
    act("civil_op", "publicity_close", date(2025, 9, 26))
    compare({"civil_rev": {"approve", "return", "publicity_posting"}, "civil_op": {"publicity_posting", "cancel"},
             "clerk": {"publicity_posting"}})
    act("civil_rev", "approve", date(2025, 9, 29))
    compare({"finance": {"finance_pass", "return"}, "civil_op": {"cancel"}})
