"""Headless Chromium: the auditor's screen of a spot check (抽查). Its buttons are the spot check's
actions for the auditor (the same list as the JSON twin); recording a problem on a sampled line
through the form shows it with its category, responsible unit and rectification due date."""

from __future__ import annotations

from datetime import date

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from admin.app import create_admin_app
from admin.models import Operator, SpotCheck, SpotFinding
from admin.supervision import spot_checks
from core.workdays import add_workdays
from tests.admin.conftest import TOWNSHIP, Roster, seed_lines, seeded  # noqa: F401 (fixture)
from tests.browser.conftest import click_and_wait, log_in
from tests.browser.test_admin import wait_for

pytestmark = pytest.mark.browser

DAY = date(2025, 9, 23)


@pytest.fixture
def live_app(config, seeded):  # noqa: F811 - serve the admin app instead of the portal
    return create_admin_app(config, today=lambda: DAY)


@pytest.fixture
def drawn(seeded, batch_db, config) -> int:  # noqa: F811
    seed_lines(config, batch_db, seeded, Roster)
    with batch_db.session() as s:
        auditor = s.execute(select(Operator).where(Operator.username == "auditor")).scalar_one()
        return spot_checks.draw(s, auditor, today=DAY, batch_code=seeded["batch_code"], size=2, seed=9).id


def test_auditor_records_a_problem_through_the_spot_check_page(live_server, browser, drawn, batch_db, screenshot):
    log_in(browser, live_server.url + f"/spot-checks/{drawn}", "auditor")
    wait_for(browser, "actions")

    with batch_db.session() as s:
        auditor = s.execute(select(Operator).where(Operator.username == "auditor")).scalar_one()
        offered = spot_checks.actions_for(s, auditor, s.get(SpotCheck, drawn), today=DAY)
        expected = [(a.name, a.label, a.url) for a in offered]
        first = spot_checks.sampled_ids(s, drawn)[0]
    forms = browser.find_elements(By.CSS_SELECTOR, "form.action")
    shown = [(f.get_attribute("data-action"), f.find_element(By.CSS_SELECTOR, "button").text,
              f.get_attribute("action").removeprefix(live_server.url)) for f in forms]
    assert shown == expected == [("record_finding", "登记抽查结果", f"/spot-checks/{drawn}/actions/record_finding")]
    assert browser.find_element(By.ID, "seed").text == "9"
    screenshot("admin-spot-check")

    Select(browser.find_element(By.ID, "f-record_finding-line")).select_by_value(str(first))
    Select(browser.find_element(By.ID, "f-record_finding-result")).select_by_value("problem")
    Select(browser.find_element(By.ID, "f-record_finding-category")).select_by_value("wrong_amount")
    browser.find_element(By.ID, "f-record_finding-description").send_keys("发放金额高于标准")
    Select(browser.find_element(By.ID, "f-record_finding-responsible")).select_by_value(f"region:{TOWNSHIP}")
    click_and_wait(browser, By.CSS_SELECTOR, 'form[data-action="record_finding"] button')

    assert "已登记问题（金额错误）" in wait_for(browser, "sample").find_element(By.XPATH, "//div[contains(@class,'flash')]").text
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-line="{first}"]')
    assert "金额错误" in row.text and "鲁阳街道" in row.text and "待整改" in row.text
    with batch_db.session() as s:
        finding = s.scalars(select(SpotFinding)).one()
        assert (finding.status, finding.due_on) == ("open", add_workdays(DAY, 15))
