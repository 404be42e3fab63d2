"""Headless Chromium: the auditor's screens of the anomaly signals (异常信号, #16). A shared card is
planted through the real roster import; the auditor logs in, opens 异常信号, opens the signal, sees
only the review buttons of its actions list (the same list as the JSON twin), confirms it with a note
through the form and sees the new status, the reviewer and the note. A township clerk's browser
shows no review button (the other township's clerk gets the not-found page)."""

from __future__ import annotations

from datetime import date

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select

from admin.models import Signal, SignalReview
from admin.supervision import signals
from tests.admin.conftest import seeded  # noqa: F401 (fixture)
from tests.admin.supervision.test_signals import _actor, planted  # noqa: F401 (fixture)
from tests.browser.conftest import click_and_wait, log_in
from tests.browser.test_admin import wait_for

pytestmark = pytest.mark.browser

DAY = date(2025, 10, 10)


@pytest.fixture
def live_app(config, seeded):  # noqa: F811 - serve the admin app instead of the portal
    from admin.app import create_admin_app

    return create_admin_app(config, today=lambda: DAY)


def shown_actions(browser, live_server) -> list[tuple[str, str, str]]:
    forms = browser.find_elements(By.CSS_SELECTOR, "form.action")
    return [(f.get_attribute("data-action"), f.find_element(By.CSS_SELECTOR, "button").text,
             f.get_attribute("action").removeprefix(live_server.url)) for f in forms]


def test_auditor_confirms_a_planted_signal_through_its_page(live_server, browser, planted, batch_db,  # noqa: F811
                                                             screenshot):
    sid = planted["shared_card"]
    log_in(browser, live_server.url + "/", "auditor")
    click_and_wait(browser, By.LINK_TEXT, "异常信号")
    assert browser.current_url.removeprefix(live_server.url) == "/signals"
    row = wait_for(browser, "signals").find_element(By.CSS_SELECTOR, 'tr[data-kind="shared_card"]')
    assert "一卡多人" in row.text and "待核实" in row.text
    screenshot("admin-signals")

    click_and_wait(browser, By.CSS_SELECTOR, f'tr[data-kind="shared_card"] a[href="/signals/{sid}"]')
    assert wait_for(browser, "signal-status").text == "待核实"
    with batch_db.session() as s:
        signal = s.get(Signal, sid)
        expected = [(a.name, a.label, a.url) for a in signals.available_actions(_actor(s, "auditor"), signal)]
    assert shown_actions(browser, live_server) == expected == [
        ("explain", "说明情况（排除）", f"/signals/{sid}/actions/explain"),
        ("confirm", "确认为问题", f"/signals/{sid}/actions/confirm")]
    assert "尚无核实记录" in browser.find_element(By.ID, "reviews").text
    screenshot("admin-signal-open")

    browser.find_element(By.ID, "f-confirm-note").send_keys("同一张卡发给两人，已移交纪检")
    click_and_wait(browser, By.CSS_SELECTOR, 'form[data-action="confirm"] button')

    assert wait_for(browser, "signal-status").text == "已确认问题"
    assert "已标记为“已确认问题”" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    facts = browser.find_element(By.ID, "signal").text
    assert "核实人" in facts and "auditor" in facts and "同一张卡发给两人，已移交纪检" in facts
    review = browser.find_elements(By.CSS_SELECTOR, "#reviews tr")[1].text
    assert "确认为问题" in review and "已确认问题" in review and "auditor" in review and "已移交纪检" in review
    assert [a for a, _label, _url in shown_actions(browser, live_server)] == ["explain", "reopen"]
    screenshot("admin-signal-confirmed")
    with batch_db.session() as s:
        signal = s.get(Signal, sid)
        assert (signal.status, signal.reviewed_by, signal.review_note) == ("confirmed", "auditor",
                                                                          "同一张卡发给两人，已移交纪检")
        assert s.scalars(select(SignalReview.action).where(SignalReview.signal_id == sid)).all() == ["confirm"]


def test_township_clerks_see_no_review_button(live_server, browser, planted, batch_db):  # noqa: F811
    """The clerk of the signal's township reads it without a button; the other township's clerk
    gets the not-found page."""
    sid = planted["shared_card"]
    log_in(browser, live_server.url + f"/signals/{sid}", "clerk")
    assert wait_for(browser, "signal-status").text == "待核实"
    with batch_db.session() as s:
        assert signals.available_actions(_actor(s, "clerk"), s.get(Signal, sid)) == []
    assert browser.find_elements(By.CSS_SELECTOR, "form.action, button[data-action]") == []
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "只有审计、纪检监察人员可以核实异常信号。" in body
    assert "确认为问题" not in body and "说明情况" not in body

    browser.delete_all_cookies()
    log_in(browser, live_server.url + f"/signals/{sid}", "clerk2")
    assert wait_for(browser, "error-message").text == "找不到该记录，或不在您的管辖范围内。"
    assert browser.find_elements(By.ID, "signal") == []
    assert browser.find_elements(By.CSS_SELECTOR, "form.action, button[data-action]") == []
    with batch_db.session() as s:
        assert (s.get(Signal, sid).status, s.scalars(select(SignalReview)).all()) == ("open", [])
