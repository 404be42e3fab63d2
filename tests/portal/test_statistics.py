"""Statistics: sums by project, region, year (exact Decimal), timeliness, SVG charts with tables."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from indexer.search.base import SearchQuery
from portal import statistics


def expected_sums(seeded, key, region=None):
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for doc in seeded.disclosures:
        if doc["kind"] == "result" and (region is None or region in doc["region_codes"]):
            sums[str(doc[key])] += Decimal(doc["amount"])
    return {k: f"{v:.2f}" for k, v in sums.items()}


def test_totals_match_the_published_lines(client, seeded):
    data = client.get("/statistics.json").json()
    results = [d for d in seeded.disclosures if d["kind"] == "result"]
    assert data["totals"]["lines"] == len(results)
    assert data["totals"]["amount"] == f"{sum(Decimal(d['amount']) for d in results):.2f}"
    assert {r["name"]: r["amount"] for r in data["by_project"]} == expected_sums(seeded, "project_name")
    assert {r["name"]: r["amount"] for r in data["by_region"]} == expected_sums(seeded, "county")
    assert {r["name"]: r["amount"] for r in data["by_year"]} == expected_sums(seeded, "year")
    assert 0 < data["totals"]["persons_approx"] <= len(results)


def test_region_filter_groups_one_level_down(client, seeded):
    data = client.get("/statistics.json", params={"region": "410423"}).json()
    assert data["region_level"] == "township"
    assert {r["name"]: r["amount"] for r in data["by_region"]} == expected_sums(seeded, "township", "410423")
    assert all(len(r["code"]) == 9 for r in data["by_region"])


def test_timeliness_counts_batches(client):
    t = client.get("/statistics.json").json()["timeliness"]
    assert t["limit_days"] == 20
    assert t["batches"] > 0
    assert sum(b["count"] for b in t["buckets"]) == t["batches"]


def test_page_has_svg_charts_and_text_tables(client):
    html = client.get("/statistics").text
    assert html.count("<svg") >= 3 and "<rect" in html
    assert "<table" in html and "耕地地力保护补贴" in html and "发放金额合计" in html
    assert " style=" not in html


def test_bad_params(client):
    assert client.get("/statistics.json", params={"year": "x"}).json()["error"]["code"] == "bad_year"
    assert client.get("/statistics.json", params={"region": "123456"}).json()["error"]["code"] == "unknown_region"


def test_iter_documents_splits_past_the_window(search_engine, monkeypatch):
    docs = [{"id": f"x{i:04d}", "kind": "result", "year": 2023 + i % 2, "township": f"镇{i % 3}",
             "village": f"村{i % 7}", "amount": "1.00", "region_codes": ["41"]} for i in range(300)]
    search_engine.replace_documents("disclosures", docs)
    monkeypatch.setattr(statistics, "MAX_WINDOW", 40)
    seen = [d["id"] for d in statistics.iter_documents(search_engine, {"kind": "result"})]
    assert sorted(seen) == sorted(d["id"] for d in docs)
    assert search_engine.search("disclosures", SearchQuery()).total == 300
