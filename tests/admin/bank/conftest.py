"""A batch of the clerk's township carried by the real workflow up to the bank (payment request on
9 Oct 2025), with five lines at two banks, every person with a phone number."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from admin.batches import service as batches
from admin.models import CardAccount, Project
from tests.admin.conftest import TOWNSHIP
from tests.admin.conftest import act, operator  # noqa: F401 (the bank tests import both from here)

BANK_A, BANK_B = "鲁山农商银行", "中国邮政储蓄银行"
# line no → (village, card bank, amount)
LINES = {1: ("王庄村", BANK_A, "120.50"), 2: ("李湾村", BANK_A, "130.00"), 3: ("王庄村", BANK_A, "150.00"),
         4: ("李湾村", BANK_B, "200.00"), 5: ("王庄村", BANK_B, "99.50")}
PAYMENT_DAY = date(2025, 10, 9)


def phone(i: int) -> str:
    return f"1380013{i:04d}"
@pytest.fixture
def at_bank(seeded, batch_db, config, roster) -> dict[str, Any]:
    with batch_db.session() as s:
        project = s.get(Project, seeded["project"])
        batch = batches.create_batch(s, actor="civil_op", project=project, region_code=TOWNSHIP, year=2025,
                                     period="2025-09", title="鲁阳街道高龄津贴9月")
        for i, (village, bank, amount) in LINES.items():
            values = dict(zip(roster.header, roster.row(i, amount=amount, village=village, phone=phone(i))))
            line, result = batches.add_line(s, config, batch, values, actor="clerk", scope_region=TOWNSHIP)
            assert result.ok, result.issues
            s.flush()
            s.get(CardAccount, line.card_account_id).bank_name = bank  # as registered by the person import
        batch_id, code = batch.id, batch.code
    act(batch_db, "clerk", batch_id, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", batch_id, "review_pass", date(2025, 9, 24))
    act(batch_db, "civil_op", batch_id, "publicity_open", date(2025, 9, 25), start=date(2025, 9, 25),
        end=date(2025, 9, 29), place="各村村务公开栏")
    act(batch_db, "civil_rev", batch_id, "publicity_close", date(2025, 9, 29))
    act(batch_db, "civil_rev", batch_id, "approve", date(2025, 9, 30))
    act(batch_db, "finance", batch_id, "finance_pass", date(2025, 10, 9))
    act(batch_db, "finance", batch_id, "payment_request", PAYMENT_DAY)
    return {"batch": batch_id, "code": code}
