"""The compliance API over the audit log and its public part for outside auditors."""

import json

import pytest
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_checkpoint_sign
from tests.audit.conftest import make_events

COMPLIANCE_ONLY = [
    "/api/v1/audit/events",
    "/api/v1/audit/events/1",
    "/api/v1/audit/verify",
    "/api/v1/audit/export",
    "/api/v1/audit/proofs/inclusion?seq=1",
]
PUBLIC = [
    "/api/v1/audit/checkpoints",
    "/api/v1/audit/checkpoints/latest",
    "/api/v1/audit/proofs/consistency?first=1&second=3",
]


def test_officer_browser_session_reaches_the_api(db, officer, client):
    make_events(1)
    client.login(username=officer.username, password=officer.password)
    assert client.get("/api/v1/audit/events").status_code == 200


def test_events_filter_and_paginate_newest_first(db, officer):
    make_events(5, action="test.alpha")
    make_events(3, action="test.beta", outcome="denied")
    make_events(4, action="release.refused", actor_kind="manufacturer", outcome="denied")
    api = officer.client()
    page = api.get("/api/v1/audit/events?outcome=denied&page_size=4").json()
    last_refused = AuditEvent.objects.filter(action="release.refused").order_by("-seq").first().seq
    assert [row["seq"] for row in page["results"]] == [last_refused - n for n in range(4)]
    assert page["next"] and page["previous"] is None
    older = api.get(page["next"]).json()
    assert [row["action"] for row in older["results"]] == ["test.beta"] * 3
    assert older["next"] is None and older["previous"]
    newer = api.get(older["previous"]).json()
    assert [row["seq"] for row in newer["results"]] == [row["seq"] for row in page["results"]]
    assert len(api.get("/api/v1/audit/events?action_prefix=release.").json()["results"]) == 4
    assert len(api.get("/api/v1/audit/events?actor_kind=manufacturer&action=release.refused").json()["results"]) == 4
    assert api.get("/api/v1/audit/events?since=2000-01-01&until=2000-01-02").json()["results"] == []


def test_until_a_date_includes_today(db, officer):
    from django.utils import timezone

    make_events(3, action="test.today")
    today = timezone.localdate().isoformat()
    api = officer.client()
    for query in (f"until={today}", f"since={today}&until={today}"):
        rows = api.get(f"/api/v1/audit/events?action=test.today&{query}").json()["results"]
        assert len(rows) == 3, query
    exported = b"".join(api.get(f"/api/v1/audit/export?action=test.today&until={today}").streaming_content).decode().splitlines()
    assert len(exported) == 3


def test_filter_dates_are_whole_days_in_the_console_time_zone(db, officer, monkeypatch):
    """Dates are days in settings.TIME_ZONE (Asia/Shanghai, UTC+8), the zone the console
    shows times in and the reports count days in, whether typed in the API or the console."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    shanghai = ZoneInfo("Asia/Shanghai")
    for name, moment in [
        ("test.early", datetime(2026, 11, 27, 0, 5, tzinfo=shanghai)),  # 2026-11-26 16:05 UTC
        ("test.late", datetime(2026, 11, 27, 23, 55, tzinfo=shanghai)),
        ("test.next", datetime(2026, 11, 28, 0, 5, tzinfo=shanghai)),  # 2026-11-27 16:05 UTC
    ]:
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        make_events(1, action=name)
    monkeypatch.undo()
    api = officer.client()

    def actions(query):
        return sorted(row["action"] for row in api.get(f"/api/v1/audit/events?action_prefix=test.&{query}").json()["results"])

    assert actions("until=2026-11-27") == ["test.early", "test.late"]
    assert actions("since=2026-11-27&until=2026-11-27") == ["test.early", "test.late"]
    assert actions("since=2026-11-28") == ["test.next"]
    assert actions("until=2026-11-26") == []
    assert actions("until=2026-11-27T12:00") == ["test.early"]  # a time without offset: Shanghai too
    assert actions("since=2026-11-27T16:00:00Z") == ["test.next"]  # an explicit offset is kept
    lines = b"".join(api.get("/api/v1/audit/export?action_prefix=test.&since=2026-11-27&until=2026-11-27").streaming_content).decode()
    assert [json.loads(line)["action"] for line in lines.splitlines()] == ["test.early", "test.late"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("outcome=maybe", "outcome"),
        ("actor_kind=robot", "actor_kind"),
        ("since=yesterday", "since"),
        ("since=2026-02-01&until=2026-01-01", "until"),
        ("page_size=0", "page_size"),
        ("page_size=5000", "page_size"),
        ("before=-3", "before"),
        ("action=" + "x" * 65, "action"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(db, officer, query, field):
    response = officer.client().get(f"/api/v1/audit/events?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == field


def test_event_detail_and_missing_event(db, officer):
    make_events(2)
    api = officer.client()
    body = api.get("/api/v1/audit/events/2").json()
    assert body["seq"] == 2 and len(body["hash"]) == 64 and body["prev_hash"] == api.get("/api/v1/audit/events/1").json()["hash"]
    assert api.get("/api/v1/audit/events/99").status_code == 404


def test_verify_reports_the_spec_fields_and_is_recorded(db, officer):
    make_events(4)
    audit_checkpoint_sign()
    body = officer.client().get("/api/v1/audit/verify").json()
    assert body["ok"] is True and body["first_bad_seq"] is None
    assert body["checked"] >= 4 and body["head_seq"] == body["checked"] and body["checkpoints_checked"] == 1
    assert AuditEvent.objects.filter(action="audit.verified", actor_kind="compliance").exists()


def test_export_is_json_lines_that_the_offline_verifier_accepts(db, officer, offline, tmp_path):
    from clearinghouse.core.crypto import published_keys

    make_events(40)
    checkpoint, _ = audit_checkpoint_sign()
    response = officer.client().get(f"/api/v1/audit/export?tree_size={checkpoint.tree_size}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert f"audit-log-1-{checkpoint.tree_size}.jsonl" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == checkpoint.tree_size
    summary = offline.verify_log(lines, [checkpoint.envelope()], offline.load_keys({"keys": published_keys()}))
    assert summary["events"] == checkpoint.tree_size and summary["checkpoints_verified"] == 1
    assert AuditEvent.objects.filter(action="audit.exported", details__upto_seq=checkpoint.tree_size).exists()


def test_filtered_export_and_bad_tree_size(db, officer):
    make_events(3, action="test.alpha")
    make_events(2, action="test.beta")
    api = officer.client()
    lines = b"".join(api.get("/api/v1/audit/export?action=test.beta").streaming_content).decode().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["test.beta", "test.beta"]
    response = api.get("/api/v1/audit/export?tree_size=500")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "tree_size"


def test_checkpoints_latest_and_list(db):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/audit/checkpoints/latest").status_code == 404
    make_events(3)
    first, _ = audit_checkpoint_sign()
    make_events(2)
    second, _ = audit_checkpoint_sign()
    assert anonymous.get("/api/v1/audit/checkpoints/latest").json() == second.envelope()
    listed = anonymous.get("/api/v1/audit/checkpoints").json()["results"]
    assert [item["payload"]["tree_size"] for item in listed] == [second.tree_size, first.tree_size]
    assert anonymous.get(f"/api/v1/audit/checkpoints?tree_size={first.tree_size}").json()["results"][0]["id"] == first.pk


def test_signing_twice_without_growth_reuses_the_checkpoint(db):
    make_events(3)
    first, created = audit_checkpoint_sign()
    again, created_again = audit_checkpoint_sign()
    assert created and not created_again and again.pk == first.pk
    forced, created_forced = audit_checkpoint_sign(force=True)
    assert created_forced and forced.pk != first.pk and forced.root_hash == first.root_hash


def test_inclusion_and_consistency_proofs_verify_offline(db, officer, offline):
    from clearinghouse.core.crypto import published_keys

    keys = offline.load_keys({"keys": published_keys()})
    make_events(300)
    old, _ = audit_checkpoint_sign()
    make_events(30)
    new, _ = audit_checkpoint_sign()
    api = officer.client()
    for seq in (1, 150, 257, old.tree_size, new.tree_size):
        proof = api.get(f"/api/v1/audit/proofs/inclusion?seq={seq}").json()
        assert proof["tree_size"] == new.tree_size and proof["checkpoint"] == new.envelope()
        event = api.get(f"/api/v1/audit/events/{seq}").json()
        assert offline.verify_inclusion_proof(proof, None, keys, event)["seq"] == seq
    older_proof = api.get(f"/api/v1/audit/proofs/inclusion?seq=5&tree_size={old.tree_size}").json()
    assert older_proof["checkpoint"] == old.envelope()
    offline.verify_inclusion_proof(older_proof, old.envelope(), keys)
    consistency = APIClient().get(f"/api/v1/audit/proofs/consistency?first={old.tree_size}&second={new.tree_size}").json()
    assert offline.verify_consistency_proof(consistency, old.envelope(), new.envelope(), keys)["first"] == old.tree_size


@pytest.mark.parametrize(
    "url, status, field",
    [
        ("/api/v1/audit/proofs/inclusion", 400, "seq"),
        ("/api/v1/audit/proofs/inclusion?seq=abc", 400, "seq"),
        ("/api/v1/audit/proofs/inclusion?seq=3&tree_size=2", 400, "seq"),
        ("/api/v1/audit/proofs/inclusion?seq=1&tree_size=99", 404, "tree_size"),
        ("/api/v1/audit/proofs/consistency?first=2", 400, "second"),
        ("/api/v1/audit/proofs/consistency?first=3&second=2", 400, "second"),
        ("/api/v1/audit/proofs/consistency?first=0&second=2", 400, "first"),
        ("/api/v1/audit/proofs/consistency?first=1&second=99", 404, "second"),
    ],
)
def test_bad_proof_requests_name_the_field(db, officer, url, status, field):
    make_events(3)
    response = officer.client().get(url)
    assert response.status_code == status
    assert response.json()["error"]["details"]["field"] == field


def test_schema_documents_the_audit_endpoints(db):
    schema = APIClient().get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/audit/events",
        "/api/v1/audit/checkpoints/latest",
        "/api/v1/audit/proofs/inclusion",
        "/api/v1/audit/proofs/consistency",
    ):
        assert path in schema["paths"]
