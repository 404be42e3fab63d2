"""`service.enter_rows`: a whole roster entered at once with the import's checks, all-or-nothing,
written in bulk (the demo build replays years of batches through it); `create_batch(today=…)`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from admin.batches import service
from admin.models import AuditEntry, Batch, CardAccount, PaymentLine, Person, WorkflowEvent
from core.timeutil import local

TOWNSHIP = "410423100"


def rows_of(roster, numbers, **kw):
    return [service.row_from_values(n, dict(zip(roster.header, roster.row(i, **kw))))
            for n, i in enumerate(numbers, start=2)]


def codes(results):
    return {r.line_no: sorted(i.code for i in r.issues) for r in results if r.issues}


def test_a_clean_roster_goes_in_at_once_like_an_import(batch_db, config, seeded, roster):
    rows = rows_of(roster, range(1, 41))
    rows[0].quantity = Decimal("12.50")
    with batch_db.session() as s:
        batch = s.get(Batch, seeded["batch"])
        outcome = service.enter_rows(s, config, batch, rows, actor="clerk", scope_region=TOWNSHIP,
                                     source="乡镇汇总花名册", today=date(date.today().year, 1, 20))
        assert outcome.ok and outcome.imported == 40
    with batch_db.session() as s:
        lines = list(s.scalars(select(PaymentLine).where(PaymentLine.batch_id == seeded["batch"])
                               .order_by(PaymentLine.line_no)))
        assert [x.line_no for x in lines] == list(range(1, 41))
        assert all(x.state == "pending" and x.check_issues == [] and x.amount == Decimal("120.50") for x in lines)
        assert lines[0].quantity == Decimal("12.50") and lines[1].quantity is None
        assert s.execute(select(func.count(Person.id))).scalar_one() == 40
        cards = list(s.scalars(select(CardAccount)))
        assert len(cards) == 40 and {c.opened_on for c in cards} == {date(date.today().year, 1, 20)}
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar_one()
        assert (entry.actor, entry.object_id, entry.region_code) == ("clerk", str(seeded["batch"]), TOWNSHIP)
        assert entry.after == {"source": "乡镇汇总花名册", "lines": 40, "line_nos": [1, 40], "total": "4820.00"}

    # the same people again: refused line by line (already in this batch), nothing written
    with batch_db.session() as s:
        again = service.enter_rows(s, config, s.get(Batch, seeded["batch"]), rows_of(roster, range(1, 4)),
                                   actor="clerk", scope_region=TOWNSHIP, source="重复")
        assert not again.ok and codes(again.results) == {n: ["DUPLICATE_IN_BATCH"] for n in (2, 3, 4)}
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 40


def test_bad_lines_get_exactly_the_imports_reasons_and_nothing_is_written(batch_db, config, seeded, roster,
                                                                          unchanged):
    def bad_rows():
        rows = rows_of(roster, range(1, 8))
        rows[1].raw["身份证号"] = rows[1].raw["身份证号"][:-1] + ("0" if rows[1].raw["身份证号"][-1] != "0" else "1")
        rows[2].raw["金额"] = "999"              # above the project's standard
        rows[3].raw["村"] = "张店村"              # another township's village
        rows[4].raw["姓名"] = "Zhang San"
        rows[5].raw["身份证号"] = rows[0].raw["身份证号"]  # the same person twice
        rows[6].quantity = Decimal("-1")
        return rows

    with batch_db.session() as s:
        imported = service.import_rows(s, config, s.get(Batch, seeded["batch"]), bad_rows(), actor="clerk",
                                       scope_region=TOWNSHIP, source="f.csv")
        s.rollback()
    expected = codes(imported.results)
    expected[8] = ["QUANTITY_FORMAT"]  # a quantity comes only with a bulk entry
    with unchanged():
        with batch_db.session() as s:
            entered = service.enter_rows(s, config, s.get(Batch, seeded["batch"]), bad_rows(), actor="clerk",
                                         scope_region=TOWNSHIP, source="bulk")
            assert not entered.ok and entered.imported == 0
            assert codes(entered.results) == expected
            assert len(expected) == 6


def test_a_submitted_batch_takes_no_lines(batch_db, config, seeded, roster):
    with batch_db.session() as s:
        batch = s.get(Batch, seeded["batch"])
        batch.state = "submitted"
        with pytest.raises(service.BatchError):
            service.enter_rows(s, config, batch, rows_of(roster, [1]), actor="clerk", scope_region=TOWNSHIP,
                               source="x")


def test_a_batch_created_on_a_past_day_carries_that_day(batch_db, config, seeded):
    year = date.today().year
    with batch_db.session() as s:
        project = s.get(Batch, seeded["batch"]).project
        batch = service.create_batch(s, actor="civil_op", project=project, region_code=TOWNSHIP, year=year,
                                     period=f"{year}-01", title="鲁阳街道高龄津贴1月", today=date(year, 1, 5))
        assert batch.step_started_on == date(year, 1, 5)
        event = s.execute(select(WorkflowEvent).where(WorkflowEvent.batch_id == batch.id)).scalar_one()
        assert local(event.at).date() == local(batch.created_at).date() == date(year, 1, 5)
        with pytest.raises(service.BatchError, match=f"{year - 1}年"):  # last year's list is not current then
            service.create_batch(s, actor="civil_op", project=project, region_code=TOWNSHIP, year=year,
                                 period=f"{year}-02", title="x", today=date(year - 1, 12, 30))
