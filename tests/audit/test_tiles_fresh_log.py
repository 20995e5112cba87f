"""Tiles written or kept on a log that holds only what the test itself records (apart from
test_tiles.py, whose tests share one 600-event log built per module)."""

from clearinghouse.audit.services import audit_checkpoint_sign
from tests.audit.conftest import make_events
from tests.audit.test_tiles import officer_client_for


def test_audit_tiles_command_writes_a_directory(db, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    make_events(3)
    audit_checkpoint_sign()
    out = StringIO()
    call_command("audit_tiles", "--output", str(tmp_path / "m"), stdout=out)
    assert "for the checkpoint of" in out.getvalue()
    assert (tmp_path / "m" / "checkpoint").exists()


def test_a_kept_bundle_names_people_only_by_pseudonym(db, officer, make_consumer):
    """Entry bundles are kept for good: an event about a person must hold their pseudonym,
    never their username or account number."""
    from clearinghouse.audit.models import AuditTile

    people = [make_consumer(f"person-{n}-zq") for n in range(3)]
    for person in people:
        assert person.client().get("/api/v1/me/consents").status_code == 200
    make_events(256)  # the people's events and some others fill the first bundle
    client = officer_client_for(officer)
    assert client.get("/api/v1/audit/tlog/tile/entries/000").status_code == 200
    kept = bytes(AuditTile.objects.get(level=AuditTile.ENTRIES, index=0).data)
    for person in people:
        user = person.consumer.user
        assert str(person.consumer.pseudonym).encode() in kept
        assert person.username.encode() not in kept
        assert f"user:{user.pk}".encode() not in kept and f'"user_id":{user.pk}'.encode() not in kept
