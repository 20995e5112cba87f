"""The one-screen home in Chromium at 375 px, in both languages: a grid of purposes ×
platforms with each consent's state and its action, the notices folded behind "what this
means", and one prominent "withdraw everything"."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot

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


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_measure(browser, live_server, login_as, person, locale):
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale)
    page = context.new_page()
    login_as(page, person.user)
    page.goto(live_server.url + "/")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    print("HEIGHT", locale, height)
    screenshot(page, f"home-before-{locale}")
    context.close()
