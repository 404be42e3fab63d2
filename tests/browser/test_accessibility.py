"""axe-core in a real headless Chromium on every main public page: no "serious" or "critical"
violation of a WCAG 2.0/2.1 level A or AA rule.

axe-core is a vendored test asset (tests/browser/vendor/axe-core/, MPL-2.0, see its README.md);
it is injected with Selenium ``execute_script`` (WebDriver scripts are not subject to the page's
CSP) and never served by the portal. ``open_page`` and ``PAGES`` are shared with test_mobile.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import click_and_wait

pytestmark = pytest.mark.browser

AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def _wait_loaded(browser) -> None:
    WebDriverWait(browser, 15).until(lambda b: b.execute_script("return document.readyState") == "complete")


def _submit(browser, css: str) -> None:
    click_and_wait(browser, By.CSS_SELECTOR, css)


def _fill(browser, name: str, value: str) -> None:
    field = browser.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def _query_result(browser, server) -> None:
    person = server.seeded.people[1]  # paid lines and a failed line
    browser.get(server.url + "/query")
    _fill(browser, "id_number", person.id_number)
    _fill(browser, "name", person.name)
    _fill(browser, "card_digits", person.card_last4)
    _submit(browser, "#query-submit")
    assert browser.find_elements(By.CSS_SELECTOR, "tr.line-paid")


def _complaint_status(browser, server) -> None:
    browser.get(server.url + "/complaints/new")
    Select(browser.find_element(By.NAME, "kind")).select_by_value("complaint")
    _fill(browser, "subject", "2024年耕地地力保护补贴未到账")
    _fill(browser, "text", "王庄村有几户的耕地地力保护补贴一直没有到账，请核实。")
    browser.find_element(By.ID, "f-real_name-0").click()
    _submit(browser, "#complaint-submit")
    assert browser.find_element(By.ID, "tracking-code").text


def _large(path: str) -> Callable[[Any, Any], None]:
    def go(browser, server) -> None:
        browser.get(server.url + "/large-text?on=1&next=" + path.replace("?", "%3F").replace("=", "%3D"))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("class") == "large"
    return go


# name -> a path, or a function(browser, live_server) that gets the browser there.
PAGES: dict[str, str | Callable[[Any, Any], None]] = {
    "home": "/",
    "disclosures": "/disclosures?q=王",
    "disclosures-empty": "/disclosures?q=没有这个人",
    "policies": "/policies",
    "policy-detail": "/policies/p1",
    "query": "/query",
    "query-result": _query_result,
    "statistics": "/statistics",
    "complaints": "/complaints",
    "complaint-new": "/complaints/new",
    "complaint-status": _complaint_status,
    "error-404": "/no-such-page",
    "large-home": _large("/"),
    "large-disclosures": _large("/disclosures?q=王"),
}


def open_page(browser, server, name: str) -> None:
    target = PAGES[name]
    if callable(target):
        target(browser, server)
    else:
        browser.get(server.url + target)
    _wait_loaded(browser)


def run_axe(browser) -> list[dict[str, Any]]:
    browser.execute_script(AXE_JS.read_text(encoding="utf-8"))
    browser.set_script_timeout(60)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations)), e => done(JSON.stringify({error: String(e)})));",
        WCAG_TAGS)
    violations = json.loads(result)
    assert not isinstance(violations, dict), violations
    return violations


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_wcag_violations(live_server, browser, name):
    browser.set_window_size(412, 915)
    open_page(browser, live_server, name)
    assert browser.find_element(By.TAG_NAME, "h1").text
    blocking = [v for v in run_axe(browser) if v.get("impact") in BLOCKING]
    assert not blocking, f"{name}:\n{_describe(blocking)}"


def test_no_serious_wcag_violations_on_desktop(live_server, browser):
    """The wide layout (facets beside results, full tables) too."""
    browser.set_window_size(1280, 900)
    try:
        for name in ("disclosures", "statistics", "query-result"):
            open_page(browser, live_server, name)
            blocking = [v for v in run_axe(browser) if v.get("impact") in BLOCKING]
            assert not blocking, f"{name} (1280 px):\n{_describe(blocking)}"
    finally:
        browser.set_window_size(412, 915)
