"""Disclosure search: one box, region drill-down, facets, sorting, paging, validation."""

from __future__ import annotations

import pytest

from portal.disclosures import DisclosureParams, build_query, parse_params


def brute(seeded, q: str = "", **filters):
    fields = ("name_masked", "village", "township", "county", "project_name", "policy_name")
    out = []
    for doc in seeded.disclosures:
        if any(not any(term in str(doc[f]) for f in fields) for term in q.split()):
            continue
        if "region" in filters and filters["region"] not in doc["region_codes"]:
            continue
        if "year" in filters and doc["year"] != filters["year"]:
            continue
        if "kind" in filters and doc["kind"] != filters["kind"]:
            continue
        out.append(doc)
    return out


def test_build_query_is_pure_and_complete():
    p = DisclosureParams(q="王", region="410423", project="GDDL", year=2024, kind="result", sort="amount", page=2)
    query = build_query(p)
    assert query.filters == {"region_codes": "410423", "project_code": "GDDL", "year": 2024, "kind": "result"}
    assert query.sort == [("amount_cents", "desc")]
    assert "township" in query.facets and query.page == 2


def test_parse_params_defaults():
    assert parse_params({}) == DisclosureParams()


@pytest.mark.parametrize("q", ["王", "王庄", "庄村", "高龄", "鲁山县 耕地"])
def test_search_matches_brute_force(client, seeded, q):
    data = client.get("/disclosures.json", params={"q": q, "per_page": "100"}).json()
    expected = brute(seeded, q)
    assert data["total"] == len(expected) > 0
    assert {h["id"] for h in data["hits"]} == {d["id"] for d in expected[:100]} or data["total"] > 100


def test_json_shape_and_masked_hits(client):
    data = client.get("/disclosures.json", params={"q": "王"}).json()
    assert {"hits", "total", "page", "per_page", "pages", "facets", "query"} <= set(data)
    assert data["query"]["q"] == "王"
    assert all("*" in hit["name_masked"] for hit in data["hits"])


def test_region_drill_down_county_township_village(client, seeded):
    top = client.get("/disclosures.json").json()
    counties = {d["name"]: d for d in top["drilldown"]}
    assert set(counties) == {"鲁山县", "秀山县"}
    assert counties["鲁山县"]["code"] == "410423"
    assert counties["鲁山县"]["count"] == len(brute(seeded, region="410423"))
    county = client.get("/disclosures.json", params={"region": "410423"}).json()
    assert county["total"] == counties["鲁山县"]["count"]
    township = county["drilldown"][0]
    assert township["level"] == "township" and len(township["code"]) == 9
    in_township = client.get("/disclosures.json", params={"region": township["code"]}).json()
    assert in_township["total"] == township["count"] == len(brute(seeded, region=township["code"]))
    village = in_township["drilldown"][0]
    assert village["level"] == "village" and len(village["code"]) == 12
    in_village = client.get("/disclosures.json", params={"region": village["code"]}).json()
    assert in_village["total"] == village["count"]
    assert {h["village"] for h in in_village["hits"]} == {village["name"]}
    html = client.get("/disclosures", params={"region": village["code"]}).text
    assert "全部地区" in html and "鲁山县" in html and village["name"] in html


def test_facet_links_narrow_results(client, seeded):
    html = client.get("/disclosures").text
    assert "year=2024" in html and "kind=publicity" in html and "project=GDDL" in html
    data = client.get("/disclosures.json", params={"year": "2024", "kind": "publicity"}).json()
    assert data["total"] == len(brute(seeded, year=2024, kind="publicity"))
    assert data["facets"]["kind"] == {"publicity": data["total"]}
    by_project = client.get("/disclosures.json", params={"project": "GLJT"}).json()
    assert {h["project_name"] for h in by_project["hits"]} == {"高龄津贴"}


def test_sorting_by_amount_and_date(client):
    amounts = [h["amount_cents"] for h in client.get("/disclosures.json", params={"sort": "amount"}).json()["hits"]]
    assert amounts == sorted(amounts, reverse=True)
    dates = [h["date"] for h in client.get("/disclosures.json", params={"sort": "date_asc"}).json()["hits"]]
    assert dates == sorted(dates)
    newest = [h["date"] for h in client.get("/disclosures.json").json()["hits"]]
    assert newest == sorted(newest, reverse=True)


def test_paging_has_no_overlap_and_links(client):
    one = client.get("/disclosures.json", params={"page": "1"}).json()
    two = client.get("/disclosures.json", params={"page": "2"}).json()
    assert one["pages"] == 10
    assert not {h["id"] for h in one["hits"]} & {h["id"] for h in two["hits"]}
    html = client.get("/disclosures", params={"q": "村", "page": "2"}).text
    assert 'rel="prev"' in html and "page=3" in html


def test_highlighted_matches(client):
    html = client.get("/disclosures", params={"q": "庄村"}).text
    assert "王<mark>庄村</mark>" in html


def test_empty_result_help(client):
    response = client.get("/disclosures", params={"q": "没有这种人"})
    assert response.status_code == 200
    assert "试试只输入姓氏或村名" in response.text


@pytest.mark.parametrize("params,code", [
    ({"q": "王" * 101}, "query_too_long"),
    ({"q": " ".join("abcdefghijk")}, "too_many_terms"),
    ({"page": "0"}, "bad_page"), ({"page": "-1"}, "bad_page"), ({"page": "1.5"}, "bad_page"),
    ({"page": "501"}, "page_out_of_range"), ({"page": "11"}, "page_out_of_range"),
    ({"region": "999999"}, "unknown_region"), ({"region": "abc"}, "unknown_region"),
    ({"region": "999999999001"}, "unknown_region"),
    ({"year": "twenty"}, "bad_year"), ({"kind": "secret"}, "bad_kind"),
    ({"project": "<script>"}, "bad_project"), ({"sort": "name"}, "bad_sort"),
    ({"per_page": "0"}, "bad_per_page"),
])
def test_bad_input(client, params, code):
    response = client.get("/disclosures.json", params=params)
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == code and body["message"]
    page = client.get("/disclosures", params=params)
    assert page.status_code == 400
    assert body["message"] in page.text and "Traceback" not in page.text


def test_page_beyond_window_message_is_clear(client):
    message = client.get("/disclosures.json", params={"page": "501"}).json()["error"]["message"]
    assert "最多只能翻到第 500 页" in message
