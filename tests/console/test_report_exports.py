"""Issue 15 item 4: every report exports as CSV and as a signed JSON document that
tools/verify_report.py checks offline; the refusals report covers every refusal code
and refused logins; charts fit the chosen range."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_checkpoint_sign, audit_seal

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_report.py"
SLUGS = ("consent", "releases", "budget", "refusals", "retention", "requests")


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=officer.password)
    client.cookies["django_language"] = "en"
    return client


def verify(tmp_path, document, keys):
    (tmp_path / "report.json").write_text(json.dumps(document, ensure_ascii=False))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    return subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "report.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )


@pytest.mark.parametrize("slug", SLUGS)
def test_every_report_downloads_as_csv_and_signed_json(officer_client, purposes, consumer_a, platform_p, tmp_path, slug):
    from tests.conftest import grant_body

    consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    audit_seal()
    checkpoint, _ = audit_checkpoint_sign()
    page = officer_client.get(f"/compliance/reports/{slug}/").content.decode()
    assert f"/compliance/reports/{slug}/download.csv" in page and f"/compliance/reports/{slug}/download.json" in page

    response = officer_client.get(f"/compliance/reports/{slug}/download.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"report-{slug}-" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] and all(rows[0])

    document = json.loads(officer_client.get(f"/compliance/reports/{slug}/download.json").content)
    payload = document["payload"]
    assert payload["schema"] == "clearinghouse-report/1" and payload["report"] == slug
    assert payload["columns"] == rows[0] and len(payload["rows"]) == len(rows) - 1
    assert payload["log"]["checkpoint"] == {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash}
    keys = APIClient().get("/api/v1/keys").json()
    good = verify(tmp_path, document, keys)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "valid: signed by" in good.stdout and f"report {slug}" in good.stdout

    forged = json.loads(json.dumps(document))
    forged["payload"]["rows"].append(forged["payload"]["columns"])
    bad = verify(tmp_path, forged, keys)
    assert bad.returncode == 1 and "does not match" in bad.stdout
    other_key = verify(tmp_path, document, {"keys": [dict(k, use="releases") if k["use"] == "reports" else k for k in keys["keys"]]})
    assert other_key.returncode == 1 and "not for reports" in other_key.stdout

    exported = AuditEvent.objects.filter(action="report.exported", target=f"report:{slug}").order_by("id")
    assert [event.details["format"] for event in exported] == ["csv", "signed_json"]


def test_consent_csv_has_one_row_per_purpose_and_day(officer_client, purposes, consumer_a, platform_p):
    from django.utils import timezone

    from tests.conftest import grant_body

    consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    audit_seal()
    today = timezone.localdate()
    response = officer_client.get(f"/compliance/reports/consent/download.csv?since={today}&until={today}")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["purpose", "bucket", "granted", "withdrawn", "expired"],
        ["c2m-product-design", today.strftime("%m-%d"), "1", "0", "0"],
    ]


def test_a_bad_period_on_a_download_is_a_400(officer_client, db):
    assert officer_client.get("/compliance/reports/consent/download.csv?since=banana").status_code == 400
    assert officer_client.get("/compliance/reports/nope/download.csv").status_code == 404
    assert not AuditEvent.objects.filter(action="report.exported").exists()


def test_downloads_are_for_officers_only(client, consumer_a):
    client.login(username=consumer_a.username, password=consumer_a.password)
    assert client.get("/compliance/reports/budget/download.json").status_code == 403


def test_refusals_cover_unknown_subjects_and_refused_logins(officer_client, purposes, platform_p, client):
    from django.test import Client

    # A platform sends a signal for a subject nobody linked: refused as unknown_subject.
    from tests.intake.conftest import design_item, submit

    response = submit(platform_p, [design_item("e1", "nobody-linked")])
    assert response.status_code == 200, response.content
    assert response.json()["rejected"][0]["code"] == "unknown_subject"
    # Someone fails to log in to the portal, twice.
    stranger = Client()
    for _ in range(2):
        stranger.post(reverse("portal:login"), {"username": "officer", "password": "not-the-password"})
    audit_seal()
    page = officer_client.get("/compliance/reports/refusals/").content.decode()
    table = page[page.index("Refusals by code") :]

    def count(kind: str, code: str) -> int:
        row = next(r for r in table.split("<tr>") if f"<td>{kind}</td><td><code>{code}</code></td>" in r)
        return int(row.split("<td>")[-1].split("</td>")[0])

    assert count("Signals refused at intake", "unknown_subject") == 1
    assert count("Portal logins refused", "invalid_credentials") == 2
    assert count("Signals refused at intake", "consent_required") == 0  # listed at zero
    for kind in (
        "Releases refused",
        "Consent changes refused",
        "Link codes refused",
        "API tokens refused",
        "Cross-platform access blocked",
    ):
        assert kind in table


def test_charts_fit_the_chosen_range_and_their_text_stays_readable(officer_client, purposes):
    import re

    week = officer_client.get("/compliance/reports/refusals/?since=2026-11-01&until=2026-11-07").content.decode()
    # Seven days, one label each; the labels are the chosen days.
    labels = re.findall(r'text-anchor="middle" fill="#4a4f55">(\d\d-\d\d)</text>', week)
    assert labels == [f"11-0{day}" for day in range(1, 8)]
    assert '<th scope="row">11-07</th>' in week  # and the table has every day
    year = officer_client.get("/compliance/reports/refusals/?since=2025-12-01&until=2026-11-30").content.decode()
    labels = re.findall(r'text-anchor="middle" fill="#4a4f55">(\d{4}-\d\d-\d\d)</text>', year)
    assert 4 <= len(labels) <= 20 and labels[0] == "2025-12-01"  # weekly buckets, only as many labels as fit
    sizes = {int(size) for size in re.findall(r'font-size="(\d+)px"', week + year)}
    assert sizes and min(sizes) >= 16
    assert "Last 7 days" in week and "Last 12 months" in week


def test_a_report_with_nothing_in_its_range_still_names_its_chart(officer_client, purposes):
    page = officer_client.get("/compliance/reports/requests/?since=2026-11-01&until=2026-11-07").content.decode()
    assert 'role="img"' in page and '<th scope="row">11-01</th>' in page
