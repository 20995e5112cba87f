"""In Chromium at 375 px, in both languages: a retired purpose ends with a receipt and its
data deleted, a new version shows a banner and a diff and is consented to again, and
everything is withdrawn in one action with one receipt per consent."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser.conftest import horizontal_overflow, screenshot, tables_wider_than_their_box

pytestmark = pytest.mark.browser

DESIGN, FORECAST = "c2m-product-design", "c2m-demand-forecast"
TEXT = {
    "zh-hans": {
        "stopped": "这个用途已停用",
        "new_version": "新版本 2：你同意的是版本 1。",
        "withdraw_all": "撤回全部 3 项同意",
        "withdrawn_all": "你撤回了全部 3 项同意",
        "allow": "同意",
    },
    "en": {
        "stopped": "The purpose was retired",
        "new_version": "New version 2: you agreed to version 1.",
        "withdraw_all": "Withdraw all 3 consents",
        "withdrawn_all": "you withdrew all 3 of your consents",
        "allow": "Allow",
    },
}


@pytest.fixture
def browser_context_options():
    return {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True, "locale": "zh-CN", "accept_downloads": True}


@pytest.fixture
def person(transactional_db):
    """Both purposes approved, two linked platforms, and a person who allowed product design
    on both and demand forecast on one."""
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
    platforms = {}
    for slug, name in (("maomall", "猫猫商城 MaoMall"), ("livebuy", "直播购 LiveBuy")):
        platforms[slug], _ = platform_register(slug=slug, name=name, actor=Actor.operator())
        code, _ = link_code_issue(consumer=consumer, platform_slug=slug, actor=actor)
        platform_link_redeem(platform=platforms[slug], code=code, subject_ref=f"fang@{slug}", actor=Actor(kind="platform", id=slug))
    for code, slug in ((DESIGN, "maomall"), (DESIGN, "livebuy"), (FORECAST, "maomall")):
        purpose = purposes[code]
        consent_change(
            consumer=consumer,
            request=ConsentRequest(
                purpose_code=code,
                platform_slug=slug,
                action="grant",
                version=purpose.version,
                notice_digest=purpose.notice_digests["zh-hans"],
            ),
            channel="portal",
            actor=actor,
        )
    return consumer, purposes, platforms


def _verify(path: Path, keys: list[dict]) -> dict:
    from clearinghouse.core.crypto import b64decode, verify_signature

    receipt = json.loads(path.read_text(encoding="utf-8"))
    key = next(k for k in keys if k["id"] == receipt["key_id"])
    assert verify_signature(public_key_raw=b64decode(key["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"])
    return receipt["payload"]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_retired_replaced_and_withdrawn_everything(page, live_server, login_as, person, language):
    from clearinghouse.consent.models import ConsentState
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish, purpose_retire
    from clearinghouse.core.actors import Actor
    from clearinghouse.intake.models import Signal
    from clearinghouse.intake.services import signals_ingest

    consumer, purposes, platforms = person
    text = TEXT[language]
    login_as(page, consumer.user)
    if language == "en":
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    keys = page.request.get(live_server.url + "/api/v1/keys").json()["keys"]

    # MaoMall sends a demand-forecast signal; then the officer retires demand forecast.
    item = {
        "event_id": "f-1",
        "subject_ref": "fang@maomall",
        "purpose": FORECAST,
        "category": "flowers/fresh-cut",
        "attribute": "rose",
        "signal": "purchase",
        "region": "CN-SH",
        "occurred_at": (timezone.now() - timedelta(days=2)).isoformat(),
    }
    result = signals_ingest(platform=platforms["maomall"], items=[item], actor=Actor(kind="platform", id="maomall"))
    assert Signal.objects.filter(consumer=consumer).count() == 1, result
    purpose_retire(purpose=purposes[FORECAST], actor=Actor(kind="compliance", id="officer:1"))
    page.goto(live_server.url + "/")
    stopped = page.locator("#stopped")
    assert text["stopped"] in stopped.inner_text()
    with page.expect_download() as download:
        stopped.locator("a[download]").first.click()
    payload = _verify(Path(download.value.path()), keys)
    assert payload["state"] == "expired" and payload["ended_because"] == {"code": "purpose_retired"}
    assert not Signal.objects.filter(consumer=consumer).exists()  # erased (eager Celery on commit)

    # Product design gets a version 2 that keeps data for 180 days instead of 365.
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": 2, "retention_days": 180}
    purpose_publish(document=document, actor=Actor.operator(), approve=True)
    page.goto(live_server.url + "/")
    banner = page.locator(f"#purpose-{DESIGN}-new-version")
    assert text["new_version"] in banner.inner_text()
    assert "180" in banner.locator("table.diff").inner_text() and "365" in banner.locator("table.diff").inner_text()
    assert horizontal_overflow(page) == 0 and tables_wider_than_their_box(page) == []
    screenshot(page, f"lifecycle-{language}-01-new-version-375")
    for slug in ("maomall", "livebuy"):
        page.locator(f"#purpose-{DESIGN}-{slug} button[data-action=grant]").click()
        page.wait_for_load_state()
    assert ConsentState.objects.filter(consumer=consumer, purpose_code=DESIGN, version=2, granted=True).count() == 2
    assert page.locator(f"#purpose-{DESIGN}-new-version").count() == 0

    # Withdraw everything: both design consents (v2), plus nothing else left.
    from clearinghouse.consent.services import ConsentRequest, consent_change

    forecast_v2 = purpose_publish(
        document=purpose_file_read(f"clearinghouse/consent/purposes/{FORECAST}.json") | {"version": 2}, actor=Actor.operator(), approve=True
    )[0]
    consent_change(
        consumer=consumer,
        request=ConsentRequest(
            purpose_code=FORECAST, platform_slug="livebuy", action="grant", version=2, notice_digest=forecast_v2.notice_digests["en"]
        ),
        channel="api",
        actor=Actor(kind="consumer", id=str(consumer.pseudonym)),
    )
    page.goto(live_server.url + "/")
    page.get_by_role("button", name=text["withdraw_all"]).click()
    page.wait_for_url(live_server.url + "/#withdrawn-all")
    done = page.locator("#withdrawn-all")
    assert text["withdrawn_all"] in done.inner_text()
    links = done.locator("a[download]")
    assert links.count() == 3
    for index in range(3):
        with page.expect_download() as download:
            links.nth(index).click()
        assert _verify(Path(download.value.path()), keys)["state"] == "withdrawn"
    assert not ConsentState.objects.filter(consumer=consumer, granted=True).exists()
    assert horizontal_overflow(page) == 0
    screenshot(page, f"lifecycle-{language}-02-withdrawn-all-375")
