"""The personal side in a real headless Chromium: my payments (我的补贴), the statement, and a
complaint filed and then followed by its tracking code."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import click_and_wait

pytestmark = pytest.mark.browser


def _fill(browser, name: str, value: str) -> None:
    field = browser.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def test_personal_query_shows_paid_and_failed_lines(live_server, browser, screenshot):
    li = live_server.seeded.people[1]  # paid lines and a failed line (card frozen)
    browser.get(live_server.url + "/query")
    assert browser.find_element(By.TAG_NAME, "h1").text == "我的补贴查询"
    assert browser.find_element(By.ID, "f-id_number").get_attribute("autocomplete") == "off"
    _fill(browser, "id_number", li.id_number)
    _fill(browser, "name", li.name)
    _fill(browser, "card_digits", li.card_last4)
    screenshot("personal-query-form")
    click_and_wait(browser, By.ID, "query-submit")

    assert browser.find_element(By.TAG_NAME, "h1").text == f"{li.name} 的补贴发放情况"
    assert browser.current_url == live_server.url + "/query"  # nothing personal in the URL
    paid = browser.find_elements(By.CSS_SELECTOR, "tr.line-paid")
    assert len(paid) == 2
    assert "耕地地力保护补贴" in paid[0].text and "120.50" in paid[0].text
    failed = browser.find_element(By.CSS_SELECTOR, ".line-failed").text
    assert "社保卡账户已冻结" in failed and "解冻" in failed
    assert li.id_number not in browser.page_source and li.card_number not in browser.page_source
    screenshot("personal-query-result")

    # the year's statement opens without the ID number in its link
    click_and_wait(browser, By.CSS_SELECTOR, "a.statement-link")
    assert "/statement/" in browser.current_url and li.id_number not in browser.current_url
    statement = browser.find_element(By.CSS_SELECTOR, "article.statement").text
    assert li.name in statement and "120.50" in statement and "壹佰贰拾元伍角整" in statement
    screenshot("personal-statement")


def test_wrong_card_digits_get_the_uniform_answer(live_server, browser):
    wang = live_server.seeded.people[0]
    browser.get(live_server.url + "/query")
    _fill(browser, "id_number", wang.id_number)
    _fill(browser, "name", wang.name)
    _fill(browser, "card_digits", "0000" if wang.card_last4 != "0000" else "1111")
    click_and_wait(browser, By.ID, "query-submit")
    assert "未查询到记录" in browser.find_element(By.CSS_SELECTOR, ".notice-error").text
    assert browser.find_element(By.ID, "f-id_number").get_attribute("value") == ""  # not echoed


def test_complaint_filed_then_looked_up_by_code(live_server, browser, screenshot):
    browser.get(live_server.url + "/complaints")
    click_and_wait(browser, By.ID, "complaint-new-link")
    Select(browser.find_element(By.NAME, "kind")).select_by_value("complaint")
    _fill(browser, "subject", "高龄津贴三月份未到账")
    _fill(browser, "text", "王庄村张桂香老人的高龄津贴三月份没有到账，请核实原因。")
    browser.find_element(By.ID, "f-real_name").click()
    _fill(browser, "contact", "张女士 13912345678")
    screenshot("complaint-form")
    click_and_wait(browser, By.ID, "complaint-submit")

    code = browser.find_element(By.ID, "tracking-code").text
    assert code.startswith("TS") and len(code) == 16
    assert browser.find_element(By.ID, "complaint-status").text == "已受理"
    assert "13912345678" not in browser.page_source
    screenshot("complaint-filed")

    # later, from a fresh browser session: find it by the code, typed in lower case
    browser.delete_all_cookies()
    browser.get(live_server.url + "/complaints")
    _fill(browser, "code", code.lower())
    click_and_wait(browser, By.CSS_SELECTOR, "form[action='/complaints'] button")
    assert browser.current_url == f"{live_server.url}/complaints/{code}"
    assert "高龄津贴三月份未到账" in browser.page_source
    assert browser.find_element(By.ID, "complaint-status").text == "已受理"
    screenshot("complaint-status")
