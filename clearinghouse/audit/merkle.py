"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Pure functions over bytes: no database, no Django. The service builds proofs through
``inclusion_path`` / ``consistency_path`` with a callback that answers the hash of any
range of leaves (``TreeReader`` in tree.py answers it from stored subtree hashes), and
the verifiers below are what any client runs. tools/audit_verify.py carries its own,
independent copy of the verifiers so that an auditor depends on nothing of ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def is_power_of_two(size: int) -> bool:
    return size > 0 and size & (size - 1) == 0


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes, straight from RFC 6962 §2.1 (for tests and small trees)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = split_point(len(leaf_hashes))
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def inclusion_path(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1: sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Iterative form of the recursion: descend, collecting siblings, then reverse.
    while end - start > 1:
        k = split_point(end - start)
        if index - start < k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_path(first: int, second: int, range_hash: RangeHash) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2 (SUBPROOF with b = true at the top)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(range_hash(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(range_hash(start + k, end))
            end = start + k
        else:
            proof.append(range_hash(start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


class ProofError(ValueError):
    """A proof that does not verify; the message says why."""


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root a valid ``path`` for ``leaf`` at ``index`` implies."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, result = index, size - 1, leaf
    for position, sibling in enumerate(path):
        _check_hash(sibling, f"path[{position}]")
        if sn == 0:
            raise ProofError("the path is longer than the tree is high")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the path is shorter than the tree is high")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> None:
    _check_hash(root, "root hash")
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"the inclusion proof for leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: ``proof`` shows the tree of size ``first`` is a prefix of ``second``."""
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    for position, item in enumerate(proof):
        _check_hash(item, f"proof[{position}]")
    if not 0 <= first <= second:
        raise ProofError(f"a tree of size {second} cannot extend one of size {first}")
    if first == second:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if first_root != second_root:
            raise ProofError("two different roots for the same tree size")
        return
    if first == 0:
        if proof:
            raise ProofError("the empty tree needs an empty proof")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if is_power_of_two(first):
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = path[0]
    for item in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than needed")
        if fn & 1 or fn == sn:
            first_result = node_hash(item, first_result)
            second_result = node_hash(item, second_result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_result = node_hash(second_result, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than needed")
    if first_result != first_root:
        raise ProofError(f"the proof does not reproduce the root of size {first}")
    if second_result != second_root:
        raise ProofError(f"the proof does not reproduce the root of size {second}")


class CompactRange:
    """The right edge of a growing tree: O(log n) hashes, enough to give the root.

    ``on_complete(level, index, hash)`` is called for every complete, aligned subtree as
    it forms, which lets the verifier compare the subtree hashes the service stored.
    """

    __slots__ = ("size", "_levels", "_hashes", "_on_complete")

    def __init__(self, on_complete: Callable[[int, int, bytes], None] | None = None):
        self.size = 0
        self._levels: list[int] = []
        self._hashes: list[bytes] = []
        self._on_complete = on_complete

    def append(self, leaf: bytes) -> None:
        levels, hashes = self._levels, self._hashes
        current, level = leaf, 0
        self.size += 1
        while levels and levels[-1] == level:
            levels.pop()
            current = node_hash(hashes.pop(), current)
            level += 1
            if self._on_complete is not None:
                self._on_complete(level, (self.size >> level) - 1, current)
        levels.append(level)
        hashes.append(current)

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for item in reversed(self._hashes[:-1]):
            result = node_hash(item, result)
        return result
