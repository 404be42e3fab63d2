"""The app shell: layout, navigation, error contract, large-type mode, security and caching."""

from __future__ import annotations

import gzip

import pytest

from core import personkey
from portal.statements import make_statement_token


def test_home_page_has_layout_nav_and_search(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="zh-CN"' in html
    assert 'href="#main"' in html and "跳到主要内容" in html
    for label in ("首页", "政策清单", "发放公开", "我的补贴", "投诉举报", "统计"):
        assert f">{label}</a>" in html
    assert 'aria-current="page">首页' in html
    assert 'name="q"' in html and "<label" in html
    assert "主办单位" in html and "联系电话" in html
    assert "演示数据" not in html  # not in demo mode


def test_home_lists_latest_results(client, seeded):
    html = client.get("/").text
    newest = max(seeded.disclosures, key=lambda d: (d["date"], d["id"]))
    assert newest["name_masked"] in html
    assert "最新发放结果" in html


def test_demo_banner_in_demo_mode(make_config, search_engine, public_db):
    from starlette.testclient import TestClient

    from portal.app import create_app

    config = make_config(YIKATONG_DEMO="1")
    with TestClient(create_app(config, search=search_engine)) as client:
        for path in ("/", "/no-such-page"):
            assert "演示数据" in client.get(path).text


def test_large_text_toggle_sets_cookie_and_class(client):
    response = client.get("/large-text?on=1&next=/home.json", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/home.json"
    assert "yk_large=1" in response.headers["set-cookie"]
    page = client.get("/")
    assert '<html lang="zh-CN" class="large"' in page.text
    assert "标准版" in page.text
    response = client.post("/large-text", data={"on": "0", "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    assert 'class="large"' not in client.get("/").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_large_text_never_redirects_off_site(client, target):
    response = client.get("/large-text", params={"on": "1", "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_not_found_is_chinese_page_and_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "页面不存在" in page.text and "Traceback" not in page.text
    data = client.get("/no-such.json")
    assert data.status_code == 404
    assert data.json()["error"]["code"] == "not_found"


def test_method_not_allowed(client):
    response = client.post("/home.json", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_security_headers(client):
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]


def test_no_inline_scripts_or_styles_in_layout(client):
    html = client.get("/").text
    assert "<script>" not in html and " style=" not in html and "<style" not in html


def test_etag_and_conditional_get(client):
    first = client.get("/")
    etag = first.headers["etag"]
    assert "public" in first.headers["cache-control"]
    second = client.get("/", headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    changed = client.get("/", headers={"If-None-Match": 'W/"something-else"'})
    assert changed.status_code == 200


def test_gzip(client):
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"
    raw = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)


@pytest.mark.parametrize("path", ["/query", "/api/query", "/kiosk", "/complaints"])
def test_personal_paths_are_never_cached(client, path):
    response = client.get(path)
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_a_statement_is_never_cached(client, config, seeded):
    # a real statement link of a seeded person (the page shows the full name and every amount)
    person = seeded.people[0]
    token = make_statement_token(config.session_secret, personkey.person_key(config.hmac_key, person.id_number),
                                 2024, person.name)
    response = client.get(f"/statement/{token}")
    assert response.status_code == 200 and person.name in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_body_too_large_is_413(client):
    response = client.post("/api/query", content=b"x" * (200 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_static_css_served(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]


def test_healthz_reports_versions_counts_and_store(client, seeded):
    response = client.get("/healthz")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok" and data["public_store"] is True
    assert data["indexes"]["disclosures"] == len(seeded.disclosures)
    assert data["indexes"]["policies"] == len(seeded.policies)
    assert set(data["versions"]) == {"app", "python", "starlette", "engine"}
    assert "tantivy" in data["versions"]["engine"]
    assert response.headers["cache-control"] == "no-store"


def test_healthz_degraded_when_store_unreachable(make_config, search_engine, tmp_path):
    from starlette.testclient import TestClient

    from portal.app import create_app

    config = make_config(PUBLIC_DATABASE_URL="postgresql+psycopg2://nobody@127.0.0.1:1/none?connect_timeout=1")
    with TestClient(create_app(config, search=search_engine)) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["public_store"] is False


def test_status_json_shows_freshness(client, seeded):
    data = client.get("/status.json").json()
    assert data["disclosures"]["newest_date"] == max(d["date"] for d in seeded.disclosures)
    assert data["disclosures"]["total"] == len(seeded.disclosures)
    assert sum(data["disclosures"]["by_kind"].values()) == len(seeded.disclosures)


def _json_routes(app):
    from starlette.routing import Mount, Route

    out = []

    def walk(routes, prefix=""):
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes or [], prefix + route.path)
            elif isinstance(route, Route):
                path = prefix + route.path
                if path.startswith(("/kiosk/", "/wechat")):  # device API (signed) and WeChat: not public APIs
                    continue
                if path.endswith(".json") or path.startswith("/api/") or path == "/healthz" or path.endswith(".csv"):
                    out.append((path, route.methods or set()))

    walk(app.routes)
    return out


def test_openapi_covers_every_json_route(client, portal_app):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path, methods in _json_routes(portal_app):
        assert path in doc["paths"], path
        for method in methods - {"HEAD"}:
            assert method.lower() in doc["paths"][path], (path, method)
    for required in ("/policies.json", "/disclosures.json", "/disclosures.csv", "/statistics.json", "/healthz",
                     "/api/query", "/api/complaints", "/api/complaints/{code}"):
        assert required in doc["paths"]
    body = doc["paths"]["/api/query"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"id_number", "name", "card_digits"}


def test_missing_index_is_503_not_500(make_config, tmp_path, public_db):
    from starlette.testclient import TestClient

    from search import make_engine
    from portal.app import create_app

    engine = make_engine(tmp_path / "never-built")
    with TestClient(create_app(make_config(), search=engine)) as client:
        for path in ("/disclosures.json", "/policies.json", "/statistics.json"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.json()["error"]["code"] == "search_unavailable"
        page = client.get("/disclosures")
        assert page.status_code == 503 and "暂时不可用" in page.text
        assert client.get("/").status_code == 200  # the home page still works
