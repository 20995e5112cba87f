"""Recomputing a stretch of the log: the inner loop of full verification.

Deliberately free of Django: a large log is verified in aligned chunks by several worker
processes (``python -m clearinghouse.audit.verifier`` reads a task as JSON on stdin and
answers JSON on stdout), each streaming its rows with COPY on its own connection, and the
caller (selectors.audit_chain_verify) stitches the chunks together: links across chunk
boundaries, subtree hashes above the chunk level, checkpoint roots and the final root.
Rows and stored subtree hashes never change once sealed, so workers reading in separate
transactions see exactly the same data below the head fixed at the start.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import sys
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

import orjson

from clearinghouse.audit import reasons

STRIDE = 8
GENESIS = bytes(32)
ROW_SQL = """
    SELECT seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_kind, actor_id,
           action, target, outcome, details, leaf_hash, prev_hash, hash
      FROM audit_auditevent WHERE seq > {first} AND seq <= {last} ORDER BY seq
"""
_COPY_ESCAPES = {b"\\": b"\\", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_COPY_ESCAPE = re.compile(rb"\\(.)")


def _unescape(value: bytes) -> bytes:
    # PostgreSQL's text COPY output escapes only these (it never emits octal or hex).
    return _COPY_ESCAPE.sub(lambda match: _COPY_ESCAPES.get(match.group(1), match.group(1)), value)


def copy_rows(cursor, first: int, last: int) -> Generator[list[bytes], None, None]:
    """Rows first+1..last as lists of raw field bytes, streamed with COPY (several times
    faster than a cursor: no per-value conversion)."""
    rest = b""
    with cursor.copy(f"COPY ({ROW_SQL.format(first=int(first), last=int(last))}) TO STDOUT") as copy:
        for chunk in copy:
            data = rest + bytes(chunk)
            lines = data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                fields = line.split(b"\t")
                if b"\\" in line:
                    fields = [_unescape(value) for value in fields]
                yield fields


@dataclass
class RangeResult:
    first: int  # verified seqs first+1..
    count: int = 0
    problem: tuple[int | None, str, dict] | None = None  # (seq, reason template, its parameters)
    first_prev: str | None = None
    last_hash: str | None = None
    stack: list[tuple[int, str]] = field(default_factory=list)
    checkpoint_stacks: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    nodes_checked: int = 0

    def as_json(self) -> dict:
        return {
            "first": self.first,
            "count": self.count,
            "problem": self.problem,
            "first_prev": self.first_prev,
            "last_hash": self.last_hash,
            "stack": self.stack,
            "checkpoint_stacks": {str(size): stack for size, stack in self.checkpoint_stacks.items()},
            "nodes_checked": self.nodes_checked,
        }

    @classmethod
    def from_json(cls, document: dict) -> RangeResult:
        result = cls(first=document["first"])
        result.count = document["count"]
        result.problem = tuple(document["problem"]) if document["problem"] else None
        result.first_prev, result.last_hash = document["first_prev"], document["last_hash"]
        result.stack = [tuple(item) for item in document["stack"]]
        result.checkpoint_stacks = {int(size): [tuple(item) for item in stack] for size, stack in document["checkpoint_stacks"].items()}
        result.nodes_checked = document["nodes_checked"]
        return result


def verify_rows(
    rows: Iterable[list[bytes]],
    *,
    first: int,
    last: int,
    stored_nodes: dict[tuple[int, int], str],
    checkpoint_sizes: Iterable[int] = (),
    reference_leaf=None,
) -> RangeResult:
    """Verify rows first+1..last. ``first`` must be a multiple of 2^k where 2^k >= last - first
    (an aligned chunk), so the compact range built here is made of the tree's own nodes.

    Stored subtree hashes within the chunk are compared as the subtrees complete.
    ``reference_leaf(entry) -> hex`` is the canonical encoder, consulted only when the fast
    orjson encoding disagrees with the stored leaf hash.
    """
    result = RangeResult(first=first)
    wanted = {size for size in checkpoint_sizes if first < size <= last}
    sha256, dumps, loads, sort_keys, hexlify = hashlib.sha256, orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS, binascii.hexlify
    stack: list[bytes] = []
    levels: list[int] = []
    prev: bytes | None = None
    prev_hex = b""
    seq = first
    try:
        for row in rows:
            seq_b, time_b, kind_b, actor_b, action_b, target_b, outcome_b, details_b, leaf_hex, row_prev, hash_hex = row
            seq += 1
            if int(seq_b) != seq:
                raise _Stop(seq, reasons.SEQUENCE_MISSING, seq=seq)
            if prev is None:
                result.first_prev = row_prev.decode()
                try:
                    prev, prev_hex = bytes.fromhex(result.first_prev), row_prev
                except ValueError:  # not even hex: no link can match it
                    raise _Stop(seq, reasons.LINK_MISMATCH) from None
            entry = {
                "action": action_b.decode(),
                "actor_id": actor_b.decode(),
                "actor_kind": kind_b.decode(),
                "details": loads(details_b),
                "outcome": outcome_b.decode(),
                "target": target_b.decode(),
                "time": time_b.decode(),
            }
            leaf = sha256(b"\x00" + dumps(entry, option=sort_keys)).digest()
            if hexlify(leaf) != leaf_hex:
                # orjson is only the fast path; the reference encoding decides.
                if reference_leaf is None or reference_leaf(entry) != leaf_hex.decode():
                    raise _Stop(seq, reasons.CONTENT_MISMATCH)
                leaf = bytes.fromhex(leaf_hex.decode())
            if row_prev != prev_hex:
                raise _Stop(seq, reasons.LINK_MISMATCH)
            current = sha256(prev + leaf).digest()
            if hexlify(current) != hash_hex:
                raise _Stop(seq, reasons.CHAIN_MISMATCH)
            prev, prev_hex = current, hash_hex
            # Compact range: seq - first leaves so far; merge as many times as the count
            # has trailing zero bits, checking stored subtree hashes as they form.
            count = seq - first
            if count & 1:
                stack.append(leaf)
                levels.append(0)
            else:
                node, level = leaf, 0
                while levels and levels[-1] == level:
                    levels.pop()
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    level += 1
                    if level % STRIDE == 0:
                        index = (seq >> level) - 1
                        expected = stored_nodes.get((level, index))
                        first_seq = (index << level) + 1
                        if expected is None:
                            raise _Stop(first_seq, reasons.SUBTREE_MISSING_PROOFS, level=level, index=index, seq=first_seq)
                        if expected != node.hex():
                            raise _Stop(first_seq, reasons.SUBTREE_MISMATCH, level=level, index=index)
                        result.nodes_checked += 1
                stack.append(node)
                levels.append(level)
            if seq in wanted:
                result.checkpoint_stacks[seq] = [(lv, value.hex()) for lv, value in zip(levels, stack)]
        if seq < last:
            raise _Stop(seq + 1, reasons.SEQUENCE_MISSING, seq=seq + 1)
    except _Stop as stop:
        result.problem = (stop.seq, stop.template, stop.params)
    result.count = seq - first
    result.last_hash = prev_hex.decode() if prev is not None else None
    result.stack = [(lv, value.hex()) for lv, value in zip(levels, stack)]
    return result


class _Stop(Exception):
    def __init__(self, at: int | None, template: str, **params):
        super().__init__(reasons.reason_text(template, params))
        self.seq, self.template, self.params = at, template, params


def stored_nodes_within(cursor, first: int, last: int) -> dict[tuple[int, int], str]:
    """Stored subtree hashes of the complete subtrees inside leaves [first, last)."""
    clauses, params = [], []
    for level in range(STRIDE, 64, STRIDE):
        if (1 << level) > last - first:
            break
        clauses.append('(level = %s AND "index" >= %s AND "index" < %s)')
        params += [level, -(-first >> level), last >> level]
    if not clauses:
        return {}
    cursor.execute(f'SELECT level, "index", hash FROM audit_audittreenode WHERE {" OR ".join(clauses)}', params)
    return {(level, index): value for level, index, value in cursor.fetchall()}


def verify_range_on(connection, *, first: int, last: int, checkpoint_sizes: Iterable[int] = (), reference_leaf=None) -> RangeResult:
    """Verify seqs first+1..last over an open psycopg connection."""
    with connection.cursor() as cursor:
        stored_nodes = stored_nodes_within(cursor, first, last)
        rows = copy_rows(cursor, first, last)
        try:
            return verify_rows(
                rows, first=first, last=last, stored_nodes=stored_nodes, checkpoint_sizes=checkpoint_sizes, reference_leaf=reference_leaf
            )
        finally:
            # Ends the COPY now, whatever stopped the loop: an exception's traceback would
            # keep the generator alive, and the connection would wait for the rest of the
            # COPY while the caller rolls back (verification hung instead of failing).
            rows.close()


def _reference_leaf(entry) -> str:
    data = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(b"\x00" + data).hexdigest()


def main() -> int:
    """Worker process: one task as JSON on stdin, the result as JSON on stdout."""
    import psycopg

    task = json.load(sys.stdin)
    with psycopg.connect(**task["connect"]) as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        result = verify_range_on(
            connection,
            first=task["first"],
            last=task["last"],
            checkpoint_sizes=task["checkpoint_sizes"],
            reference_leaf=_reference_leaf,
        )
    json.dump(result.as_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
