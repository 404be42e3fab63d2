"""Phones in a real headless Chromium: at 320 and 375 px wide no main page scrolls sideways,
the things people tap are at least 44 px high, and 大字版 makes the base font 1.5× larger.
Screenshots: artifacts/screenshots/mobile-<width>-<page>.png."""

from __future__ import annotations

import pytest

from tests.browser.test_accessibility import PAGES, open_page

pytestmark = pytest.mark.browser

WIDTHS = (320, 375)
HEIGHT = 812
MIN_TAP = 44
# Stand-alone links and controls (links inside running text are exempt, WCAG 2.5.5).
TAP_TARGETS = (".site-nav a, .large-toggle, button, .button, input:not([type=hidden]):not([type=radio]), select, "
               ".pagination a, .sort-links a, .facet li a, .facet__clear, .chips a, .breadcrumb a, "
               ".actions a, .link-list a, .link-row a, details > summary")


def _set_width(browser, width: int) -> None:
    browser.set_window_size(width, HEIGHT)
    inner = browser.execute_script("return window.innerWidth")
    if inner != width:  # headless Chromium may add or take a few pixels of window chrome
        browser.set_window_size(width + (width - inner), HEIGHT)
    assert browser.execute_script("return window.innerWidth") == width


@pytest.fixture
def phone(browser):
    yield browser
    browser.set_window_size(412, 915)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(PAGES))
def test_fits_the_phone_and_targets_are_tappable(live_server, phone, screenshot, width, name):
    _set_width(phone, width)
    open_page(phone, live_server, name)
    scroll_width, client_width = phone.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];")
    screenshot(f"mobile-{width}-{name}")
    assert scroll_width <= client_width, f"{name} scrolls sideways at {width} px ({scroll_width} > {client_width})"
    small = phone.execute_script("""
        const out = [];
        for (const el of document.querySelectorAll(arguments[0])) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) continue;            // not rendered (e.g. display:none)
          if (getComputedStyle(el).visibility === 'hidden') continue;
          if (r.height < arguments[1] - 0.5) out.push([el.outerHTML.slice(0, 120), Math.round(r.height)]);
        }
        return out;""", TAP_TARGETS, MIN_TAP)
    assert not small, f"{name} at {width} px: tap targets under {MIN_TAP} px: {small}"


def test_nav_and_toggle_are_tappable(live_server, phone):
    _set_width(phone, 320)
    phone.get(live_server.url + "/")
    heights = phone.execute_script(
        "return [...document.querySelectorAll('.site-nav a, .large-toggle')].map(e => e.getBoundingClientRect().height)")
    assert len(heights) >= 7 and min(heights) >= MIN_TAP


def _base_font(browser) -> float:
    return float(browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)"))


def test_large_text_mode_scales_the_base_font(live_server, phone, screenshot):
    _set_width(phone, 375)
    phone.get(live_server.url + "/disclosures?q=王")
    normal = _base_font(phone)
    assert normal >= 16
    open_page(phone, live_server, "large-disclosures")
    large = _base_font(phone)
    screenshot("mobile-375-large-text")
    assert large >= 1.5 * normal and large >= 18
    h1 = float(phone.execute_script("return parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"))
    assert h1 > large
