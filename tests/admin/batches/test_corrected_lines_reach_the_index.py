"""A line corrected or deleted while its batch is back with the township (退回修改) is on the
portal as 退回修改中: the change reaches the search indexes at once, and a line corrected to another
person's ID number, or deleted, leaves its former person's answer."""

from __future__ import annotations

from datetime import date

import orjson
import pytest
from sqlalchemy import select

from admin.batches import service as batches
from admin.models import PaymentLine
from core import personkey
from core.validation import normalize_id_number
from indexer.documents import DocumentBuilder
from indexer.sync import sync
from search import engine_for
from tests.admin.conftest import TOWNSHIP, act


@pytest.fixture
def returned(seeded, batch_db, config, roster):
    """A batch of three lines (people 1, 2, 3), submitted and returned by the first review."""
    from admin.models import Project

    with batch_db.session() as s:
        batch = batches.create_batch(s, actor="civil_op", project=s.get(Project, seeded["project"]),
                                     region_code=TOWNSHIP, year=2025, period="2025-09", title="高龄津贴9月")
        for i in (1, 2, 3):
            _, result = batches.add_line(s, config, batch, dict(zip(roster.header, roster.row(i))), actor="clerk",
                                         scope_region=TOWNSHIP)
            assert result.ok, result.issues
        batch_id = batch.id
    act(batch_db, "clerk", batch_id, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", batch_id, "return", date(2025, 9, 23), reason="部分人员信息有误")
    return batch_id


def key_of(config, roster, i: int) -> str:
    return personkey.person_key(config.hmac_key, normalize_id_number(roster.make_id(i)))


def line_ids_of(engine, key: str) -> list[str]:
    doc = engine.get("persons", key)
    return [] if doc is None else [line["id"] for line in orjson.loads(doc["lines"])]


def test_a_corrected_id_number_and_a_deleted_line_leave_their_former_people(returned, batch_db, config, roster):
    engine, builder = engine_for(config), DocumentBuilder.from_config(config)
    sync(batch_db, engine, builder)
    with batch_db.session() as s:
        lines = {ln.line_no: ln.id for ln in s.scalars(select(PaymentLine).where(PaymentLine.batch_id == returned))}
    one, two, three, nine = (key_of(config, roster, i) for i in (1, 2, 3, 9))
    assert line_ids_of(engine, two) == [str(lines[2])] and line_ids_of(engine, three) == [str(lines[3])]
    assert engine.get("payments", str(lines[2]))["stage"] == "退回修改中"

    with batch_db.session() as s:  # the clerk: line 2 was typed with the wrong person's ID number
        line = s.get(PaymentLine, lines[2])
        outcome = batches.update_line(s, config, line, dict(zip(roster.header, roster.row(9, amount="130.00"))),
                                      actor="clerk", scope_region=TOWNSHIP)
        assert outcome.ok, outcome.issues
        batches.remove_line(s, s.get(PaymentLine, lines[3]), actor="clerk")
    sync(batch_db, engine, builder)  # the background loop's next round: no re-submission needed

    assert engine.get("persons", two) is None  # person 2 no longer sees line 2
    assert line_ids_of(engine, nine) == [str(lines[2])]  # person 9 does, with the corrected amount
    assert engine.get("payments", str(lines[2]))["amount"] == "130.00"
    assert engine.get("persons", three) is None and engine.get("payments", str(lines[3])) is None
    assert line_ids_of(engine, one) == [str(lines[1])]  # untouched
    with batch_db.session() as s:  # what a rebuild from the database would write
        assert engine.get("persons", nine) == builder.persons_for(s, [nine])[nine]
