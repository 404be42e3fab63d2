"""Demo operator accounts (one per role) and the clerk's sample roster: created by a demo build,
usable at once through the admin app, scoped to the demo data, listed only in demo mode."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import and_, select
from starlette.testclient import TestClient

import cli
from admin.access.roles import ROLE_LABELS
from admin.access import operators
from admin.batches import workflow
from admin.actions import WorkflowError
from admin.models import Batch, Department, Operator, PaymentLine, Project, WorkflowEvent
from core import workdays
from core.timeutil import local
from cli.apps import admin_app
from core.config import Config
from core.db import Database
from demo.accounts import ACCOUNTS, BAD_KINDS, CLERK_TOWNSHIP, DEMO_PASSWORD, demo_accounts, roster_file
from demo.build import build
from demo.data import AS_OF
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
            for account in ACCOUNTS:
                operator = stored[account.username]
                assert (operator.role, operator.region_code, operator.name) == (
                    account.role, account.region_code, account.name)
                assert operator.must_change_password is False and operator.active
            # Every other account is the county staff who took the other departments' and counties'
            # steps: department roles of one county department, finance or bank of one county; their
            # password is nobody's (not the demo password) and would have to be changed.
            staff = {name: o for name, o in stored.items() if name not in {a.username for a in ACCOUNTS}}
            assert staff
            for username, operator in staff.items():
                match = re.fullmatch(r"(\d{6})\.([a-z]+)\.(op|reviewer)", username)
                assert match, username
                county, dept, kind = match.groups()
                assert operator.region_code == county and operator.must_change_password
                if operator.role == "bank_operator":
                    assert (dept, kind, operator.department_id) == ("bank", "op", None)
                else:
                    department = s.get(Department, operator.department_id)
                    assert department.code == f"{county}-{dept.upper()}"
                    assert operator.role == {"op": "department_operator", "reviewer": "department_reviewer"}[kind] \
                        or (operator.role, dept) == ("finance_reviewer", "czj")
                assert not operators.verify_hash(operator.password_hash, DEMO_PASSWORD)
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


# --- carrying the demo's batches on, as the demo accounts, on the real date ------------------------

TOWNSHIP_DRAFT = "410423-LSJZ-2026H2-410423101"


def _act(db: Database, username: str, batch_id: int, name: str, day: date, **form: Any) -> workflow.ActionResult:
    with db.session() as s:
        operator = s.execute(select(Operator).where(Operator.username == username)).scalar_one()
        values = {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in form.items()}
        return workflow.perform(s, operator, batch_id, name, values, day)


def _offered(db: Database, username: str, batch_id: int) -> set[str]:
    """The actions the batch page offers this account today (the real date, as in the running app)."""
    with db.session() as s:
        operator = s.execute(select(Operator).where(Operator.username == username)).scalar_one()
        return {a.name for a in workflow.available_actions(s, operator, s.get(Batch, batch_id))}


def _demo_batch(db: Database, where: Any) -> Batch:
    with db.session() as s:
        return s.execute(select(Batch).join(Project, Project.id == Batch.project_id).where(where)).scalar_one()


def test_the_demo_accounts_carry_the_clean_township_draft_through_the_chain(built: Config) -> None:
    db = Database(built.batch_database_url)
    try:
        today = workdays.today()
        batch = _demo_batch(db, Batch.code == TOWNSHIP_DRAFT)
        assert (batch.state, batch.region_code) == ("draft", CLERK_TOWNSHIP)
        with db.session() as s:
            lines = list(s.scalars(select(PaymentLine).where(PaymentLine.batch_id == batch.id)))
        assert len(lines) == 6 and all(x.state == "pending" and x.check_issues == [] for x in lines)
        assert _offered(db, "demo_clerk", batch.id) >= {"submit"}
        _act(db, "demo_clerk", batch.id, "submit", today)
        assert _offered(db, "demo_reviewer", batch.id) >= {"review_pass", "return"}
        _act(db, "demo_reviewer", batch.id, "review_pass", today)
        end = workdays.add_workdays(today, 3)
        _act(db, "demo_reviewer", batch.id, "publicity_open", today, start=today, end=end, place="下汤镇各村村务公开栏")
        with pytest.raises(WorkflowError) as refused:
            _act(db, "demo_reviewer", batch.id, "publicity_close", today)
        assert refused.value.code == "publicity_not_over"
        _act(db, "demo_reviewer", batch.id, "publicity_close", end)  # three working days later
        _act(db, "demo_reviewer", batch.id, "approve", end)
        _act(db, "demo_finance", batch.id, "finance_pass", end)
        result = _act(db, "demo_finance", batch.id, "payment_request", end)
        assert (result.to_state, result.details["lines"]) == ("bank", 6)
        assert result.details["total"] == str(sum((x.amount for x in lines), Decimal("0.00")))
    finally:
        db.dispose()


def test_the_batches_left_mid_way_can_be_carried_on_today(built: Config) -> None:
    db = Database(built.batch_database_url)
    try:
        today = workdays.today()
        in_review = _demo_batch(db, and_(Batch.state == "submitted", Project.code.like("410423TKGY%")))
        assert _offered(db, "demo_reviewer", in_review.id) >= {"review_pass", "return"}
        assert "review_pass" not in _offered(db, "demo_dept", in_review.id)  # the reviewer decides, not its entrant

        # the first review passed days ago: publicity opened backdated to that day closes at once
        passed = _demo_batch(db, and_(Batch.state == "submitted", Project.code.like("410423GEJB%")))
        with db.session() as s:
            review = s.execute(select(WorkflowEvent).where(WorkflowEvent.batch_id == passed.id)
                               .order_by(WorkflowEvent.id.desc()).limit(1)).scalar_one()
        start = local(review.at).date()  # the day the first review passed (Asia/Shanghai)
        assert review.action == "review_pass" and start < AS_OF
        assert "publicity_open" in _offered(db, "demo_dept", passed.id)
        _act(db, "demo_dept", passed.id, "publicity_open", today, start=start, end=workdays.add_workdays(start, 3),
             place="各村村务公开栏")
        assert "publicity_close" in _offered(db, "demo_reviewer", passed.id)
        for username, name in (("demo_reviewer", "publicity_close"), ("demo_reviewer", "approve"),
                               ("demo_finance", "finance_pass"), ("demo_finance", "payment_request")):
            _act(db, username, passed.id, name, today)
        assert _demo_batch(db, Batch.id == passed.id).state == "bank"

        in_publicity = _demo_batch(db, and_(Batch.state == "publicity", Project.code.like("410423GLJT%")))
        assert in_publicity.publicity_end <= today
        assert "publicity_close" in _offered(db, "demo_reviewer", in_publicity.id)

        at_bank = _demo_batch(db, and_(Batch.state == "bank", Project.code.like("410423KNCJ%")))
        assert at_bank.region_code == "410423"  # in the demo accounts' scope: demo_bank carries it on
    finally:
        db.dispose()
