"""PostgreSQL guard for the audit table: rows are immutable except for sealing.

Sealing sets ``seq``, ``prev_hash`` and ``hash`` once, on a row that has none; every
other UPDATE, every DELETE and TRUNCATE is refused by the database itself.
"""

from __future__ import annotations

TABLE = "audit_auditevent"
GUARD = f"{TABLE}_guard"
_IMMUTABLE = ("id", "xid", "time", "actor_kind", "actor_id", "action", "target", "outcome", "details", "leaf_hash")


def seal_only_sql() -> list[str]:
    unchanged = " AND ".join(f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in _IMMUTABLE)
    return [
        f"""
        CREATE OR REPLACE FUNCTION {GUARD}() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
               AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
               AND {unchanged} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '% on {TABLE} refused: audit events are append-only (only sealing may set seq, prev_hash, hash, once)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        """,
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update_delete ON {TABLE};",
        f"""CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {GUARD}();""",
        f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};",
        f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {GUARD}();""",
    ]


def drop_seal_only_sql() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update_delete ON {TABLE};",
        f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};",
        f"DROP FUNCTION IF EXISTS {GUARD}();",
    ]


APPEND_FUNCTION = "audit_append_event"


def append_function_sql() -> list[str]:
    """One round trip per append: try the seal lock and insert, sealed or not.

    In READ COMMITTED every statement of a VOLATILE PL/pgSQL function takes a new
    snapshot, so the head is read only after the lock was granted: a seal committed by
    the previous holder just before is always seen. (Reading the head in the statement
    that takes the lock could miss it.)

    If committed events are still waiting to be sealed, the new one is not sealed ahead
    of them (they happened before it): it is inserted unsealed too, and sealed with them,
    in order, right after this transaction commits.
    """
    return [
        f"""
        CREATE OR REPLACE FUNCTION {APPEND_FUNCTION}(
            p_time timestamptz, p_actor_kind text, p_actor_id text, p_action text, p_target text,
            p_outcome text, p_details jsonb, p_leaf_hash text, p_try_seal boolean, p_lock bigint,
            OUT o_id bigint, OUT o_xid bigint, OUT o_seq bigint, OUT o_prev_hash text, OUT o_hash text,
            OUT o_locked boolean)
        AS $$
        DECLARE
            head_seq bigint;
            head_hash text;
        BEGIN
            o_locked := p_try_seal AND pg_try_advisory_xact_lock(p_lock);
            IF o_locked AND NOT EXISTS (
                SELECT 1 FROM {TABLE} e
                 WHERE e.seq IS NULL
                   AND e.xid >= COALESCE((SELECT h.xid FROM audit_auditsealhorizon h WHERE h.id = 1), 0)
            ) THEN
                SELECT e.seq, e.hash INTO head_seq, head_hash
                  FROM {TABLE} e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
                head_seq := COALESCE(head_seq, 0);
                head_hash := COALESCE(head_hash, repeat('0', 64));
                INSERT INTO {TABLE} AS e (time, actor_kind, actor_id, action, target, outcome, details, leaf_hash, seq, prev_hash, hash)
                VALUES (p_time, p_actor_kind, p_actor_id, p_action, p_target, p_outcome, p_details, p_leaf_hash,
                        head_seq + 1, head_hash, encode(sha256(decode(head_hash, 'hex') || decode(p_leaf_hash, 'hex')), 'hex'))
                RETURNING e.id, e.xid, e.seq, e.prev_hash, e.hash INTO o_id, o_xid, o_seq, o_prev_hash, o_hash;
            ELSE
                INSERT INTO {TABLE} AS e (time, actor_kind, actor_id, action, target, outcome, details, leaf_hash)
                VALUES (p_time, p_actor_kind, p_actor_id, p_action, p_target, p_outcome, p_details, p_leaf_hash)
                RETURNING e.id, e.xid, e.seq, e.prev_hash, e.hash INTO o_id, o_xid, o_seq, o_prev_hash, o_hash;
                -- No NOTIFY for a dedicated sealer here: a notifying transaction takes a
                -- server-wide lock at commit, which would serialise every writer's commit.
            END IF;
        END;
        $$ LANGUAGE plpgsql VOLATILE;
        """
    ]


def drop_append_function_sql() -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {APPEND_FUNCTION}(timestamptz, text, text, text, text, text, jsonb, text, boolean, bigint);"]
