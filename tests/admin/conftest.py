"""Fixtures of the admin tests: valid generated people, roster files, a seeded batch database."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator, Sequence

import pytest
from sqlalchemy import select

from admin.batches import service, workflow
from admin.models import Base, Batch, Operator, PaymentLine
from core.validation import id_check_digit, luhn_check_digit

HEADER = ["姓名", "身份证号", "社保卡号", "手机号", "金额", "村"]
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = "明华强军芳娟伟秀英丽"


def make_id(i: int, county: str = "410423") -> str:
    birth = date(1940, 1, 1) + timedelta(days=i // 1000)
    first17 = f"{county}{birth:%Y%m%d}{i % 1000:03d}"
    return first17 + id_check_digit(first17)


def make_card(i: int) -> str:
    partial = f"621799{i:012d}"
    return partial + luhn_check_digit(partial)


def make_name(i: int) -> str:
    return SURNAMES[i % 10] + GIVEN[(i // 10) % 10] + GIVEN[(i // 100) % 10]


def person_row(i: int, amount: str = "120.50", village: str = "王庄村", phone: str = "") -> list[str]:
    return [make_name(i), make_id(i), make_card(i), phone, amount, village]


def csv_bytes(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class Roster:
    """Helpers as a fixture (tests/admin has no package, so conftest functions are handed out)."""

    header = HEADER
    make_id = staticmethod(make_id)
    make_card = staticmethod(make_card)
    make_name = staticmethod(make_name)
    row = staticmethod(person_row)
    csv = staticmethod(csv_bytes)
    xlsx = staticmethod(xlsx_bytes)


@pytest.fixture
def roster() -> type[Roster]:
    return Roster


# --- a seeded batch database ------------------------------------------------------------------

COUNTY = "410423"          # 鲁山县
TOWNSHIP = "410423100"     # a township of the county
OTHER_TOWNSHIP = "410423101"
VILLAGES = {"410423100001": "王庄村", "410423100002": "李湾村", "410423101001": "张店村"}


@pytest.fixture
def seeded(batch_db, config) -> dict[str, Any]:
    """Regions, two departments, a published policy with a project, a draft batch, operators of every role."""
    from admin.access import operators
    from admin.models import Batch, Department, Policy, Project, Region

    with batch_db.session() as s:
        s.add(Region(code=COUNTY, name="鲁山县", level="county", parent_code="4104"))
        s.add(Region(code=TOWNSHIP, name="鲁阳街道", level="township", parent_code=COUNTY))
        s.add(Region(code=OTHER_TOWNSHIP, name="琴台街道", level="township", parent_code=COUNTY))
        for code, name in VILLAGES.items():
            s.add(Region(code=code, name=name, level="village", parent_code=code[:9]))
        civil = Department(code="MZ410423", name="鲁山县民政局", region_code=COUNTY)
        agri = Department(code="NY410423", name="鲁山县农业农村局", region_code=COUNTY)
        s.add_all([civil, agri])
        s.flush()
        year = date.today().year
        policy = Policy(code="GLJT", year=year, name="高龄津贴", short_name="高龄津贴", department_id=civil.id,
                        level="县", region_code=COUNTY, status="published")
        policy2 = Policy(code="GDBH", year=year, name="耕地地力保护补贴", short_name="耕地补贴",
                         department_id=agri.id, level="中央", region_code=COUNTY, status="published")
        s.add_all([policy, policy2])
        s.flush()
        project = Project(code="GLJT-410423", name="80周岁以上高龄津贴", policy_id=policy.id,
                          department_id=civil.id, region_code=COUNTY, amount_min=Decimal("50.00"),
                          amount_max=Decimal("300.00"), period_kind="month")
        project2 = Project(code="GDBH-410423", name="耕地地力保护补贴", policy_id=policy2.id,
                           department_id=agri.id, region_code=COUNTY, amount_min=Decimal("1.00"),
                           amount_max=Decimal("5000.00"))
        s.add_all([project, project2])
        s.flush()
        batch = Batch(code=f"B{year}-GLJT-01", project_id=project.id, region_code=COUNTY, year=year,
                      period=f"{year}-01", title="高龄津贴1月", created_by="seed")
        batch2 = Batch(code=f"B{year}-GDBH-01", project_id=project2.id, region_code=COUNTY, year=year,
                       period=str(year), title="耕地地力保护补贴", created_by="seed")
        s.add_all([batch, batch2])
        s.flush()
        users = {}
        for username, role, region, dept, projects in (
            ("admin", "system_admin", "41", None, []),
            ("clerk", "township_clerk", TOWNSHIP, None, []),
            ("clerk2", "township_clerk", OTHER_TOWNSHIP, None, []),
            ("civil_op", "department_operator", COUNTY, "MZ410423", [project.id]),
            ("civil_rev", "department_reviewer", COUNTY, "MZ410423", [project.id]),
            ("agri_op", "department_operator", COUNTY, "NY410423", [project2.id]),
            ("finance", "finance_reviewer", COUNTY, None, []),
            ("bank", "bank_operator", COUNTY, None, []),
            ("auditor", "auditor", COUNTY, None, []),
            ("other_auditor", "auditor", "410482", None, []),
        ):
            op = operators.create_operator(
                s, config, actor="seed", username=username, name="测试员",
                role=role, region_code=region, password=TEST_PASSWORD, department_code=dept,
                project_ids=projects, must_change_password=False, password_hash=test_password_hash(),
            )
            users[username] = op.id
        ids = {"project": project.id, "project2": project2.id, "batch": batch.id, "batch2": batch2.id,
               "batch_code": batch.code, "policy": policy.id, "policy2": policy2.id,
               "civil": civil.id, "agri": agri.id}
    return {"users": users, **ids}


TEST_PASSWORD = "Passw0rd!Test"


@functools.cache
def test_password_hash() -> str:
    """One argon2 hash for every seeded account (hashing costs ~0.5 s on a busy CI machine)."""
    from admin.access.operators import hash_password

    return hash_password(TEST_PASSWORD)


def password_of(username: str) -> str:
    return TEST_PASSWORD


@pytest.fixture
def login() -> Callable[..., Any]:
    """Log a TestClient in as one of the seeded users (follows the CSRF-protected form)."""
    import re

    def do(client, username: str, password: str | None = None):
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return client.post("/login", data={"username": username, "password": password or password_of(username),
                                           "csrf_token": token}, follow_redirects=False)

    return do


def csrf(client, path: str) -> str:
    import re

    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return match.group(1)


@pytest.fixture
def get_csrf() -> Callable[[Any, str], str]:
    return csrf


# --- the admin app through HTTP, logged in as a seeded user -------------------------------------


@pytest.fixture
def admin_app(config, seeded):
    from admin.app import create_admin_app

    return create_admin_app(config)


@pytest.fixture
def client(admin_app):
    """A logged-out TestClient of the admin app."""
    from starlette.testclient import TestClient

    with TestClient(admin_app) as c:
        yield c


@pytest.fixture
def user_client(admin_app, login):
    """`user_client("clerk")`: a TestClient logged in as that seeded (or test-made) user."""
    from starlette.testclient import TestClient

    clients = []

    def make(username, password=None):
        c = TestClient(admin_app)
        c.__enter__()
        clients.append(c)
        response = login(c, username, password)
        assert response.status_code == 303, response.text
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def county_admin(seeded, batch_db, config) -> dict[str, int]:
    """A system admin of the county (410423) and an operator of another county (410482)."""
    from admin.access import operators

    with batch_db.session() as s:
        ids = {}
        for username, role, region in (("county_admin", "system_admin", COUNTY),
                                       ("outsider", "township_clerk", "410482100")):
            ids[username] = operators.create_operator(
                s, config, actor="seed", username=username, name="测试员", role=role, region_code=region,
                password=TEST_PASSWORD, must_change_password=False, password_hash=test_password_hash()).id
    return ids


# --- helpers of the HTTP tests ---------------------------------------------------------------


def add_line(c, get_csrf, batch_id, values):
    """Enter one line through the batch page's form."""
    token = get_csrf(c, f"/batches/{batch_id}")
    return c.post(f"/batches/{batch_id}/lines", data={**values, "csrf_token": token}, follow_redirects=False)


def seed_lines(config, batch_db, seeded, roster):
    """Two lines in the clerk's township and one in the other township, in the civil batch."""
    with batch_db.session() as s:
        batch = s.get(Batch, seeded["batch"])
        for i, village in ((1, "王庄村"), (2, "李湾村"), (3, "张店村")):
            line, result = service.add_line(s, config, batch, dict(zip(roster.header, roster.row(i, village=village))),
                                            actor="seed", scope_region=None)
            assert result.ok, result.issues
    with batch_db.session() as s:
        return {n: id_ for n, id_ in s.execute(select(PaymentLine.line_no, PaymentLine.id))}


# --- a refused request changes nothing -----------------------------------------------------------


def table_rows(db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the batch database (audit trail and outbox included), by table,
    in primary-key order."""
    with db.engine.connect() as conn:
        return {table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables}


@pytest.fixture
def unchanged(batch_db) -> Callable[[], Any]:
    """``with unchanged(): <requests that must be refused>`` fails unless every table of the batch
    database holds the same rows afterwards: rosters, operators, policies, workflow events, and
    neither an audit entry nor an outbox entry more."""

    @contextlib.contextmanager
    def check() -> Iterator[None]:
        before = table_rows(batch_db)
        yield
        after = table_rows(batch_db)
        changed = {name: f"{len(before[name])} -> {len(after[name])} rows"
                   for name in before if before[name] != after[name]}
        assert not changed, f"a refused request changed the batch database: {changed}"

    return check


# --- driving the approval chain as a user, in tests ---------------------------------------------


class Clock:
    """The business day the admin app acts on (``create_admin_app(today=...)``); a test moves it."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


def operator(s, username: str) -> Operator:
    return s.execute(select(Operator).where(Operator.username == username)).scalar_one()


def act(batch_db, username: str, batch_id: int, name: str, today: date, **form: Any) -> workflow.ActionResult:
    """``workflow.perform`` as ``username`` on the business day ``today``, in its own transaction;
    form values as a browser sends them (dates in ISO form, everything else as text)."""
    with batch_db.session() as s:
        return workflow.perform(s, operator(s, username), batch_id, name,
                                {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in form.items()}, today)
