"""The one-screen home in Chromium at 375 px, in both languages: a grid of purposes ×
platforms with each consent's state and its action, the notices folded behind "what this
means", and one prominent "withdraw everything"."""

from __future__ import annotations

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot, tables_wider_than_their_box

pytestmark = pytest.mark.browser

DESIGN, FORECAST = "c2m-product-design", "c2m-demand-forecast"


@pytest.fixture
def person(transactional_db):
    """Both purposes approved, two linked platforms; product design allowed on MaoMall,
    withdrawn on LiveBuy; demand forecast never asked."""
    from clearinghouse.accounts.services import consumer_register, link_code_issue, platform_link_redeem, platform_register
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor

    purposes = {
        code: purpose_publish(
            document=purpose_file_read(f"clearinghouse/consent/purposes/{code}.json"), actor=Actor.operator(), approve=True
        )[0]
        for code in (DESIGN, FORECAST)
    }
    consumer, _ = consumer_register(username="fang", password="lantern-orchid-7-quartz", age_confirmed=True, channel="portal")
    actor = Actor(kind="consumer", id=str(consumer.pseudonym))
    for slug, name in (("maomall", "猫猫商城 MaoMall"), ("livebuy", "直播购 LiveBuy")):
        platform, _ = platform_register(slug=slug, name=name, actor=Actor.operator())
        code, _ = link_code_issue(consumer=consumer, platform_slug=slug, actor=actor)
        platform_link_redeem(platform=platform, code=code, subject_ref=f"fang@{slug}", actor=Actor(kind="platform", id=slug))
    design = purposes[DESIGN]
    for slug, action in (("maomall", "grant"), ("livebuy", "grant"), ("livebuy", "withdraw")):
        consent_change(
            consumer=consumer,
            request=ConsentRequest(
                purpose_code=DESIGN,
                platform_slug=slug,
                action=action,
                version=design.version if action == "grant" else None,
                notice_digest=design.notice_digests["zh-hans"] if action == "grant" else None,
            ),
            channel="portal",
            actor=actor,
        )
    return consumer


# Measured in Chromium at 375 × 812 px for this person (two purposes × two platforms):
# before the grid the Chinese home was 4,452 px tall (English 6,278 px); with it, about
# 1,316 px (English 1,664 px). Two screens at most, in either language.
MAX_HEIGHT = {"zh-CN": 2 * 812, "en-US": 2 * 812 + 400}
TEXT = {
    "zh-CN": {"allowed": "已同意", "withdrawn": "已撤回", "not_asked": "还没回答", "means": "这是什么意思", "allow": "同意"},
    "en-US": {"allowed": "Allowed", "withdrawn": "Withdrawn", "not_asked": "Not asked yet", "means": "what this means", "allow": "Allow"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_home_is_one_grid_on_a_phone(browser, live_server, login_as, person, locale):
    from clearinghouse.consent.models import ConsentState

    text = TEXT[locale]
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale)
    try:
        page = context.new_page()
        login_as(page, person.user)
        page.goto(live_server.url + "/")
        height = page.evaluate("() => document.documentElement.scrollHeight")
        screenshot(page, f"home-grid-{locale}-375")
        assert height <= MAX_HEIGHT[locale], f"the home is {height} px tall at 375 px ({locale})"
        assert horizontal_overflow(page) == 0

        grid = page.locator("table.consent-grid")
        assert grid.locator("thead th").count() == 2 and grid.locator("tbody th").count() == 2 and grid.locator("tbody td").count() == 4
        assert text["allowed"] in page.locator(f"#purpose-{DESIGN}-maomall").inner_text()
        assert text["withdrawn"] in page.locator(f"#purpose-{DESIGN}-livebuy").inner_text()
        assert text["not_asked"] in page.locator(f"#purpose-{FORECAST}-maomall").inner_text()
        # The notices are folded: the full text is not on screen until asked for.
        notice = page.locator(f"#about-{DESIGN} .notice-text")
        assert not notice.is_visible()
        page.locator(f"#purpose-{DESIGN} a.what-this-means").click()
        assert page.locator(f"#about-{DESIGN}").evaluate("(d) => d.open") and notice.is_visible()
        assert tables_wider_than_their_box(page) == [] and horizontal_overflow(page) == 0  # with every fold open

        # The one "withdraw everything" is on the first two screens, red and full-size.
        button = page.locator("#withdraw-all-button")
        box = button.bounding_box()
        page.evaluate("() => window.scrollTo(0, 0)")
        assert box is not None and box["height"] >= 44
        assert page.locator("#withdraw-all").evaluate("(el) => el.getBoundingClientRect().top") < 2 * 812

        # An action straight from the grid: allow demand forecast on MaoMall.
        page.locator(f"#purpose-{FORECAST}-maomall button[data-action=grant]").click()
        page.wait_for_load_state()
        assert page.locator(f"#purpose-{FORECAST}-maomall").get_attribute("data-consent") == "granted"
        assert ConsentState.objects.get(consumer=person, purpose_code=FORECAST, platform__slug="maomall").granted
        assert horizontal_overflow(page) == 0
    finally:
        context.close()
