"""Policy list: browse, search, filters with facet counts, paging, detail pages and JSON twins."""

from __future__ import annotations

import pytest


def test_browse_lists_every_policy_with_facets(client, seeded):
    data = client.get("/policies.json").json()
    assert data["total"] == len(seeded.policies)
    assert {"hits", "total", "page", "per_page", "pages", "facets", "query"} <= set(data)
    assert data["facets"]["level"] == {"县": 2, "中央": 1, "市": 1, "省": 1}
    html = client.get("/policies").text
    for policy in seeded.policies:
        assert policy["name"] in html
    assert "民政局 <span class=\"count\">(2)</span>" in html


@pytest.mark.parametrize("q,expected", [("耕地", {"p1"}), ("低保", {"p3", "p5"}), ("豫财农", {"p1"}), ("老", {"p2"})])
def test_full_text_search_short_chinese_terms(client, q, expected):
    data = client.get("/policies.json", params={"q": q}).json()
    assert {hit["id"] for hit in data["hits"]} == expected


def test_search_highlights_matches(client):
    html = client.get("/policies", params={"q": "耕地"}).text
    assert "<mark>耕地</mark>地力保护补贴" in html


def test_filters_narrow_and_keep_other_params(client):
    data = client.get("/policies.json", params={"level": "县", "department": "民政局"}).json()
    assert [hit["id"] for hit in data["hits"]] == ["p5"]
    data = client.get("/policies.json", params={"year": "2023"}).json()
    assert {hit["id"] for hit in data["hits"]} == {"p3", "p4"}
    html = client.get("/policies", params={"level": "县"}).text
    assert "不限政策层级" in html


def test_paging(client):
    first = client.get("/policies.json", params={"per_page": "2"}).json()
    second = client.get("/policies.json", params={"per_page": "2", "page": "2"}).json()
    assert first["pages"] == 3 and len(first["hits"]) == 2
    assert not {h["id"] for h in first["hits"]} & {h["id"] for h in second["hits"]}
    html = client.get("/policies", params={"per_page": "2"}).text
    assert "下一页" in html and "第 1 页，共 3 页" in html


@pytest.mark.parametrize("params,code", [
    ({"page": "0"}, "bad_page"), ({"page": "abc"}, "bad_page"), ({"page": "99"}, "page_out_of_range"),
    ({"level": "乡"}, "bad_level"), ({"year": "20x4"}, "bad_year"), ({"q": "耕" * 101}, "query_too_long"),
    ({"per_page": "1000"}, "bad_per_page"),
])
def test_bad_input_is_400_with_clear_message(client, params, code):
    response = client.get("/policies.json", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    page = client.get("/policies", params=params)
    assert page.status_code == 400 and "请求有误" in page.text


def test_empty_result_gives_help(client):
    html = client.get("/policies", params={"q": "不存在的政策"}).text
    assert "没有找到符合条件的政策" in html


def test_detail_page_and_json(client):
    html = client.get("/policies/p1").text
    for text in ("耕地地力保护补贴", "每亩 120.50 元", "中央财政", "豫财农〔2024〕12号", "到户", "变更记录",
                 "补贴标准由每亩 110 元调整为 120.50 元", "2024年2月20日"):
        assert text in html
    assert 'href="https://czt.henan.gov.cn/"' in html
    data = client.get("/policies/p1.json").json()
    assert data["document_number"] == "豫财农〔2024〕12号"
    assert data["delivery"] == "到户"
    assert len(data["history"]) == 2


def test_unknown_policy_is_404(client):
    assert client.get("/policies/nope").status_code == 404
    assert client.get("/policies/nope.json").json()["error"]["code"] == "not_found"
