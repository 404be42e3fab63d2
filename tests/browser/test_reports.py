"""Headless Chromium: the auditor's supervision reports (统计报表, #16). A batch goes through the real
workflow (submitted, reviewed on time, put up for publicity); the auditor opens 统计报表, follows the timeliness report's
link and sees the server-drawn SVG bar chart and the table with the same figures; the page's Excel
link is there (read back through the test client, not downloaded by the browser)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from sqlalchemy import select
from starlette.testclient import TestClient

from admin.app import create_admin_app
from admin.batches import workflow
from admin.models import Operator
from tests.admin.conftest import Roster, login, seed_lines, seeded  # noqa: F401 (fixture)
from tests.browser.conftest import click_and_wait, log_in
from tests.browser.test_admin import wait_for

pytestmark = pytest.mark.browser

DAY = date(2025, 10, 21)


@pytest.fixture
def live_app(config, seeded):  # noqa: F811 - serve the admin app instead of the portal
    return create_admin_app(config, today=lambda: DAY)


@pytest.fixture
def reviewed(seeded, batch_db, config) -> int:  # noqa: F811
    """The civil batch submitted on 22 Sep 2025, passed its first review on 24 Sep and put up for
    publicity on 25 Sep: its first-verification step (初审) finished on time, publicity (公示) open."""
    seed_lines(config, batch_db, seeded, Roster)
    publicity = {"start": "2025-09-25", "end": "2025-09-29", "place": "各村村务公开栏"}
    for username, name, day, form in (("civil_op", "submit", date(2025, 9, 22), {}),
                                      ("civil_rev", "review_pass", date(2025, 9, 24), {}),
                                      ("civil_op", "publicity_open", date(2025, 9, 25), publicity)):
        with batch_db.session() as s:
            op = s.execute(select(Operator).where(Operator.username == username)).scalar_one()
            workflow.perform(s, op, seeded["batch"], name, form, day)
    return seeded["batch"]


def test_auditor_follows_a_report_link_to_its_chart_table_and_excel(live_server, browser, reviewed, login,
                                                                     screenshot):
    log_in(browser, live_server.url + "/", "auditor")
    click_and_wait(browser, By.LINK_TEXT, "统计报表")
    assert browser.current_url.removeprefix(live_server.url) == "/reports"
    links = wait_for(browser, "reports").find_elements(By.CSS_SELECTOR, "li > a:first-child")
    assert [a.text for a in links] == ["各环节办理时效（按主管部门）", "代发银行发放失败率与到账时间",
                                       "主管部门半年评价", "投诉举报（按项目、地区）"]
    screenshot("admin-reports")

    click_and_wait(browser, By.LINK_TEXT, "各环节办理时效（按主管部门）")
    assert browser.current_url.removeprefix(live_server.url).startswith("/reports/timeliness")
    assert browser.find_element(By.TAG_NAME, "h1").text == "各环节办理时效（按主管部门）"

    figure = browser.find_element(By.CSS_SELECTOR, "figure.chart-figure")
    assert "各部门各环节按时办结率" in figure.find_element(By.CSS_SELECTOR, "figcaption").text
    rows = figure.find_elements(By.CSS_SELECTOR, "li.bars__row")
    drawn = [(r.find_element(By.CSS_SELECTOR, ".bars__label").get_attribute("textContent"),
              r.find_element(By.CSS_SELECTOR, ".bars__value").get_attribute("textContent"),
              r.find_element(By.CSS_SELECTOR, "svg.chart rect.bar").get_attribute("width")) for r in rows]
    assert drawn == [("鲁山县民政局·初审", "100.0%", "100.00"),  # finished on time: a full bar
                     ("鲁山县民政局·公示", "—", "0.00")]  # still open: nothing to measure, no bar
    assert figure.find_element(By.CSS_SELECTOR, "svg.chart").size["width"] > 0  # really laid out

    table = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
             for tr in browser.find_elements(By.CSS_SELECTOR, "#report tr")[1:]]
    assert table == [["鲁山县民政局", "初审", "不超过3个工作日", "1", "1", "0", "100.0%", "3.0", "3", "0", "0"],
                     ["鲁山县民政局", "公示", "不少于3个工作日", "0", "0", "0", "", "", "", "1", "0"]]
    screenshot("admin-report-timeliness")

    excel = browser.find_element(By.XPATH, "//a[normalize-space()='导出 Excel']")
    href = excel.get_attribute("href").removeprefix(live_server.url)
    assert href.startswith("/reports/timeliness.xlsx")

    with TestClient(create_admin_app(live_server.config, today=lambda: DAY)) as client:  # the same database
        assert login(client, "auditor").status_code == 303
        download = client.get(href)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(download.content)).active
    rows_read = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert "各环节办理时效（按主管部门）" in rows_read[0][0]
    assert [row[:11] for row in rows_read if row[0] == "鲁山县民政局"] == [  # the page's figures, as numbers
        ["鲁山县民政局", "初审", "不超过3个工作日", 1, 1, 0, "100.0%", 3, 3, 0, 0],
        ["鲁山县民政局", "公示", "不少于3个工作日", 0, 0, 0, None, None, None, 1, 0]]
    assert len(sheet._charts) == 1  # the Excel bar chart over the same figures
