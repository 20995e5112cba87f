"""The report job's bad paths: a failure refunds and charges nobody; a lost job is re-sent."""

from __future__ import annotations

from decimal import Decimal

from clearinghouse.releases.models import Allocation, ChargeChunk, Release
from clearinghouse.reports import services
from clearinghouse.reports.services import report_compute, report_request, report_sweep
from tests.reports.conftest import PRODUCT

BODY = {
    "purpose": PRODUCT,
    "measure": "consumers",
    "filters": {"category": "furniture/office-chair"},
    "marginals": [["attribute"], ["age_band"]],
    "epsilon": "0.4",
}


def queued(world, monkeypatch) -> Release:
    """A report whose task never reached the broker (published into a list instead)."""
    sent: list = []
    monkeypatch.setattr(services, "report_publish", sent.append)
    people = world.consumers(5)
    world.consent(people)
    world.signals([{"consumer": p, "category": "furniture/office-chair", "attribute": "footrest", "age_band": "25-34"} for p in people])
    from clearinghouse.core.actors import Actor

    report, created = report_request(manufacturer=world.manufacturer.obj, body=BODY, actor=Actor.operator())
    assert created and report.status == Release.QUEUED
    return report


def spent(world) -> Decimal:
    return Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).spent


def test_a_report_that_fails_before_its_answer_is_refunded_and_charges_nobody(world, monkeypatch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = queued(world, monkeypatch)
    assert spent(world) == Decimal("0.4")

    def broken(**kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(services, "report_document", broken)
    closed = report_compute(release_id=report.id)
    assert closed.status == Release.FAILED and closed.error_code == "internal_error"
    assert closed.refunded_at is not None
    assert spent(world) == 0
    assert not ChargeChunk.objects.filter(release=closed).exists()
    detail = world.manufacturer.client().get(f"/api/v1/reports/{report.id}").json()
    assert detail["error"] == {"code": "internal_error", "message": closed.error_message, "refunded": True}
    assert detail["result"] is None


def test_a_report_whose_purpose_was_withdrawn_meanwhile_is_refused_with_a_refund(world, monkeypatch, django_capture_on_commit_callbacks):
    from clearinghouse.consent.models import Purpose

    with django_capture_on_commit_callbacks(execute=True):
        report = queued(world, monkeypatch)
    Purpose.objects.filter(pk=report.purpose_id).update(status=Purpose.RETIRED)
    closed = report_compute(release_id=report.id)
    assert closed.status == Release.REFUSED and closed.error_code == "purpose_not_approved"
    assert spent(world) == 0 and not ChargeChunk.objects.exists()


def test_a_lost_report_job_is_re_sent_by_the_sweeper_and_then_done(world, monkeypatch, settings, django_capture_on_commit_callbacks):
    settings.CH_RELEASE_RESEND_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        report = queued(world, monkeypatch)
    resent: list = []
    monkeypatch.setattr(services, "report_publish", resent.append)
    assert report_sweep().resent == 1 and resent == [report.id]
    done = report_compute(release_id=resent[0])
    assert done.status == Release.DONE and done.result["payload"]["kind"] == "report"
    assert report_sweep().resent == 0  # done reports are left alone
    # The job is idempotent: running it again changes nothing.
    again = report_compute(release_id=report.id)
    assert again.status == Release.DONE and again.result == done.result
