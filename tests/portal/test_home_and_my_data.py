"""The one-screen home (a grid of purposes × platforms), "my data" (what is held, when it
goes, what happened) and erasure certificates in the portal, in both languages; receipts
carry a QR code and, in Chinese, no English."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from clearinghouse.consent.models import ConsentEvent
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.intake.models import Erasure
from tests.conftest import grant_body
from tests.intake.conftest import store_signals

pytestmark = pytest.mark.django_db
DESIGN, FORECAST = "c2m-product-design", "c2m-demand-forecast"


def _main_text(html: str) -> str:
    main = html.split('<main id="main"')[1].split(">", 1)[1].split("</main>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<script.*?</script>|<svg.*?</svg>|<[^>]+>", " ", main, flags=re.S))


def _cell(html: str, purpose: str, platform: str) -> str:
    return html.split(f'<td id="purpose-{purpose}-{platform}"')[1].split("</td>")[0]


def test_the_home_is_a_grid_with_each_consents_state_and_its_action(linked_consumer, purposes, portal_client):
    client = linked_consumer.client()
    client.post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p"), format="json")
    client.post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-q"), format="json")
    client.post("/api/v1/me/consents", {"purpose": DESIGN, "platform": "shop-q", "action": "withdraw"}, format="json")

    html = portal_client(linked_consumer, language="en").get(reverse("portal:dashboard")).content.decode()
    grid = html.split('<table class="consent-grid"')[1].split("</table>")[0]
    assert grid.count('<th scope="col">') == 2 and grid.count('<th scope="rowgroup"') == 2  # 2 platforms × 2 purposes
    granted, withdrawn = _cell(html, DESIGN, "shop-p"), _cell(html, DESIGN, "shop-q")
    assert 'data-consent="granted"' in granted and "Allowed" in granted and 'data-action="withdraw"' in granted
    assert 'data-action="grant"' not in granted
    assert 'data-consent="withdrawn"' in withdrawn and "Withdrawn" in withdrawn and 'data-action="grant"' in withdrawn
    never = _cell(html, FORECAST, "shop-p")
    assert 'data-consent="not-asked"' in never and "Not asked yet" in never and 'data-action="grant"' in never
    # The notices are folded behind "what this means"; the one "withdraw everything" is there.
    assert f'<details class="about-purpose" id="about-{DESIGN}">' in html and "The notice in full" in html
    assert 'href="#about-c2m-product-design"' in grid
    assert "Withdraw my 1 consent" in html

    chinese = portal_client(linked_consumer).get(reverse("portal:dashboard")).content.decode()
    assert "已同意" in _cell(chinese, DESIGN, "shop-p") and "已撤回" in _cell(chinese, DESIGN, "shop-q")
    assert "还没回答" in _cell(chinese, FORECAST, "shop-q") and "这是什么意思" in chinese


def test_a_retired_or_replaced_purpose_shows_as_stopped_and_answer_again(linked_consumer, purposes, portal_client):
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    linked_consumer.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p"), format="json")
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": 2}
    purpose_publish(document=document, actor=Actor.operator(), approve=True)
    html = portal_client(linked_consumer, language="en").get(reverse("portal:dashboard")).content.decode()
    renew = _cell(html, DESIGN, "shop-p")
    assert 'data-consent="renew"' in renew and "Needs your answer again" in renew and 'name="version" value="2"' in renew
    assert 'id="stopped"' in html


def test_my_data_shows_what_is_held_when_it_goes_and_a_timeline_in_plain_words(
    linked_consumer, purposes, platform_p, manufacturer, portal_client, django_capture_on_commit_callbacks
):
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.budgets import budget_allocate
    from tests.releases.conftest import World

    alice = linked_consumer
    alice.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p"), format="json")
    alice.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-q"), format="json")
    store_signals(consumer=alice, platform=platform_p, purpose=purposes[DESIGN], count=3, prefix="a-p")
    budget_allocate(manufacturer_slug=manufacturer.slug, purpose_code=DESIGN, epsilon="20", period=None, actor=Actor.operator())
    with django_capture_on_commit_callbacks(execute=True):
        response = manufacturer.client().post(
            "/api/v1/releases",
            {
                "purpose": DESIGN,
                "measure": "consumers",
                "group_by": ["attribute"],
                "filters": {"category": "furniture/office-chair"},
                "epsilon": "0.7",
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    assert World  # the release engine charged alice: her signals were in it

    english = _main_text(portal_client(alice, language="en").get(reverse("portal:my-data")).content.decode())
    assert "Platform shop-p · Help manufacturers design products you want" in english
    assert "3 signals" in english and "Office chair · Lumbar support · Viewed" in english
    assert "each 365 days after it happened" in english
    assert "Platform shop-p sent us 3 signals about you for “Help manufacturers design products you want”." in english
    assert "Manufacturer chairco asked how many people showed interest in office chair, by feature — used ε 0.70 of yours" in english
    assert (
        "You allowed Platform shop-q to send us your preferences for “Help manufacturers design products you want” (version 1)." in english
    )
    assert "Nothing has been deleted yet, so there is no certificate." in english

    chinese = _main_text(portal_client(alice).get(reverse("portal:my-data")).content.decode())
    assert "Manufacturer chairco 询问了办公椅方面有多少人感兴趣，按功能分组——用掉了你的 ε 0.70" in chinese
    assert "Platform shop-p 为“帮助厂家设计你想要的产品”向我们发来了 3 条关于你的偏好数据。" in chinese
    assert "每条在发生 365 天后删除" in chinese

    # Withdrawing deletes at once, and the deletion shows with its certificate.
    with django_capture_on_commit_callbacks(execute=True):
        alice.client().post(
            "/api/v1/me/consents", {"purpose": DESIGN, "platform": "shop-p", "action": "withdraw", "language": "zh-hans"}, format="json"
        )
    certificate_id = str(Erasure.objects.get(consumer=alice.consumer).certificate_id)
    html = portal_client(alice).get(reverse("portal:my-data")).content.decode()
    text = _main_text(html)
    assert "我们没有保存任何关于你的偏好数据。" in text
    assert "你撤回同意后，我们删除了 3 条偏好数据：Platform shop-p 为“帮助厂家设计你想要的产品”发来的 3 条。" in text
    assert f'href="/my-data/certificates/{certificate_id}/"' in html


def test_a_certificate_page_is_printable_checked_and_only_its_owners(
    linked_consumer, consumer_b, purposes, platform_p, portal_client, django_capture_on_commit_callbacks
):
    alice = linked_consumer
    alice.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p"), format="json")
    store_signals(consumer=alice, platform=platform_p, purpose=purposes[DESIGN], count=2, prefix="a-p")
    with django_capture_on_commit_callbacks(execute=True):
        alice.client().post("/api/v1/me/consents", {"purpose": DESIGN, "platform": "shop-p", "action": "withdraw"}, format="json")
    erasure = Erasure.objects.get()
    page = portal_client(alice).get(reverse("portal:certificate-page", args=[erasure.certificate_id]))
    html = page.content.decode()
    text = _main_text(html)
    assert page.status_code == 200
    assert "删除证明" in text and "你撤回了同意" in text and "Platform shop-p 为“帮助厂家设计你想要的产品”发来的 2 条偏好数据" in text
    assert str(alice.consumer.pseudonym) in text and alice.username not in text
    assert '<svg viewBox="0 0' in html and 'class="qr"' in html
    assert 'id="receipt-data" type="application/json"' in html and erasure.certificate["signature"] in html

    download = portal_client(alice).get(reverse("portal:certificate", args=[erasure.certificate_id]))
    envelope = json.loads(download.content)
    assert download["Content-Disposition"].startswith('attachment; filename="erasure-certificate-')
    key = public_key_for(envelope["key_id"])
    assert verify_signature(public_key_raw=key, document=envelope["payload"], signature_b64=envelope["signature"])

    for url in (
        reverse("portal:certificate-page", args=[erasure.certificate_id]),
        reverse("portal:certificate", args=[erasure.certificate_id]),
    ):
        assert portal_client(consumer_b).get(url).status_code == 404
    assert portal_client(alice).get(reverse("portal:certificate-page", args=["not-a-uuid"])).status_code == 404


def test_a_retention_purge_shows_as_a_certificate_and_the_timeline_says_where_deleted_deliveries_went(
    linked_consumer, purposes, platform_p, portal_client
):
    from datetime import timedelta

    from django.utils import timezone

    from clearinghouse.intake.erasure import signals_retention_purge
    from clearinghouse.intake.models import Signal

    alice = linked_consumer
    alice.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p", language="zh-hans"), format="json")
    store_signals(consumer=alice, platform=platform_p, purpose=purposes[DESIGN], count=3, prefix="a-p")
    Signal.objects.update(received_at=timezone.now() - timedelta(days=366))
    signals_retention_purge()
    erasure = Erasure.objects.get(consumer=alice.consumer)

    chinese = _main_text(portal_client(alice).get(reverse("portal:my-data")).content.decode())
    # The delivery itself is gone from the timeline; the deletion stands in for it, and says so.
    assert "发来了 3 条关于你的偏好数据" not in chinese
    assert "保存期限已到，我们删除了 3 条偏好数据：Platform shop-p 为“帮助厂家设计你想要的产品”发来的 3 条。" in chinese
    assert "平台发来的数据删除后，那次发送不再单独列出：我们不记录每次发送里有谁，所以它会以删除它的那份删除证明出现在这里。" in chinese
    assert "保存期限已到 · 删除了 3 条" in chinese

    english = _main_text(portal_client(alice, language="en").get(reverse("portal:my-data")).content.decode())
    assert (
        "We deleted 3 signals because their retention period ended: 3 from Platform shop-p for "
        "“Help manufacturers design products you want”." in english
    )
    assert (
        "Deliveries whose data has since been deleted are not listed one by one: we do not keep a record of who was "
        "in each delivery, so they appear here as the erasure certificate that deleted them." in english
    )

    page = _main_text(portal_client(alice).get(reverse("portal:certificate-page", args=[erasure.certificate_id])).content.decode())
    assert "保存期限已到" in page and "数据授权中心（演示运营方）" in page and "Clearinghouse" not in page


def test_erasing_the_account_shows_the_certificate_on_the_last_page(linked_consumer, purposes, platform_p, portal_client):
    alice = linked_consumer
    alice.client().post("/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p"), format="json")
    store_signals(consumer=alice, platform=platform_p, purpose=purposes[DESIGN], count=4, prefix="a-p")
    client = portal_client(alice, language="en")
    response = client.post(reverse("portal:erase"), {"password": alice.password, "understood": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:erased")
    html = client.get(reverse("portal:erased")).content.decode()
    text = _main_text(html)
    assert "Your account was erased" in text and "Erasure certificate" in text and "You erased your account" in text
    assert "4 signals from Platform shop-p for “Help manufacturers design products you want”" in text
    envelope = json.loads(client.get(reverse("portal:erased-certificate")).content)
    assert envelope["payload"]["reason"]["code"] == "account_erased" and envelope["payload"]["language"] == "en"
    assert verify_signature(
        public_key_raw=public_key_for(envelope["key_id"]), document=envelope["payload"], signature_b64=envelope["signature"]
    )
    # Anyone else (another browser) has nothing there.
    assert Client().get(reverse("portal:erased-certificate")).status_code == 404
    assert "Erasure certificate" not in Client().get(reverse("portal:erased")).content.decode()


# Latin words a Chinese receipt may show: names and codes that are not sentences.
_ALLOWED_LATIN = {
    "Platform",
    "shop",
    "JSON",
    "Ed25519",
    "PIPL",
    "GDPR",
    "ed25519",
    "privacy",
    "clearinghouse",
    "example",
}


def test_a_chinese_receipt_page_and_file_carry_a_qr_code_and_no_english(linked_consumer, purposes, portal_client):
    response = linked_consumer.client().post(
        "/api/v1/me/consents", grant_body(purposes[DESIGN], "shop-p", language="zh-hans"), format="json"
    )
    event = ConsentEvent.objects.get()
    html = portal_client(linked_consumer).get(reverse("portal:receipt-page", args=[event.receipt_id])).content.decode()
    assert 'class="qr"' in html and "二维码：凭证编号和它的签名。" in html
    text = _main_text(html)
    for code in (event.receipt["signature"], event.receipt["key_id"], str(event.receipt_id)):
        text = text.replace(code, "")
    text = re.sub(r"\b[0-9a-f]{16,}\b", "", text)  # hashes (the audit event's leaf hash)
    words = set(re.findall(r"[A-Za-z]{3,}", text)) - _ALLOWED_LATIN
    assert words == set(), words
    # The file: every sentence in it is Chinese (the API call it names, and codes, aside).
    payload = response.json()["receipt"]["payload"]
    sentences = (
        payload["purpose"]["title"],
        payload["purpose"]["legitimate_interest"],
        payload["lawful_basis"]["reference"],
        payload["recipients"]["description"],
        payload["withdrawal_method"].replace("POST /api/v1/me/consents", "").replace("action=withdraw", ""),
    )
    for sentence in sentences:
        assert set(re.findall(r"[A-Za-z]{3,}", sentence)) <= _ALLOWED_LATIN, sentence
    # The operator is named in Chinese (CH_CONTROLLER_NAME_ZH), not "Clearinghouse (demo operator)".
    assert payload["controller"]["name"] == "数据授权中心（演示运营方）"
    assert "数据授权中心（演示运营方）" in text


def test_the_qr_code_carries_the_receipt_id_and_signature():
    import segno

    from clearinghouse.portal.presentation import signed_qr_svg

    envelope = {"payload": {"receipt_id": "5b2c0a5e-0000-4000-8000-000000000001"}, "key_id": "ed25519:00", "signature": "c2ln"}
    svg = str(signed_qr_svg(envelope, id_field="receipt_id"))
    assert svg.startswith("<svg") and 'class="qr"' in svg and "<script" not in svg
    # Exactly the code of the id, key id and signature (compact JSON, keys sorted).
    content = '{"key_id":"ed25519:00","receipt_id":"5b2c0a5e-0000-4000-8000-000000000001","signature":"c2ln"}'
    expected = segno.make(content, error="m", micro=False).svg_inline(scale=4, omitsize=True, dark="#000", light="#fff", svgclass="qr")
    assert svg == expected
    assert str(signed_qr_svg(envelope | {"signature": "b3RoZXI="}, id_field="receipt_id")) != svg
