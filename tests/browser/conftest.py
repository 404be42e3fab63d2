"""Real headless-Chromium tests against a live server.

Fixtures
--------
``live_server``  the portal (``create_app(config, search=<seeded engine>)``) served by uvicorn in a
                 thread on a free 127.0.0.1 port; yields an object with ``.url`` (base URL, no
                 trailing slash), ``.app``, ``.seeded`` (see tests/portal/conftest.py: masked
                 disclosures, policies, and ``.people`` with full ID/name/card for the personal
                 query) and ``.config``. Override ``live_app`` in a test module to serve another app.
``browser``      a Selenium Chrome driver on /usr/bin/chromium + /usr/bin/chromedriver, headless,
                 one per worker session; cookies are cleared before each test.
``screenshot``   ``screenshot("name")`` saves ``artifacts/screenshots/<name>.png``.

Mark browser tests with ``@pytest.mark.browser``. They are skipped when Chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.admin.conftest import TEST_PASSWORD
from tests.portal.conftest import Seeded, seed_index

CHROMIUM = os.environ.get("YIKATONG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("YIKATONG_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-dev-shm-usage", "--window-size=412,915", "--lang=zh-CN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    app: Any
    seeded: Seeded | None
    config: Any


@pytest.fixture
def live_seeded(tmp_path: Path, config) -> tuple[Any, Seeded]:
    from search import make_engine
    from search.schemas import SPECS

    engine = make_engine(tmp_path / "live-search")
    for spec in SPECS.values():
        engine.ensure_index(spec)
    return engine, seed_index(engine, n=120, hmac_key=config.hmac_key)


@pytest.fixture
def live_app(config, live_seeded, public_db):
    from cli.apps import public_app

    return public_app(config, search=live_seeded[0])


@pytest.fixture
def live_server(live_app, live_seeded, config) -> Iterator[LiveServer]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(live_app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", live_app, live_seeded[1], config)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def _driver() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("Chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(_driver) -> Any:
    _driver.delete_all_cookies()
    return _driver


@pytest.fixture
def screenshot(browser) -> Callable[[str], Path]:
    def save(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return save


def log_in(browser: Any, url: str, username: str) -> None:
    """Open ``url`` of the admin app (which shows the login form first) and sign in as ``username``
    through the form, waiting for the page the login leads to."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(TEST_PASSWORD)
    click_and_wait(browser, By.ID, "login-submit")


def click_and_wait(browser: Any, by: str, selector: str, timeout: float = 15) -> None:
    """Click an element and wait until the next page has replaced this one and finished loading.

    While a page is being swapped, chromedriver may answer a look at the old document with
    "Node with given id does not belong to the document" instead of a stale-element error:
    both mean the old page is gone.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, selector).click()

    def old_page_gone(_: Any) -> bool:
        try:
            old.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise

    WebDriverWait(browser, timeout).until(old_page_gone)
    WebDriverWait(browser, timeout).until(lambda b: b.execute_script("return document.readyState") == "complete")
