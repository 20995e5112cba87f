"""PostgreSQL guards that make append-only tables append-only at the database level."""

from __future__ import annotations


def append_only_sql(table: str) -> list[str]:
    function = f"{table}_append_only"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% on {table} refused: the table is append-only', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        """,
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
        f"""CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();""",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}();""",
    ]


def drop_append_only_sql(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        f"DROP FUNCTION IF EXISTS {table}_append_only();",
    ]


def run_on_postgresql(statements_for):
    """A RunPython callable executing SQL only on PostgreSQL (SQLite is the dev default)."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements_for():
            schema_editor.execute(statement, params=None)

    return run


# --- Who may touch the append-only tables ---------------------------------------------------
#
# The triggers above refuse UPDATE, DELETE and TRUNCATE, but the owner of a table may
# disable its triggers, drop them, or replace their function. So the role the
# application connects as must own none of it: ``log_tables_protect`` gives every
# append-only table (found by its ``*_no_truncate`` trigger) and every function its
# triggers call to a separate NOLOGIN owner role, and leaves the application role only
# SELECT and INSERT there (and UPDATE on the audit events, which sealing needs and the
# guard trigger limits to setting seq, prev_hash and hash once). Every other table gets
# the ordinary read-write grants. Run by a superuser after every ``migrate``
# (``manage.py protect_audit_log``; docker/compose.yaml's init service and .ci/fuzz do).

SEALED_TABLE = "audit_auditevent"
OWNED_FUNCTIONS = ("audit_append_event",)


def _ident(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise ValueError(f"not a plain role or table name: {name!r}")
    return f'"{name}"'


def log_tables_protect(*, app_role: str, owner_role: str, schema: str = "public") -> dict[str, list[str]]:
    """Make ``owner_role`` own the append-only tables and their guard functions and
    grant ``app_role`` only what the application needs. Idempotent. Returns what it did."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise ValueError("the audit log's owner role needs PostgreSQL")
    app, owner, ns = _ident(app_role), _ident(owner_role), _ident(schema)
    if app_role == owner_role:
        raise ValueError("the application role and the log's owner role must differ")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app_role])
        row = cursor.fetchone()
        if row is None:
            raise ValueError(f"role {app_role!r} does not exist: create the application's login role first")
        if row[0]:
            raise ValueError(f"role {app_role!r} is a superuser; the application must connect as an ordinary role")
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [owner_role])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {owner} NOLOGIN")
        cursor.execute(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member"
            " WHERE r.rolname = %s AND a.rolname = %s",
            [owner_role, app_role],
        )
        if cursor.fetchone():
            raise ValueError(f"role {app_role!r} is a member of {owner_role!r}; it must not be")
        cursor.execute(
            "SELECT DISTINCT c.relname, t.tgfoid::regprocedure::text FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND t.tgname = c.relname || '_no_truncate' ORDER BY 1",
            [schema],
        )
        guarded = cursor.fetchall()
        if not guarded:
            raise ValueError("no append-only tables found: run migrate first")
        tables = sorted({table for table, _ in guarded})
        cursor.execute(
            "SELECT DISTINCT t.tgfoid::regprocedure::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relname = ANY(%s) AND NOT t.tgisinternal",
            [tables],
        )
        functions = sorted({name for (name,) in cursor.fetchall()})
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = ANY(%s)",
            [schema, list(OWNED_FUNCTIONS)],
        )
        functions += [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT (c.relname = ANY(%s)) ORDER BY 1",
            [schema, tables],
        )
        others = [name for (name,) in cursor.fetchall()]

        cursor.execute(f"GRANT USAGE ON SCHEMA {ns} TO {app}")
        for table in tables:
            t = _ident(table)
            cursor.execute(f"ALTER TABLE {ns}.{t} OWNER TO {owner}")
            cursor.execute(f"REVOKE ALL ON {ns}.{t} FROM PUBLIC, {app}")
            cursor.execute(f"GRANT SELECT, INSERT{', UPDATE' if table == SEALED_TABLE else ''} ON {ns}.{t} TO {app}")
        for function in functions:
            cursor.execute(f"ALTER FUNCTION {function} OWNER TO {owner}")
            cursor.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
            cursor.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {app}")
        for table in others:
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {ns}.{_ident(table)} TO {app}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {ns} TO {app}")
    return {"log_tables": tables, "functions": functions, "other_tables": others}
