"""The daily purge: signals older than their purpose's retention go, the run is audited, and
each person whose signals went gets one signed erasure certificate for the run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.intake.erasure import signals_retention_purge
from clearinghouse.intake.models import Erasure, Signal
from clearinghouse.intake.tasks import signals_retention_purge_task
from tests.conftest import grant_body, module_world
from tests.intake.conftest import store_signals
from tests.intake.test_erasure_certificates import _genuine


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"


def test_purge_uses_occurred_at_when_collected_and_received_at_otherwise(world):
    now = timezone.now()
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=3, prefix="design-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=2, prefix="design-new")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=4, prefix="forecast-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=1, prefix="forecast-new")
    # Product design keeps 365 days by arrival; demand forecast 180 days by occurrence.
    Signal.objects.filter(event_id__startswith="design-old").update(received_at=now - timedelta(days=366))
    Signal.objects.filter(event_id__startswith="design-new").update(received_at=now - timedelta(days=364))
    Signal.objects.filter(event_id__startswith="forecast-old").update(occurred_at=now - timedelta(days=181), received_at=now)
    Signal.objects.filter(event_id__startswith="forecast-new").update(
        occurred_at=now - timedelta(days=179), received_at=now - timedelta(days=200)
    )

    result = signals_retention_purge()

    assert result == {"c2m-demand-forecast@1": 4, "c2m-product-design@1": 3}
    assert sorted(Signal.objects.values_list("event_id", flat=True)) == ["design-new-0", "design-new-1", "forecast-new-0"]
    purged = {e.details["purpose"]: e.details for e in AuditEvent.objects.filter(action="retention.purged")}
    assert purged["c2m-product-design"]["signals"] == 3 and purged["c2m-product-design"]["retention_days"] == 365
    assert purged["c2m-demand-forecast"]["signals"] == 4
    assert all(e.actor_kind == "system" for e in AuditEvent.objects.filter(action="retention.purged"))


def test_a_run_with_nothing_due_is_still_audited(world):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=2, prefix="fresh")
    assert signals_retention_purge_task.delay().get() == {"c2m-demand-forecast@1": 0, "c2m-product-design@1": 0}
    assert Signal.objects.count() == 2
    assert AuditEvent.objects.filter(action="retention.purged").count() == 2


def test_purge_is_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["intake-retention-purge"]
    assert entry["task"] == "clearinghouse.intake.tasks.signals_retention_purge_task"
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}


def _age(prefix: str, days: int) -> None:
    Signal.objects.filter(event_id__startswith=prefix).update(received_at=timezone.now() - timedelta(days=days))


def test_each_person_gets_one_certificate_per_run_for_everything_that_went(world, make_consumer, tmp_path):
    consumer_c = make_consumer("carol")
    # Alice: old signals under two purposes on P and one on Q, and fresh ones that stay.
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=3, prefix="a-p-design-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=4, prefix="a-p-forecast-old")
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=2, prefix="a-q-design-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a-p-design-new")
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=1, prefix="b-p-design-old")
    # Someone with only fresh data gets no certificate.
    store_signals(consumer=consumer_c, platform=world.p, purpose=world.design, count=2, prefix="c-p-design-new")
    _age("a-p-design-old", 366)
    _age("a-q-design-old", 400)
    _age("b-p-design-old", 366)
    Signal.objects.filter(event_id__startswith="a-p-forecast-old").update(occurred_at=timezone.now() - timedelta(days=181))

    assert sum(signals_retention_purge().values()) == 10

    certified = Erasure.objects.filter(certificate__isnull=False)
    assert sorted(certified.values_list("consumer_id", flat=True)) == sorted([world.alice.consumer.pk, world.bob.consumer.pk])
    alice = certified.get(consumer=world.alice.consumer)
    payload = alice.certificate["payload"]
    assert _genuine(alice.certificate)
    assert payload["deleted"] == [
        {"platform": "shop-p", "purpose": "c2m-demand-forecast", "signals": 4},
        {"platform": "shop-p", "purpose": "c2m-product-design", "signals": 3},
        {"platform": "shop-q", "purpose": "c2m-product-design", "signals": 2},
    ]
    assert payload["total_signals"] == 9 and alice.signals == 9 and alice.reason == Erasure.RETENTION
    # Alice's receipts were English, so is her certificate.
    assert payload["reason"] == {"code": "retention_ended", "text": "the retention period ended"}
    assert payload["language"] == "en" and payload["subject"] == {"pseudonym": str(world.alice.consumer.pseudonym)}
    assert payload["consent_receipt_id"] is None
    audit = AuditEvent.objects.get(action="retention.certified")
    assert audit.details["certificates"] == 2 and audit.details["signals"] == 10 and audit.actor_kind == "system"

    # Served like the others, to its owner only, and checked by the offline tool.
    listing = world.alice.client().get("/api/v1/me/erasure-certificates").json()
    assert listing == [alice.certificate]
    assert world.bob.client().get(f"/api/v1/me/erasure-certificates/{alice.certificate_id}").status_code == 404
    (tmp_path / "certificate.json").write_text(json.dumps(listing[0], ensure_ascii=False))
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))
    checked = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "certificate.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "9 signals deleted" in checked.stdout and "because retention_ended" in checked.stdout

    # The next run has nothing of theirs to delete and issues nothing.
    assert sum(signals_retention_purge().values()) == 0
    assert Erasure.objects.filter(certificate__isnull=False).count() == 2
    assert AuditEvent.objects.filter(action="retention.certified").count() == 1


def test_a_chinese_speakers_retention_certificate_is_in_chinese(world):
    # Bob's latest receipt is Chinese (he read the Chinese notice).
    response = world.bob.client().post("/api/v1/me/consents", grant_body(world.forecast, world.p.slug, "zh-hans"), format="json")
    assert response.status_code == 201
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=2, prefix="b-old")
    _age("b-old", 366)
    signals_retention_purge()
    payload = Erasure.objects.get(consumer=world.bob.consumer).certificate["payload"]
    assert payload["language"] == "zh-hans" and payload["reason"] == {"code": "retention_ended", "text": "保存期限已到"}
    # No English words anywhere a person reads, the operator's name included.
    readable = " ".join([payload["reason"]["text"], payload["statement"], payload["what_remains"], payload["controller"]["name"]])
    assert not re.search(r"[A-Za-z]{2,}", readable), readable
