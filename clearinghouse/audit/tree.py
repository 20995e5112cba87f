"""The Merkle tree over the sealed log, read from the database a few blocks at a time.

Stored: every leaf hash (on its event row) and every complete subtree at levels
8, 16, 24, ... (AuditTreeNode). Any other node is recomputed from at most 2^7 hashes of
the stored level below it, and every read is an index range scan of at most 256 rows.
An inclusion or consistency proof on a log of 10 million events therefore reads about
six such blocks, whatever the size of the log.
"""

from __future__ import annotations

from django.db import connection

from clearinghouse.audit.merkle import EMPTY_ROOT, consistency_path, inclusion_path, is_power_of_two, node_hash, split_point
from clearinghouse.audit.models import AuditEvent, AuditTreeNode

STRIDE = 8  # stored levels are multiples of this
BLOCK = 1 << STRIDE


class TreeInconsistent(RuntimeError):
    """The stored tree does not cover what the log says it holds (a missing leaf or node)."""


class TreeReader:
    """Answers MTH(D[start:end]) for a tree of ``size`` leaves from stored hashes.

    ``known_leaves`` / ``known_nodes`` let the sealer supply hashes it has just computed
    in the same transaction, so building new stored nodes reads nothing twice.
    """

    def __init__(self, size: int, *, known_leaves: dict[int, bytes] | None = None):
        self.size = size
        self._leaves: dict[int, bytes] = dict(known_leaves or {})
        self._leaf_blocks: set[int] = set()
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._node_blocks: set[tuple[int, int]] = set()
        self.reads = 0

    # --- raw stored hashes --------------------------------------------------------------
    def leaf(self, index: int) -> bytes:
        found = self._leaves.get(index)
        if found is not None:
            return found
        block = index >> STRIDE
        if block not in self._leaf_blocks:
            self._fetch_leaves(block)
        found = self._leaves.get(index)
        if found is None:
            raise TreeInconsistent(f"leaf {index} (seq {index + 1}) is not sealed")
        return found

    def _fetch_leaves(self, block: int) -> None:
        self._leaf_blocks.add(block)
        first = block << STRIDE
        last = min(first + BLOCK, self.size)
        self.reads += 1
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT seq, leaf_hash FROM audit_auditevent WHERE seq > %s AND seq <= %s",
                [first, last],
            )
            for seq, leaf in cursor.fetchall():
                self._leaves.setdefault(seq - 1, bytes.fromhex(leaf))

    def stored_node(self, level: int, index: int) -> bytes | None:
        key = (level, index)
        found = self._nodes.get(key)
        if found is not None:
            return found
        block = (level, index >> STRIDE)
        if block not in self._node_blocks:
            self._node_blocks.add(block)
            first = block[1] << STRIDE
            self.reads += 1
            with connection.cursor() as cursor:
                cursor.execute(
                    'SELECT "index", hash FROM audit_audittreenode WHERE level = %s AND "index" >= %s AND "index" < %s',
                    [level, first, first + BLOCK],
                )
                for node_index, value in cursor.fetchall():
                    self._nodes.setdefault((level, node_index), bytes.fromhex(value))
        return self._nodes.get(key)

    def remember_node(self, level: int, index: int, value: bytes) -> None:
        self._nodes[(level, index)] = value

    # --- tree hashes ----------------------------------------------------------------------
    def complete(self, level: int, index: int, *, building: bool = False) -> bytes:
        """Hash of the complete subtree at ``level`` covering leaves [index·2^level, (index+1)·2^level).

        ``building``: the sealer is creating this stored node, so its absence is expected.
        """
        if (index + 1) << level > self.size:
            raise ValueError(f"subtree ({level}, {index}) is not complete in a tree of size {self.size}")
        if level == 0:
            return self.leaf(index)
        if level % STRIDE == 0:
            stored = self.stored_node(level, index)
            if stored is not None:
                return stored
            if not building:
                raise TreeInconsistent(f"stored subtree hash at level {level}, index {index} is missing")
        return node_hash(self.complete(level - 1, 2 * index), self.complete(level - 1, 2 * index + 1))

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges RFC 6962's algorithms ask for (start aligned)."""
        count = end - start
        if count <= 0 or end > self.size:
            raise ValueError(f"range [{start}, {end}) is outside a tree of size {self.size}")
        if is_power_of_two(count) and start % count == 0:
            return self.complete(count.bit_length() - 1, start // count)
        k = split_point(count)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.range_hash(0, self.size)

    def inclusion(self, index: int) -> list[bytes]:
        return inclusion_path(index, self.size, self.range_hash)

    def consistency(self, first: int) -> list[bytes]:
        return consistency_path(first, self.size, self.range_hash)


def new_stored_nodes(reader: TreeReader, old_size: int) -> list[tuple[int, int, bytes]]:
    """The stored-level subtrees that became complete when the tree grew from ``old_size``
    to ``reader.size``, lowest level first (each level is built from the one below)."""
    created = []
    level = STRIDE
    while (1 << level) <= reader.size:
        for index in range(old_size >> level, reader.size >> level):
            value = reader.complete(level, index, building=True)
            reader.remember_node(level, index, value)
            created.append((level, index, value))
        level += STRIDE
    return created


def tree_size() -> int:
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first()
    return head or 0


def stored_node_count() -> int:
    return AuditTreeNode.objects.count()
