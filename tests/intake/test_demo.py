"""seed_demo's synthetic world: consented, valid, skewed the way real shoppers are, idempotent."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from clearinghouse.accounts.models import Consumer, PlatformLink
from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentEvent, ConsentState, Purpose
from clearinghouse.consent.selectors import consent_fold
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.intake.models import IntakeBatch, Signal
from tests.conftest import module_build


@pytest.fixture(scope="module")
def seeded_once(module_db, django_db_blocker):
    """Seeding takes seconds: once for the module (tests/conftest.py's module_db), and each
    test starts from the seeded world as it was built."""
    out = StringIO()
    with module_build(django_db_blocker):
        call_command("seed_demo", consumers=400, signals=30_000, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded(seeded_once, db):
    return seeded_once


def test_the_synthetic_world_is_consented_valid_and_skewed(seeded):
    # Seeding takes seconds; one world, three properties.
    _every_signal_is_consented_linked_and_valid(seeded)
    _the_consent_ledger_is_whole()
    _preferences_are_skewed_like_real_shoppers()


def _every_signal_is_consented_linked_and_valid(seeded):
    assert "synthetic signals: 30,000 accepted, 0 already present, 0 rejected" in seeded
    assert Signal.objects.count() == 30_000
    purposes = {p.pk: p for p in Purpose.objects.all()}
    index = taxonomy_index()
    states = set(ConsentState.objects.filter(granted=True).values_list("consumer_id", "purpose_code", "platform_id"))
    links = set(PlatformLink.objects.values_list("consumer_id", "platform_id"))
    for s in Signal.objects.all().iterator(chunk_size=5000):
        purpose = purposes[s.purpose_id]
        assert (s.consumer_id, purpose.code, s.platform_id) in states
        assert (s.consumer_id, s.platform_id) in links
        assert index.parent[s.attribute] == s.category
        if purpose.code == "c2m-demand-forecast":
            assert s.occurred_at is not None and s.value is None and s.age_band is None
        else:
            assert s.occurred_at is None and s.region is not None and s.age_band is not None
            assert s.value is None or 1 <= s.value <= 5
    # Delivered through the intake service: receipts and one audit event per batch.
    assert sum(IntakeBatch.objects.values_list("accepted", flat=True)) == 30_000
    assert AuditEvent.objects.filter(action="intake.batch", actor_id="seed_demo").count() == IntakeBatch.objects.count()


def _the_consent_ledger_is_whole():
    events = list(ConsentEvent.objects.select_related("purpose"))
    folded = consent_fold(events)
    states = {(s.consumer_id, s.purpose_code, s.platform_id): s for s in ConsentState.objects.all()}
    assert set(folded) == set(states)
    for key, fold in folded.items():
        assert (states[key].granted, states[key].last_event_id) == (fold.granted, fold.last_event_id)
    assert any(not s.granted for s in states.values())  # some people changed their minds
    sample = events[len(events) // 2].receipt
    assert verify_signature(public_key_raw=public_key_for(sample["key_id"]), document=sample["payload"], signature_b64=sample["signature"])
    assert AuditEvent.objects.filter(action__in=["consent.granted", "consent.withdrawn"]).count() == len(events)
    assert Consumer.objects.filter(user__isnull=True).count() == 400  # invented people have no login


def _shares(signals, field, index_of):
    counts = Counter(index_of[v] for v in signals.values_list(field, flat=True) if v is not None)
    total = sum(counts.values())
    return {code: n / total for code, n in counts.items()}


def _preferences_are_skewed_like_real_shoppers():
    index = taxonomy_index()
    codes = index.codes
    young = _shares(Signal.objects.filter(age_band=index.age_bands["18-24"]), "category", codes)
    seniors = _shares(Signal.objects.filter(age_band__in=[index.age_bands["55-64"], index.age_bands["65+"]]), "category", codes)
    office = _shares(Signal.objects.filter(age_band__in=[index.age_bands["25-34"], index.age_bands["35-44"]]), "category", codes)
    assert young["electronics/gaming-phone"] > 5 * seniors.get("electronics/gaming-phone", 0)
    assert seniors["electronics/senior-phone"] > 10 * young.get("electronics/senior-phone", 0)
    assert office["furniture/office-chair"] > seniors.get("furniture/office-chair", 0)
    assert young["food/bird-nest"] + young["food/nourishing-tea"] > 0.08  # young people buying nourishing food
    chair = index.categories["furniture/office-chair"]
    attributes = Counter(Signal.objects.filter(category=chair).values_list("attribute", flat=True))
    assert codes[attributes.most_common(1)[0][0]] == "lumbar-support"
    flowers = index.categories["flowers/fresh-cut"]
    roses = Counter(Signal.objects.filter(category=flowers).values_list("attribute", flat=True))
    assert codes[roses.most_common(1)[0][0]] == "rose"


def test_seeding_again_adds_nothing(seeded):
    batches, audit = IntakeBatch.objects.count(), AuditEvent.objects.count()
    out = StringIO()
    call_command("seed_demo", consumers=400, signals=30_000, stdout=out)
    assert "0 new" in out.getvalue() and "30,000 already present" in out.getvalue()
    assert "synthetic signals: the demo world is already there (30,000 already present, none added)" in out.getvalue()
    assert "per second" not in out.getvalue()
    assert Signal.objects.count() == 30_000
    assert IntakeBatch.objects.count() == batches
    assert AuditEvent.objects.count() == audit
