"""The workbench as a manufacturer's analyst uses it: log in, read the catalogue, plan for
free, run, read the answer, download it; and as everyone else sees it: refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.models import Allocation, Release
from tests.workbench.conftest import CHAIR, FORECAST, PASSWORD, PRODUCT, REPORT_FORM


def run(client, form, capture):
    with capture(execute=True):
        return client.post("/workbench/ask/", form | {"action": "run"})


# --- Who may enter --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/workbench/", "/workbench/ask/", "/workbench/jobs/", "/workbench/budget/"])
def test_anonymous_people_are_sent_to_the_workbench_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/workbench/login/?next={path}"


def test_a_consumer_or_an_officer_is_refused_and_the_refusal_recorded(seeded, make_consumer, officer):
    consumer = make_consumer("carol")
    for user in (consumer.consumer.user, officer.consumer):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        response = client.get("/workbench/")
        assert response.status_code == 403
        assert "not for this account" in response.content.decode().lower()
        assert client.post("/workbench/ask/plan.json", REPORT_FORM).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).exists()


def test_staff_log_in_with_their_password_under_the_one_lockout(staff, settings):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    wrong = client.post("/workbench/login/", {"username": "erin", "password": "not-it"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    refused = AuditEvent.objects.filter(action=AuditAction.AUTH_LOGIN_REFUSED).latest("id")
    assert refused.details["channel"] == "workbench"
    response = client.post("/workbench/login/", {"username": "ERIN", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/workbench/"
    assert client.get("/workbench/").status_code == 200
    # Logging out is a POST (a link cannot do it) and ends the session.
    assert client.get("/workbench/logout/").status_code == 405
    client.post("/workbench/logout/")
    assert client.get("/workbench/").status_code == 302


def test_a_locked_username_is_refused_before_the_password_is_checked(staff, settings):
    settings.CH_LOGIN_FAILURES_PER_USERNAME = 2
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(2):
        client.post("/workbench/login/", {"username": "erin", "password": "guess"})
    locked = client.post("/workbench/login/", {"username": "erin", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "paused" in locked.content.decode()


def test_the_login_page_needs_the_csrf_token(staff):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/workbench/login/", {"username": "erin", "password": PASSWORD}).status_code == 403


# --- The catalogue ------------------------------------------------------------------------


def test_the_catalogue_names_purposes_dimensions_values_and_the_budget_left(staff_client):
    page = staff_client.get("/workbench/").content.decode()
    assert "Help manufacturers design products you want" in page
    assert "Office chair" in page and "Lumbar support" in page  # labels, not codes
    assert "product feature" in page and "age band" in page
    assert "average rating" in page  # a measure in words
    assert "ε 20 of your 20 for" in page.replace("20.0000", "20")


def test_the_catalogue_speaks_chinese_to_a_chinese_browser(staff):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    client.force_login(staff)
    page = client.get("/workbench/").content.decode()
    assert "办公椅" in page and "腰部支撑" in page
    assert "你可以问什么" in page


# --- Plan for free, then run -----------------------------------------------------------------


def test_planning_spends_nothing_and_shows_cells_precision_cost_and_budget_after(staff_client, seeded):
    response = staff_client.post("/workbench/ask/", REPORT_FORM | {"action": "plan"})
    assert response.status_code == 200
    plan = response.context["plan"]
    assert plan.cells == 7 + 6 and [row.cells for row in plan.rows] == [7, 6]
    assert all(Decimal(row.half_width) > 0 for row in plan.rows)
    assert plan.epsilon == "0.5" and plan.allocation_after == "19.5" and plan.affordable
    page = response.content.decode()
    assert "± per cell" in page and "ε 19.5" in page
    assert not Release.objects.exists()
    assert Allocation.objects.get(manufacturer=seeded.manufacturer.obj, purpose_code=PRODUCT).spent == 0


def test_the_plan_json_follows_the_inputs(staff_client):
    cheap = staff_client.post("/workbench/ask/plan.json", REPORT_FORM | {"epsilon": "0.2"}).json()
    dear = staff_client.post("/workbench/ask/plan.json", REPORT_FORM | {"epsilon": "1"}).json()
    assert cheap["ok"] and dear["ok"]
    assert Decimal(cheap["plan"]["tables"][0]["half_width"]) > Decimal(dear["plan"]["tables"][0]["half_width"])
    assert cheap["plan"]["budget_after"]["allocation_remaining_after"] == "19.8"
    assert "± per cell" in cheap["html"]
    # Accuracy first: the least ε that gives ±30 per cell.
    first = staff_client.post(
        "/workbench/ask/plan.json",
        {
            "kind": "release",
            "purpose": PRODUCT,
            "measure": "consumers",
            "dimensions": ["attribute"],
            "category": CHAIR,
            "spend": "accuracy",
            "half_width": "30",
        },
    ).json()
    assert first["plan"]["tables"][0]["half_width"] == "30" and Decimal(first["plan"]["cost"]["epsilon"]) > 0


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"epsilon": "abc"}, "epsilon", "The privacy cost ε was not accepted"),
        ({"epsilon": "9"}, "epsilon", "more than this purpose allows per question: at most ε 1."),
        ({"tables": []}, "tables", "Tick at least one table."),
        ({"spend": "accuracy", "half_width": "-3"}, "half_width", "The precision ± was not accepted"),
    ],
)
def test_bad_inputs_are_named_on_the_form_and_nothing_is_spent(staff_client, change, field, words):
    response = staff_client.post("/workbench/ask/", REPORT_FORM | change | {"action": "run"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert not Release.objects.exists()
    answer = staff_client.post("/workbench/ask/plan.json", REPORT_FORM | change)
    assert answer.status_code == 400 and field in answer.json()["errors"]


def test_a_leftover_choice_from_another_purpose_falls_back_instead_of_failing(staff_client):
    # top_k is not a report measure, "week" no table, a purpose that does not exist is not chosen.
    response = staff_client.post(
        "/workbench/ask/", REPORT_FORM | {"measure": "top_k", "tables": ["week", "attribute"], "purpose": "nope", "action": "plan"}
    )
    assert response.status_code == 200
    assert response.context["form"].cleaned_data["measure"] == "consumers"
    assert response.context["form"].cleaned_data["tables"] == ["attribute"]


def test_run_queues_through_the_request_service_and_the_answer_is_shown_and_downloadable(
    staff_client, staff, seeded, django_capture_on_commit_callbacks
):
    response = run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    job = Release.objects.get()
    assert response["Location"] == f"/workbench/jobs/{job.id}/"
    assert job.kind == "report" and job.epsilon == Decimal("0.5") and job.status == "done"
    requested = AuditEvent.objects.get(action=AuditAction.RELEASE_REQUESTED)
    assert requested.actor_kind == "manufacturer" and requested.actor_id == f"{seeded.manufacturer.slug}/staff:{staff.pk}"

    page = staff_client.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "product feature" in text and "Lumbar support" in text and "± per cell" not in text
    assert "ε = 0.5 with δ = 1e-07" in text
    assert "Reach: about" in text and "privacy limit" in text
    tables = page.context["tables"]
    assert [len(t.rows) for t in tables] == [7, 6]
    # A chart per table (bars with 95% error bars), drawn as inline SVG with its title.
    assert text.count("<svg") >= 2 and 'role="img"' in text and all(t.chart and "Lumbar support" in str(t.chart.svg) for t in tables[:1])
    row = tables[0].rows[0]
    assert Decimal(row.low) == Decimal(row.value) - Decimal(row.half_width)

    csv = staff_client.get(f"/workbench/jobs/{job.id}.csv")
    assert csv["Content-Type"].startswith("text/csv") and "attachment" in csv["Content-Disposition"]
    assert csv.content.startswith(b"\xef\xbb\xbf")
    lines = csv.content.decode("utf-8-sig").splitlines()
    # The same table as the API's ?format=csv: codes and labels side by side.
    assert lines[0] == "table,category,category_label,attribute,attribute_label,age_band,age_band_label,value,half_width,lower,upper"
    assert len(lines) == 1 + 7 + 6 and "lumbar-support,Lumbar support" in lines[1]

    signed = json.loads(staff_client.get(f"/workbench/jobs/{job.id}.json").content)
    assert signed == job.result
    assert verify_signature(public_key_raw=public_key_for(signed["key_id"]), document=signed["payload"], signature_b64=signed["signature"])


def test_the_same_question_twice_spends_once(staff_client, django_capture_on_commit_callbacks):
    run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    again = run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    assert again.status_code == 302 and Release.objects.count() == 1


def test_not_enough_budget_is_refused_with_409_and_nothing_queued(staff_client, seeded, django_capture_on_commit_callbacks):
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.budgets import budget_allocate

    budget_allocate(manufacturer_slug=seeded.manufacturer.slug, purpose_code=PRODUCT, epsilon="0.1", period=None, actor=Actor.operator())
    planned = staff_client.post("/workbench/ask/", REPORT_FORM | {"action": "plan"})
    assert not planned.context["plan"].affordable and "Not enough budget" in planned.content.decode()
    response = run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and "not enough budget" in response.content.decode().lower()
    assert not Release.objects.exists()


def test_a_trend_and_a_single_table_run_too(staff_client, django_capture_on_commit_callbacks):
    trend = run(
        staff_client,
        {
            "kind": "trend",
            "purpose": FORECAST,
            "measure": "signals",
            "category": CHAIR,
            "since": "2026-09-01",
            "until": "2026-11-30",
            "forecast_weeks": "4",
            "spend": "epsilon",
            "epsilon": "0.5",
        },
        django_capture_on_commit_callbacks,
    )
    assert trend.status_code == 302, trend.content.decode()[:2000]
    page = staff_client.get(trend["Location"])
    (series,) = page.context["tables"]
    assert sum(row.forecast for row in series.rows) == 4 and series.kind == "lines"
    assert series.chart is not None and "forecast" in str(series.chart.svg)
    single = run(
        staff_client,
        {
            "kind": "release",
            "purpose": PRODUCT,
            "measure": "mean_value",
            "dimensions": ["attribute"],
            "category": CHAIR,
            "spend": "epsilon",
            "epsilon": "0.4",
        },
        django_capture_on_commit_callbacks,
    )
    rows = staff_client.get(single["Location"]).context["tables"][0].rows
    assert len(rows) == 7 and all(Decimal("1") <= Decimal(row.low) <= Decimal(row.high) <= Decimal("5") for row in rows)


# --- Scoping -----------------------------------------------------------------------------------


def test_another_manufacturers_job_answers_404_and_the_attempt_is_audited(
    staff_client, seeded, make_manufacturer, make_staff, django_capture_on_commit_callbacks
):
    run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    job = Release.objects.get()
    other = make_manufacturer("sofaco", ["furniture"])
    outsider = Client(HTTP_ACCEPT_LANGUAGE="en")
    outsider.force_login(make_staff(other.slug, "olga"))
    for suffix in ("/", ".csv", ".json"):
        assert outsider.get(f"/workbench/jobs/{job.id}{suffix}").status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert outsider.get(f"/workbench/jobs/{missing}/").status_code == 404
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, details__reason="cross_party")
    assert denied.count() == 3
    assert job.manufacturer.slug not in outsider.get("/workbench/jobs/").content.decode()
    assert str(job.id) not in outsider.get("/workbench/jobs/").content.decode()
    assert str(job.id) in staff_client.get("/workbench/jobs/").content.decode()


def product_manufacturer(response):
    return response.wsgi_request.user.manufacturer_staff.manufacturer


MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def test_the_budget_page_shows_the_period_day_by_day(staff_client, django_capture_on_commit_callbacks):
    run(staff_client, REPORT_FORM, django_capture_on_commit_callbacks)
    response = staff_client.get("/workbench/budget/")
    assert response.status_code == 200
    product = next(p for p in response.context["purposes"] if p["row"]["purpose"] == PRODUCT)
    assert product["row"]["spent"] == "0.5000" and product["days"][-1]["spent"] == "0.5"
    assert "Used ε 0.5000 of 20.0000" in response.content.decode()
    # The month in words, not "2026-12".
    year, month = period_of().split("-")
    assert f"({MONTHS_EN[int(month) - 1]} {year})" in response.content.decode()
    assert f"({period_of()})" not in response.content.decode()
    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    chinese.force_login(response.wsgi_request.user)
    page = chinese.get("/workbench/budget/").content.decode()
    assert f"（{year}年{int(month)}月）" in page or f"({year}年{int(month)}月)" in page
    # An earlier month's row, in words too.
    Allocation.objects.create(manufacturer=product_manufacturer(response), purpose_code=PRODUCT, period="2025-03", allocated=Decimal("2"))
    earlier = staff_client.get("/workbench/budget/").content.decode()
    assert "<td>March 2025</td>" in earlier and "2025-03" not in earlier
    catalogue = staff_client.get("/workbench/").content.decode()
    assert f"{MONTHS_EN[int(month) - 1]} {year}" in catalogue and period_of() not in catalogue
    assert "<svg" in str(product["chart"].svg) and Decimal(product["chart"].table.rows[-1][-1]) == Decimal("0.5")


def test_unsafe_methods_and_unknown_jobs(staff_client):
    assert staff_client.post("/workbench/").status_code == 405
    assert staff_client.get("/workbench/ask/plan.json").status_code == 405
    assert staff_client.get("/workbench/jobs/not-a-uuid/").status_code == 404


def test_a_staff_session_is_no_key_to_the_json_api(staff_client):
    # The API key stays for programs: a workbench session is no manufacturer to the API.
    assert staff_client.get("/api/v1/catalog").status_code == 403
    assert staff_client.get("/api/v1/releases").status_code == 403


def test_staff_who_log_in_at_the_portal_are_sent_to_the_workbench(staff):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/login/", {"username": "erin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/workbench/"
    assert client.get("/").status_code == 302 and client.get("/")["Location"] == "/workbench/"


def test_the_plan_endpoint_needs_the_csrf_token(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post("/workbench/ask/plan.json", REPORT_FORM).status_code == 403
    assert client.post("/workbench/ask/", REPORT_FORM | {"action": "run"}).status_code == 403
    assert not Release.objects.exists()


def test_switching_kind_starts_the_new_kind_from_its_defaults(staff_client):
    # The report's page had no "split by" boxes; the single table starts from its default.
    switched = staff_client.post("/workbench/ask/", REPORT_FORM | {"kind": "release", "action": "plan"})
    assert switched.status_code == 200 and switched.context["form"].cleaned_data["dimensions"] == ["attribute"]
    # On the single table's own page, an empty choice stays empty: one total.
    kept = staff_client.post("/workbench/ask/", REPORT_FORM | {"kind": "release", "shown": f"release:{PRODUCT}", "action": "plan"})
    assert kept.context["form"].cleaned_data["dimensions"] == [] and kept.context["plan"].cells == 1


def test_a_noisy_reach_below_zero_reads_as_zero_people_and_the_share_stays_within_0_and_100():
    from clearinghouse.workbench.presentation import reach_words

    words = reach_words(
        {
            "reach": {
                "covered": {"value": -10, "half_width": 101},
                "left_out": {"value": 7, "half_width": 101},
                "covered_fraction": "-0.25",
            }
        }
    )
    assert "about 0 ± 101 of the eligible people" in words and "about 7 ± 101 were left out" in words
    assert "-10" not in words and "about 0% of them" in words
    over = reach_words(
        {"reach": {"covered": {"value": 120, "half_width": 3}, "left_out": {"value": -2, "half_width": 3}, "covered_fraction": "1.3"}}
    )
    assert "about 120 ± 3" in over and "about 0 ± 3 were left out" in over and "about 100% of them" in over
