"""Receipts for people (issue 14): a printable page in the person's language, checked in
the browser (tests/browser/test_receipt_check.py); a Chinese receipt carries no English
legal strings."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from clearinghouse.consent.models import ConsentEvent
from tests.conftest import grant_body

pytestmark = pytest.mark.django_db

ENGLISH_LEGAL = ("PIPL Art.", "manufacturers in these sectors", "One action at any time", "dashboard switch")


def test_a_chinese_receipt_and_its_page_are_chinese(linked_consumer, purposes, portal_client):
    design = purposes["c2m-product-design"]
    response = linked_consumer.client().post("/api/v1/me/consents", grant_body(design, "shop-p", language="zh-hans"), format="json")
    payload = response.json()["receipt"]["payload"]
    assert payload["language"] == "zh-hans"
    for text in (payload["lawful_basis"]["reference"], payload["recipients"]["description"], payload["withdrawal_method"]):
        assert not any(english in text for english in ENGLISH_LEGAL), text
    assert "个人信息保护法" in payload["lawful_basis"]["reference"] and "撤回" in payload["withdrawal_method"]

    event = ConsentEvent.objects.get()
    html = portal_client(linked_consumer).get(reverse("portal:receipt-page", args=[event.receipt_id])).content.decode()
    main = html.split('<main id="main"')[1].split("</main>")[0]
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", main, flags=re.S)
    assert "同意凭证" in visible and "你同意了" in visible and "帮助厂家设计你想要的产品" in visible
    assert not any(english in visible for english in ENGLISH_LEGAL)
    assert event.receipt["signature"] in html  # printed, and embedded for the in-page check
    assert 'id="receipt-data" type="application/json"' in html


def test_an_english_receipt_page_and_an_expired_one(linked_consumer, purposes, portal_client):
    from clearinghouse.consent.purposes import purpose_retire
    from clearinghouse.core.actors import Actor

    linked_consumer.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    purpose_retire(purpose=purposes["c2m-product-design"], actor=Actor(kind="compliance", id="officer:1"))
    expired = ConsentEvent.objects.get(action="expire")
    html = portal_client(linked_consumer, language="en").get(reverse("portal:receipt-page", args=[expired.receipt_id])).content.decode()
    assert "Ended by the service" in html and "the purpose was retired" in html


def test_someone_elses_receipt_page_is_not_found(linked_consumer, consumer_b, purposes, portal_client):
    linked_consumer.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    event = ConsentEvent.objects.get()
    assert portal_client(consumer_b).get(reverse("portal:receipt-page", args=[event.receipt_id])).status_code == 404
    assert portal_client(consumer_b).get(reverse("portal:receipt-page", args=["not-a-uuid"])).status_code == 404
