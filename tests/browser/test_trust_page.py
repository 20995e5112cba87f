"""A first-time visitor, before logging in, finds who runs the service and whom to contact
(issue 14), in both languages on a 375 px phone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "menu", "officer_heading"),
    [
        ("zh-CN", "关于本服务", "个人信息保护负责人"),
        ("en-US", "About this service", "Person responsible for personal-information protection"),
    ],
)
def test_first_visit_finds_the_operator_and_the_protection_officer(
    browser, live_server, transactional_db, settings, locale, menu, officer_heading
):
    settings.CH_OPERATOR = settings.CH_OPERATOR | {"protection_officer": "王晓明", "protection_officer_contact": "pio@operator.example.cn"}
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")  # anonymous: sent to the login page
        page.get_by_role("link", name=menu, exact=True).click()
        page.wait_for_url(live_server.url + "/about/")
        section = page.locator("#protection-officer")
        assert officer_heading in section.locator("h2").inner_text()
        assert "王晓明" in section.inner_text() and "pio@operator.example.cn" in section.inner_text()
        assert page.locator("#complaints li").count() == 2
        assert horizontal_overflow(page) == 0
        screenshot(page, f"trust-{locale}-375")
    finally:
        context.close()
