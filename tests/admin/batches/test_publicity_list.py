"""The village publicity list (村务公开栏, admin/batches/publicity.py) against the online 公示名单:
publicity_open → outbox → indexer sync → the portal's /disclosures.json?kind=publicity, and the
printable page, its JSON twin and PDF per village, with the same lines masked the same way."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from admin.batches import service as batches, workflow
from admin.models import Operator, Project
from cli.apps import public_app
from core.pdf import find_cjk_font
from indexer.documents import DocumentBuilder
from indexer.masking import mask_name, scan_for_personal_data
from indexer.sync import sync
from search import engine_for
from tests.admin.conftest import COUNTY
from tests.admin.conftest import act

WANGZHUANG, LIWAN, ZHANGDIAN = "410423100001", "410423100002", "410423101001"
VILLAGE_NAMES = {WANGZHUANG: "王庄村", LIWAN: "李湾村", ZHANGDIAN: "张店村"}
# line no → (village, amount): every amount differs, so a line can be told by its amount
LINES = {1: ("王庄村", "101.00"), 2: ("李湾村", "102.00"), 3: ("王庄村", "103.00"), 4: ("王庄村", "104.00"),
         5: ("张店村", "105.00")}
CONTACT = "鲁山县民政局社会救助股 0375-5051234"

@pytest.fixture
def reviewed(seeded, batch_db, config, roster) -> dict[str, Any]:
    """A county batch of the civil department (five lines in three villages of two townships), submitted
    and passed at first review: publicity may open."""
    with batch_db.session() as s:
        project = s.get(Project, seeded["project"])
        batch = batches.create_batch(s, actor="civil_op", project=project, region_code=COUNTY, year=2025,
                                     period="2025-09", title="高龄津贴9月")
        names = {}
        for i, (village, amount) in LINES.items():
            values = dict(zip(roster.header, roster.row(i, amount=amount, village=village)))
            line, result = batches.add_line(s, config, batch, values, actor="civil_op", scope_region=COUNTY)
            assert result.ok, result.issues
            names[i] = values["姓名"]
        batch_id = batch.id
    act(batch_db, "civil_op", batch_id, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", batch_id, "review_pass", date(2025, 9, 23))
    return {"batch": batch_id, "names": names}


def open_publicity(batch_db, batch_id: int) -> None:
    act(batch_db, "civil_op", batch_id, "publicity_open", date(2025, 9, 23), start=date(2025, 9, 23),
        end=date(2025, 9, 26), place="各村村务公开栏", contact=CONTACT)


@pytest.fixture
def engine(config):
    return engine_for(config)


@pytest.fixture
def portal(config, engine, public_db):
    with TestClient(public_app(config, search=engine), base_url="http://testserver") as c:
        yield c


def index_now(batch_db, engine, config) -> None:
    sync(batch_db, engine, DocumentBuilder.from_config(config))


def online(portal: TestClient, village: str) -> list[dict[str, Any]]:
    """The portal's 公示名单 of one village. The test villages are not in the national region data the
    portal checks a ``region`` code against (their township 410423100 is made up), so the county's list
    is read and its hits kept by the village name they carry."""
    response = portal.get("/disclosures.json", params={"kind": "publicity", "region": COUNTY, "per_page": 100})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["total"] == len(data["hits"])
    assert all(hit["kind"] == "publicity" for hit in data["hits"])
    return [hit for hit in data["hits"] if hit["village"] == VILLAGE_NAMES[village]]


def shown(rows: list[dict[str, Any]]) -> Counter:
    return Counter((row["name_masked"], row["amount"]) for row in rows)


def test_the_village_list_has_the_lines_and_masking_of_the_online_list(reviewed, batch_db, config, engine, portal,
                                                                        user_client):
    b, names = reviewed["batch"], reviewed["names"]
    index_now(batch_db, engine, config)
    assert online(portal, WANGZHUANG) == []  # not public before publicity opens
    open_publicity(batch_db, b)
    index_now(batch_db, engine, config)

    clerk = user_client("clerk")
    for village, expected in ((WANGZHUANG, {1, 3, 4}), (LIWAN, {2})):
        page = clerk.get(f"/batches/{b}/publicity/{village}.json")
        assert page.status_code == 200, page.text
        data = page.json()
        web = online(portal, village)
        # the same lines, the same masked names, the same amounts
        assert shown(data["lines"]) == shown(web)
        assert {line["line_no"] for line in data["lines"]} == expected
        assert {row["name_masked"] for row in web} == {mask_name(names[i]) for i in expected}
        assert data["count"] == len(web)
        assert Decimal(data["total"]) == sum(Decimal(row["amount"]) for row in web)
        assert data["publicity"]["start"] == "2025-09-23" and data["publicity"]["end"] == "2025-09-26"
        assert data["publicity"]["place"] == "各村村务公开栏" and data["publicity"]["contact"] == CONTACT
        assert data["online_url"].endswith(f"/disclosures?kind=publicity&region={village}&project=GLJT-410423")

    html = clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}")
    assert html.status_code == 200
    text = html.text
    for i in (1, 3, 4):
        assert mask_name(names[i]) in text and names[i] not in text
    assert names[2] not in text and mask_name(names[2]) not in text  # another village's line
    assert "101.00" in text and "103.00" in text and "104.00" in text and "102.00" not in text
    assert "公示期：2025年9月23日至2025年9月26日" in text and "公示地点：各村村务公开栏" in text
    assert CONTACT in text and "/complaints/new" in text
    assert "本村（社区）共 3 人（户），合计 308.00 元。" in text
    assert "size:A4 portrait" in text
    assert not [hit for hit in scan_for_personal_data(text) if not hit.startswith("phone:")]
    assert "size:A3 portrait" in clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}?paper=a3").text
    bad = clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}.json?paper=A5")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_paper"


@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font (fonts-wqy-microhei)")
def test_the_village_list_as_a_pdf_on_a4_and_a3(reviewed, batch_db, user_client):
    b = reviewed["batch"]
    open_publicity(batch_db, b)
    clerk = user_client("clerk")
    sizes = {}
    for paper in ("A4", "A3"):
        response = clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}.pdf?paper={paper}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
        assert "no-store" in response.headers["cache-control"]
        sizes[paper] = response.content
    assert b"/MediaBox [0 0 595.28 841.89]" in sizes["A4"] and b"/MediaBox [0 0 841.89 1190.55]" in sizes["A3"]


def test_an_objection_that_withdraws_a_line_takes_it_off_the_web_and_the_board(reviewed, batch_db, config, engine,
                                                                              portal, user_client):
    b, names = reviewed["batch"], reviewed["names"]
    open_publicity(batch_db, b)
    index_now(batch_db, engine, config)
    assert (mask_name(names[3]), "103.00") in shown(online(portal, WANGZHUANG))

    act(batch_db, "civil_op", b, "objection", date(2025, 9, 24), line_no=3, outcome="withdraw",
        reason="经核实不符合条件")
    index_now(batch_db, engine, config)
    web = online(portal, WANGZHUANG)
    assert shown(web) == Counter({(mask_name(names[1]), "101.00"): 1, (mask_name(names[4]), "104.00"): 1})
    board = user_client("civil_op").get(f"/batches/{b}/publicity/{WANGZHUANG}.json").json()
    assert shown(board["lines"]) == shown(web) and board["count"] == 2 and board["total"] == "205.00"

    # publicity over: the web list is gone, the board list can still be reprinted as it stood
    act(batch_db, "civil_rev", b, "publicity_close", date(2025, 9, 26))
    index_now(batch_db, engine, config)
    assert online(portal, WANGZHUANG) == []
    reprint = user_client("clerk").get(f"/batches/{b}/publicity/{WANGZHUANG}")
    assert reprint.status_code == 200 and "公示期已结束" in reprint.text and mask_name(names[4]) in reprint.text


def test_a_stricter_deployment_policy_masks_the_board_as_it_masks_the_web(reviewed, batch_db, config, engine,
                                                                         portal, user_client):
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "masking.json").write_text(json.dumps({"name_style": "surname"}), encoding="utf-8")
    b, names = reviewed["batch"], reviewed["names"]
    open_publicity(batch_db, b)
    index_now(batch_db, engine, config)
    board = user_client("clerk").get(f"/batches/{b}/publicity/{WANGZHUANG}.json").json()
    web = online(portal, WANGZHUANG)
    assert shown(board["lines"]) == shown(web)
    assert {line["name_masked"] for line in board["lines"]} == {names[i][0] + "**" for i in (1, 3, 4)}


def test_postings_are_shown_per_village_on_the_list_and_the_batch_page(reviewed, batch_db, user_client):
    b = reviewed["batch"]
    clerk = user_client("clerk")
    assert "publicity-links" not in clerk.get(f"/batches/{b}").text  # no list before publicity
    open_publicity(batch_db, b)
    with batch_db.session() as s:
        operator = s.execute(select(Operator).where(Operator.username == "clerk")).scalar_one()
        workflow.record_posting(s, operator, b, village_code=WANGZHUANG, place="王庄村村委会村务公开栏",
                                posted_on=date(2025, 9, 23), photo_ref="uploads/posting-1.jpg", today=date(2025, 9, 24))
    page = clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}")
    assert "王庄村村委会村务公开栏" in page.text and "已上传" in page.text and "2025年9月23日" in page.text
    assert "尚未登记张贴记录" in clerk.get(f"/batches/{b}/publicity/{LIWAN}").text

    batch_page = clerk.get(f"/batches/{b}")
    assert 'id="publicity-links"' in batch_page.text
    assert f'href="/batches/{b}/publicity/{WANGZHUANG}.pdf"' in batch_page.text
    assert "王庄村村委会村务公开栏" in batch_page.text
    index = clerk.get(f"/batches/{b}/publicity.json").json()
    # the clerk sees the villages of the own township only
    assert [(v["code"], v["lines"], v["total"]) for v in index["villages"]] == [(WANGZHUANG, 3, "308.00"),
                                                                               (LIWAN, 1, "102.00")]
    assert [p["place"] for p in index["villages"][0]["postings"]] == ["王庄村村委会村务公开栏"]
    assert index["villages"][0]["postings"][0]["photo"] is True and index["villages"][1]["postings"] == []
    other = user_client("clerk2").get(f"/batches/{b}/publicity.json").json()
    assert [v["code"] for v in other["villages"]] == [ZHANGDIAN]


def test_who_may_print_which_village_and_when(reviewed, seeded, batch_db, user_client, unchanged):
    b = reviewed["batch"]
    clerk, clerk2 = user_client("clerk"), user_client("clerk2")
    agri_op, far_auditor, auditor = user_client("agri_op"), user_client("other_auditor"), user_client("auditor")
    assert clerk.get(f"/batches/{b}/publicity/{WANGZHUANG}.json").status_code == 409  # not in publicity yet
    open_publicity(batch_db, b)
    with unchanged():
        refused = clerk2.get(f"/batches/{b}/publicity/{WANGZHUANG}.json")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert clerk2.get(f"/batches/{b}/publicity/{WANGZHUANG}").status_code == 403
        assert clerk2.get(f"/batches/{b}/publicity/{WANGZHUANG}.pdf").status_code == 403
        assert clerk.get(f"/batches/{b}/publicity/410423100009.json").status_code == 404  # no lines there
        assert clerk.get(f"/batches/{b}/publicity/abc.json").status_code == 404
        assert clerk.get(f"/batches/{seeded['batch2']}/publicity/{WANGZHUANG}.json").status_code == 409
        assert agri_op.get(f"/batches/{b}/publicity/{WANGZHUANG}.json").status_code == 404  # not its project
        assert far_auditor.get(f"/batches/{b}/publicity.json").status_code == 404  # another county
    assert clerk2.get(f"/batches/{b}/publicity/{ZHANGDIAN}.json").json()["count"] == 1
    assert auditor.get(f"/batches/{b}/publicity/{ZHANGDIAN}.json").status_code == 200
