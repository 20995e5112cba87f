"""The time a result becomes visible does not depend on anyone's data."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test import override_settings
from django.utils import timezone

from clearinghouse.intake.models import Signal
from clearinghouse.releases.models import Release
from clearinghouse.releases.selectors import release_visible, visible_at
from tests.releases.test_ledger import run, sofa

STEP = 60.0


def _heavy(world, person, count: int) -> None:
    """Copy one signal `count` times inside the database: building 150,000 model objects in
    Python took most of this test's time and tested nothing."""
    template = world.signals([sofa(person)])[0]
    table = connection.ops.quote_name(Signal._meta.db_table)
    columns = [f.column for f in Signal._meta.concrete_fields if f.attname != "id"]
    copied = ", ".join("'heavy-' || n.x" if column == "event_id" else connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < %s) "
            f"INSERT INTO {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
            f"SELECT {copied} FROM {table}, n WHERE {table}.id = %s",
            [count - 1, template.pk],
        )
    assert Signal.objects.filter(consumer_id=template.consumer_id).count() == count + 1


def test_one_person_with_150000_signals_does_not_move_the_visible_time(world, django_capture_on_commit_callbacks):
    light, heavy = world.consumers(2)
    world.consent([light, heavy])
    world.signals([sofa(light)])
    body = {"measure": "signals", "group_by": ["age_band"], "epsilon": "0.5"}
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=STEP):
        before = run(world, body, django_capture_on_commit_callbacks)
        _heavy(world, heavy, 150_000)
        after = run(world, body | {"epsilon": "0.6"}, django_capture_on_commit_callbacks)
        for release in (before, after):
            shown = visible_at(release)
            assert shown - release.created_at == timedelta(seconds=STEP)
            hidden = release_visible(release, now=shown - timedelta(milliseconds=1))
            assert hidden.status == Release.RUNNING and hidden.result is None and hidden.completed_at is None
            seen = release_visible(release, now=shown)
            assert seen.status == Release.DONE and seen.result == release.result and seen.completed_at == shown


def test_the_api_shows_running_until_the_visible_time(world, django_capture_on_commit_callbacks):
    (person,) = world.consumers(1)
    world.consent([person])
    world.signals([sofa(person)])
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=STEP):
        release = run(world, {"measure": "consumers", "epsilon": "0.5"}, django_capture_on_commit_callbacks)
        client = world.manufacturer.client()
        body = client.get(f"/api/v1/releases/{release.id}").json()
        assert body["status"] == "running" and body["result"] is None and body["completed_at"] is None
        listed = client.get("/api/v1/releases").json()["results"][0]
        assert listed["status"] == "running" and listed["completed_at"] is None
    Release.objects.filter(pk=release.pk).update(created_at=timezone.now() - timedelta(seconds=2 * STEP))
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=STEP):
        body = client.get(f"/api/v1/releases/{release.id}").json()
    assert body["status"] == "done" and body["result"]["payload"]["release_id"] == str(release.id)
