"""Issue 15 item 4: investigations in the console: search by actor, pseudonym, target and
action prefix; events as sentences in the page's language with the raw record; a person's
whole trail."""

import pytest
from django.utils import translation

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_seal
from clearinghouse.console.sentences import SENTENCES, event_sentence
from tests.conftest import grant_body, link_subject

PRODUCT = "c2m-product-design"


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=officer.password)
    return client


def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def story(purposes, consumer_a, consumer_b, platform_p):
    """Alice grants, is linked by the platform, withdraws; Bob grants."""
    purpose = purposes[PRODUCT]
    for person in (consumer_a, consumer_b):
        assert person.client().post("/api/v1/me/consents", grant_body(purpose, platform_p.slug), format="json").status_code == 201
    link_subject(consumer_a, platform_p, "alice-at-p")
    consumer_a.client().post("/api/v1/me/consents", {"purpose": PRODUCT, "platform": platform_p.slug, "action": "withdraw"}, format="json")
    audit_seal()
    return str(consumer_a.consumer.pseudonym), str(consumer_b.consumer.pseudonym)


def _seqs(page: str) -> set[int]:
    import re

    return {int(seq) for seq in re.findall(r'href="/compliance/audit/(\d+)/"', page)}


def test_a_persons_whole_trail_from_one_pseudonym(officer_client, story, platform_p):
    alice, bob = story
    page = english(officer_client).get(f"/compliance/audit/?subject={alice}").content.decode()
    assert f"Trail of person {alice}" in page
    expected = set(AuditEvent.objects.filter(actor_id=alice).values_list("seq", flat=True)) | set(
        AuditEvent.objects.filter(details__subject=alice).values_list("seq", flat=True)
    )
    by_platform = AuditEvent.objects.get(action="link.created")
    assert by_platform.actor_kind == "platform" and by_platform.seq in expected  # named only in details.subject
    assert {"consumer.registered", "consent.granted", "consent.withdrawn", "link.created", "link.code_issued"} <= set(
        AuditEvent.objects.filter(seq__in=expected).values_list("action", flat=True)
    )
    assert _seqs(page) == expected
    assert not _seqs(page) & set(AuditEvent.objects.filter(actor_id=bob).values_list("seq", flat=True))
    # The API reads the same filter.
    api = officer_client.get(f"/api/v1/audit/events?subject={alice}&page_size=1000").json()
    assert {event["seq"] for event in api["results"]} == expected


def test_search_by_target_prefix_actor_id_and_action_prefix(officer_client, story, platform_p):
    alice, bob = story
    english(officer_client)
    consent_events = set(AuditEvent.objects.filter(action__startswith="consent.").values_list("seq", flat=True))
    assert len(consent_events) == 3
    by_prefix = officer_client.get("/compliance/audit/?action=consent.").content.decode()
    assert _seqs(by_prefix) == consent_events
    assert 'value="consent."' in by_prefix  # the box keeps what was typed
    exact = officer_client.get("/compliance/audit/?action=consent.granted").content.decode()
    assert len(_seqs(exact)) == 2
    by_target = officer_client.get(f"/compliance/audit/?target=purpose:{PRODUCT}@platform:{platform_p.slug}").content.decode()
    assert _seqs(by_target) == consent_events
    assert not _seqs(officer_client.get("/compliance/audit/?target=purpose:no-such-purpose").content.decode())
    api = officer_client.get(f"/api/v1/audit/events?target=purpose:{PRODUCT}").json()
    purpose_events = set(
        AuditEvent.objects.filter(
            action__in=["purpose.published", "purpose.approved"], target__startswith=f"purpose:{PRODUCT}@"
        ).values_list("seq", flat=True)
    )
    assert len(purpose_events) == 2
    assert {event["seq"] for event in api["results"]} == consent_events | purpose_events  # ?target= is no longer ignored
    by_actor = officer_client.get(f"/compliance/audit/?actor_kind=consumer&actor_id={bob}").content.decode()
    assert _seqs(by_actor) == set(AuditEvent.objects.filter(actor_id=bob).values_list("seq", flat=True))
    # The export link carries the same filters, prefix included.
    assert "/api/v1/audit/export?action_prefix=consent." in by_prefix


def test_a_bad_pseudonym_is_named_in_the_pages_language(officer_client, db):
    assert english(officer_client).get("/compliance/audit/?subject=alice").status_code == 400
    officer_client.cookies["django_language"] = "zh-hans"
    page = officer_client.get("/compliance/audit/?subject=alice")
    assert page.status_code == 400 and "假名" in page.content.decode()
    assert officer_client.get("/api/v1/audit/events?subject=alice").json()["error"]["details"]["field"] == "subject"


def test_events_read_as_sentences_in_the_pages_language_with_the_raw_record(officer_client, story, platform_p):
    alice, _bob = story
    event = AuditEvent.objects.filter(action="consent.granted", actor_id=alice).get()
    page = english(officer_client).get(f"/compliance/audit/?subject={alice}").content.decode()
    assert f"person {alice[:8]} gave consent to {PRODUCT} on platform {platform_p.slug}." in page
    assert (
        "Raw record" in page and f"&quot;leaf_hash&quot;: &quot;{event.leaf_hash}&quot;" in page
    )  # the record as exported, one click away
    officer_client.cookies["django_language"] = "zh-hans"
    chinese = officer_client.get(f"/compliance/audit/?subject={alice}").content.decode()
    assert f"用户 {alice[:8]} 在平台 {platform_p.slug} 上同意了 {PRODUCT}" in chinese
    detail = officer_client.get(f"/compliance/audit/{event.seq}/").content.decode()
    assert f"用户 {alice[:8]} 在平台 {platform_p.slug} 上同意了 {PRODUCT}" in detail
    assert f"/compliance/audit/?subject={alice}" in detail  # the person's whole trail, from any of their events


def test_every_action_has_a_sentence_that_reads_in_chinese(db):
    assert set(SENTENCES) == set(AuditAction)
    for action in AuditAction:
        event = AuditEvent(action=action, actor_kind="system", actor_id="tests", target="x:y", details={})
        with translation.override("en"):
            english_text = event_sentence(event)
        with translation.override("zh-hans"):
            chinese_text = event_sentence(event)
        assert english_text != chinese_text, action
        assert any("\u4e00" <= char <= "\u9fff" for char in chinese_text), action


def test_a_forced_over_allocation_reads_as_such(db):
    event = AuditEvent(
        action="budget.allocated",
        actor_kind="operator",
        actor_id="cli",
        details={
            "manufacturer": "m",
            "purpose": PRODUCT,
            "period": "2026-12",
            "epsilon": "3.0000",
            "over_cap": {"total": "23.0000", "cap": "20.0000"},
        },
    )
    with translation.override("en"):
        assert event_sentence(event).endswith("Over the cap: allocations add up to ε 23.0000 of 20.0000.")
