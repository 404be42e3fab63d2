"""Fixtures of the complaint tests: the real portal (to file and to read the status page), the
indexer's pull and push, a supervisor (纪检监察) of the county, and cases taken in directly."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Callable, Iterator

import pytest

from admin.access import operators
from admin.complaints import workflow
from core.timeutil import SHANGHAI
from core.workdays import add_workdays
from indexer import inbound
from search import make_engine
from tests.admin.conftest import COUNTY, TEST_PASSWORD, test_password_hash


@pytest.fixture
def portal(config, public_db, tmp_path) -> Iterator[Any]:
    """The public portal over the test's public store (a TestClient)."""
    from starlette.testclient import TestClient

    from portal.app import create_app

    with TestClient(create_app(config, search=make_engine(tmp_path / "search-data")),
                    base_url="http://testserver") as client:
        yield client


def portal_csrf(portal, path: str) -> str:
    page = portal.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def file_on_portal(portal) -> Callable[..., str]:
    """File a case through the public form as a citizen would; returns the tracking code."""

    def file(**values: str) -> str:
        form = {"kind": "complaint", "subject": "高龄津贴3月未到账", "text": "我父亲在王庄村，3月高龄津贴没有到账。",
                "real_name": "1", "contact": "王建国 13912345678", "project_code": "GLJT-410423",
                "region_code": "410423100001", **values}
        form["csrf_token"] = portal_csrf(portal, "/complaints/new")
        answer = portal.post("/complaints", data=form, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return re.search(r"/complaints/(TS\w+)\?filed=1", answer.headers["location"]).group(1)

    return file


@pytest.fixture
def sync(public_db, batch_db, config) -> Callable[[], inbound.InboundReport]:
    """One round of the indexer's complaint consumer: pull new cases and feedback in, changes out."""
    return lambda: inbound.run(public_db, batch_db, config.field_key)


@pytest.fixture
def supervisor(seeded, batch_db, config) -> str:
    """A supervisor (纪检监察) of the county, and one of another county."""
    with batch_db.session() as s:
        for username, region in (("supervisor", COUNTY), ("other_supervisor", "410482")):
            operators.create_operator(s, config, actor="seed", username=username, name="纪检员", role="supervisor",
                                      region_code=region, password=TEST_PASSWORD, unit="鲁山县纪委监委",
                                      must_change_password=False, password_hash=test_password_hash())
    return "supervisor"


@pytest.fixture
def take_in(batch_db) -> Callable[..., int]:
    """A case received directly through the workflow (as the indexer's pull does); returns its id."""
    counter = iter(range(1, 10_000))

    def make(filed_on: date = date(2024, 9, 30), kind: str = "complaint", days: int = 15, **values: Any) -> int:
        n = next(counter)
        fields = {"tracking_code": f"TS{filed_on:%Y%m%d}AAA{n:03d}", "kind": kind, "subject": f"反映事项{n}",
                  "text": "具体情况", "project_code": "GLJT-410423", "region_code": "410423100001",
                  "filed_at": datetime(filed_on.year, filed_on.month, filed_on.day, 9, 30, tzinfo=SHANGHAI),
                  "due_on": add_workdays(filed_on, days), **values}
        with batch_db.session() as s:
            return workflow.receive(s, **fields).id

    return make
