"""The portal in a real headless Chromium: large-type mode and the home page."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

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
