"""The compliance console's pages, through Django's test client (the browser tests in
tests/browser/test_compliance_console.py drive the same pages in Chromium)."""

import csv
import io
import json
import re

import pytest
from django.urls import reverse

from clearinghouse.audit import reasons
from clearinghouse.audit.models import AuditEvent, AuditVerificationRun
from clearinghouse.audit.services import audit_checkpoint_sign, audit_record
from clearinghouse.core.actors import Actor
from tests.audit.conftest import make_events
from tests.conftest import module_build, module_world, officer_make

PAGES = [
    "/compliance/",
    "/compliance/purposes/",
    "/compliance/audit/",
    "/compliance/verify/",
    "/compliance/auditor/",
    "/compliance/reports/",
    "/compliance/reports/consent/",
    "/compliance/reports/releases/",
    "/compliance/reports/budget/",
    "/compliance/reports/refusals/",
    "/compliance/reports/retention/",
    "/compliance/reports/requests/",
    "/compliance/processing-records/",
]


@pytest.fixture(scope="module")
def officer_of_module(module_db, django_db_blocker):
    """Every test here uses ``db``: the officer is made once for the module (tests/conftest.py's
    module_db), and each test that asks for one gets a copy of it."""
    with module_build(django_db_blocker):
        return officer_make()


@pytest.fixture
def officer(officer_of_module, db):
    return module_world(officer_of_module)


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=officer.password)
    return client


def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_people_are_sent_to_the_login_page(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


@pytest.mark.parametrize("url", PAGES)
def test_consumers_are_refused(client, consumer_a, url):
    client.login(username=consumer_a.username, password=consumer_a.password)
    response = client.get(url)
    assert response.status_code == 403
    assert "compliance" in response.content.decode().lower() or "合规" in response.content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_for_an_officer_in_both_languages(officer_client, purposes, url):
    make_events(3)
    zh = officer_client.get(url)
    assert zh.status_code == 200
    assert 'lang="zh-Hans"' in zh.content.decode()
    en = english(officer_client).get(url)
    assert en.status_code == 200 and 'lang="en"' in en.content.decode()
    assert "Content-Security-Policy" in en


def test_console_strings_are_translated(officer_client, db):
    chinese = officer_client.get("/compliance/").content.decode()
    assert "合规控制台" in chinese and "审计日志" in chinese
    english_page = english(officer_client).get("/compliance/").content.decode()
    assert "Compliance console" in english_page and "Audit log" in english_page


def test_logging_in_as_an_officer_lands_on_the_console(client, officer):
    response = client.post(reverse("portal:login"), {"username": officer.username, "password": officer.password})
    assert response.status_code == 302 and response["Location"] == "/compliance/"


# --- Purposes -------------------------------------------------------------------------------------


@pytest.fixture
def draft(db):
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish

    document = purpose_file_read("clearinghouse/consent/purposes/c2m-demand-forecast.json")
    purpose, _ = purpose_publish(document=document, actor=Actor.operator())
    return purpose


def test_approval_needs_an_impact_assessment_and_records_who_and_when(officer_client, officer, draft):
    url = f"/compliance/purposes/{draft.code}/{draft.version}/"
    english(officer_client)
    refused = officer_client.post(url, {"action": "approve", "impact_assessment": "too short"})
    assert refused.status_code == 400
    assert "impact assessment summary of at least 20 characters" in refused.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"
    summary = "Aggregates only, per-consumer epsilon cap 2.0, no raw signals leave; risk of re-identification assessed as low."
    approved = officer_client.post(url, {"action": "approve", "impact_assessment": summary}, follow=True)
    assert approved.status_code == 200
    draft.refresh_from_db()
    assert draft.status == "approved" and draft.impact_assessment == summary
    assert draft.approved_by == f"officer:{officer.consumer.pk}" and draft.approved_at is not None
    page = approved.content.decode()
    assert "Approved c2m-demand-forecast version 1" in page and officer.username in page and summary in page
    event = AuditEvent.objects.get(action="purpose.approved")
    assert event.actor_kind == "compliance" and event.actor_id == f"officer:{officer.consumer.pk}"


def test_retiring_needs_confirmation(officer_client, purposes):
    purpose = purposes["c2m-product-design"]
    url = f"/compliance/purposes/{purpose.code}/{purpose.version}/"
    assert english(officer_client).post(url, {"action": "retire"}).status_code == 400
    purpose.refresh_from_db()
    assert purpose.status == "approved"
    officer_client.post(url, {"action": "retire", "confirm": "yes"})
    purpose.refresh_from_db()
    assert purpose.status == "retired" and purpose.retired_at is not None
    assert officer_client.post(url, {"action": "retire", "confirm": "yes"}).status_code == 400  # already retired


def test_purpose_page_says_why_the_processing_is_legitimate_and_names_the_lawful_basis_in_words(officer_client, purposes):
    purpose = purposes["c2m-product-design"]
    url = f"/compliance/purposes/{purpose.code}/{purpose.version}/"
    chinese = officer_client.get(url).content.decode()
    assert "<dt>处理目的的正当性</dt><dd>" + purpose.legitimate_interest["zh-hans"] in chinese
    assert "正当利益" not in chinese  # PIPL knows no legitimate-interest basis
    assert "<dt>合法性基础</dt><dd>取得个人的同意（《个人信息保护法》第十三条第一款第（一）项）</dd>" in chinese
    english_page = english(officer_client).get(url).content.decode()
    assert "<dt>Why this processing is legitimate</dt><dd>" + purpose.legitimate_interest["en"] in english_page
    assert "Legitimate interest" not in english_page
    assert "<dt>Lawful basis</dt><dd>Consent of the individual (PIPL Art. 13(1)(1))</dd>" in english_page


def test_unknown_purpose_is_404(officer_client, db):
    assert officer_client.get("/compliance/purposes/nope/1/").status_code == 404


def test_purpose_pages_are_read_only_for_get(officer_client, draft):
    officer_client.get(f"/compliance/purposes/{draft.code}/{draft.version}/")
    draft.refresh_from_db()
    assert draft.status == "draft"


# --- The audit browser ----------------------------------------------------------------------------


def test_audit_browser_filters_paginates_and_links_to_events(officer_client, db):
    make_events(60, action="test.alpha")
    make_events(3, action="test.beta", outcome="denied")
    page = english(officer_client).get("/compliance/audit/").content.decode()
    newest = AuditEvent.objects.order_by("-seq").first().seq
    assert f'href="/compliance/audit/{newest}/"' in page
    assert "Older" in page and "Newer" not in page
    older = officer_client.get(f"/compliance/audit/?before={newest - 49}").content.decode()
    assert "Newer" in older
    denied = officer_client.get("/compliance/audit/?outcome=denied").content.decode()
    assert denied.count("<code>test.beta</code>") == 3 and "test.alpha" not in denied
    assert "/api/v1/audit/export?outcome=denied" in denied


def test_audit_browser_from_and_until_today_shows_todays_events(officer_client, db):
    from django.utils import timezone

    make_events(4, action="test.today")
    today = timezone.localdate().isoformat()
    page = english(officer_client).get(f"/compliance/audit/?since={today}&until={today}").content.decode()
    assert "No events match" not in page
    assert page.count("<code>test.today</code>") == 4
    assert "Asia/Shanghai" in page  # the zone the dates are read in is stated


def test_audit_browser_names_a_bad_filter(officer_client, db):
    response = english(officer_client).get("/compliance/audit/?since=yesterday")
    assert response.status_code == 400
    assert "since: expected a date" in response.content.decode()


def test_filter_errors_are_in_the_pages_language(officer_client, db):
    chinese = officer_client.get("/compliance/audit/?since=2026-02-01&until=2026-01-01")
    assert chinese.status_code == 400
    page = chinese.content.decode()
    assert "“止”的日期不能早于“起”的日期。" in page and "must not be before" not in page
    assert "“起”：请填写日期" in officer_client.get("/compliance/audit/?since=yesterday").content.decode()
    report = officer_client.get("/compliance/reports/consent/?since=2026-02-01&until=2026-01-01").content.decode()
    assert "“止”的日期不能早于“起”的日期。" in report and "must not be before" not in report
    assert "最多涵盖 1098 天" in officer_client.get("/compliance/reports/consent/?since=2010-01-01&until=2026-01-01").content.decode()
    english_page = english(officer_client).get("/compliance/audit/?since=2026-02-01&until=2026-01-01").content.decode()
    assert "until: must not be before since" in english_page
    # The API keeps its English message.
    api = officer_client.get("/api/v1/audit/events?since=2026-02-01&until=2026-01-01", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert api.json()["error"]["message"] == "until: must not be before since"


def test_event_page_and_its_inclusion_proof(officer_client, offline, db):
    from clearinghouse.core.crypto import published_keys

    make_events(10)
    checkpoint, _ = audit_checkpoint_sign()
    page = english(officer_client).get("/compliance/audit/4/").content.decode()
    event = AuditEvent.objects.get(seq=4)
    assert event.hash in page and event.leaf_hash in page and "/compliance/audit/4/proof.json" in page
    proof = json.loads(officer_client.get("/compliance/audit/4/proof.json").content)
    keys = offline.load_keys({"keys": published_keys()})
    assert offline.verify_inclusion_proof(proof, checkpoint.envelope(), keys)["seq"] == 4
    assert officer_client.get("/compliance/audit/999/").status_code == 404


# --- Verification ---------------------------------------------------------------------------------------


def test_verify_button_runs_the_verification_and_shows_the_result(officer_client, officer, db, django_capture_on_commit_callbacks):
    make_events(5)
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post("/compliance/verify/")
    run = AuditVerificationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/compliance/verify/{run.pk}/"
    assert run.status == "done" and run.result["ok"] and run.result["checked"] >= 5
    page = english(officer_client).get(response["Location"]).content.decode()
    assert "The log is intact" in page
    assert AuditEvent.objects.filter(action="audit.verified", actor_id=f"officer:{officer.consumer.pk}").exists()


@pytest.mark.postgres
def test_verify_button_names_the_break(officer_client, db, django_capture_on_commit_callbacks):
    from tests.audit.test_verify import tamper

    make_events(5)
    tamper("UPDATE audit_auditevent SET target = 'forged' WHERE seq = 3")
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post("/compliance/verify/")
    page = english(officer_client).get(response["Location"]).content.decode()
    assert "The log is BROKEN at event 3." in page


def broken_run(template: str, params: dict, **result) -> AuditVerificationRun:
    """A finished run as the task stores it: audit_chain_verify().as_dict()."""
    from django.utils import timezone

    document = {
        "ok": False,
        "checked": 499,
        "head_seq": 499,
        "head_hash": None,
        "first_bad_seq": 499,
        "reason": template % params,
        "reason_template": template,
        "reason_params": params,
        "root_hash": None,
        "tree_size": 499,
        "checkpoints_checked": 2,
        "bad_checkpoint": 3,
        "pending": 0,
        "seconds": 0.2,
    } | result
    now = timezone.now()
    return AuditVerificationRun.objects.create(requested_by="officer:1", requested_at=now, finished_at=now, status="done", result=document)


def test_a_broken_verification_shows_no_missing_hash_and_its_reason_in_chinese(officer_client, db):
    run = broken_run(reasons.CHECKPOINT_BAD_SIGNATURE, {"checkpoint": 3, "size": 499})
    page = officer_client.get(f"/compliance/verify/{run.pk}/").content.decode()
    assert "None" not in page
    assert "<dt>链头</dt><dd>#499</dd>" in page
    assert "检查点 #3（499 个事件）的签名无效" in page and "invalid signature" not in page
    english_page = english(officer_client).get(f"/compliance/verify/{run.pk}/").content.decode()
    assert "<dt>Head</dt><dd>#499</dd>" in english_page and "checkpoint #3 (size 499) has an invalid signature" in english_page


VERIFY_REASONS_IN_CHINESE = [
    (reasons.SEQUENCE_MISSING, {"seq": 12}, "序号 12 的事件缺失"),
    (reasons.CONTENT_MISMATCH, {}, "事件内容与其叶哈希不符"),
    (reasons.LINK_MISMATCH, {}, "与前一事件的哈希链接不符"),
    (reasons.CHAIN_MISMATCH, {}, "链哈希不符"),
    (reasons.SUBTREE_MISSING_PROOFS, {"level": 8, "index": 1, "seq": 257}, "存储的子树哈希（第 8 层，索引 1）缺失；从序号 257 起"),
    (reasons.SUBTREE_MISSING, {"level": 16, "index": 0}, "存储的子树哈希（第 16 层，索引 0）缺失"),
    (reasons.SUBTREE_MISMATCH, {"level": 8, "index": 0}, "（第 8 层，索引 0）与其覆盖的事件不符"),
    (
        reasons.CHECKPOINT_OTHER_LOG,
        {"checkpoint": 2, "named": "00000000-0000-0000-0000-000000000000", "log": "b33b991a-1111-4222-8333-444455556666"},
        "检查点 #2 属于日志 00000000-0000-0000-0000-000000000000，而不是本日志",
    ),
    (
        reasons.CHECKPOINT_UNKNOWN_KEY,
        {"checkpoint": 2, "key": "ed25519:0000000000000000"},
        "检查点 #2 由未知密钥 ed25519:0000000000000000 签名",
    ),
    (reasons.CHECKPOINT_BAD_SIGNATURE, {"checkpoint": 2, "size": 40}, "检查点 #2（40 个事件）的签名无效"),
    (reasons.CHECKPOINT_ROOT_MISMATCH, {"checkpoint": 2, "size": 40}, "检查点 #2 的根哈希与日志前 40 个事件不符"),
    (reasons.CHECKPOINT_BEYOND_HEAD, {"checkpoint": 2, "size": 12, "head": 10}, "担保了 12 个事件，但日志中只有 10 个：有事件被删除"),
    (reasons.NODE_COUNT_MISMATCH, {"stored": 3, "expected": 4}, "树中存储了 3 个子树哈希，应为 4 个"),
    (reasons.CHECKPOINT_SHRANK, {"newer": 5, "older": 4}, "检查点 #5 小于更早签署的检查点 #4：日志缩短了"),
    (
        reasons.CHECKPOINTS_INCONSISTENT,
        {"older": 4, "newer": 5, "detail": "the proof is empty"},
        "检查点 #4 与检查点 #5 不一致：the proof is empty",
    ),
]


def test_every_verification_reason_has_a_chinese_case():
    assert {template for template, _params, _chinese in VERIFY_REASONS_IN_CHINESE} == reasons.TEMPLATES


@pytest.mark.parametrize("template, params, chinese", VERIFY_REASONS_IN_CHINESE)
def test_every_verification_reason_reads_in_chinese(officer_client, db, template, params, chinese):
    run = broken_run(template, params)
    page = officer_client.get(f"/compliance/verify/{run.pk}/").content.decode()
    assert chinese in page


def test_a_run_stored_without_a_reason_template_shows_its_text(officer_client, db):
    run = broken_run(reasons.CHAIN_MISMATCH, {}, reason_template="", reason_params={})
    assert "chain hash does not match" in officer_client.get(f"/compliance/verify/{run.pk}/").content.decode()


@pytest.mark.postgres
def test_a_forged_checkpoint_signature_reads_in_chinese_and_the_api_keeps_the_english_reason(
    officer_client, officer, db, django_capture_on_commit_callbacks
):
    from tests.audit.test_verify import tamper

    make_events(6)
    checkpoint, _ = audit_checkpoint_sign()
    tamper("UPDATE audit_auditcheckpoint SET signature = %s", ["A" * 86 + "=="])
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post("/compliance/verify/")
    page = officer_client.get(response["Location"]).content.decode()
    assert f"检查点 #{checkpoint.pk}（{checkpoint.tree_size} 个事件）的签名无效" in page and "None" not in page
    body = officer.client().get("/api/v1/audit/verify").json()
    assert body["reason"] == f"checkpoint #{checkpoint.pk} (size {checkpoint.tree_size}) has an invalid signature"


def test_a_verification_task_delivered_twice_runs_once(db):
    from clearinghouse.audit.services import audit_verification_run

    run = AuditVerificationRun.objects.create(requested_by="officer:1", requested_at="2026-01-01T00:00:00Z")
    assert audit_verification_run(run_id=run.pk) is not None
    assert audit_verification_run(run_id=run.pk) is None
    assert AuditEvent.objects.filter(action="audit.verified").count() == 1


# --- Auditor hand-over ---------------------------------------------------------------------------------------


def test_auditor_page_offers_checkpoint_export_and_keys(officer_client, offline, db):
    from clearinghouse.core.crypto import published_keys

    make_events(7)
    english(officer_client).post("/compliance/auditor/sign/")
    checkpoint = audit_checkpoint_sign()[0]
    page = officer_client.get("/compliance/auditor/").content.decode()
    assert f"/api/v1/audit/export?tree_size={checkpoint.tree_size}" in page
    # The command as the README gives it: `python` is Python 2, or nothing, on many systems.
    assert f"<pre>python3 tools/audit_verify.py log --export audit-log-1-{checkpoint.tree_size}.jsonl" in page
    downloaded = json.loads(officer_client.get(f"/compliance/auditor/checkpoints/{checkpoint.pk}.json").content)
    export = b"".join(officer_client.get(f"/api/v1/audit/export?tree_size={checkpoint.tree_size}").streaming_content).decode().splitlines()
    summary = offline.verify_log(export, [downloaded], offline.load_keys({"keys": published_keys()}))
    assert summary["events"] == checkpoint.tree_size


# --- Reports ------------------------------------------------------------------------------------------------


def emit(action, *, actor_kind="system", actor_id="tests", target="", outcome="ok", **details):
    audit_record(actor=Actor(kind=actor_kind, id=actor_id), action=action, target=target, outcome=outcome, details=details)


def test_reports_count_what_the_log_holds(officer_client, purposes, db):
    subject = "5b2c0a5e-0000-4000-8000-000000000001"
    for _ in range(3):
        emit(
            "consent.granted", actor_kind="consumer", actor_id=subject, target="purpose:c2m-product-design@platform:shop-p", subject=subject
        )
    emit("consent.withdrawn", actor_kind="consumer", actor_id=subject, target="purpose:c2m-product-design@platform:shop-p", subject=subject)
    emit(
        "intake.batch",
        actor_kind="platform",
        actor_id="shop-p",
        accepted=10,
        duplicates=0,
        rejected={"consent_required": 4, "not_necessary": 2},
    )
    emit("platform.cross_access_blocked", actor_kind="platform", actor_id="shop-q", outcome="denied", object="intake_batch", owner="shop-p")
    emit(
        "release.refused",
        actor_kind="manufacturer",
        actor_id="chairco",
        outcome="denied",
        code="budget_exhausted",
        purpose="c2m-product-design",
        epsilon="0.5",
    )
    emit("budget.allocated", manufacturer="chairco", purpose="c2m-product-design", period="2026-11", epsilon="3.0")
    emit(
        "budget.reserved",
        release_id="r1",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
        period="2026-11",
    )
    emit(
        "budget.reserved",
        release_id="r2",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
        period="2026-11",
    )
    emit(
        "budget.refunded",
        release_id="r2",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
        period="2026-11",
    )
    emit(
        "release.completed",
        target="release:r1",
        release_id="r1",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
    )
    emit("retention.purged", target="purpose:c2m-product-design@1", purpose="c2m-product-design", version=1, retention_days=180, signals=40)
    emit(
        "erasure.completed",
        target="platform:shop-p",
        reason="withdrawal",
        subject=subject,
        purpose="c2m-product-design",
        signals=7,
        latency_ms=850,
    )
    emit("export.completed", actor_kind="consumer", actor_id=subject, channel="portal")
    emit("consumer.erased", actor_kind="consumer", actor_id=subject, target=f"consumer:{subject}", channel="portal")
    english(officer_client)

    from clearinghouse.console import reports

    period = reports.report_period_parse({})
    consent = reports.consent_report(period=period)["c2m-product-design"]
    assert consent.totals == {"granted": 3, "withdrawn": 1, "expired": 0, "lapsed": 0, "retired": 0}
    refusals = reports.refusals_report(period=period)
    assert refusals.totals["intake"] == {
        "unknown_purpose": 0,
        "not_necessary": 2,
        "invalid_value": 0,
        "unknown_subject": 0,
        "consent_required": 4,
        "batch_refused": 0,
    }
    assert refusals.totals["cross_access"] == {"cross_access_blocked": 1} and refusals.totals["release"] == {"budget_exhausted": 1}
    ledger = {(row["purpose"], row["period"]): row for row in reports.budget_ledger().rows}[("c2m-product-design", "2026-11")]
    assert (str(ledger["allocated"]), str(ledger["reserved"]), str(ledger["refunded"]), str(ledger["spent"])) == (
        "3.0",
        "1.0",
        "0.5",
        "0.5",
    )
    assert ledger["cap"] == purposes["c2m-product-design"].period_epsilon_cap and ledger["releases"] == 2
    register = reports.releases_register(period=period)
    assert [row["release"] for row in register.rows] == ["r1"] and register.totals["epsilon"] == {"c2m-product-design": "0.5"}
    retention = reports.retention_report(period=period)
    assert retention.totals == {"retention": 40, "erasure_withdrawal": 7, "erasure_account": 0}
    requests = reports.subject_requests_report(period=period)
    assert {k: requests.totals[k] for k in ("export", "account_erasure", "withdrawal_erasure")} == {
        "export": 1,
        "account_erasure": 1,
        "withdrawal_erasure": 1,
    }
    assert requests.totals["latency_median_ms"] == 850

    for slug in ("consent", "releases", "budget", "refusals", "retention", "requests"):
        page = officer_client.get(f"/compliance/reports/{slug}/").content.decode()
        # The chart is there, named, with its numbers in a table beside it.
        assert re.search(r'<svg [^>]*class="chart" role="img" aria-labelledby="[^"]+"', page) and "<title id=" in page, slug
        assert '<details class="numbers">' in page and "<caption>" in page, slug
    assert "850 ms" in officer_client.get("/compliance/reports/requests/").content.decode()


@pytest.mark.parametrize("query", ["since=banana", "since=2026-02-01&until=2026-01-01", "since=2010-01-01&until=2026-01-01"])
def test_a_bad_report_period_is_named(officer_client, db, query):
    response = english(officer_client).get(f"/compliance/reports/consent/?{query}")
    assert response.status_code == 400
    assert "notice error" in response.content.decode()


def test_long_periods_are_bucketed_by_week_or_month(db):
    from clearinghouse.console import reports

    assert reports.report_period_parse({"since": "2026-01-01", "until": "2026-02-15"}).bucket == "day"
    assert reports.report_period_parse({"since": "2026-01-01", "until": "2026-03-31"}).bucket == "week"
    assert reports.report_period_parse({"since": "2025-06-01", "until": "2026-02-15"}).bucket == "week"
    period = reports.report_period_parse({"since": "2024-01-01", "until": "2026-02-15"})
    assert period.bucket == "month" and period.label_text(period.labels()[0]) == "2024-01"


# --- Record of processing activities -----------------------------------------------------------------------------


def test_record_of_processing_lists_every_purpose_and_downloads(officer_client, purposes, manufacturer):
    page = english(officer_client).get("/compliance/processing-records/").content.decode()
    for purpose in purposes.values():
        assert purpose.code in page and purpose.impact_assessment[:30] in page
    document = json.loads(officer_client.get("/compliance/processing-records/download.json").content)
    activity = next(item for item in document["activities"] if item["purpose"] == "c2m-product-design")
    assert activity["retention_days"] == purposes["c2m-product-design"].retention_days
    assert activity["data_categories"] == purposes["c2m-product-design"].fields
    assert "chairco" in activity["recipients"]["registered_manufacturers"]
    assert activity["security_measures"] and activity["impact_assessment"]["approved_at"]
    response = officer_client.get("/compliance/processing-records/download.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "purpose" and {row[0] for row in rows[1:]} == {"c2m-product-design", "c2m-demand-forecast"}
    assert officer_client.get("/compliance/processing-records/download.xml").status_code == 404


def test_record_of_processing_is_written_in_the_officers_language(officer_client, purposes):
    officer_client.cookies.pop("django_language", None)
    chinese_page = officer_client.get("/compliance/processing-records/").content.decode()
    chinese = json.loads(officer_client.get("/compliance/processing-records/download.json").content)
    activity = chinese["activities"][0]
    assert chinese["language"] == "zh-hans" and chinese["title"] == "个人信息处理活动记录"
    assert activity["lawful_basis"]["reference"].startswith("《个人信息保护法》第十三条")
    assert activity["security_measures"][0].startswith("假名化") and "境外" in activity["international_transfers"]
    for english_text in ("Pseudonymisation", "Consumers of connected", "None outside", "aggregate statistics only", "· approved"):
        assert english_text not in chinese_page
    assert "已批准" in chinese_page
    english_document = json.loads(english(officer_client).get("/compliance/processing-records/download.json").content)
    assert english_document["language"] == "en"
    assert english_document["activities"][0]["security_measures"][0].startswith("Pseudonymisation")
    assert english_document["activities"][0]["lawful_basis"]["reference"].startswith("PIPL Art. 13(1)(1)")
