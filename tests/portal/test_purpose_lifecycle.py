"""A purpose's life, end to end (issue 14): when a version is retired or replaced by one
that needs new consent, every affected consent ends with a signed receipt (state
``expired``, naming why), intake stops, what the consent let in is erased, and the person
sees it under "Stopped"; a new version shows a banner and a plain diff, and says "new
version" rather than "the notice changed" when only the version moved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish, purpose_retire
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import b64decode, published_keys, verify_signature
from clearinghouse.intake.models import Signal
from tests.conftest import link_subject
from tests.intake.conftest import design_item, grant, store_signals, submit

pytestmark = pytest.mark.django_db

DESIGN = "c2m-product-design"
OFFICER = Actor(kind="compliance", id="officer:1")


def _signed(receipt: dict) -> bool:
    key = next(k for k in published_keys() if k["id"] == receipt["key_id"])
    return verify_signature(public_key_raw=b64decode(key["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"])


@pytest.fixture
def alice(consumer_a, consumer_b, platform_p, platform_q, purposes):
    """alice consents to product design on P and Q and to demand forecast on P; bob to
    demand forecast on P only."""
    link_subject(consumer_a, platform_p, "alice-at-p")
    link_subject(consumer_a, platform_q, "alice-at-q")
    link_subject(consumer_b, platform_p, "bob-at-p")
    grant(consumer_a, purposes[DESIGN], platform_p)
    grant(consumer_a, purposes[DESIGN], platform_q)
    grant(consumer_a, purposes["c2m-demand-forecast"], platform_p)
    grant(consumer_b, purposes["c2m-demand-forecast"], platform_p)
    return consumer_a


def _version(version: int, **changes):
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": version}
    for key, value in changes.items():
        document[key] = value
    return purpose_publish(document=document, actor=Actor.operator(), approve=True)[0]


def test_retiring_a_purpose_ends_each_consent_with_a_receipt_stops_intake_and_erases(
    alice, consumer_b, platform_p, platform_q, purposes, portal_client, django_capture_on_commit_callbacks
):
    store_signals(consumer=alice, platform=platform_p, purpose=purposes[DESIGN], count=3, prefix="p")
    store_signals(consumer=alice, platform=platform_q, purpose=purposes[DESIGN], count=2, prefix="q")
    store_signals(consumer=alice, platform=platform_p, purpose=purposes["c2m-demand-forecast"], count=4, prefix="f")
    with django_capture_on_commit_callbacks(execute=True):  # the erasure tasks, sent on commit
        purpose_retire(purpose=purposes[DESIGN], actor=OFFICER)

    ended = list(ConsentEvent.objects.filter(action="expire").order_by("platform__slug"))
    assert [(e.consumer_id, e.platform.slug) for e in ended] == [(alice.consumer.pk, "shop-p"), (alice.consumer.pk, "shop-q")]
    for event in ended:
        payload = event.receipt["payload"]
        assert payload["state"] == "expired" and payload["ended_because"] == {"code": "purpose_retired"}
        assert _signed(event.receipt)
        assert event.reason == "purpose_retired" and event.channel == "system"
    assert AuditEvent.objects.filter(action="consent.expired", details__reason="purpose_retired").count() == 2
    assert AuditEvent.objects.get(action="purpose.retired").details == {"reason": "retired", "consents_ended": 2}

    # The API says so (it said granted: true before).
    consents = {(c["purpose"], c["platform"]): c for c in alice.client().get("/api/v1/me/consents").json()}
    assert consents[(DESIGN, "shop-p")]["granted"] is False
    assert consents[(DESIGN, "shop-p")]["ended_because"] == "purpose_retired"
    assert (
        consents[("c2m-demand-forecast", "shop-p")] | {"granted": True, "ended_because": None}
        == consents[("c2m-demand-forecast", "shop-p")]
    )

    # Erased: the design signals; the forecast ones (another purpose) stay.
    assert list(Signal.objects.filter(consumer=alice.consumer).values_list("purpose__code", flat=True).distinct()) == [
        "c2m-demand-forecast"
    ]
    # Intake stops.
    response = submit(platform_p, [design_item("late-1", "alice-at-p")])
    assert response.json()["accepted"] == 0

    # The person sees it under "Stopped", with the reason and the receipt.
    html = portal_client(alice, language="en").get(reverse("portal:dashboard")).content.decode()
    stopped = html.split('id="stopped"')[1]
    assert "The purpose was retired" in stopped
    for event in ended:
        assert f"/receipts/{event.receipt_id}.json" in stopped
    chinese = portal_client(alice).get(reverse("portal:dashboard")).content.decode()
    assert "这个用途已停用" in chinese
    history = portal_client(alice, language="en").get(reverse("portal:history")).content.decode()
    assert history.count("Ended by the service") == 2 and "the purpose was retired" in history


def test_a_replacing_version_ends_old_consents_and_shows_a_plain_diff(alice, platform_p, purposes, portal_client):
    old = purposes[DESIGN]
    notice = dict(old.notice)
    notice["en"] = notice["en"] + "\n\nFrom version 2 we also record roughly when it happened."
    notice["zh-hans"] = notice["zh-hans"] + "\n\n从版本 2 起，我们还会记录大致的发生时间。"
    v2 = _version(
        2,
        notice=notice,
        fields=[*old.fields, "occurred_at"],
        retention_days=180,
        recipient_sectors=[s for s in old.recipient_sectors if s != "food"],
    )
    assert v2.status == "approved"
    ended = ConsentEvent.objects.filter(action="expire", consumer=alice.consumer)
    assert ended.count() == 2
    assert {e.receipt["payload"]["ended_because"]["code"] for e in ended} == {"purpose_superseded"}
    assert {e.receipt["payload"]["ended_because"]["by_version"] for e in ended} == {2}

    client = portal_client(alice, language="en")
    html = client.get(reverse("portal:dashboard")).content.decode()
    banner = html.split(f'id="purpose-{DESIGN}-new-version"')[1].split("</div>")[0]
    assert "New version 2: you agreed to version 1." in banner
    assert "roughly when it happened" in banner  # the new field and the new paragraph
    assert "From version 2 we also record roughly when it happened." in banner
    assert "180 days" in banner and "365 days" in banner
    assert "food" in banner  # no longer among the recipients
    assert "Only the version number moved" not in banner
    assert "The notice changed" not in html
    assert "Needs your answer again" in html

    # Agreeing to v2 from the page: the banner goes away for good.
    import re

    form = next(
        dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', f))
        for f in re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S)
        if 'value="shop-p"' in f and 'value="grant"' in f and f'value="{DESIGN}"' in f
    )
    assert form["version"] == "2"
    client.post(reverse("portal:consent-update"), form)
    client.post(reverse("portal:consent-update"), form | {"platform": "shop-q"})
    assert ConsentState.objects.filter(consumer=alice.consumer, purpose_code=DESIGN, granted=True, version=2).count() == 2
    assert "new-version" not in client.get(reverse("portal:dashboard")).content.decode()


def test_when_only_the_version_moved_it_says_so(alice, purposes, portal_client):
    _version(2)  # the very same text and terms, a new number
    for language, expected in (("en", "Only the version number moved"), ("zh-hans", "只是版本号变了")):
        html = portal_client(alice, language=language).get(reverse("portal:dashboard")).content.decode()
        assert expected in html
        assert 'class="diff"' not in html
    html = portal_client(alice, language="en").get(reverse("portal:dashboard")).content.decode().lower()
    assert "the notice changed" not in html and "notice has changed" not in html


def test_a_draft_retired_ends_nothing(alice, purposes):
    draft = purpose_publish(
        document=purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": 2}, actor=Actor.operator()
    )[0]
    purpose_retire(purpose=draft, actor=OFFICER)
    assert not ConsentEvent.objects.filter(action="expire").exists()
    assert ConsentState.objects.filter(consumer=alice.consumer, granted=True).count() == 3
