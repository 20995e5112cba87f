"""Issue 15: the console's reports count every action the log records for them: the
consent chart shows consents the service ended (consent.expired: a lapse when a new
version needs new consent, or a retirement) as their own series, and the refusals report
every refusal, lockout and denied request."""

import csv
import io

import pytest
from django.db import transaction

from clearinghouse.audit.services import audit_record
from clearinghouse.consent.models import ConsentEvent
from clearinghouse.consent.services import consents_expire
from clearinghouse.console import reports
from clearinghouse.core.actors import Actor
from tests.conftest import grant_body


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=officer.password)
    client.cookies["django_language"] = "en"
    return client


def test_the_consent_chart_counts_consents_the_service_ended(officer_client, purposes, make_consumer, platform_p):
    design, other = purposes["c2m-product-design"], purposes["c2m-demand-forecast"]
    people = [make_consumer(f"person-{n}") for n in range(3)]
    for person in people:
        assert person.client().post("/api/v1/me/consents", grant_body(design, platform_p.slug), format="json").status_code == 201
    assert people[0].client().post("/api/v1/me/consents", grant_body(other, platform_p.slug), format="json").status_code == 201
    with transaction.atomic():
        # Three consents lapse with a new version of one purpose; one ends with the other's retirement.
        assert consents_expire(purpose=design, reason=ConsentEvent.PURPOSE_SUPERSEDED, actor=Actor.operator("tests"), by_version=2) == 3
        assert consents_expire(purpose=other, reason=ConsentEvent.PURPOSE_RETIRED, actor=Actor.operator("tests")) == 1

    period = reports.report_period_parse({})
    consent = reports.consent_report(period=period)
    assert consent[design.code].totals == {"granted": 3, "withdrawn": 0, "expired": 3, "lapsed": 3, "retired": 0}
    assert consent[other.code].totals == {"granted": 1, "withdrawn": 0, "expired": 1, "lapsed": 0, "retired": 1}
    assert sum(consent[design.code].series["expired"]) == 3

    page = officer_client.get("/compliance/reports/consent/").content.decode()
    assert "Ended by the service (lapsed or retired)" in page
    assert "3 ended by the service (3 lapsed with a new version, 0 retired)." in page
    rows = list(csv.DictReader(io.StringIO(officer_client.get("/compliance/reports/consent/download.csv").content.decode("utf-8-sig"))))
    assert set(rows[0]) == {"purpose", "bucket", "granted", "withdrawn", "expired"}
    assert sum(int(row["expired"]) for row in rows if row["purpose"] == design.code) == 3
    chinese = officer_client
    chinese.cookies["django_language"] = "zh-hans"
    assert "被服务终止 3 次" in chinese.get("/compliance/reports/consent/").content.decode()


def test_the_refusals_report_covers_every_refusal_the_log_records(officer_client, db):
    def emit(action, *, kind="anonymous", actor_id="", **details):
        audit_record(actor=Actor(kind=kind, id=actor_id), action=action, outcome="denied", details=details)

    emit("signup.refused", channel="portal", reason="username_taken")
    emit("auth.passkey_refused", step="login", reason="unknown_credential")
    emit("auth.token_refused", reason="no_api_role")
    emit("auth.token_refused", channel="api", reason="invalid_credentials")
    emit("auth.recovery_refused", channel="portal", reason="invalid_code")
    emit(
        "auth.password_change_refused",
        kind="consumer",
        actor_id="5b2c0a5e-0000-4000-8000-000000000001",
        channel="portal",
        reason="wrong_password",
    )
    emit("access.denied", reason="csrf", status=403, endpoint="/x", method="POST")
    emit("auth.locked", scope="address", channel="portal", seconds=900)

    chart = reports.refusals_report(period=reports.report_period_parse({}))
    assert chart.totals["signup"]["username_taken"] == 1
    assert chart.totals["passkey"] == {"unknown_credential": 1}
    assert chart.totals["token"] == {"invalid_credentials": 1, "throttled": 0, "no_api_role": 1}
    assert chart.totals["recovery"] == {"invalid_code": 1, "throttled": 0, "wrong_password": 1}
    assert chart.totals["access"] == {"csrf": 1} and chart.totals["lockout"] == {"username": 0, "address": 1}
    assert sum(chart.series["access"]) == 1
    page = officer_client.get("/compliance/reports/refusals/").content.decode()
    for words in ("Sign-ups refused", "Passkey sign-ins refused", "Requests denied (401, 403, CSRF)", "Lockouts"):
        assert words in page, words
