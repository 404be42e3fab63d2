"""A line withdrawn at first review or after an objection in publicity is explained to the person:
the reviewer's reason (made safe) and what to do next reach the person's own query (JSON and page),
the kiosk and the bot through the real chain (workflow → outbox → indexer sync → payments index),
and never any public disclosure."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from admin.batches import service as batches, workflow
from admin.models import PaymentLine, Project
from cli.apps import public_app
from core import personkey
from core.config import Config
from indexer.documents import DocumentBuilder
from indexer.masking import mask_name, scan_document
from indexer.sync import sync
from portal import kiosk_devices
from search import engine_for
from search.base import SearchQuery
from tests.admin.conftest import COUNTY, make_card, make_id, make_name
from tests.bot.conftest import WechatTester, bind_person
from tests.portal.test_kiosk import api_lookup
from tests.admin.conftest import act

# line no → village; amounts differ so a line can be told by its amount
LINES = {1: "王庄村", 2: "王庄村", 3: "王庄村", 4: "王庄村", 5: "李湾村", 6: "李湾村"}
REVIEW_ADVICE = workflow.WITHDRAWAL_ADVICE["WITHDRAWN_REVIEW"]
OBJECTION_ADVICE = workflow.WITHDRAWAL_ADVICE["WITHDRAWN_OBJECTION"]


class Person:
    def __init__(self, i: int) -> None:
        self.id_number, self.name, self.card_number = make_id(i), make_name(i), make_card(i)
        self.card_last4 = self.card_number[-4:]

    def factors(self) -> dict[str, str]:
        return {"id_number": self.id_number, "name": self.name, "card_digits": self.card_last4}


@pytest.fixture
def config(make_config) -> Config:
    return make_config(RATE_LIMIT_QUERY_PER_CLIENT="1000/60")

@pytest.fixture
def engine(config):
    return engine_for(config)


@pytest.fixture
def withdrawn(seeded, batch_db, config, roster, engine) -> dict[str, Any]:
    """Lines 1 and 2 withdrawn at first review, 3 and 4 after objections in publicity, then indexed.

    1: a plain reason; 2: the reviewer wrote the person's own full name; 3: the objection names
    who objected (another person of the village); 4: the reviewer wrote a phone number."""
    names = {i: make_name(i) for i in LINES}
    with batch_db.session() as s:
        project = s.get(Project, seeded["project"])
        batch = batches.create_batch(s, actor="civil_op", project=project, region_code=COUNTY, year=2025,
                                     period="2025-09", title="高龄津贴9月")
        for i, village in LINES.items():
            values = dict(zip(roster.header, roster.row(i, amount=f"{100 + i}.00", village=village)))
            _, result = batches.add_line(s, config, batch, values, actor="civil_op", scope_region=COUNTY)
            assert result.ok, result.issues
        b = batch.id
    act(batch_db, "civil_op", b, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23),
        withdraw_lines=f"1：经入户核实，该户已迁出本村\n2：{names[2]}已纳入特困供养，不重复享受")
    act(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 23), start="2025-09-23", end="2025-09-26",
        place="各村村务公开栏")
    act(batch_db, "civil_op", b, "objection", date(2025, 9, 24), line_no=3, outcome="withdraw",
        reason=f"村民{names[4]}反映该对象常年在外地居住，经核实属实")
    act(batch_db, "civil_op", b, "objection", date(2025, 9, 24), line_no=4, outcome="withdraw",
        reason="群众来电（13912345678）反映该对象不符合条件，经核实属实")
    sync(batch_db, engine, DocumentBuilder.from_config(config))
    with batch_db.session() as s:
        ids = dict(s.execute(select(PaymentLine.line_no, PaymentLine.id).where(PaymentLine.batch_id == b)).all())
    return {"batch": b, "names": names, "line_ids": ids}


@pytest.fixture
def portal(config, engine, public_db):
    with TestClient(public_app(config, search=engine), base_url="http://testserver") as c:
        yield c


def year_2025(data: dict[str, Any]) -> dict[str, Any]:
    return next(y for y in data["years"] if y["year"] == 2025)


def test_the_person_query_explains_a_line_withdrawn_at_first_review(withdrawn, portal):
    person = Person(1)
    response = portal.post("/api/query", json=person.factors())
    assert response.status_code == 200, response.text
    year = year_2025(response.json())
    assert year["paid"] == [] and year["pending"] == [] and year["failed"] == []
    assert year["total_paid"] == "0.00" and year["total_pending"] == "0.00"
    [line] = year["withdrawn"]
    assert (line["state"], line["state_label"], line["stage"]) == ("withdrawn", "未通过审核", "未通过初审")
    assert line["failure_reason"] == "经入户核实，该户已迁出本村" and line["advice"] == REVIEW_ADVICE
    assert (line["amount"], line["project_name"], line["village"]) == ("101.00", "80周岁以上高龄津贴", "王庄村")

    page = portal.post("/query", data={"csrf_token": csrf_of(portal, "/query"), **person.factors()})
    assert page.status_code == 200
    assert "未通过审核" in page.text and "未通过初审" in page.text
    assert "原因：经入户核实，该户已迁出本村" in page.text and REVIEW_ADVICE in page.text

    # the person's own name in the reviewer's words is masked as the public lists mask it
    own = year_2025(portal.post("/api/query", json=Person(2).factors()).json())["withdrawn"][0]
    assert own["failure_reason"] == f"{mask_name(Person(2).name)}已纳入特困供养，不重复享受"


def test_an_objection_never_tells_who_objected_nor_any_number(withdrawn, portal, engine, config):
    third = year_2025(portal.post("/api/query", json=Person(3).factors()).json())["withdrawn"][0]
    fourth = year_2025(portal.post("/api/query", json=Person(4).factors()).json())["withdrawn"][0]
    for line in (third, fourth):
        assert line["stage"] == "公示异议核实后撤回" and line["advice"] == OBJECTION_ADVICE
        assert line["failure_reason"] == "公示期间收到异议，经核实不符合本期发放条件。"
    # nothing in the private index names anyone or holds a number, for any withdrawn line
    names = withdrawn["names"].values()
    docs = [engine.search("payments", by_key(config, Person(i))).hits for i in LINES]
    flat = [doc for hits in docs for doc in hits]
    assert {doc["state"] for doc in flat} == {"withdrawn", "pending"}
    text = json.dumps(flat, ensure_ascii=False)
    assert not any(name in text for name in names) and not scan_document(flat) and "13912345678" not in text


def test_the_kiosk_shows_the_reason_and_what_to_do(withdrawn, portal, public_db):
    info, secret = kiosk_devices.register_device(public_db, name="王庄村1号机", location="王庄村便民服务中心",
                                                 region_code="410423003201")  # 鲁阳街道 (national data)
    person = Person(3)
    response = api_lookup(portal, (info.device_id, secret), {"id_number": person.id_number,
                                                               "card_number": person.card_number})
    assert response.status_code == 200, response.text
    data = response.json()
    [line] = year_2025(data)["withdrawn"]
    assert line["stage"] == "公示异议核实后撤回" and line["advice"] == OBJECTION_ADVICE
    assert line["failure_reason"] == "公示期间收到异议，经核实不符合本期发放条件。"
    assert data["statements"] == []  # nothing paid: no 明白条
    assert withdrawn["names"][4] not in response.text


def test_the_bot_tells_the_bound_person_why_and_what_next(withdrawn, portal, config):
    tester = WechatTester(portal, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=False)
    openid = "o" + "h13p" * 6
    bind_person(tester, openid, Person(1))
    latest = tester.text(openid, "查询")
    assert "未通过审核（未通过初审）" in latest and "有1笔未通过审核，发送“失败”查看原因和处理办法" in latest
    reply = tester.text(openid, "失败")
    assert "未通过审核的记录（1笔）" in reply and "80周岁以上高龄津贴 101.00元 未通过初审" in reply
    assert "原因：经入户核实，该户已迁出本村" in reply and f"处理办法：{REVIEW_ADVICE}" in reply
    assert "未通过审核 1笔" in tester.text(openid, "明白条 2025")


def test_withdrawn_lines_are_never_disclosed(withdrawn, portal):
    response = portal.get("/disclosures.json", params={"kind": "publicity", "region": COUNTY, "per_page": 100})
    hits = response.json()["hits"]
    assert sorted(hit["amount"] for hit in hits) == ["105.00", "106.00"]  # lines 5 and 6 only
    shown = json.dumps(hits, ensure_ascii=False)
    assert not any(hit["id"] in {f"publicity-{withdrawn['line_ids'][i]}" for i in (1, 2, 3, 4)} for hit in hits)
    assert "经入户核实" not in shown and "公示期间收到异议" not in shown
    page = portal.get("/disclosures", params={"kind": "publicity", "region": COUNTY})
    assert page.status_code == 200 and "101.00" not in page.text and "经入户核实" not in page.text


def by_key(config: Config, person: Person) -> SearchQuery:
    return SearchQuery(filters={"person_key": personkey.person_key(config.hmac_key, person.id_number)}, per_page=100)


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)
