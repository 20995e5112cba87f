"""A running job keeps its short lease alive with a heartbeat; a job whose heartbeat
stopped (its worker was killed) is handed over by the next sweep, within a minute."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from clearinghouse.releases import services
from clearinghouse.releases.models import Release
from clearinghouse.releases.services import release_compute, release_sweep
from tests.releases.test_faults import _request_without_job


def _queued_release(world) -> Release:
    return _request_without_job(world)


@pytest.mark.django_db(transaction=True)
def test_a_live_job_renews_its_lease_and_is_not_taken_over(world, settings, monkeypatch):
    settings.CH_RELEASE_LEASE_SECONDS = 1  # heartbeat every third of a second
    release = _queued_release(world)
    seen: dict = {}
    original = services._compute

    def slow_compute(*, release_id, attempt, **engine):
        claimed = Release.objects.get(pk=release_id).lease_until
        time.sleep(2.2)  # twice the lease: without the heartbeat it would have expired
        seen["renewed"] = Release.objects.get(pk=release_id).lease_until
        seen["claimed"] = claimed
        seen["sweep"] = release_sweep()
        return original(release_id=release_id, attempt=attempt, **engine)

    monkeypatch.setattr(services, "_compute", slow_compute)
    done = release_compute(release_id=release.id)
    assert seen["renewed"] > seen["claimed"] + timedelta(seconds=1)
    assert seen["sweep"].resent == 0  # alive, so not handed to anyone else
    assert done.status == Release.DONE and done.attempts == 1


def test_a_release_whose_heartbeat_stopped_is_resent_by_the_next_sweep(world, settings):
    release = _queued_release(world)
    lease = timedelta(seconds=settings.CH_RELEASE_LEASE_SECONDS)
    # A worker that renewed its lease a moment ago is alive: nothing to do.
    Release.objects.filter(pk=release.pk).update(status=Release.RUNNING, attempts=1, lease_until=timezone.now() + lease)
    assert release_sweep().resent == 0
    # What a killed worker leaves: running, its last renewal more than a lease ago.
    Release.objects.filter(pk=release.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert release_sweep().resent == 1  # eager Celery: the takeover ran here
    done = Release.objects.get(pk=release.pk)
    assert done.status == Release.DONE and done.attempts == 2


def test_takeover_within_a_minute_by_default(settings):
    assert settings.CH_RELEASE_LEASE_SECONDS + settings.CH_RELEASE_SWEEP_SECONDS <= 60
    assert settings.CELERY_BEAT_SCHEDULE["releases-sweep"]["schedule"].total_seconds() == settings.CH_RELEASE_SWEEP_SECONDS
