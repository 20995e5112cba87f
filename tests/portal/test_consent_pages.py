from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.core.crypto import b64decode, verify_signature

pytestmark = pytest.mark.django_db


def _form_for(html: str, platform: str, action: str, purpose: str = "c2m-product-design") -> dict:
    """The hidden fields of the grant/withdraw form the dashboard really rendered."""
    for form in re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S):
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
        if fields.get("platform") == platform and fields.get("action") == action and fields.get("purpose") == purpose:
            return fields
    raise AssertionError(f"no {action} form for {purpose} on {platform}")


def test_dashboard_lists_purposes_in_plain_words_with_every_switch_off(linked_consumer, portal_client):
    page = portal_client(linked_consumer).get(reverse("portal:dashboard"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "帮助厂家设计你想要的产品" in html and "帮助厂家预测下个月的需求" in html
    assert "永远得不到你的记录" in html  # who gets what, in plain words
    assert "保存 365 天，然后自动删除。" in html
    assert html.count('data-state="off"') == 4 and 'data-state="on"' not in html
    assert "checked" not in html  # nothing pre-ticked


def test_grant_records_the_digest_of_the_notice_shown_in_chinese(linked_consumer, purposes, portal_client):
    client = portal_client(linked_consumer)
    fields = _form_for(client.get(reverse("portal:dashboard")).content.decode(), "shop-p", "grant")
    assert fields["notice_digest"] == purposes["c2m-product-design"].notice_digests["zh-hans"]

    response = client.post(reverse("portal:consent-update"), fields)
    event = ConsentEvent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/?done={event.receipt_id}#purpose-c2m-product-design"
    assert (event.action, event.channel, event.language, event.platform.slug) == ("grant", "portal", "zh-hans", "shop-p")
    assert event.receipt["payload"]["notice_digest"]["value"] == purposes["c2m-product-design"].notice_digests["zh-hans"]

    after = client.get(response["Location"]).content.decode()
    assert "已完成：你同意了 Platform shop-p" in after  # the name set apart by spaces
    assert f"/receipts/{event.receipt_id}.json" in after
    assert after.count('data-state="on"') == 1


def test_grant_in_english_records_the_english_notice(linked_consumer, purposes, portal_client):
    client = portal_client(linked_consumer, language="en")
    html = client.get(reverse("portal:dashboard")).content.decode()
    assert "Help manufacturers design products you want" in html
    fields = _form_for(html, "shop-q", "grant")
    client.post(reverse("portal:consent-update"), fields)
    event = ConsentEvent.objects.get()
    assert event.language == "en"
    assert event.receipt["payload"]["purpose"]["title"] == "Help manufacturers design products you want"


def test_withdraw_is_one_post_and_says_what_happens_to_the_data(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-p", "grant"))
    dashboard = client.get("/").content.decode()
    assert "Withdraw: the platform can no longer send us data for that purpose, and we delete what it already sent." in dashboard
    assert 'id="purpose-c2m-product-design-shop-p" data-state="on" data-consent="granted"' in dashboard

    response = client.post(reverse("portal:consent-update"), _form_for(dashboard, "shop-p", "withdraw"))
    state = ConsentState.objects.get(purpose_code="c2m-product-design", platform__slug="shop-p")
    assert state.granted is False
    withdrawal = ConsentEvent.objects.order_by("-id").first()
    assert withdrawal.action == "withdraw" and withdrawal.channel == "portal"
    confirmation = client.get(response["Location"]).content.decode()
    assert "we are deleting what it already sent" in confirmation
    assert AuditEvent.objects.filter(action="consent.withdrawn").count() == 1


def test_a_stale_notice_is_refused_with_a_clear_message_and_nothing_recorded(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    fields = _form_for(client.get("/").content.decode(), "shop-p", "grant")
    fields["notice_digest"] = "0" * 64
    response = client.post(reverse("portal:consent-update"), fields, follow=True)
    assert "A new version of this purpose was approved since this page was shown" in response.content.decode()
    assert not ConsentEvent.objects.exists()
    assert AuditEvent.objects.filter(action="consent.refused", outcome="denied").count() == 1


def test_a_consent_on_an_unlinked_platform_can_still_be_withdrawn(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-q", "grant"))
    client.post(reverse("portal:link-remove", kwargs={"platform_slug": "shop-q"}))
    html = client.get("/").content.decode()
    assert "not linked at the moment" in html
    client.post(reverse("portal:consent-update"), _form_for(html, "shop-q", "withdraw"))
    assert ConsentState.objects.get(platform__slug="shop-q", purpose_code="c2m-product-design").granted is False


def test_receipt_download_is_the_signed_document_and_verifies(linked_consumer, portal_client):
    client = portal_client(linked_consumer)
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-p", "grant"))
    event = ConsentEvent.objects.get()
    response = client.get(reverse("portal:receipt", kwargs={"receipt_id": str(event.receipt_id)}))
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="consent-receipt-{event.receipt_id}.json"'
    receipt = json.loads(response.content)
    keys = {key["id"]: key for key in client.get("/api/v1/keys").json()["keys"]}
    assert verify_signature(
        public_key_raw=b64decode(keys[receipt["key_id"]]["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"]
    )
    receipt["payload"]["state"] = "withdrawn"
    assert not verify_signature(
        public_key_raw=b64decode(keys[receipt["key_id"]]["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"]
    )


def test_history_lists_every_event_newest_first(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    for platform, action in (("shop-p", "grant"), ("shop-q", "grant"), ("shop-p", "withdraw")):
        client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), platform, action))
    html = client.get(reverse("portal:history")).content.decode()
    receipts = [str(e.receipt_id) for e in ConsentEvent.objects.order_by("-id")]
    positions = [html.index(f"/receipts/{receipt}.json") for receipt in receipts]
    assert positions == sorted(positions) and len(positions) == 3
    assert html.count("Withdrew") == 1 and html.count("✓ Allowed") == 2


def test_refusing_every_consent_blocks_nothing_else(linked_consumer, portal_client, platform_p):
    """PIPL Art. 16: a person who says no to everything keeps every other function."""
    client = portal_client(linked_consumer, language="en")
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-p", "grant"))
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-p", "withdraw"))
    assert not ConsentState.objects.filter(granted=True).exists()

    for name in (
        "portal:dashboard",
        "portal:history",
        "portal:platforms",
        "portal:privacy-loss",
        "portal:my-data",
        "portal:erase",
        "portal:verify",
    ):
        assert client.get(reverse(name)).status_code == 200, name
    issued = client.post(reverse("portal:link-code"), {"platform": "shop-p"}, follow=True)
    assert issued.status_code == 200 and b'id="link-code"' in issued.content
    assert client.post(reverse("portal:link-remove", kwargs={"platform_slug": "shop-q"})).status_code == 302


def test_a_new_notice_version_ends_the_old_consent_and_asks_again(linked_consumer, portal_client):
    """(Issue 14; the whole lifecycle is in tests/portal/test_purpose_lifecycle.py.)"""
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    client = portal_client(linked_consumer, language="en")
    client.post(reverse("portal:consent-update"), _form_for(client.get("/").content.decode(), "shop-p", "grant"))
    document = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json")
    document["version"] = 2
    document["notice"]["en"] += "\n\nVersion 2 adds nothing new but says it more clearly."
    purpose_publish(document=document, actor=Actor.operator(), approve=True)

    html = client.get("/").content.decode()
    assert "Needs your answer again" in html
    grant = _form_for(html, "shop-p", "grant")
    assert grant["version"] == "2"
    with pytest.raises(AssertionError):
        _form_for(html, "shop-p", "withdraw")  # nothing left to withdraw: the v1 consent ended
    state = ConsentState.objects.get(purpose_code="c2m-product-design", platform__slug="shop-p")
    assert state.granted is False and state.version == 1 and state.last_event.action == "expire"
    client.post(reverse("portal:consent-update"), grant)
    state.refresh_from_db()
    assert state.granted is True and state.version == 2


def test_platforms_not_linked_yet_are_listed_with_the_punctuation_of_the_page(consumer_a, platform_p, platform_q, purposes, portal_client):
    chinese = portal_client(consumer_a).get("/").content.decode()
    assert "尚未关联：Platform shop-p、Platform shop-q。" in chinese
    english = portal_client(consumer_a, language="en").get("/").content.decode()
    assert "Not linked yet: Platform shop-p, Platform shop-q." in english


def test_a_link_code_page_sets_the_platform_name_apart_in_chinese(consumer_a, purposes, portal_client):
    from clearinghouse.accounts.services import platform_register
    from clearinghouse.core.actors import Actor

    platform_register(slug="livebuy", name="直播购 LiveBuy", actor=Actor.operator())
    client = portal_client(consumer_a)
    html = client.post(reverse("portal:link-code"), {"platform": "livebuy"}, follow=True).content.decode()
    assert "你在 直播购 LiveBuy 的关联码" in html
    assert "只在 直播购 LiveBuy 有效" in html
