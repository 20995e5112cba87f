"""A person reads a receipt and checks it in the page (WebCrypto Ed25519 against the
published key), in both languages at 375 px; a receipt whose key does not match is called
not genuine."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def receipt(transactional_db):
    from clearinghouse.accounts.services import consumer_register, platform_register
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor

    purpose, _ = purpose_publish(
        document=purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json"), actor=Actor.operator(), approve=True
    )
    platform_register(slug="maomall", name="猫猫商城 MaoMall", actor=Actor.operator())
    consumer, _ = consumer_register(username="qing", password="lantern-orchid-7-quartz", age_confirmed=True, channel="portal")
    event = consent_change(
        consumer=consumer,
        request=ConsentRequest(
            purpose_code=purpose.code,
            platform_slug="maomall",
            action="grant",
            version=purpose.version,
            notice_digest=purpose.notice_digests["zh-hans"],
        ),
        channel="portal",
        actor=Actor(kind="consumer", id=str(consumer.pseudonym)),
    )
    return consumer, event


@pytest.mark.parametrize(
    ("locale", "genuine", "check"), [("zh-CN", "是真的", "现在核验签名"), ("en-US", "Genuine", "Check the signature now")]
)
def test_a_receipt_is_checked_in_the_page(browser, live_server, login_as, receipt, locale, genuine, check):
    consumer, event = receipt
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale)
    try:
        page = context.new_page()
        login_as(page, consumer.user)
        page.goto(live_server.url + "/history/")
        page.locator(f"a[href='/receipts/{event.receipt_id}/']").click()
        page.wait_for_url(live_server.url + f"/receipts/{event.receipt_id}/")
        # The printed receipt carries a scannable QR code of its id and signature.
        qr = page.locator(".receipt-sheet svg.qr")
        assert qr.count() == 1 and qr.bounding_box()["width"] >= 120
        page.get_by_role("button", name=check).click()
        result = page.locator("[data-receipt-result]")
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        assert result.get_attribute("data-outcome") == "ok" and result.inner_text().startswith(genuine)
        assert horizontal_overflow(page) == 0
        screenshot(page, f"receipt-{locale}-375")

        # The same page against a key list in which that key is someone else's: not genuine.
        def forged(route):
            keys = json.loads(route.fetch().text())
            for key in keys["keys"]:
                key["public_key"] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
            route.fulfill(status=200, content_type="application/json", body=json.dumps(keys))

        page.route("**/api/v1/keys", forged)
        page.reload()
        page.get_by_role("button", name=check).click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        assert result.get_attribute("data-outcome") == "bad"
    finally:
        context.close()
