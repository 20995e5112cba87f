"""The shared layout in a real browser: landmarks, skip link, language switch, focus ring,
and a phone-sized screen without sideways scrolling."""

from __future__ import annotations

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot

pytestmark = pytest.mark.browser


def test_layout_landmarks_skip_link_and_language_switch(page, live_server, transactional_db):
    page.goto(live_server.url + "/login/")
    # Chinese first, whatever the browser's Accept-Language (the context says en-US).
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator("header").count() == 1 and page.locator("main#main").count() == 1 and page.locator("footer").count() == 1
    assert page.locator("nav[aria-label]").count() == 1

    # The first Tab lands on the skip link, which is then visible, and it moves focus to <main>.
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert skip.bounding_box()["y"] >= 0
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    # The language switch is a real form posting to Django's set_language, back to this page.
    page.get_by_role("button", name="English").click()
    page.wait_for_url(live_server.url + "/login/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Log in"
    page.get_by_role("button", name="中文").click()
    assert page.locator("h1").inner_text() == "登录"


def test_signup_page_fits_a_375px_phone(browser, live_server, transactional_db):
    context = browser.new_context(viewport={"width": 375, "height": 812})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/signup/")
        assert horizontal_overflow(page) <= 0
        screenshot(page, "signup-375-zh")
    finally:
        context.close()
