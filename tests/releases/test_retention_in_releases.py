"""A release never reads a signal older than its purpose's retention, whether or not the
daily purge has run yet, so no fact can be charged again once its charge left the window."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from clearinghouse.consent.purposes import MAX_RETENTION_DAYS
from clearinghouse.intake.models import Signal
from clearinghouse.releases.ledger import WINDOW_DAYS
from tests.releases.test_ledger import charged_ids, run, sofa


def test_signals_past_retention_are_not_read_before_the_purge(world, django_capture_on_commit_callbacks):
    fresh, stale = world.consumers(2)
    world.consent([fresh, stale])
    world.signals([sofa(fresh), sofa(stale)])
    retention = world.purposes["c2m-product-design"].retention_days
    # The design purpose does not collect occurred_at: its age is received_at.
    Signal.objects.filter(consumer=stale).update(received_at=timezone.now() - timedelta(days=retention, hours=1))

    release = run(world, {"measure": "consumers", "epsilon": "0.5"}, django_capture_on_commit_callbacks)

    assert charged_ids(release.id) == {fresh.id}
    assert Signal.objects.filter(consumer=stale).exists()  # nothing was purged: the statement left it out


def test_occurred_at_decides_for_purposes_that_collect_it(world, django_capture_on_commit_callbacks):
    fresh, stale = world.consumers(2)
    code = "c2m-demand-forecast"
    world.consent([fresh, stale], purpose_code=code)
    retention = world.purposes[code].retention_days
    now = timezone.now()
    world.signals(
        [
            {"consumer": fresh, "category": "furniture/sofa", "region": "CN-BJ", "occurred_at": now - timedelta(days=retention - 1)},
            {"consumer": stale, "category": "furniture/sofa", "region": "CN-BJ", "occurred_at": now - timedelta(days=retention + 1)},
        ],
        purpose_code=code,
    )
    release = run(world, {"purpose": code, "measure": "consumers", "epsilon": "0.5"}, django_capture_on_commit_callbacks)
    assert charged_ids(release.id) == {fresh.id}


def test_no_purpose_keeps_data_longer_than_the_ledger_window():
    assert MAX_RETENTION_DAYS <= WINDOW_DAYS
