from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from clearinghouse.audit.chain import GENESIS_HASH, chain_hash, entry_leaf_hash, event_entry
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.core.actors import Actor
from tests.conftest import grant_body, link_subject


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


def verify_command() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except SystemExit as exc:  # CommandError with returncode exits through SystemExit when run from argv
        return exc.code, err.getvalue()
    except Exception as exc:
        return getattr(exc, "returncode", 1), str(exc)
    return 0, out.getvalue()


def test_every_step_of_the_walkthrough_is_audited_in_order(consumer_a, platform_p, platform_q, purposes):
    start = AuditEvent.objects.count()
    client = consumer_a.client()
    client.post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    client.post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p") | {"version": 9}, format="json")
    link_subject(consumer_a, platform_p, "alice-ref")
    code = client.post("/api/v1/me/links", {"platform": "shop-p"}, format="json").json()["code"]
    platform_q.client().post("/api/v1/platform/links", {"code": code, "subject_ref": "x"}, format="json")
    client.delete("/api/v1/me/links/shop-p")
    client.post("/api/v1/me/consents", {"purpose": "c2m-product-design", "platform": "shop-p", "action": "withdraw"}, format="json")
    assert actions()[start:] == [
        "consent.granted",
        "consent.refused",
        "link.code_issued",
        "link.created",
        "link.code_issued",
        "platform.cross_access_blocked",
        "link.removed",
        "consent.withdrawn",
    ]
    pseudonym = str(consumer_a.consumer.pseudonym)
    for event in AuditEvent.objects.filter(seq__gt=start):
        text = f"{event.actor_id} {event.target} {event.details}"
        assert "alice" not in text and "alice-ref" not in text
    granted = AuditEvent.objects.get(action="consent.granted")
    assert granted.actor_kind == "consumer" and granted.actor_id == pseudonym
    assert audit_chain_verify().ok


def test_setup_commands_are_audited(db):
    call_command("register_platform", "shop-z", "--name", "Z", stdout=StringIO(), stderr=StringIO())
    call_command("rotate_key", "shop-z", stdout=StringIO(), stderr=StringIO())
    call_command("publish_purpose", "clearinghouse/consent/purposes/c2m-product-design.json", "--approve", stdout=StringIO())
    assert actions() == ["platform.registered", "credential.rotated", "purpose.published", "purpose.approved"]
    assert {e.actor_kind for e in AuditEvent.objects.all()} == {"operator"}


def test_chain_links_each_row_to_the_previous(db):
    with transaction.atomic():
        for n in range(3):
            audit_append(actor=Actor.system(), action="test.appended", details={"n": n})
    rows = list(AuditEvent.objects.order_by("seq"))
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert all(entry_leaf_hash(event_entry(r)) == r.leaf_hash for r in rows)
    assert all(chain_hash(bytes.fromhex(r.prev_hash), bytes.fromhex(r.leaf_hash)).hex() == r.hash for r in rows)


@pytest.mark.django_db(transaction=True)
def test_audit_append_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_append(actor=Actor.system(), action="test.outside")


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"username": "alice"}, "personal data"),
        ({"nested": {"subject_ref": "u-1"}}, "personal data"),
        ({"epsilon": 0.5}, "decimal strings"),
        ({"when": object()}, "cannot hold"),
    ],
)
def test_audit_details_refuse_personal_data_and_floats(db, details, message):
    with pytest.raises(ValueError, match=message):
        audit_record(actor=Actor.system(), action="test.bad", details=details)
    assert not AuditEvent.objects.exists()


def test_an_event_rolls_back_with_its_action(db):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit_append(actor=Actor.system(), action="test.doomed")
        1 / 0
    assert not AuditEvent.objects.exists()


def test_orm_cannot_update_or_delete_events(db):
    event = audit_record(actor=Actor.system(), action="test.kept")
    event.outcome = "error"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET outcome = 'error'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_postgresql_refuses_update_delete_and_truncate(db, statement):
    audit_record(actor=Actor.system(), action="test.kept")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get().outcome == "ok"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_leave_one_intact_chain():
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def writer(index: int):
        try:
            barrier.wait()
            for n in range(per_thread):
                audit_record(actor=Actor.system(f"writer-{index}"), action="test.concurrent", details={"n": n})
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    result = audit_chain_verify()
    assert result.ok, result
    assert result.checked == threads * per_thread
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, threads * per_thread + 1))


def _superuser_sql(statement: str, params=()):
    """What an operator with database superuser rights could do: disable the guard."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(statement, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


@pytest.fixture
def ten_events(db):
    for n in range(10):
        audit_record(actor=Actor.system(), action="test.event", details={"n": n})
    assert verify_command()[0] == 0


@pytest.mark.postgres
def test_verify_audit_names_an_edited_row(ten_events):
    _superuser_sql("UPDATE audit_auditevent SET details = '{\"n\": 99}' WHERE seq = 4")
    code, message = verify_command()
    assert code == 1
    assert "sequence number 4" in message


@pytest.mark.postgres
def test_verify_audit_names_a_deleted_row(ten_events):
    _superuser_sql("DELETE FROM audit_auditevent WHERE seq = 6")
    code, message = verify_command()
    assert code == 1 and "sequence number 6" in message


@pytest.mark.postgres
def test_verify_audit_catches_a_row_rewritten_with_a_fresh_hash(ten_events):
    # A careful forger recomputes the edited row's own hashes; the next row's link breaks.
    event = AuditEvent.objects.get(seq=3)
    leaf = entry_leaf_hash(event_entry(event) | {"outcome": "denied"})
    forged = chain_hash(bytes.fromhex(event.prev_hash), bytes.fromhex(leaf)).hex()
    _superuser_sql("UPDATE audit_auditevent SET outcome = 'denied', leaf_hash = %s, hash = %s WHERE seq = 3", [leaf, forged])
    result = audit_chain_verify()
    assert not result.ok and result.first_bad_seq == 4
    assert verify_command()[0] == 1


def test_which_verifications_and_exports_are_audited_as_docs_audit_md_says(ten_events, officer, tmp_path):
    """docs/audit.md §4: the API's and the console's verification runs are recorded, the
    command's is not; every export is."""
    assert verify_command()[0] == 0
    assert not AuditEvent.objects.filter(action="audit.verified").exists()
    officer.client().get("/api/v1/audit/verify")
    assert AuditEvent.objects.filter(action="audit.verified", actor_kind="compliance").count() == 1
    call_command("audit_export", "--output", str(tmp_path / "log.jsonl"), stdout=StringIO(), stderr=StringIO())
    assert AuditEvent.objects.filter(action="audit.exported", actor_kind="operator").count() == 1


def test_verify_audit_reports_an_intact_chain(ten_events):
    code, message = verify_command()
    assert code == 0 and "10 events" in message
