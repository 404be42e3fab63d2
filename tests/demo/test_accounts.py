"""Demo operator accounts (one per role) and the clerk's sample roster: created by a demo build,
usable at once through the admin app, scoped to the demo data, listed only in demo mode."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

import cli
from admin.access.roles import ROLE_LABELS
from admin.models import Batch, Operator
from cli.apps import admin_app
from core.config import Config
from core.db import Database
from demo.accounts import ACCOUNTS, BAD_KINDS, CLERK_TOWNSHIP, DEMO_PASSWORD, demo_accounts, roster_file
from demo.build import build
from tests.conftest import TEST_SECRETS, _fresh_url

N = 600
SEED = 5


def _config(data_dir: Path, batch_url: str, public_url: str, demo_mode: bool = True) -> Config:
    return Config.from_env({
        "YIKATONG_DATA_DIR": str(data_dir), "YIKATONG_DEMO": "1" if demo_mode else "0",
        "BATCH_DATABASE_URL": batch_url, "PUBLIC_DATABASE_URL": public_url, **TEST_SECRETS,
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    tmp = tmp_path_factory.mktemp("demoaccounts")
    url, cleanup = _fresh_url(tmp, "demoacc")
    config = _config(tmp / "data", url, f"sqlite:///{tmp / 'public.sqlite3'}")
    build(config, N, SEED)
    yield config
    cleanup()  # type: ignore[operator]


def _client(config: Config) -> TestClient:
    return TestClient(admin_app(config))


def _token(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, (path, page.status_code)
    return match.group(1)


def _login(client: TestClient, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                           "csrf_token": _token(client, "/login")}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/", response.text


def _draft_batch_id(config: Config) -> int:
    db = Database(config.batch_database_url)
    try:
        with db.session() as s:
            return s.scalars(select(Batch.id).where(Batch.state == "draft", Batch.code.like("410423-NCDB-%"))).one()
    finally:
        db.dispose()


def test_one_account_per_role_created_without_a_forced_password_change(built: Config) -> None:
    assert {a.role for a in ACCOUNTS} == set(ROLE_LABELS)
    db = Database(built.batch_database_url)
    try:
        with db.session() as s:
            stored = {o.username: o for o in s.scalars(select(Operator))}
            assert set(stored) == {a.username for a in ACCOUNTS}
            for account in ACCOUNTS:
                operator = stored[account.username]
                assert (operator.role, operator.region_code, operator.name) == (
                    account.role, account.region_code, account.name)
                assert operator.must_change_password is False and operator.active
    finally:
        db.dispose()
    listed = demo_accounts(built)
    assert [a["username"] for a in listed] == [a.username for a in ACCOUNTS]
    assert all(a["password"] == DEMO_PASSWORD and a["role_label"] == ROLE_LABELS[a["role"]] for a in listed)


@pytest.mark.parametrize("account", ACCOUNTS, ids=lambda a: a.username)
def test_every_account_logs_in_and_sees_only_its_scope(built: Config, account) -> None:
    draft = _draft_batch_id(built)
    with _client(built) as client:
        _login(client, account.username)
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 200 and account.name in home.text  # no detour to /password
        listing = client.get("/batches.json?page=1").json()
        assert listing["total"] > 0
        assert all(b["code"].startswith("410423-") for b in listing["batches"])
        other_county = client.get("/batches.json?q=500241-").json()
        assert other_county["total"] == 0  # 秀山县 and 禄劝县 lie outside every demo account's scope
        assert client.get(f"/batches/{draft}", follow_redirects=False).status_code == 200


def test_clerk_sees_its_township_draft_batch_and_auditor_cannot_change_anything(built: Config) -> None:
    draft = _draft_batch_id(built)
    sample = roster_file(built)
    with _client(built) as client:
        _login(client, "demo_clerk")
        drafts = client.get("/batches.json?state=draft").json()
        assert draft in [b["id"] for b in drafts["batches"]]
    with _client(built) as client:
        _login(client, "demo_auditor")
        token = _token(client, f"/batches/{draft}")
        response = client.post(f"/batches/{draft}/import", data={"csrf_token": token},
                               files={"file": ("r.xlsx", sample.data)}, follow_redirects=False)
        assert response.status_code == 403
        assert client.get("/operators/new", follow_redirects=False).status_code in (403, 404, 405)


def test_clerk_imports_the_sample_roster_and_gets_exactly_the_bad_lines(built: Config) -> None:
    draft = _draft_batch_id(built)
    sample = roster_file(built)
    assert sample.batch_id == draft
    assert sorted(sample.bad.values()) == sorted(code for code, _label in BAD_KINDS)
    with _client(built) as client:
        _login(client, "demo_clerk")
        token = _token(client, f"/batches/{draft}")
        response = client.post(f"/batches/{draft}/import", data={"csrf_token": token},
                               files={"file": ("演示花名册.xlsx", sample.data)}, follow_redirects=False)
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith(f"/batches/{draft}/imports/"), location
        page = client.get(location).text
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>(.*?)</td>", page)
    reported = {int(line): re.findall(r'data-code="([A-Z_]+)"', issues) for line, issues in rows}
    assert reported == {line: [code] for line, code in sample.bad.items()}
    assert f"共 {sample.valid + len(sample.bad)} 行" in page


def test_login_page_lists_accounts_and_roster_only_in_demo_mode(built: Config, tmp_path: Path) -> None:
    with _client(built) as client:
        page = client.get("/login").text
        assert 'id="demo-accounts"' in page and DEMO_PASSWORD in page
        assert all(a.username in page for a in ACCOUNTS)
        download = client.get("/demo/roster.xlsx")
        assert download.status_code == 200 and download.content == roster_file(built).data
    outside = _config(built.data_dir, built.batch_database_url, built.public_database_url, demo_mode=False)
    assert demo_accounts(outside) == []
    with _client(outside) as client:
        page = client.get("/login").text
        assert "demo-accounts" not in page and DEMO_PASSWORD not in page and "demo_clerk" not in page
        assert client.get("/demo/roster.xlsx").status_code == 404
    with pytest.raises(LookupError):
        roster_file(outside)


def test_deterministic_and_cli(built: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert roster_file(built).data == roster_file(built).data
    assert roster_file(built, 6).bad != roster_file(built).bad
    assert demo_accounts(built) == demo_accounts(built)
    clerk = next(a for a in demo_accounts(built) if a["username"] == "demo_clerk")
    assert clerk["region_code"] == CLERK_TOWNSHIP and "下汤镇" in clerk["scope"]

    for name in ("DATABASE_URL", *TEST_SECRETS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YIKATONG_DEMO", "1")
    monkeypatch.setenv("YIKATONG_DATA_DIR", str(built.data_dir))
    monkeypatch.setenv("BATCH_DATABASE_URL", built.batch_database_url)
    monkeypatch.setenv("PUBLIC_DATABASE_URL", built.public_database_url)
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["demo", "accounts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == demo_accounts(built)
    assert cli.main(["demo", "people", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)  # unchanged shape
    assert cli.main(["demo", "people"]) == 0
    out = capsys.readouterr().out
    assert "演示账号" in out and "demo_auditor" in out
    target = tmp_path / "roster.xlsx"
    assert cli.main(["demo", "roster-file", str(target)]) == 0
    assert target.read_bytes() == roster_file(built).data and "第" in capsys.readouterr().out
