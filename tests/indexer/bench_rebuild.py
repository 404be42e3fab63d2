"""Rebuild rate at scale (not collected by pytest): ``python -m tests.indexer.bench_rebuild 100000``.

Generates N published, paid lines (5,000 per batch, N/4 persons) into a fresh SQLite batch
database with bulk inserts, then times ``rebuild --only disclosures`` and ``--only payments`` on
the embedded engine. Figures go to docs/indexer.md.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from admin.fieldcrypt import cipher
from admin.models import Base, Batch, CardAccount, Department, PaymentLine, Person, Policy, Project, Region
from core import personkey
from core.config import Config
from core.db import Database
from core.validation import id_check_digit, luhn_check_digit
from indexer.documents import DocumentBuilder
from indexer.rebuild import rebuild
from search import make_engine
from tests.conftest import TEST_SECRETS

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉"


def generate(db: Database, config: Config, lines: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    crypt = cipher(config.field_key)
    people = max(1, lines // 4)
    townships = ["410423101", "410423102", "410423103", "410423104", "410423105"]
    villages = [f"{t}{n:03d}" for t in townships for n in range(1, 21)]
    with db.session() as s:
        s.execute(insert(Region), [{"code": v, "name": f"{rng.choice(SURNAMES)}庄村", "level": "village",
                                    "parent_code": v[:9]} for v in villages])
        dept = Department(code="D", name="鲁山县农业农村局", region_code="410423")
        s.add(dept)
        s.flush()
        pol = Policy(code="GDDL", year=2025, name="耕地地力保护补贴", short_name="耕地补贴", department_id=dept.id,
                     level="中央", region_code="410423", status="published")
        s.add(pol)
        s.flush()
        proj = Project(code="P1", name="耕地地力保护补贴", policy_id=pol.id, department_id=dept.id,
                       region_code="410423", amount_max=Decimal("5000"))
        s.add(proj)
        s.flush()
        persons, cards = [], []
        for i in range(people):
            body = f"410423{1940 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
            idn = body + id_check_digit(body)
            pkey = personkey.person_key(config.hmac_key, f"{idn}{i}")  # unique per person
            cbody = f"621700{i:012d}"
            card = cbody + luhn_check_digit(cbody)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            persons.append({"id": i + 1, "person_key": pkey, "id_number_enc": crypt.encrypt(idn),
                            "id_last4": idn[-4:], "name": name, "birth_date": date(1950, 1, 1), "sex": "M",
                            "region_code": villages[i % len(villages)]})
            cards.append({"id": i + 1, "person_id": i + 1, "card_number_enc": crypt.encrypt(card),
                          "card_digest": "x", "card_last4": card[-4:], "status": "active"})
        s.execute(insert(Person), persons)
        s.execute(insert(CardAccount), cards)
        per_batch = 5000
        line_id = 0
        for b in range((lines + per_batch - 1) // per_batch):
            s.execute(insert(Batch), [{"id": b + 1, "code": f"B{b:05d}", "project_id": proj.id,
                                       "region_code": "410423", "year": 2025, "period": "2025", "title": "t",
                                       "state": "published", "created_by": "bench", "paid_on": date(2025, 4, 1)}])
            rows = []
            for j in range(min(per_batch, lines - line_id)):
                line_id += 1
                pid = (line_id - 1) % people + 1
                rows.append({"id": line_id, "batch_id": b + 1, "line_no": j + 1, "person_id": pid,
                             "card_account_id": pid, "village_code": villages[(pid - 1) % len(villages)],
                             "amount": Decimal(rng.randrange(1000, 200000)) / 100, "state": "paid",
                             "paid_on": date(2025, 4, 1), "check_issues": []})
            s.execute(insert(PaymentLine), rows)


def main(lines: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="ykt-bench-"))
    config = Config.from_env({"YIKATONG_DATA_DIR": str(data), **TEST_SECRETS})
    db = Database(config.batch_database_url)
    Base.metadata.create_all(db.engine)
    started = time.perf_counter()
    generate(db, config, lines)
    print(f"generated {lines} lines in {time.perf_counter() - started:.1f} s ({data})")
    engine = make_engine(config.data_dir)
    builder = DocumentBuilder.from_config(config)
    for only in ("disclosures", "payments"):
        cpu = time.process_time()
        report = rebuild(db, engine, builder, only=[only])
        cpu = time.process_time() - cpu
        print(f"{only}: {report.counts[only]} docs in {report.seconds[only]:.1f} s wall = {report.rate(only):.0f} docs/s"
              f" (process CPU {cpu:.1f} s = {report.counts[only] / cpu:.0f} docs per CPU-second)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
