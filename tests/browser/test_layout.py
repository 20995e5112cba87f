"""The shared layout in a real browser: landmarks, skip link, language switch, focus ring,
and a phone-sized screen without sideways scrolling."""

from __future__ import annotations

import pytest

from tests.browser.conftest import element_screenshot, horizontal_overflow, screenshot

pytestmark = pytest.mark.browser


def test_layout_landmarks_skip_link_and_language_switch(page, live_server, transactional_db):
    page.goto(live_server.url + "/login/")
    # A Chinese browser (the context says zh-CN) gets Chinese on its first visit.
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
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/signup/")
        assert horizontal_overflow(page) <= 0
        screenshot(page, "signup-375-zh")
    finally:
        context.close()


HEADER_BUTTONS_JS = """
() => Array.from(document.querySelectorAll('header .header-tools button')).map((b) => {
  const style = getComputedStyle(b);
  const box = b.getBoundingClientRect();
  return {
    text: b.innerText.trim(),
    height: box.height,
    top: box.top,
    look: [style.fontSize, style.fontWeight, style.paddingTop, style.paddingLeft, style.borderTopWidth, style.backgroundColor, style.color],
  };
})
"""


@pytest.mark.parametrize(("language", "labels"), [("zh-hans", ["English", "退出登录"]), ("en", ["中文", "Log out"])])
def test_header_language_and_logout_buttons_look_alike(page, live_server, make_consumer, login_as, language, labels):
    from django.conf import settings

    login_as(page, make_consumer("hana").consumer.user)
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    page.goto(live_server.url + "/")
    language_button, logout = page.evaluate(HEADER_BUTTONS_JS)
    assert language_button["text"].startswith(labels[0]) and logout["text"] == labels[1]
    assert language_button["look"] == logout["look"]
    assert language_button["height"] == logout["height"] and language_button["top"] == logout["top"]
    # Regular weight for both: many Chinese fonts have no bold face, so a bold "English"
    # stood next to a regular-looking "退出登录".
    assert language_button["look"][1] == "400"
    element_screenshot(page.locator("header"), f"header-{language}")
