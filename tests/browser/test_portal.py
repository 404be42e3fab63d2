"""The portal in a real headless Chromium: large-type mode and the home page."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser


def test_large_type_toggle(live_server, browser, screenshot):
    browser.get(live_server.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text
    normal = float(browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"))
    screenshot("home")
    browser.find_element(By.LINK_TEXT, "大字版").click()
    assert browser.current_url.rstrip("/") == live_server.url
    large = float(browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"))
    assert large > normal * 1.2
    assert browser.find_element(By.LINK_TEXT, "标准版")
    screenshot("home-large")
    browser.find_element(By.LINK_TEXT, "标准版").click()
    assert browser.find_element(By.LINK_TEXT, "大字版")


def _count(browser) -> int:
    text = browser.find_element(By.CSS_SELECTOR, "#results-title strong").text
    return int(text)


def test_disclosure_search_and_facet_click(live_server, browser, screenshot):
    browser.get(live_server.url + "/")
    box = browser.find_element(By.ID, "q-disclosures")
    box.send_keys("王")
    box.submit()
    WebDriverWait(browser, 10).until(EC.url_contains("/disclosures"))
    total = _count(browser)
    expected = sum(1 for d in live_server.seeded.disclosures
                   if any("王" in str(d[f]) for f in ("name_masked", "village", "township", "county", "project_name", "policy_name")))
    assert total == expected > 0
    assert browser.find_elements(By.CSS_SELECTOR, "td mark")
    screenshot("disclosures-search")
    facet = browser.find_element(By.CSS_SELECTOR, "#facet-region + ul a")
    facet_count = int(facet.find_element(By.CSS_SELECTOR, ".count").text.strip("()"))
    facet.click()
    WebDriverWait(browser, 10).until(EC.url_contains("region="))
    assert "q=" in browser.current_url
    assert _count(browser) == facet_count < total
    assert browser.find_element(By.CSS_SELECTOR, ".breadcrumb [aria-current]").text
    screenshot("disclosures-facet")
    browser.find_element(By.LINK_TEXT, "全部地区").click()
    WebDriverWait(browser, 10).until(lambda b: "region=" not in b.current_url)
    assert _count(browser) == total


def test_policy_browse_to_detail(live_server, browser, screenshot):
    browser.get(live_server.url + "/policies")
    assert _count(browser) == len(live_server.seeded.policies)
    browser.find_element(By.PARTIAL_LINK_TEXT, "中央").click()
    assert _count(browser) == 1
    browser.find_element(By.PARTIAL_LINK_TEXT, "耕地地力保护补贴").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "耕地地力保护补贴"
    assert "豫财农〔2024〕12号" in browser.page_source
    screenshot("policy-detail")


def test_keyboard_skip_link_and_focus(live_server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(live_server.url + "/disclosures")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.text == "跳到主要内容"
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
