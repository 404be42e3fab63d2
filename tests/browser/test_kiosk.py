"""The village kiosk in a real headless Chromium: simulated ID-card reader → card digits →
results → statement, print layouts (A4 and 80 mm receipt, via emulated print media), the manual
path with the X key, printing and the idle clear. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from portal import kiosk_devices as kd
from portal.kiosk import start_url

pytestmark = pytest.mark.browser

KIOSK_SIZE = (1080, 1400)
PHONE_SIZE = (412, 915)


@pytest.fixture
def live_app(config, live_seeded, public_db):
    from portal.app import create_app

    people = live_seeded[1].people
    # The simulated reader hands out these people in turn: first the one with a failed line.
    sample = [{"id_number": p.id_number, "name": p.name, "card_number": p.card_number} for p in (people[1], people[0])]
    return create_app(config, search=live_seeded[0], sample_people=lambda: sample)


@pytest.fixture
def kiosk(live_server, browser, public_db) -> Iterator[Any]:
    info, secret = kd.register_device(public_db, name="王庄村1号机", location="王庄村便民服务中心",
                                      region_code="410423204201")
    browser.set_window_size(*KIOSK_SIZE)
    browser.get(start_url(info.device_id, secret, base=live_server.url))
    wait_screen(browser, "start")
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        browser.set_window_size(*PHONE_SIZE)


def wait_screen(browser, name: str, timeout: float = 10) -> None:
    WebDriverWait(browser, timeout).until(
        lambda b: b.execute_script("return document.body.getAttribute('data-screen')") == name)


def visible_text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def click(browser, css: str) -> None:
    element = next(e for e in browser.find_elements(By.CSS_SELECTOR, css) if e.is_displayed())
    element.click()


def type_keys(browser, text: str) -> None:
    for ch in text:
        click(browser, f'.keypad [data-key="{ch}"]')


def test_simulated_reader_lookup_results_statement_and_print_layout(live_server, kiosk, screenshot) -> None:
    browser = kiosk
    person = live_server.seeded.people[1]
    base = float(browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)"))
    assert base >= 24
    button = browser.find_element(By.ID, "simulate-reader")
    assert button.size["height"] >= 80
    screenshot("kiosk-start")

    button.click()
    wait_screen(browser, "entry")
    who = browser.find_element(By.ID, "entry-who").text
    assert "李**" in who and person.name not in who  # masked until the lookup succeeded
    assert f"卡号后4位是 {person.card_last4}" in who
    assert not browser.find_element(By.ID, "key-x").is_displayed()  # no X for card digits
    type_keys(browser, person.card_last4)
    assert browser.find_element(By.ID, "entry-input").get_attribute("value") == person.card_last4
    assert browser.find_element(By.ID, "entry-input").get_attribute("autocomplete") == "off"
    screenshot("kiosk-digits")
    click(browser, '[data-action="confirm"]')

    wait_screen(browser, "results")
    text = visible_text(browser)
    assert f"{person.name}，您好" in text
    assert "发放失败" in text and "冻结" in text and "怎么办" in text
    assert "已发放 120.50 元" in text
    assert person.id_number not in browser.page_source
    screenshot("kiosk-results")

    click(browser, '[data-action="statement"][data-year="2024"]')
    wait_screen(browser, "statement")
    statement = browser.find_element(By.ID, "statement").text
    assert "明白条" in statement and f"姓名：{person.name}" in statement
    assert "耕地地力保护补贴" in statement and "合计" in statement and "120.50" in statement
    assert "王庄村1号机" in statement
    screenshot("kiosk-statement")

    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    actions = browser.find_element(By.CSS_SELECTOR, "#screen-statement .actions")
    assert not actions.is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, ".kiosk-bar").is_displayed()
    assert browser.find_element(By.ID, "statement").is_displayed()
    printed_size = float(browser.execute_script(
        "return parseFloat(getComputedStyle(document.documentElement).fontSize)"))
    assert printed_size < 20  # 12pt on paper instead of the 26px touch type
    screenshot("kiosk-statement-print-a4")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # Nothing is kept in the browser: no storage, no history entries.
    assert browser.execute_script("return localStorage.length + sessionStorage.length") == 0
    assert browser.execute_script("return history.state") is None
    assert browser.current_url.endswith("/kiosk")

    # Printing ends the session: the screen clears and returns to the start.
    click(browser, '#screen-statement [data-action="print"]')
    wait_screen(browser, "start")
    assert browser.find_element(By.ID, "results").text == ""
    assert browser.find_element(By.ID, "statement").text == ""
    assert person.name not in browser.page_source


def test_manual_entry_with_x_key_and_receipt_layout(live_server, kiosk, screenshot) -> None:
    browser = kiosk
    browser.get(live_server.url + "/kiosk?paper=receipt")
    wait_screen(browser, "start")
    person = live_server.seeded.people[0]
    click(browser, '[data-action="manual"]')
    wait_screen(browser, "entry")
    assert browser.find_element(By.ID, "key-x").is_displayed()
    type_keys(browser, "12X")
    click(browser, '[data-key="back"]')
    assert browser.find_element(By.ID, "entry-input").get_attribute("value") == "12"
    click(browser, '[data-key="clear"]')
    click(browser, '[data-action="confirm"]')
    assert "18位" in browser.find_element(By.ID, "entry-error").text
    type_keys(browser, person.id_number)
    click(browser, '[data-action="confirm"]')
    assert "社保卡卡号" in browser.find_element(By.ID, "entry-title").text
    type_keys(browser, person.card_number)
    click(browser, '[data-action="confirm"]')
    wait_screen(browser, "results")
    assert "待发放" in visible_text(browser)

    click(browser, '[data-action="statement"][data-year="2024"]')
    wait_screen(browser, "statement")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    width = browser.execute_script("return document.getElementById('kiosk-main').getBoundingClientRect().width")
    assert 250 < width < 300  # 72 mm printable on an 80 mm roll
    screenshot("kiosk-statement-print-receipt")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_wrong_digits_say_not_found_and_bridge_rejects_bad_cards(live_server, kiosk) -> None:
    browser = kiosk
    person = live_server.seeded.people[0]
    accepted = browser.execute_script(
        "return window.YikatongKiosk.onIdCardRead({id_number: '123', name: 'x'})")
    assert accepted is False
    assert browser.execute_script("return document.body.getAttribute('data-screen')") == "start"
    browser.execute_script("window.YikatongKiosk.readerStatus('ready')")
    assert "就绪" in browser.find_element(By.ID, "reader-status").text
    # The vendor's plugin reports a card the way the simulated reader does.
    assert browser.execute_script("return window.YikatongKiosk.onIdCardRead(arguments[0])",
                                  {"id_number": person.id_number, "name": person.name}) is True
    wait_screen(browser, "entry")
    wrong = "0000" if person.card_last4 != "0000" else "1111"
    type_keys(browser, wrong)
    click(browser, '[data-action="confirm"]')
    wait_screen(browser, "message")
    assert "没有查到" in browser.find_element(By.ID, "message-title").text
    assert "后4位" in browser.find_element(By.ID, "message-text").text


def test_idle_timeout_clears_the_screen(live_server, kiosk, screenshot) -> None:
    browser = kiosk
    browser.get(live_server.url + "/kiosk?idle=3")
    wait_screen(browser, "start")
    person = live_server.seeded.people[1]
    browser.find_element(By.ID, "simulate-reader").click()
    wait_screen(browser, "entry")
    type_keys(browser, person.card_last4)
    click(browser, '[data-action="confirm"]')
    wait_screen(browser, "results")
    assert person.name in visible_text(browser)
    started = time.monotonic()
    wait_screen(browser, "start", timeout=10)
    waited = time.monotonic() - started
    assert 1.5 < waited < 8
    assert browser.find_element(By.ID, "results").text == ""
    assert browser.find_element(By.ID, "entry-input").get_attribute("value") == ""
    assert person.name not in browser.page_source
    screenshot("kiosk-after-idle")
