"""A small batch database with a good mix of everything the indexer must handle.

Used beside the demo build (demo/build.py): every batch state, every line state (paid, failed,
re-issued with its paid re-issue, returned, withdrawn with and without a withdrawal code, pending), names of every shape, a sensitive
project (低保), historical ID region codes, persons with a closed and an active card, lines with
and without a card account, published/draft/withdrawn policies with change history. Every change
is written to the outbox, as admin does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from admin import outbox
from admin.fieldcrypt import cipher
from admin.models import (
    Batch,
    CardAccount,
    Department,
    PaymentLine,
    Person,
    Policy,
    PolicyChange,
    Project,
    Region,
)
from core import personkey
from core.config import Config
from core.db import Database
from core.validation import id_check_digit, luhn_check_digit

SPECIAL_NAMES = ["王芳", "张三丰", "欧阳娜娜", "阿依古丽·吐尔逊", "司马光", "张王小明", "李四", "上官婉儿",
                 "买买提·艾力", "诸葛孔明"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉"
TOWNSHIPS = ["410423101", "410423102", "410423103"]
VILLAGE_NAMES = ["王庄村", "李家村", "张湾村", "河口村", "南坡村"]

BATCH_STATES = ["draft", "submitted", "publicity", "approval", "finance_check", "bank", "paid",
                "published", "returned", "cancelled"]


@dataclass
class PersonInfo:
    id: int
    id_number: str
    name: str
    card: str
    phone: str
    person_key: str


@dataclass
class Mix:
    people: list[PersonInfo] = field(default_factory=list)
    batch_ids: dict[str, int] = field(default_factory=dict)
    policy_ids: dict[str, int] = field(default_factory=dict)
    special_lines: dict[str, int] = field(default_factory=dict)
    villages: list[str] = field(default_factory=list)


def _id_number(rng: random.Random, i: int) -> str:
    region = "412626" if i % 7 == 0 else "410423"  # 412626: an old code still on older ID cards
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
    body = f"{region}{born:%Y%m%d}{i % 1000:03d}"
    return body + id_check_digit(body)


def _card(rng: random.Random) -> str:
    body = "621700" + "".join(str(rng.randrange(10)) for _ in range(12))
    return body + luhn_check_digit(body)


def build_mix(db: Database, config: Config, *, people: int = 40, seed: int = 7) -> Mix:
    rng = random.Random(seed)
    crypt = cipher(config.field_key)
    key = config.hmac_key
    mix = Mix()
    with db.session() as s:
        for t in TOWNSHIPS:
            for n, vname in enumerate(VILLAGE_NAMES, start=1):
                code = f"{t}{n:03d}"
                s.add(Region(code=code, name=vname, level="village", parent_code=t))
                mix.villages.append(code)
        agri = Department(code="LS-NY", name="鲁山县农业农村局", region_code="410423")
        civil = Department(code="LS-MZ", name="鲁山县民政局", region_code="410423")
        s.add_all([agri, civil])
        s.flush()

        def policy(code: str, name: str, short: str, dept: Department, status: str) -> Policy:
            p = Policy(code=code, year=2025, name=name, short_name=short, department_id=dept.id, level="中央",
                       budget_source="中央财政", scope="全县", beneficiaries="符合条件的农户",
                       standard="每亩 100 元", document_title=f"关于{name}的通知", document_number="鲁财〔2025〕1号",
                       region_code="410423", status=status)
            s.add(p)
            s.flush()
            outbox.emit(s, "policy", p.id)
            mix.policy_ids[code] = p.id
            return p

        farmland = policy("GDDL", "耕地地力保护补贴", "耕地补贴", agri, "published")
        dibao = policy("DIBAO", "城乡居民最低生活保障", "低保", civil, "published")
        elderly = policy("GLJT", "高龄津贴", "高龄津贴", civil, "published")
        policy("DRAFT", "尚未公布的政策", "草稿", agri, "draft")
        policy("OLD", "已废止的政策", "废止", agri, "withdrawn")
        s.add_all([
            PolicyChange(policy_id=farmland.id, summary="补贴标准由每亩 90 元调整为每亩 100 元", status="approved",
                         requested_by="clerk", reviewed_by="boss"),
            PolicyChange(policy_id=farmland.id, summary="内部草拟中的变更（不应公开）", status="pending",
                         requested_by="clerk"),
        ])
        projects = {
            "farmland": Project(code="P-GDDL", name="耕地地力保护补贴", policy_id=farmland.id, department_id=agri.id,
                                region_code="410423", unit="元/亩", amount_max=Decimal("5000")),
            "dibao": Project(code="P-DIBAO", name="农村低保金", policy_id=dibao.id, department_id=civil.id,
                             region_code="410423", amount_max=Decimal("3000")),
            "elderly": Project(code="P-GLJT", name="高龄津贴", policy_id=elderly.id, department_id=civil.id,
                               region_code="410423", amount_max=Decimal("1200")),
        }
        s.add_all(projects.values())
        s.flush()

        persons: list[Person] = []
        cards: dict[int, CardAccount] = {}
        for i in range(people):
            name = SPECIAL_NAMES[i] if i < len(SPECIAL_NAMES) else rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            id_number = _id_number(rng, i)
            pkey = personkey.person_key(key, id_number)
            card = _card(rng)
            phone = f"13{rng.randrange(10**9):09d}"
            village = mix.villages[i % len(mix.villages)]
            p = Person(person_key=pkey, id_number_enc=crypt.encrypt(id_number), id_last4=id_number[-4:], name=name,
                       birth_date=date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
                       sex="M" if int(id_number[16]) % 2 else "F", region_code=village,
                       phone_enc=crypt.encrypt(phone))
            s.add(p)
            s.flush()
            if i % 5 == 0:  # an old, closed card first
                old = _card(rng)
                s.add(CardAccount(person_id=p.id, card_number_enc=crypt.encrypt(old),
                                  card_digest=personkey.card_digest(key, pkey, old), card_last4=old[-4:],
                                  status="closed"))
            acct = CardAccount(person_id=p.id, card_number_enc=crypt.encrypt(card),
                               card_digest=personkey.card_digest(key, pkey, card), card_last4=card[-4:],
                               bank_name="鲁山农商银行", status="active")
            s.add(acct)
            s.flush()
            cards[p.id] = acct
            persons.append(p)
            mix.people.append(PersonInfo(p.id, id_number, name, card, phone, pkey))

        for n, state in enumerate(BATCH_STATES):
            project = list(projects.values())[n % 3]
            b = Batch(code=f"B2025-{n:03d}", project_id=project.id, region_code="410423", year=2025,
                      period="2025", title=f"{project.name} 2025 年第 {n + 1} 批", state=state, created_by="clerk",
                      publicity_start=date(2025, 3, 3), publicity_end=date(2025, 3, 7),
                      publicity_place="村务公开栏",
                      paid_on=date(2025, 4, 1) if state in ("paid", "published") else None,
                      published_on=date(2025, 4, 3) if state == "published" else None)
            s.add(b)
            s.flush()
            mix.batch_ids[state] = b.id
            for j, p in enumerate(persons):
                if (j + n) % 3 == 2:
                    continue
                line_state = "paid" if state in ("paid", "published") else "pending"
                line = PaymentLine(batch_id=b.id, line_no=j + 1, person_id=p.id,
                                   card_account_id=None if j % 4 == 1 else cards[p.id].id,
                                   village_code=p.region_code, quantity=Decimal("3.50"),
                                   amount=Decimal(rng.randrange(1000, 200000)) / 100, state=line_state,
                                   paid_on=date(2025, 4, 1) if line_state == "paid" else None)
                s.add(line)
            s.flush()
            outbox.emit(s, "batch", b.id)

        # the published batch: failures, a re-issue, a return, a withdrawal
        published = mix.batch_ids["published"]
        lines = list(s.query(PaymentLine).filter_by(batch_id=published).order_by(PaymentLine.id))
        failed, reissued, returned, withdrawn = lines[0], lines[1], lines[2], lines[3]
        failed.state, failed.paid_on = "failed", None
        failed.failure_code, failed.failure_reason = "account_frozen", "账户冻结"
        reissued.state, reissued.paid_on = "reissued", None
        reissued.failure_code = "account_closed"
        owner = next(p for p in mix.people if p.id == reissued.person_id)
        reissued.failure_reason = f"账户已销户（户名 {owner.name}，卡号 {owner.card}）"  # banks do write this
        returned.state, returned.paid_on, returned.failure_reason = "returned", None, "无法发放，已退回国库"
        withdrawn.state, withdrawn.paid_on = "withdrawn", None
        again = PaymentLine(batch_id=published, line_no=999, person_id=reissued.person_id,
                            card_account_id=cards[reissued.person_id].id, village_code=reissued.village_code,
                            amount=reissued.amount, state="paid", reissue_of_id=reissued.id, paid_on=date(2025, 4, 8))
        s.add(again)
        s.flush()
        mix.special_lines = {"failed": failed.id, "reissued": reissued.id, "reissue": again.id,
                             "returned": returned.id, "withdrawn": withdrawn.id}
        # publicity: an objection withdrew one line; the reviewer's reason names who objected (a
        # neighbour on the same batch) and their phone, as people do write
        pub_lines = list(s.query(PaymentLine).filter_by(batch_id=mix.batch_ids["publicity"]).order_by(PaymentLine.id))
        pairs = [(a, b) for a in pub_lines for b in pub_lines if a.id < b.id and a.village_code == b.village_code]
        objected, neighbour = pairs[0] if pairs else (pub_lines[0], pub_lines[0])
        informant = next(p for p in mix.people if p.id == neighbour.person_id)
        objected.state, objected.failure_code = "withdrawn", "WITHDRAWN_OBJECTION"
        said = f"村民{informant.name}" if neighbour is not objected else "群众"
        objected.failure_reason = f"{said}（电话{informant.phone}）反映该对象不符合条件，经核实属实"
        mix.special_lines["publicity_withdrawn"] = objected.id
        outbox.emit(s, "batch", published)
        outbox.emit(s, "batch", mix.batch_ids["publicity"])
    return mix
