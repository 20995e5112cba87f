"""One action withdraws everything (issue 14), with one signed receipt per consent ended
and the data each one let in erased."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.core.crypto import b64decode, published_keys, verify_signature
from clearinghouse.intake.models import Signal
from tests.conftest import link_subject
from tests.intake.conftest import World, grant, store_signals

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(consumer_a, consumer_b, platform_p, platform_q, purposes) -> World:
    """alice gives three consents (both purposes on P, design on Q); bob one (design on P)."""
    link_subject(consumer_a, platform_p, "alice-at-p")
    link_subject(consumer_a, platform_q, "alice-at-q")
    link_subject(consumer_b, platform_p, "bob-at-p")
    design, forecast = purposes["c2m-product-design"], purposes["c2m-demand-forecast"]
    grant(consumer_a, design, platform_p)
    grant(consumer_a, forecast, platform_p)
    grant(consumer_a, design, platform_q)
    grant(consumer_b, design, platform_p)
    return World(alice=consumer_a, bob=consumer_b, p=platform_p, q=platform_q, purposes=purposes)


def _receipt_ok(receipt: dict) -> bool:
    key = next(k for k in published_keys() if k["id"] == receipt["key_id"])
    return verify_signature(public_key_raw=b64decode(key["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"])


def test_one_action_ends_every_consent_with_one_receipt_each_and_erases(world, portal_client, django_capture_on_commit_callbacks):
    alice = world.alice
    store_signals(consumer=alice, platform=world.p, purpose=world.design, count=3, prefix="a-p")
    store_signals(consumer=alice, platform=world.q, purpose=world.design, count=2, prefix="a-q")
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=4, prefix="b-p")
    client = portal_client(alice)
    html = client.get(reverse("portal:dashboard")).content.decode()
    assert "停止全部共享" in html and "撤回全部 3 项同意" in html

    with django_capture_on_commit_callbacks(execute=True):  # the erasure tasks, sent on commit
        response = client.post(reverse("portal:consent-withdraw-all"))
    assert response.status_code == 302 and response["Location"] == "/#withdrawn-all"
    assert not ConsentState.objects.filter(consumer=alice.consumer, granted=True).exists()
    withdrawals = list(ConsentEvent.objects.filter(consumer=alice.consumer, action="withdraw"))
    assert len(withdrawals) == 3
    assert {(e.purpose.code, e.platform.slug) for e in withdrawals} == {
        ("c2m-product-design", "shop-p"),
        ("c2m-demand-forecast", "shop-p"),
        ("c2m-product-design", "shop-q"),
    }
    for event in withdrawals:
        assert event.receipt["payload"]["state"] == "withdrawn" and _receipt_ok(event.receipt)
        assert event.language == "zh-hans"
    assert AuditEvent.objects.filter(action="consent.withdrawn", details__channel="portal").count() == 3
    # Erased: alice's signals are gone, bob's are untouched.
    assert not Signal.objects.filter(consumer=alice.consumer).exists()
    assert Signal.objects.filter(consumer=world.bob.consumer).count() == 4
    assert ConsentState.objects.get(consumer=world.bob.consumer).granted

    after = client.get(response["Location"]).content.decode()
    assert "你撤回了全部 3 项同意" in after
    links = re.findall(r'href="/receipts/([0-9a-f-]+)\.json"', after.split('id="withdrawn-all"')[1].split("</div>")[0])
    assert sorted(links) == sorted(str(e.receipt_id) for e in withdrawals)
    assert "停止全部共享" not in after  # nothing left to withdraw
    # Shown once: a reload does not repeat it.
    assert 'id="withdrawn-all"' not in client.get(reverse("portal:dashboard")).content.decode()


def test_with_nothing_granted_it_says_so_and_writes_nothing(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    assert "Stop all sharing" not in client.get(reverse("portal:dashboard")).content.decode()
    response = client.post(reverse("portal:consent-withdraw-all"))
    assert "There was nothing to withdraw" in client.get(response["Location"]).content.decode()
    assert not ConsentEvent.objects.exists()


def test_it_is_post_only_and_for_the_caller_alone(world, portal_client):
    client = portal_client(world.alice)
    assert client.get(reverse("portal:consent-withdraw-all")).status_code == 405
    client.post(reverse("portal:consent-withdraw-all"))
    assert ConsentState.objects.filter(consumer=world.bob.consumer, granted=True).count() == 1


def test_the_csrf_token_is_required(world, portal_client):
    response = portal_client(world.alice, enforce_csrf_checks=True).post(reverse("portal:consent-withdraw-all"))
    assert response.status_code == 403
    assert ConsentState.objects.filter(consumer=world.alice.consumer, granted=True).count() == 3
