"""Browser-test fixtures, shared by the consumer portal and the compliance console.

One headless Chromium (Debian's, driven by Playwright for Python) is started per test
session: ``/usr/bin/chromium-headless-shell`` (package chromium-headless-shell, the same
Chromium build's headless shell) when it is installed, else ``/usr/bin/chromium``;
``CH_CHROMIUM`` names another binary. Each test gets a fresh browser context (no cookies,
no storage) and a page. pytest-django's ``live_server`` serves the app from a thread of the test
process against the test database, so data made in a test is visible to the browser
(the tests here are transactional).

    pytestmark = pytest.mark.browser   # every test module under tests/browser/ gets it anyway

    def test_something(page, live_server, login_as, make_consumer):
        consumer = make_consumer()
        login_as(page, consumer.consumer.user)
        page.goto(live_server.url + "/")

Screenshots from ``screenshot(page, "name")`` and ``element_screenshot(locator, "name")``
land in ``var/test/screenshots/`` when CH_SCREENSHOTS=1 (the tests pass the same either way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

FULL_CHROMIUM = "/usr/bin/chromium"
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
# The headless shell is Chromium's own build for headless use (the one Playwright drives by
# default): the same Blink and V8 without the desktop browser around them. It runs the
# browser tests in 40% less time than the full browser (2026-12-07: 54 tests, two
# workers, 129 s -> 78 s), all of it Chromium's CPU on a 2-core machine. The full browser
# still runs one journey (test_full_browser.py), so both stay working.
CHROMIUM = os.environ.get("CH_CHROMIUM") or (HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() else FULL_CHROMIUM)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots"
BROWSER_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def chromium_required(executable: str = CHROMIUM) -> None:
    """Skip when ``executable`` or Playwright is missing; fail instead under REQUIRE_SERVICES=1."""
    missing = None
    if not (Path(executable).exists() or shutil.which(executable)):
        missing = f"needs Chromium at {executable} (apt-get install chromium chromium-headless-shell)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "needs Playwright for Python (pip install -r requirements.txt)"
    if missing and REQUIRE_SERVICES:
        pytest.fail(f"{missing} (REQUIRE_SERVICES=1)")
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def playwright(django_db_setup):
    chromium_required()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on this thread for as long as the
    # browser lives (the rest of the session), and Django then refuses every ORM call from
    # this thread as "async unsafe", in browser tests and in any test that runs after them.
    # All of that code is plain synchronous code, so the guard is a false alarm here.
    # (Depending on django_db_setup makes the test database exist before the loop starts.)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def chromium_launch(playwright, executable: str = CHROMIUM):
    """A headless Chromium from ``executable`` (one Playwright per session drives them all:
    a second sync Playwright on the same thread is refused)."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="session")
def browser(playwright):
    instance = chromium_launch(playwright)
    yield instance
    instance.close()


@pytest.fixture
def browser_context_options() -> dict:
    """Override in a module to change the viewport, locale, permissions… A Chinese browser
    by default: portal pages follow Accept-Language on a first visit."""
    return {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", "accept_downloads": True}


@pytest.fixture
def context(browser, browser_context_options):
    context = browser.new_context(**browser_context_options)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context, live_server):
    page = context.new_page()
    page.base_url = live_server.url  # convenience: page.goto(page.base_url + "/history/")
    yield page
    page.close()


@pytest.fixture
def login_as(live_server, transactional_db):
    """Log ``user`` in by giving the browser a real session cookie (fast: no form)."""
    from django.conf import settings
    from django.test import Client

    def login(page, user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])

    return login


@pytest.fixture
def log_in_with_form(live_server):
    """Log in through the login page, as a person would."""

    def log_in(page, username: str, password: str) -> None:
        page.goto(live_server.url + "/login/")
        page.locator("#id_username").fill(username)
        page.locator("#id_password").fill(password)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()

    return log_in


def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


# Whole-page screenshots, and element screenshots no test reads back, are for people
# reviewing the pages; they cost a third of a second each (about 10% of the browser tests'
# time), so they are taken only when asked for: CH_SCREENSHOTS=1 make test.
SCREENSHOTS = os.environ.get("CH_SCREENSHOTS") == "1"


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of ``page`` as ``name``.png when CH_SCREENSHOTS=1; the path either way."""
    path = screenshot_dir() / f"{name}.png"
    if SCREENSHOTS:
        page.screenshot(path=str(path), full_page=full_page)
    return path


def element_screenshot(locator, name: str) -> Path:
    """Save a screenshot of one element as ``name``.png when CH_SCREENSHOTS=1, for people
    reviewing it (a test that checks pixels takes its own with ``locator.screenshot()``)."""
    path = screenshot_dir() / f"{name}.png"
    if SCREENSHOTS:
        locator.screenshot(path=str(path))
    return path


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no sideways scroll)."""
    return page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth")


def tables_wider_than_their_box(page) -> list[str]:
    """Tables in <main> (those in closed <details> opened first) wider than the element that
    holds them, as "caption or first header: table width > box width"; [] when all fit."""
    return page.evaluate(
        """() => {
            document.querySelectorAll('main details').forEach(details => { details.open = true; });
            return Array.from(document.querySelectorAll('main table'))
                .map(table => ({table, width: table.getBoundingClientRect().width, box: table.parentElement.clientWidth}))
                .filter(({width, box}) => width > box + 0.5)
                .map(({table, width, box}) => {
                    const name = (table.caption || table.querySelector('th')).textContent.trim();
                    return `${name}: ${Math.round(width)} > ${box}`;
                });
        }"""
    )
