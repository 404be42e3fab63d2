"""Fixtures for the public portal: a real embedded search engine, seeded with realistic masked
documents, and the real app over it.

Fixtures
--------
``search_engine``   embedded engine (``make_engine`` in a tmp dir) with the three indexes ensured.
``seed_index``      ``seed_index(engine, n=200, seed=7) -> Seeded``: ``n`` disclosure documents
                    (masked names such as 张*丰, villages such as 王庄村, two counties: 鲁山县 410423
                    and 秀山县 500241, years 2023–2024, both kinds), :data:`POLICY_DOCS` policies, and
                    payments documents for the :data:`PEOPLE` below.
``seeded``          the ``Seeded`` result for ``search_engine`` seeded with the defaults.
``portal_app``      ``cli.apps.public_app(config, search=search_engine)`` (the portal + /wechat, public store tables created).
``client``          ``starlette.testclient.TestClient(portal_app)`` (lifespan run), index seeded.

For the personal query (``POST /api/query`` with ``id_number``, ``name``, ``card_digits``):
``seeded.people`` is a list of :class:`SeedPerson` with the full ``id_number`` (valid GB 11643,
one with a historical 412631 code), ``name``, ``card_number`` (Luhn-valid, 19 digits) and
``person_key``; their payments documents carry ``person_key`` = core.personkey.person_key(
config.hmac_key, id), ``name_digest`` = name_digest(key, person_key, name), ``card_digest`` =
card_digest(key, person_key, card_number) and ``card_last4``. Each person has paid lines;
person 0 also has a pending line, person 1 a failed line (failure_code ``card_frozen``) with a
reason and advice. The key is the test config's ``hmac_key`` (pass ``config.hmac_key`` to
``seed_index(..., hmac_key=...)``; the ``seeded`` fixture does). The full names of the people
(``seeded.full_names``) must never appear on a public page: the privacy crawl checks it.
"""

from __future__ import annotations

import copy
import random
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli.apps import public_app
from core import personkey, regions
from core.config import Config
from core.validation import id_check_digit, luhn_check_digit
from search import make_engine
from indexer.documents import person_document
from portal.lookup import stand_in_document
from search.base import SearchEngine, SearchQuery
from search.schemas import PAYMENTS, PERSONS, SPECS

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "丰华明国建军秀英兰芳玉珍桂香德福海强伟平"
VILLAGE_STEMS = ["王庄", "李家", "张湾", "刘营", "陈沟", "杨树", "黄土岭", "赵屯", "吴家坪", "周寨"]
PROJECTS = [
    ("GDDL", "耕地地力保护补贴", "农业农村局", "耕地地力保护补贴政策", Decimal("120.50")),
    ("GLJT", "高龄津贴", "民政局", "高龄津贴政策", Decimal("100.00")),
    ("CJRBT", "困难残疾人生活补贴", "残联", "残疾人两项补贴政策", Decimal("80.00")),
    ("STBC", "生态公益林补偿", "林业局", "生态效益补偿政策", Decimal("256.30")),
]
COUNTIES = [("410423", "鲁山县", ("41", "4104")), ("500241", "秀山县", ("50", "5002"))]


def make_id_number(prefix6: str, birth: str, seq: int) -> str:
    first17 = f"{prefix6}{birth}{seq:03d}"
    return first17 + id_check_digit(first17)


def make_card_number(seq: int) -> str:
    partial = f"621700{seq:012d}"
    return partial + luhn_check_digit(partial)


@dataclass
class SeedPerson:
    id_number: str
    name: str
    card_number: str
    person_key: str
    village: str
    region_codes: list[str]
    payments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def card_last4(self) -> str:
        return self.card_number[-4:]


@dataclass
class Seeded:
    disclosures: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    people: list[SeedPerson]
    full_names: list[str]


POLICY_DOCS: list[dict[str, Any]] = [
    {"id": "p1", "code": "GDDL", "name": "耕地地力保护补贴", "short_name": "耕地补贴", "department": "农业农村局",
     "level": "中央", "year": 2024, "budget_source": "中央财政", "scope": "全县拥有承包耕地的农户",
     "beneficiaries": "拥有耕地承包权的种地农民", "standard": "每亩 120.50 元",
     "document_title": "关于做好2024年耕地地力保护补贴工作的通知", "document_number": "豫财农〔2024〕12号",
     "document_url": "https://czt.henan.gov.cn/", "delivery": "到户", "status": "执行中",
     "history": [{"date": "2023-03-01", "change": "首次发布"}, {"date": "2024-02-20", "change": "补贴标准由每亩 110 元调整为 120.50 元"}]},
    {"id": "p2", "code": "GLJT", "name": "高龄津贴", "short_name": "高龄津贴", "department": "民政局",
     "level": "省", "year": 2024, "budget_source": "省级财政、县级财政", "scope": "80 周岁以上老年人",
     "beneficiaries": "具有本县户籍的 80 周岁以上老年人", "standard": "每人每月 100 元",
     "document_title": "关于建立高龄津贴制度的通知", "document_number": "渝民发〔2022〕5号",
     "document_url": "", "delivery": "到人", "status": "执行中", "history": [{"date": "2022-06-01", "change": "首次发布"}]},
    {"id": "p3", "code": "CJRBT", "name": "困难残疾人生活补贴", "short_name": "残疾人补贴", "department": "残联",
     "level": "县", "year": 2023, "budget_source": "县级财政", "scope": "低保家庭中的残疾人",
     "beneficiaries": "持证残疾人", "standard": "每人每月 80 元", "document_title": "残疾人两项补贴实施办法",
     "document_number": "鲁政〔2023〕3号", "document_url": "", "delivery": "到人", "status": "执行中", "history": []},
    {"id": "p4", "code": "STBC", "name": "生态公益林补偿", "short_name": "公益林补偿", "department": "林业局",
     "level": "市", "year": 2023, "budget_source": "中央财政", "scope": "纳入公益林区划的林地",
     "beneficiaries": "林权权利人", "standard": "每亩 16 元", "document_title": "生态效益补偿资金管理办法",
     "document_number": "平财〔2023〕8号", "document_url": "", "delivery": "到户", "status": "执行中", "history": []},
    {"id": "p5", "code": "DBBZ", "name": "城乡低保补助", "short_name": "低保", "department": "民政局",
     "level": "县", "year": 2024, "budget_source": "县级财政", "scope": "城乡最低生活保障对象",
     "beneficiaries": "低保家庭", "standard": "按差额发放", "document_title": "城乡低保实施细则",
     "document_number": "鲁民〔2024〕1号", "document_url": "", "delivery": "到户", "status": "执行中", "history": []},
]


def _townships(county: str, count: int = 3) -> list[regions.Region]:
    return regions.children(county)[:count]


def seed_index(engine: SearchEngine, n: int = 200, seed: int = 7, *,
               hmac_key: bytes = b"test-hmac-key-not-for-production-0001") -> Seeded:
    """Fill the three indexes with generated, masked, realistic documents (see module docstring)."""
    rng = random.Random(seed)
    places: list[tuple[str, str, tuple[str, str], regions.Region, str, str]] = []
    for county, county_name, upper in COUNTIES:
        for t_index, township in enumerate(_townships(county)):
            for v in range(3):
                stem = VILLAGE_STEMS[(t_index * 3 + v) % len(VILLAGE_STEMS)]
                places.append((county, county_name, upper, township, f"{stem}村", regions.village_code(township.code, v + 1)))
    full_names: list[str] = []
    disclosures: list[dict[str, Any]] = []
    for i in range(n):
        county, county_name, upper, township, village, vcode = places[i % len(places)]
        code, project, department, policy, base = PROJECTS[i % len(PROJECTS)]
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
        full_names.append(surname + rng.choice(GIVEN) + given)
        year = 2023 + (i // 7) % 2
        kind = "publicity" if i % 5 == 0 else "result"
        amount = base * (1 + i % 3)
        day = 1 + i % 28
        month = 1 + (i // 3) % 12
        disclosures.append({
            "id": f"d{i:06d}", "kind": kind, "name_masked": f"{surname}*{given}",
            "region_codes": [upper[0], upper[1], county, township.code, vcode],
            "county": county_name, "township": township.name, "village": village,
            "project_code": code, "project_name": project, "policy_name": policy, "department": department,
            "year": year, "period": f"{year}年", "amount": f"{amount:.2f}", "amount_cents": int(amount * 100),
            "date": f"{year}-{month:02d}-{day:02d}", "batch_code": f"B{year}{code}{i % 4:02d}", "status": "已发放" if kind == "result" else "公示中",
        })
    people = _people(hmac_key)
    payments = [p for person in people for p in person.payments]
    engine.replace_documents("disclosures", disclosures)
    engine.replace_documents("policies", POLICY_DOCS)
    index_payments(engine, payments)
    return Seeded(disclosures, list(POLICY_DOCS), payments, people,
                  sorted(set(full_names) | {p.name for p in people}))


def index_payments(engine: SearchEngine, docs: list[dict[str, Any]]) -> None:
    """Write ``payments`` documents as the indexer does: each touched person's ``persons``
    document is then rebuilt from all of that person's ``payments`` documents."""
    engine.ensure_index(PAYMENTS)
    engine.ensure_index(PERSONS)
    engine.replace_documents("payments", docs)
    persons = []
    for key in dict.fromkeys(d["person_key"] for d in docs):
        lines, page = [], 1
        while True:
            result = engine.search("payments", SearchQuery(filters={"person_key": key}, page=page, per_page=100))
            lines += result.hits
            if page >= result.pages:
                break
            page += 1
        persons.append(person_document(key, lines))
    engine.replace_documents("persons", [stand_in_document(), *persons])


def _people(hmac_key: bytes) -> list[SeedPerson]:
    township = _townships("410423")[0]
    rows = [
        (make_id_number("410423", "19560312", 21), "王秀英", make_card_number(1), "王庄村"),
        (make_id_number("410423", "19781105", 33), "李建国", make_card_number(2), "李家村"),
        (make_id_number("412631", "19400101", 15), "张桂香", make_card_number(3), "王庄村"),  # historical code
    ]
    people: list[SeedPerson] = []
    for p_index, (id_number, name, card, village) in enumerate(rows):
        key = personkey.person_key(hmac_key, id_number)
        codes = ["41", "4104", "410423", township.code, regions.village_code(township.code, 1 + p_index)]
        person = SeedPerson(id_number, name, card, key, village, codes)
        lines = [("paid", "2024-03-15", Decimal("120.50"), PROJECTS[0]), ("paid", "2023-09-20", Decimal("100.00"), PROJECTS[1])]
        if p_index == 0:
            lines.append(("pending", "2024-06-01", Decimal("120.50"), PROJECTS[0]))
        if p_index == 1:
            lines.append(("failed", "2024-05-10", Decimal("80.00"), PROJECTS[2]))
        for l_index, (state, when, amount, project) in enumerate(lines):
            failed = state == "failed"
            person.payments.append({
                "id": f"pay{p_index}{l_index}", "person_key": key,
                "name_digest": personkey.name_digest(hmac_key, key, name),
                "card_last4": card[-4:], "card_digest": personkey.card_digest(hmac_key, key, card),
                "project_code": project[0], "project_name": project[1], "department": project[2],
                "year": int(when[:4]), "period": when[:7], "amount": f"{amount:.2f}", "amount_cents": int(amount * 100),
                "date": when, "state": state, "stage": "银行发放" if state != "pending" else "审批中",
                "failure_code": "card_frozen" if failed else "",
                "failure_reason": "社保卡账户已冻结，银行无法入账" if failed else "",
                "advice": "请携带身份证和社保卡到开户银行网点办理解冻，然后告知村（社区）经办人员重新发放。" if failed else "",
                "region_codes": codes, "village": village, "batch_code": f"B{when[:4]}{project[0]}00",
            })
        people.append(person)
    return people


TEST_HMAC_KEY = b"test-hmac-key-not-for-production-0001"


@pytest.fixture(scope="session")
def _index_templates(tmp_path_factory) -> dict[str, Any]:
    """Built once per worker: an empty and a seeded index folder, copied into each test."""
    root = tmp_path_factory.mktemp("search-templates")
    empty = make_engine(root / "empty")
    for spec in SPECS.values():
        empty.ensure_index(spec)
    filled = make_engine(root / "seeded")
    for spec in SPECS.values():
        filled.ensure_index(spec)
    seeded = seed_index(filled, hmac_key=TEST_HMAC_KEY)
    return {"empty": root / "empty", "seeded": root / "seeded", "result": seeded}


@pytest.fixture
def search_engine(request, tmp_path: Path, _index_templates, config: Config) -> SearchEngine:
    """A fresh embedded engine in tmp_path with the three indexes (copied from a template: fast).

    Already holding the default seed when the test also uses ``seeded`` (or ``client``) with the
    standard test hmac key, so that seeding costs nothing per test.
    """
    use_seed = "seeded" in request.fixturenames and config.hmac_key == TEST_HMAC_KEY
    shutil.copytree(_index_templates["seeded" if use_seed else "empty"], tmp_path / "search-data")
    return make_engine(tmp_path / "search-data")


@pytest.fixture
def seeded(search_engine: SearchEngine, config: Config, _index_templates) -> Seeded:
    if config.hmac_key == TEST_HMAC_KEY:
        return copy.deepcopy(_index_templates["result"])
    return seed_index(search_engine, hmac_key=config.hmac_key)


@pytest.fixture
def portal_app(config: Config, search_engine: SearchEngine, public_db):
    """The public app as it is served (portal + /wechat), over the test config and index."""
    return public_app(config, search=search_engine)


@pytest.fixture
def client(portal_app, seeded: Seeded) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(portal_app, base_url="http://testserver") as test_client:
        yield test_client
