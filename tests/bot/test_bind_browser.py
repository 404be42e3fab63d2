"""The binding page in real headless Chromium (no JS needed), then the chat's statement link."""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pytest
import xmltodict
from selenium.webdriver.common.by import By

from tests.bot.conftest import new_openid, sign, text_xml
from tests.browser.conftest import _driver, browser, live_app, live_seeded, live_server  # noqa: F401
from tests.browser.conftest import click_and_wait


def _chat(live, openid: str, content: str) -> str:
    ts, nonce = str(int(time.time())), secrets.token_hex(4)
    params = {"signature": sign(live.config.wechat_token, ts, nonce), "timestamp": ts, "nonce": nonce}
    response = httpx.post(live.url + "/wechat/", params=params, content=text_xml(openid, content).encode())
    assert response.status_code == 200
    return xmltodict.parse(response.text)["xml"]["Content"]


@pytest.mark.browser
def test_follower_binds_in_the_browser_then_opens_the_statement(live_server, browser) -> None:
    li = live_server.seeded.people[1]
    openid = new_openid()
    reply = _chat(live_server, openid, "绑定")
    link = re.search(r"/wechat/bind/\S+", reply).group()
    browser.get(live_server.url + link)
    assert browser.find_element(By.TAG_NAME, "h1").text == "绑定微信查询"
    for name, value in (("id_number", li.id_number), ("name", li.name), ("card_digits", li.card_last4)):
        browser.find_element(By.ID, f"f-{name}").send_keys(value)
    click_and_wait(browser, By.ID, "bind-submit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "绑定成功"
    assert li.id_number not in browser.page_source and li.id_number not in browser.current_url

    statement = _chat(live_server, openid, "明白条 2024")
    path = re.search(r"/statement/\S+", statement).group()
    browser.get(live_server.url + path)
    assert "120.50" in browser.find_element(By.TAG_NAME, "main").text
