"""The database defends the log: the application's role owns neither the append-only
tables nor their triggers (manage.py protect_audit_log), so it can neither switch the
triggers off nor truncate, drop or rewrite them. Everything runs in one transaction that
is rolled back, roles included."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.db import log_tables_protect

pytestmark = pytest.mark.postgres


@pytest.fixture
def roles(db):
    """An application role and the log's owner, protected, with the session switched to
    the application role (as the web process would connect). Rolled back afterwards."""
    suffix = connection.settings_dict["NAME"].rsplit("_", 1)[-1][:20]
    app, owner = f"ch_test_app_{suffix}", f"ch_test_owner_{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{app}" NOLOGIN')
    done = log_tables_protect(app_role=app, owner_role=owner)
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app}"')
    yield app, owner, done
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def refused(statement: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    return str(caught.value)


def test_the_log_tables_are_owned_by_the_owner_role(roles):
    app, owner, done = roles
    assert {"audit_auditevent", "audit_audittreenode", "audit_auditlog", "audit_auditcheckpoint", "consent_consentevent"} <= set(
        done["log_tables"]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.relname = ANY(%s)",
            [done["log_tables"]],
        )
        owners = dict(cursor.fetchall())
        cursor.execute(
            "SELECT DISTINCT r.rolname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_roles r ON r.oid = p.proowner"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relname = ANY(%s) AND NOT t.tgisinternal",
            [done["log_tables"]],
        )
        function_owners = {name for (name,) in cursor.fetchall()}
    assert set(owners.values()) == {owner}
    assert function_owners == {owner}


@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditcheckpoint", "consent_consentevent"])
def test_the_app_role_cannot_disable_the_triggers_or_truncate(roles, table):
    audit_record(actor=Actor.system(), action="test.kept")
    assert "must be owner" in refused(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    assert "must be owner" in refused(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_truncate")
    assert "permission denied" in refused(f"TRUNCATE {table}")
    assert "must be owner" in refused(f"DROP TRIGGER {table}_no_update_delete ON {table}")
    assert "must be owner" in refused(f"DROP TABLE {table}")
    assert "permission denied" in refused("SET session_replication_role = replica")
    assert AuditEvent.objects.filter(action="test.kept").exists()


def test_the_app_role_cannot_replace_the_guard_function(roles):
    message = refused(
        "CREATE OR REPLACE FUNCTION audit_auditevent_guard() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql"
    )
    assert "must be owner" in message or "permission denied" in message
    assert "must be owner" in refused("ALTER FUNCTION audit_auditevent_guard() OWNER TO CURRENT_USER")
    assert "must be owner" in refused("ALTER TABLE audit_auditevent OWNER TO CURRENT_USER")


def test_the_app_role_still_appends_seals_and_works(roles, make_consumer):
    consumer = make_consumer("under-the-app-role")  # ordinary tables: read-write
    event = audit_record(actor=Actor.system(), action="test.appended")
    event.refresh_from_db()
    assert event.seq is not None and event.hash  # sealing is an UPDATE the guard allows
    assert "append-only" in refused("UPDATE audit_auditevent SET outcome = 'error'")
    assert "permission denied" in refused("DELETE FROM audit_auditevent")  # not even granted
    assert consumer.consumer.pk


def test_protecting_refuses_a_superuser_app_role(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        me = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="superuser"):
        call_command("protect_audit_log", "--app-role", me, "--owner-role", "ch_test_owner_x")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("protect_audit_log", "--app-role", "ch_no_such_role", "--owner-role", "ch_test_owner_x")
