"""The demo build draws one spot check (抽查) through the spot-check services: a sample reproduced
from its recorded seed, one line found in order, one problem 鲁山县民政局 has to rectify."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from admin.models import AuditEntry, Department, SpotCheck, SpotFinding
from admin.supervision import spot_checks
from core.config import Config
from core.db import Database
from demo import accounts
from demo.build import build
from tests.conftest import TEST_SECRETS, _fresh_url


def test_the_demo_holds_one_spot_check_with_a_finding_to_rectify(tmp_path: Path) -> None:
    url, cleanup = _fresh_url(tmp_path, "demospot")
    config = Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path / "data"), "YIKATONG_DEMO": "1",
                              "BATCH_DATABASE_URL": url,
                              "PUBLIC_DATABASE_URL": f"sqlite:///{tmp_path / 'public.sqlite3'}", **TEST_SECRETS})
    try:
        build(config, 600, 42)
        db = Database(url)
        with db.session() as s:
            spot = s.scalars(select(SpotCheck)).one()
            assert spot.drawn_by == "demo_supervisor" and spot.seed == 42 and 2 <= spot.sample_size <= 10
            assert spot_checks.redraw(s, spot).same_as_recorded
            findings = list(s.scalars(select(SpotFinding).order_by(SpotFinding.id)))
            assert [(f.result, f.status) for f in findings] == [("ok", "none"), ("problem", "open")]
            civil = s.scalars(select(Department.id).where(Department.code == f"{accounts.COUNTY}-MZJ")).one()
            assert findings[1].department_id == civil and findings[1].due_on is not None
            assert s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("spot_check.%"))
                             .order_by(AuditEntry.id)).all() == ["spot_check.draw", "spot_check.record_finding",
                                                                  "spot_check.record_finding"]
        db.dispose()
    finally:
        cleanup()  # type: ignore[operator]
