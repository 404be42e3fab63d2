"""Statistics page and JSON over a ``statistics`` index rebuilt by the indexer from a fixture batch
database: exact sums, drill-down, policy filter, withheld cells, SVG charts with tables, 503
without an index."""

from __future__ import annotations

from decimal import Decimal

import pytest

from indexer.documents import DocumentBuilder
from indexer.rebuild import rebuild
from tests.indexer.test_statistics import build_stats_db, expected_cells


@pytest.fixture
def stats(batch_db, config, search_engine):
    build_stats_db(batch_db, config)
    rebuild(batch_db, search_engine, DocumentBuilder.from_config(config), only=["statistics"])
    return expected_cells(batch_db)


def _amount(cell) -> str:
    return f"{Decimal(cell['cents']) / 100:.2f}"


def test_totals_by_policy_and_year_are_exact(client, stats):
    data = client.get("/statistics.json").json()
    total = stats[(0, "*", "*", "")]
    assert data["totals"]["amount"] == _amount(total)
    assert (data["totals"]["lines"], data["totals"]["persons"]) == (total["lines"], len(total["persons"]))
    assert {r["name"]: r["amount"] for r in data["by_policy"]} == {
        k[1]: _amount(v) for k, v in stats.items() if k[0] == 0 and k[1] != "*" and k[2] == "*"}
    assert {r["name"]: (r["lines"], r["persons"]) for r in data["by_year"]} == {
        str(k[0]): (v["lines"], len(v["persons"])) for k, v in stats.items() if k[0] and k[1:] == ("*", "*", "")}
    assert [r["name"] for r in data["by_region"]] == ["鲁山县"] and data["region_level"] == "county"
    assert data["years"] == [2025, 2024]
    t = data["timeliness"]
    assert t["batches"] == 2 and t["limit_days"] == 5 and t["payment_limit_days"] == 20


def test_region_drill_down_and_filters(client, stats):
    data = client.get("/statistics.json", params={"region": "410423", "year": "2024"}).json()
    assert data["region_level"] == "township"
    assert {r["code"]: r["amount"] for r in data["by_region"] if not r["suppressed"]} == {
        k[3]: _amount(v) for k, v in stats.items() if k[:3] == (2024, "*", "township") and len(v["persons"]) >= 3}
    assert data["totals"]["amount"] == _amount(stats[(2024, "*", "county", "410423")])
    villages = client.get("/statistics.json", params={"region": "410423103", "year": "2024"}).json()
    assert villages["region_level"] == "village"
    lonely = next(r for r in villages["by_region"] if r["code"] == "410423103099")
    assert lonely["suppressed"] and lonely["amount"] is None and lonely["persons"] is None
    policy = client.get("/statistics.json", params={"policy": "耕地地力保护补贴", "region": "410423"}).json()
    assert policy["by_policy"] == []
    assert policy["totals"]["lines"] == stats[(0, "耕地地力保护补贴", "county", "410423")]["lines"]
    empty = client.get("/statistics.json", params={"policy": "没有这个政策"}).json()
    assert empty["totals"]["lines"] == 0 and empty["by_region"] == []


def test_page_has_svg_charts_and_text_tables(client, stats):
    html = client.get("/statistics").text
    assert html.count("<svg") >= 3 and "<rect" in html
    assert "<table" in html and "耕地地力保护补贴" in html and "发放金额合计" in html
    assert "发放后公开结果" in html and "鲁山县农业农村局" in html
    assert " style=" not in html
    village_page = client.get("/statistics", params={"region": "410423103", "year": "2024"}).text
    assert "—" in village_page  # the withheld village


def test_empty_index_renders_an_empty_page(client):
    data = client.get("/statistics.json").json()
    assert data["totals"]["lines"] == 0 and data["by_policy"] == [] and data["timeliness"]["batches"] == 0
    assert client.get("/statistics").status_code == 200


def test_no_index_is_503(client, search_engine):
    search_engine.delete_index("statistics")
    response = client.get("/statistics.json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "search_unavailable"
    assert client.get("/statistics").status_code == 503


def test_bad_params(client):
    assert client.get("/statistics.json", params={"year": "x"}).json()["error"]["code"] == "bad_year"
    assert client.get("/statistics.json", params={"region": "123456"}).json()["error"]["code"] == "unknown_region"
    assert client.get("/statistics.json", params={"policy": "x" * 101}).json()["error"]["code"] == "bad_policy"
