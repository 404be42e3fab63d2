"""Headless Chromium: the department reviewer's screen of a submitted batch. Its buttons are the
workflow's actions for the reviewer (the same list as the JSON twin); filling in the return reason and
clicking 初审退回 sends the batch back to the clerk."""

from __future__ import annotations

from datetime import date

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select

from admin.app import create_admin_app
from admin.batches import workflow
from admin.models import Batch, Operator
from tests.admin.conftest import Roster, seed_lines, seeded  # noqa: F401 (fixture)
from tests.browser.conftest import click_and_wait, log_in
from tests.browser.test_admin import wait_for

pytestmark = pytest.mark.browser

DAY = date(2025, 9, 23)


@pytest.fixture
def live_app(config, seeded):  # noqa: F811 - serve the admin app instead of the portal
    return create_admin_app(config, today=lambda: DAY)


@pytest.fixture
def submitted(seeded, batch_db, config) -> int:  # noqa: F811
    seed_lines(config, batch_db, seeded, Roster)
    with batch_db.session() as s:
        op = s.execute(select(Operator).where(Operator.username == "civil_op")).scalar_one()
        workflow.perform(s, op, seeded["batch"], "submit", {}, date(2025, 9, 22))
    return seeded["batch"]


def test_reviewer_sees_the_actions_list_as_buttons_and_returns_the_batch(live_server, browser, submitted, batch_db,
                                                                          screenshot):
    b = submitted
    log_in(browser, live_server.url + f"/batches/{b}", "civil_rev")
    wait_for(browser, "actions")

    with batch_db.session() as s:
        reviewer = s.execute(select(Operator).where(Operator.username == "civil_rev")).scalar_one()
        offered = workflow.available_actions(s, reviewer, s.get(Batch, b), today=DAY)
        expected = [(a.name, a.label, a.url) for a in offered]
    forms = browser.find_elements(By.CSS_SELECTOR, "form.action")
    shown = [(f.get_attribute("data-action"), f.find_element(By.CSS_SELECTOR, "button").text,
              f.get_attribute("action").removeprefix(live_server.url)) for f in forms]
    assert shown == expected == [("review_pass", "初审通过", f"/batches/{b}/actions/review_pass"),
                                 ("return", "初审退回", f"/batches/{b}/actions/return")]
    assert browser.find_element(By.ID, "step-state").text == "待初审"
    assert "2025年9月25日" in browser.find_element(By.ID, "step-due").text  # due in 3 working days from 9/22
    screenshot("admin-reviewer-batch")

    browser.find_element(By.ID, "f-return-reason").send_keys("李湾村一户身份证号与户籍不符，请核实")
    browser.find_element(By.ID, "f-return-line_remarks").send_keys("2：身份证号与户籍不符")
    click_and_wait(browser, By.CSS_SELECTOR, 'form[data-action="return"] button')

    assert "已退回修改" in wait_for(browser, "step-state").text
    assert "已退回修改" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert browser.find_elements(By.CSS_SELECTOR, "form.action") == []  # nothing left for the reviewer to do
    with batch_db.session() as s:
        batch = s.get(Batch, b)
        assert (batch.state, batch.step_due_on) == ("returned", date(2025, 9, 26))
