"""Budgets: allocate_budget, the period roll-over, GET /budget, refusal at zero."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clearinghouse.audit.models import AuditEvent
from clearinghouse.releases.budgets import budget_roll_over, period_of
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from tests.releases.conftest import FORECAST, PRODUCT


def allocate(*args):
    out = StringIO()
    call_command("allocate_budget", *args, stdout=out)
    return out.getvalue()


def test_allocate_budget_sets_the_allocation_and_audits(purposes, manufacturer):
    output = allocate(manufacturer.slug, PRODUCT, "--epsilon", "2.5")
    assert "2.5000" in output and period_of() in output
    allocation = Allocation.objects.get(manufacturer=manufacturer.obj, purpose_code=PRODUCT, period=period_of())
    assert allocation.allocated == Decimal("2.5") and allocation.spent == 0
    event = AuditEvent.objects.filter(action="budget.allocated").get()
    assert event.details == {
        "manufacturer": manufacturer.slug,
        "purpose": PRODUCT,
        "period": period_of(),
        "epsilon": "2.5000",
        "previous": None,
    }
    allocate(manufacturer.slug, PRODUCT, "--epsilon", "4")
    allocation.refresh_from_db()
    assert allocation.allocated == Decimal("4")
    assert AuditEvent.objects.filter(action="budget.allocated").order_by("-seq").first().details["previous"] == "2.5000"


def test_allocate_budget_for_a_future_period(purposes, manufacturer):
    allocate(manufacturer.slug, PRODUCT, "--epsilon", "3", "--period", "2999-01")
    assert Allocation.objects.get(manufacturer=manufacturer.obj, period="2999-01").allocated == Decimal("3")


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody", PRODUCT, "--epsilon", "1"], "no manufacturer"),
        (["chairco", "no-such-purpose", "--epsilon", "1"], "no approved purpose"),
        (["chairco", PRODUCT, "--epsilon", "0"], "greater than 0"),
        (["chairco", PRODUCT, "--epsilon", "many"], "positive number"),
        (["chairco", PRODUCT, "--epsilon", "21"], "cap per period"),
        (["chairco", PRODUCT, "--epsilon", "1", "--period", "2026-13"], "YYYY-MM"),
        (["chairco", PRODUCT, "--epsilon", "1", "--period", "2000-01"], "is over"),
    ],
)
def test_allocate_budget_refuses_bad_input_with_a_clear_message(purposes, manufacturer, args, message):
    with pytest.raises(CommandError) as error:
        allocate(*args)
    assert message in str(error.value)
    assert error.value.returncode == 2
    assert not Allocation.objects.exists()


def test_allocation_cannot_go_below_what_is_spent(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post(
            "/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "1"}, format="json"
        )
    assert response.status_code == 202
    with pytest.raises(CommandError) as error:
        allocate(world.manufacturer.slug, PRODUCT, "--epsilon", "0.5")
    assert "already spent" in str(error.value)


def test_budget_endpoint_and_refusal_at_zero(purposes, manufacturer, django_capture_on_commit_callbacks):
    allocate(manufacturer.slug, PRODUCT, "--epsilon", "1.5")
    client = manufacturer.client()
    budget = {row["purpose"]: row for row in client.get("/api/v1/budget").json()["budgets"] if row["period"] == period_of()}
    assert budget[PRODUCT]["allocated"] == "1.5000" and budget[PRODUCT]["remaining"] == "1.5000"
    assert budget[PRODUCT]["global_cap"] == "20.0000" and budget[PRODUCT]["global_remaining"] == "20.0000"
    assert budget[FORECAST]["allocated"] == "0.0000"  # authorised, nothing allocated

    spent = []
    for epsilon, group_by in (("1", ["category"]), ("0.5", ["signal"])):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/releases", {"purpose": PRODUCT, "measure": "signals", "group_by": group_by, "epsilon": epsilon}, format="json"
            )
        assert response.status_code == 202, response.content
        spent.append(epsilon)
    budget = {row["purpose"]: row for row in client.get("/api/v1/budget").json()["budgets"] if row["period"] == period_of()}
    assert budget[PRODUCT]["spent"] == "1.5000" and budget[PRODUCT]["remaining"] == "0.0000"
    assert budget[PRODUCT]["global_spent"] == "1.5000"

    jobs_before = Release.objects.count()
    response = client.post(
        "/api/v1/releases", {"purpose": PRODUCT, "measure": "signals", "group_by": ["region"], "epsilon": "0.1"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "budget_exhausted" and error["details"]["scope"] == "allocation" and error["details"]["remaining"] == "0.0000"
    assert error["details"]["epsilon"] == "0.1000" and error["details"]["period"] == period_of()
    assert Release.objects.count() == jobs_before
    refused = AuditEvent.objects.filter(action="release.refused").order_by("-seq").first()
    assert refused.details["code"] == "budget_exhausted" and refused.details["epsilon"] == "0.1000"
    assert Allocation.objects.get(manufacturer=manufacturer.obj, purpose_code=PRODUCT).spent == Decimal("1.5")


def test_global_cap_binds_across_manufacturers(purposes, make_manufacturer, django_capture_on_commit_callbacks):
    first, second = make_manufacturer("maker-a", ["furniture"]), make_manufacturer("maker-b", ["furniture"])
    PurposeBudget.objects.create(purpose_code=PRODUCT, period=period_of(), cap=Decimal("1.5"))
    for maker in (first, second):
        allocate(maker.slug, PRODUCT, "--epsilon", "1", "--force")  # 2 of a 1.5 cap: flagged, still bound below
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            first.client().post("/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "1"}, format="json").status_code
            == 202
        )
    response = second.client().post("/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "1"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["details"]["scope"] == "purpose"
    assert Allocation.objects.get(manufacturer=second.obj).spent == 0


def test_allocations_passing_the_cap_together_are_refused(purposes, make_manufacturer):
    first, second, third = (make_manufacturer(f"maker-{name}", ["furniture"]) for name in "abc")
    allocate(first.slug, PRODUCT, "--epsilon", "12")
    allocate(second.slug, PRODUCT, "--epsilon", "8")  # exactly the cap of 20: fine
    with pytest.raises(CommandError) as error:
        allocate(third.slug, PRODUCT, "--epsilon", "3")
    message = str(error.value)
    assert error.value.returncode == 2
    assert "would add up to 23.0000" in message and "cap of 20.0000" in message and "at most 0.0000" in message and "--force" in message
    assert not Allocation.objects.filter(manufacturer=third.obj).exists()
    assert AuditEvent.objects.filter(action="budget.allocated").count() == 2
    # Raising one's own allocation counts its new amount, not old plus new.
    with pytest.raises(CommandError, match="would add up to 21.0000"):
        allocate(second.slug, PRODUCT, "--epsilon", "9")
    allocate(first.slug, PRODUCT, "--epsilon", "11")
    allocate(second.slug, PRODUCT, "--epsilon", "9")
    assert Allocation.objects.get(manufacturer=second.obj).allocated == Decimal("9")


def test_a_carried_over_allocation_counts_towards_a_later_period(purposes, make_manufacturer):
    first, second = make_manufacturer("maker-a", ["furniture"]), make_manufacturer("maker-b", ["furniture"])
    allocate(first.slug, PRODUCT, "--epsilon", "15", "--period", "2999-01")
    with pytest.raises(CommandError, match="would add up to 21.0000"):
        allocate(second.slug, PRODUCT, "--epsilon", "6", "--period", "2999-03")  # first's 15 rolls over into March
    allocate(second.slug, PRODUCT, "--epsilon", "5", "--period", "2999-03")


def test_force_records_and_flags_an_over_allocation(purposes, make_manufacturer):
    first, second = make_manufacturer("maker-a", ["furniture"]), make_manufacturer("maker-b", ["furniture"])
    allocate(first.slug, PRODUCT, "--epsilon", "20")
    out, err = StringIO(), StringIO()
    call_command("allocate_budget", second.slug, PRODUCT, "--epsilon", "3", "--force", stdout=out, stderr=err)
    assert "may spend 3.0000" in out.getvalue()
    assert "add up to 23.0000" in err.getvalue() and "cap of 20.0000" in err.getvalue()
    assert Allocation.objects.get(manufacturer=second.obj).allocated == Decimal("3")
    event = AuditEvent.objects.filter(action="budget.allocated").order_by("-seq").first()
    assert event.details["over_cap"] == {"total": "23.0000", "cap": "20.0000"}
    first_event = AuditEvent.objects.filter(action="budget.allocated").order_by("seq").first()
    assert "over_cap" not in first_event.details


def test_no_allocation_is_budget_exhausted(purposes, manufacturer):
    response = manufacturer.client().post("/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "1"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "budget_exhausted"


def test_roll_over_carries_allocations_into_the_new_period(purposes, manufacturer, monkeypatch):
    allocate(manufacturer.slug, PRODUCT, "--epsilon", "3")
    current = period_of()
    Allocation.objects.filter(period=current).update(spent=Decimal("2"))
    next_month = "2999-02"
    assert budget_roll_over(period=next_month) == 1
    rolled = Allocation.objects.get(manufacturer=manufacturer.obj, purpose_code=PRODUCT, period=next_month)
    assert rolled.allocated == Decimal("3") and rolled.spent == 0
    assert PurposeBudget.objects.get(purpose_code=PRODUCT, period=next_month).spent == 0
    event = AuditEvent.objects.get(action="budget.rolled_over")
    assert event.details["from_period"] == current and event.details["period"] == next_month and event.details["epsilon"] == "3.0000"
    assert budget_roll_over(period=next_month) == 0  # idempotent
    assert Allocation.objects.filter(period=next_month).count() == 1


def test_a_request_in_a_new_month_rolls_over_lazily(purposes, manufacturer, monkeypatch, django_capture_on_commit_callbacks):
    allocate(manufacturer.slug, PRODUCT, "--epsilon", "1")
    import clearinghouse.releases.services as services

    later = datetime(2999, 5, 3, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(services, "period_of", lambda moment=None: period_of(later))
    with django_capture_on_commit_callbacks(execute=True):
        response = manufacturer.client().post(
            "/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "1"}, format="json"
        )
    assert response.status_code == 202, response.content
    rolled = Allocation.objects.get(manufacturer=manufacturer.obj, period="2999-05")
    assert rolled.spent == Decimal("1") and rolled.allocated == Decimal("1")
    assert Allocation.objects.get(manufacturer=manufacturer.obj, period=period_of()).spent == 0
    assert AuditEvent.objects.filter(action="budget.rolled_over").count() == 1


def test_repeat_in_the_same_period_returns_the_stored_release_and_spends_nothing(world, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    request = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["age_band", "category"], "epsilon": "0.5"}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/releases", request, format="json")
    assert first.status_code == 202
    # Same request, dimensions in another order and ε written differently: still a repeat.
    again = client.post("/api/v1/releases", request | {"group_by": ["category", "age_band"], "epsilon": 0.50}, format="json")
    assert again.status_code == 200 and again.json()["repeat"] is True
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["result"]["payload"]["epsilon"] == "0.5000"
    assert Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).spent == Decimal("0.5")
    assert Release.objects.count() == 1
    different = client.post("/api/v1/releases", request | {"epsilon": "0.4"}, format="json")
    assert different.status_code == 202
