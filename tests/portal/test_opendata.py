"""Open data CSV export: masked, streamed, capped, Excel-friendly."""

from __future__ import annotations

import csv
import io

from tests.portal.test_disclosures import brute


def read_csv(response):
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_export_of_a_search(client, seeded):
    response = client.get("/disclosures.csv", params={"q": "王庄村"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response)
    assert rows[0][:2] == ["类型", "姓名（已隐去）"]
    expected = brute(seeded, "王庄村")
    assert len(rows) - 1 == len(expected) == int(response.headers["x-total-count"])
    assert {r[4] for r in rows[1:]} == {"王庄村"}
    assert all("*" in r[1] for r in rows[1:])


def test_csv_is_capped_and_says_so(make_config, search_engine, seeded, public_db):
    from starlette.testclient import TestClient

    from portal.app import create_app

    app = create_app(make_config(OPEN_DATA_MAX_ROWS="150"), search=search_engine)
    with TestClient(app) as client:
        response = client.get("/disclosures.csv")
        assert response.headers["x-open-data-max-rows"] == "150"
        assert response.headers["x-total-count"] == "200"
        assert len(read_csv(response)) == 151
        assert "最多 150 条" in client.get("/opendata").text


def test_csv_bad_params_are_400(client):
    response = client.get("/disclosures.csv", params={"region": "000"})
    assert response.status_code == 400
    assert "地区" in response.text


def test_csv_neutralises_formulas(search_engine, client):
    search_engine.replace_documents("disclosures", [{
        "id": "evil", "kind": "result", "name_masked": "=HYPERLINK(1)", "region_codes": ["41"], "village": "王庄村",
        "amount": "1.00", "amount_cents": 100, "date": "2024-01-01", "year": 2024}])
    rows = read_csv(client.get("/disclosures.csv", params={"q": "HYPERLINK"}))
    assert rows[1][1] == "'=HYPERLINK(1)"


def test_opendata_page_states_the_cap(client):
    html = client.get("/opendata").text
    assert "最多 10000 条" in html and "/disclosures.csv" in html
