"""Headless Chromium: a township clerk logs in, imports a roster with a bad line, fixes it, imports."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.admin.conftest import TEST_PASSWORD, csv_bytes, person_row, seeded  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def wait_for(browser, element_id, timeout=30):
    """The element once the page that holds it has loaded (form posts navigate asynchronously)."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(ec.presence_of_element_located((By.ID, element_id)),
                                                 message=f"#{element_id} missing on {browser.current_url}")


@pytest.fixture
def live_app(config, seeded):  # noqa: F811 - serve the admin app instead of the portal
    from admin.app import create_admin_app

    return create_admin_app(config)


def test_clerk_imports_a_roster_and_fixes_a_bad_line(live_server, browser, seeded, tmp_path, batch_db):  # noqa: F811
    from sqlalchemy import func, select

    from admin.models import PaymentLine

    roster_file = tmp_path / "花名册.csv"
    roster_file.write_bytes(csv_bytes([person_row(1), person_row(2, village="李湾村"),
                                       person_row(3, amount="999")]))
    browser.get(live_server.url + f"/batches/{seeded['batch']}")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys("clerk")
    browser.find_element(By.ID, "password").send_keys(TEST_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, "roster-file").send_keys(str(roster_file))
    assert browser.current_url.endswith(f"/batches/{seeded['batch']}")
    browser.find_element(By.ID, "import-submit").click()
    summary = wait_for(browser, "staged-summary").text
    assert "1 行有问题" in summary
    reasons = browser.find_element(By.ID, "failing").text
    assert "超过本项目标准上限300.00元" in reasons

    browser.find_element(By.CSS_SELECTOR, "a.fix").click()
    wait_for(browser, "line-form")
    amount = browser.find_element(By.NAME, "金额")
    amount.clear()
    amount.send_keys("200")
    browser.find_element(By.ID, "line-save").click()
    wait_for(browser, "commit")
    assert "全部通过检查" in browser.find_element(By.ID, "staged-summary").text
    browser.find_element(By.ID, "commit").click()

    assert "明细 3 行" in wait_for(browser, "line-summary").text
    assert "已导入 3 行" in browser.find_element(By.TAG_NAME, "body").text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3
