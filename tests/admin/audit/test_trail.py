from sqlalchemy import update

from admin.audit import trail
from admin.models import AuditEntry
from core.db import Database


def test_chain_holds_and_detects_tampering(batch_db: Database) -> None:
    with batch_db.session() as s:
        for n in range(3):
            trail.record(s, actor="clerk1", action="line.update", object_type="line", object_id=n,
                         before={"amount": "10.00"}, after={"amount": "12.00"})
    with batch_db.session() as s:
        assert trail.verify_chain(s) is None
        second = s.query(AuditEntry).order_by(AuditEntry.id).all()[1]
        s.execute(update(AuditEntry).where(AuditEntry.id == second.id).values(after={"amount": "99.00"}))
    with batch_db.session() as s:
        assert trail.verify_chain(s) == second.id


def test_entry_is_rolled_back_with_the_change(batch_db: Database) -> None:
    try:
        with batch_db.session() as s:
            trail.record(s, actor="a", action="x", object_type="batch", object_id=1)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    with batch_db.session() as s:
        assert s.query(AuditEntry).count() == 0
