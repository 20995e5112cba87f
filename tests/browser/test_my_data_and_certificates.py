"""In Chromium at 375 px, in both languages: "my data" shows what is held and a timeline in
plain words (a delivery, a statistic that charged the person, consent changes); after a
withdrawal a signed erasure certificate is listed, printable, carries a QR code and is
checked in the page against the published key; a receipt's QR code is on its page."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot, tables_wider_than_their_box

pytestmark = pytest.mark.browser

DESIGN = "c2m-product-design"
TEXT = {
    "zh-CN": {
        "held": "3 条",
        "delivery": "猫猫商城 MaoMall 为“帮助厂家设计你想要的产品”向我们发来了 3 条关于你的偏好数据。",
        "release": "ErgoChair 人体工学椅 询问了办公椅方面有多少人感兴趣，按功能、年龄段分组——用掉了你的 ε 0.70",
        "deleted": "你撤回同意后，我们删除了 3 条偏好数据",
        "check": "现在核验签名",
        "genuine": "是真的",
        "reason": "你撤回了同意",
    },
    "en-US": {
        "held": "3 signals",
        "delivery": "猫猫商城 MaoMall sent us 3 signals about you for “Help manufacturers design products you want”.",
        "release": "ErgoChair 人体工学椅 asked how many people showed interest in office chair, by feature and age band — used ε 0.70 of yours",
        "deleted": "We deleted 3 signals after you withdrew",
        "check": "Check the signature now",
        "genuine": "Genuine",
        "reason": "You withdrew your consent",
    },
}


@pytest.fixture
def person(transactional_db):
    """A person who allowed product design on MaoMall, whose three signals arrived in one
    delivery and were counted in one release by ErgoChair (ε 0.70)."""
    from clearinghouse.accounts.services import consumer_register, link_code_issue, platform_link_redeem, platform_register
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor
    from clearinghouse.intake.services import signals_ingest
    from clearinghouse.releases.budgets import budget_allocate
    from clearinghouse.releases.recipients import manufacturer_register
    from clearinghouse.releases.services import release_request

    purpose, _ = purpose_publish(
        document=purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json"), actor=Actor.operator(), approve=True
    )
    consumer, _ = consumer_register(username="lan", password="lantern-orchid-7-quartz", age_confirmed=True, channel="portal")
    actor = Actor(kind="consumer", id=str(consumer.pseudonym))
    platform, _ = platform_register(slug="maomall", name="猫猫商城 MaoMall", actor=Actor.operator())
    code, _ = link_code_issue(consumer=consumer, platform_slug="maomall", actor=actor)
    platform_link_redeem(platform=platform, code=code, subject_ref="lan@maomall", actor=Actor(kind="platform", id="maomall"))
    consent_change(
        consumer=consumer,
        request=ConsentRequest(
            purpose_code=DESIGN,
            platform_slug="maomall",
            action="grant",
            version=purpose.version,
            notice_digest=purpose.notice_digests["zh-hans"],
        ),
        channel="portal",
        actor=actor,
    )
    items = [
        {
            "event_id": f"lan-{i}",
            "subject_ref": "lan@maomall",
            "purpose": DESIGN,
            "category": "furniture/office-chair",
            "attribute": attribute,
            "signal": "wishlist",
            "value": 4,
            "age_band": "25-34",
            "region": "CN-SH",
        }
        for i, attribute in enumerate(("lumbar-support", "headrest", "mesh-back"))
    ]
    result = signals_ingest(platform=platform, items=items, actor=Actor(kind="platform", id="maomall"))
    assert result.accepted == 3, result
    manufacturer, _ = manufacturer_register(slug="ergochair", name="ErgoChair 人体工学椅", sectors=["furniture"], actor=Actor.operator())
    budget_allocate(manufacturer_slug="ergochair", purpose_code=DESIGN, epsilon="20", period=None, actor=Actor.operator())
    release, _created = release_request(
        manufacturer=manufacturer,
        body={
            "purpose": DESIGN,
            "measure": "consumers",
            "group_by": ["attribute", "age_band"],
            "filters": {"category": "furniture/office-chair"},
            "epsilon": "0.7",
        },
        actor=Actor(kind="manufacturer", id="ergochair"),
    )
    return consumer, release


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_my_data_timeline_and_an_erasure_certificate_checked_in_the_page(browser, live_server, login_as, person, locale):
    from clearinghouse.intake.models import Erasure

    consumer, _release = person
    text = TEXT[locale]
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale, accept_downloads=True
    )
    try:
        page = context.new_page()
        login_as(page, consumer.user)
        page.goto(live_server.url + "/my-data/")
        held = page.locator("#held")
        assert text["held"] in held.inner_text()
        timeline = page.locator("ol.timeline")
        assert text["delivery"] in timeline.inner_text()
        assert text["release"] in timeline.locator("li.timeline-release").first.inner_text()
        assert horizontal_overflow(page) == 0 and tables_wider_than_their_box(page) == []
        screenshot(page, f"my-data-{locale}-375")

        # Withdraw on the home grid: the data goes, and a certificate says so.
        page.goto(live_server.url + "/")
        page.locator(f"#purpose-{DESIGN}-maomall button[data-action=withdraw]").click()
        page.wait_for_load_state()
        erasure = Erasure.objects.get(consumer=consumer)
        assert erasure.certificate is not None and erasure.signals == 3
        page.goto(live_server.url + "/my-data/")
        assert text["deleted"] in page.locator("li.timeline-erasure").first.inner_text()
        page.locator(f"#certificate-{erasure.certificate_id} a").first.click()
        page.wait_for_url(f"{live_server.url}/my-data/certificates/{erasure.certificate_id}/")
        sheet = page.locator(".certificate-sheet")
        assert text["reason"] in sheet.inner_text() and str(consumer.pseudonym) in sheet.inner_text()
        assert sheet.locator("svg.qr").count() == 1 and sheet.locator("svg.qr").bounding_box()["width"] >= 120
        page.get_by_role("button", name=text["check"]).click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        result = page.locator("[data-receipt-result]")
        assert result.get_attribute("data-outcome") == "ok" and result.inner_text().startswith(text["genuine"])
        assert horizontal_overflow(page) == 0
        screenshot(page, f"certificate-{locale}-375")
        with page.expect_download() as download:
            page.locator(".actions a[download]").click()
        saved = json.loads(open(download.value.path(), encoding="utf-8").read())
        assert saved["payload"]["certificate_id"] == str(erasure.certificate_id)

        # A certificate whose key is not ours is called not genuine.
        def forged(route):
            keys = json.loads(route.fetch().text())
            for key in keys["keys"]:
                key["public_key"] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
            route.fulfill(status=200, content_type="application/json", body=json.dumps(keys))

        page.route("**/api/v1/keys", forged)
        page.reload()
        page.get_by_role("button", name=text["check"]).click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        assert page.locator("[data-receipt-result]").get_attribute("data-outcome") == "bad"
    finally:
        context.close()


def test_a_retention_purge_in_chinese_shows_its_certificate_and_says_where_the_delivery_went(browser, live_server, login_as, person):
    from datetime import timedelta

    from django.utils import timezone

    from clearinghouse.intake.erasure import signals_retention_purge
    from clearinghouse.intake.models import Erasure, Signal

    consumer, _release = person
    Signal.objects.filter(consumer=consumer).update(received_at=timezone.now() - timedelta(days=366))
    signals_retention_purge()
    erasure = Erasure.objects.get(consumer=consumer)
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = context.new_page()
        login_as(page, consumer.user)
        page.goto(live_server.url + "/my-data/")
        assert "我们没有保存任何关于你的偏好数据。" in page.locator("#held").inner_text()
        note = page.locator("#timeline-deleted-note")
        assert note.is_visible()
        assert note.inner_text() == (
            "平台发来的数据删除后，那次发送不再单独列出：我们不记录每次发送里有谁，所以它会以删除它的那份删除证明出现在这里。"
        )
        timeline = page.locator("ol.timeline")
        assert "向我们发来了" not in timeline.inner_text()  # the delivery went with its data
        deleted = timeline.locator("li.timeline-erasure").first.inner_text()
        assert "保存期限已到，我们删除了 3 条偏好数据：猫猫商城 MaoMall 为“帮助厂家设计你想要的产品”发来的 3 条。" in deleted
        assert "保存期限已到 · 删除了 3 条" in page.locator(f"#certificate-{erasure.certificate_id}").inner_text()
        assert horizontal_overflow(page) == 0
        screenshot(page, "my-data-retention-zh-CN-375")

        timeline.locator("li.timeline-erasure a").first.click()
        page.wait_for_url(f"{live_server.url}/my-data/certificates/{erasure.certificate_id}/")
        sheet = page.locator(".certificate-sheet").inner_text()
        assert "保存期限已到" in sheet and "数据授权中心（演示运营方）" in sheet and "Clearinghouse" not in sheet
        page.get_by_role("button", name="现在核验签名").click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        assert page.locator("[data-receipt-result]").get_attribute("data-outcome") == "ok"
        assert horizontal_overflow(page) == 0
        screenshot(page, "certificate-retention-zh-CN-375")
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_erasing_the_account_hands_over_the_certificate_on_the_last_page(browser, live_server, login_as, person, locale):
    from clearinghouse.accounts.models import Consumer

    consumer, _release = person
    words = {
        "zh-CN": ("立即删除我的账户", "删除证明", "你注销了账户"),
        "en-US": ("Erase my account now", "Erasure certificate", "You erased your account"),
    }
    erase, title, reason = words[locale]
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale, accept_downloads=True
    )
    try:
        page = context.new_page()
        login_as(page, consumer.user)
        page.goto(live_server.url + "/my-data/erase/")
        page.locator("#id_password").fill("lantern-orchid-7-quartz")
        page.locator("#id_understood").check()
        page.get_by_role("button", name=erase).click()
        page.wait_for_url(live_server.url + "/goodbye/")
        assert Consumer.objects.get(pk=consumer.pk).erased_at is not None
        sheet = page.locator(".certificate-sheet")
        assert title in sheet.inner_text() and reason in sheet.inner_text() and "3" in sheet.inner_text()
        with page.expect_download() as download:
            page.locator(".actions a[download]").click()
        saved = json.loads(open(download.value.path(), encoding="utf-8").read())
        assert saved["payload"]["reason"]["code"] == "account_erased" and saved["payload"]["total_signals"] == 3
        page.locator("[data-receipt-check] button").click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        assert page.locator("[data-receipt-result]").get_attribute("data-outcome") == "ok"
        assert horizontal_overflow(page) == 0
        screenshot(page, f"goodbye-certificate-{locale}-375")
    finally:
        context.close()
