"""RFC 6962 hashing and proofs, checked against the published test vectors and a
straight transcription of RFC 6962 §2.1, for both the service's implementation and the
auditor's standalone verifier (which share no code)."""

import hashlib
import json
from pathlib import Path

import pytest

from clearinghouse.audit import merkle
from tests.audit.conftest import load_offline_verifier

VECTORS = json.loads((Path(__file__).parent / "data" / "rfc6962_vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(item)) for item in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(item) for item in VECTORS["roots"]]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


class Product:
    leaf_hash = staticmethod(merkle.leaf_hash)
    node_hash = staticmethod(merkle.node_hash)

    @staticmethod
    def inclusion_ok(index, size, leaf, path, root) -> bool:
        try:
            merkle.verify_inclusion(index, size, leaf, path, root)
        except merkle.ProofError:
            return False
        return True

    @staticmethod
    def consistency_ok(first, second, root1, root2, proof) -> bool:
        try:
            merkle.verify_consistency(first, second, root1, root2, proof)
        except merkle.ProofError:
            return False
        return True

    @staticmethod
    def root(leaves):
        tree = merkle.CompactRange()
        for leaf in leaves:
            tree.append(leaf)
        return tree.root()


class Offline:
    tool = load_offline_verifier()
    leaf_hash = staticmethod(tool.leaf_hash)
    node_hash = staticmethod(tool.node_hash)

    @classmethod
    def inclusion_ok(cls, index, size, leaf, path, root) -> bool:
        try:
            return cls.tool.root_from_inclusion(index, size, leaf, path) == root
        except cls.tool.VerificationError:
            return False

    @classmethod
    def consistency_ok(cls, first, second, root1, root2, proof) -> bool:
        try:
            cls.tool.check_consistency(first, second, root1, root2, proof)
        except cls.tool.VerificationError:
            return False
        return True

    @classmethod
    def root(cls, leaves):
        tree = cls.tool.CompactRange()
        for leaf in leaves:
            tree.append(leaf)
        return tree.root()


IMPLEMENTATIONS = [pytest.param(Product, id="service"), pytest.param(Offline, id="offline-verifier")]


def rfc6962_mth(leaves):
    """MTH straight from RFC 6962 §2.1, for cross-checking."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(rfc6962_mth(leaves[:k]), rfc6962_mth(leaves[k:]))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_hashing_matches_published_vectors(impl):
    hashes = VECTORS["hashes"]
    assert merkle.EMPTY_ROOT.hex() == hashes["empty_tree"]
    assert impl.leaf_hash(b"").hex() == hashes["empty_leaf"]
    assert impl.leaf_hash(b"L123456").hex() == hashes["leaf_L123456"]
    assert impl.node_hash(b"N123", b"N456").hex() == hashes["node_N123_N456"]
    # Domain separation: a node is never the leaf of its children's concatenation.
    left, right = impl.leaf_hash(b"Hello"), impl.leaf_hash(b"World")
    assert impl.node_hash(left, right) != impl.leaf_hash(left + right)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_roots_match_published_vectors(impl):
    for size in range(1, len(LEAVES) + 1):
        assert impl.root(LEAVES[:size]) == ROOTS[size - 1], f"size {size}"
    assert impl.root([]) == merkle.EMPTY_ROOT


def test_proofs_built_by_the_service_match_published_vectors():
    def range_hash_for(leaves):
        return lambda start, end: rfc6962_mth(leaves[start:end])

    for vector in VECTORS["inclusion"]:
        path = merkle.inclusion_path(vector["leaf"] - 1, vector["size"], range_hash_for(LEAVES))
        assert [item.hex() for item in path] == vector["proof"]
    for vector in VECTORS["consistency"]:
        proof = merkle.consistency_path(vector["size1"], vector["size2"], range_hash_for(LEAVES))
        assert [item.hex() for item in proof] == vector["proof"]


def inclusion_probes(index, size, leaf, path, root):
    """Every way of bending a good inclusion proof (after transparency-dev's corruptions)."""
    probes = [
        ("index - 1", index - 1, size, leaf, path, root),
        ("index + 1", index + 1, size, leaf, path, root),
        ("index ^ 2", index ^ 2, size, leaf, path, root),
        ("size * 2", index, size * 2, leaf, path, root),
        ("size // 2", index, size // 2, leaf, path, root),
        ("wrong leaf", index, size, SOME_HASH, path, root),
        ("empty-tree root", index, size, leaf, path, merkle.EMPTY_ROOT),
        ("random root", index, size, leaf, path, SOME_HASH),
        ("trailing root", index, size, leaf, [*path, root], root),
        ("preceding root", index, size, leaf, [root, *path], root),
    ]
    for position in range(len(path)):
        bent = list(path)
        bent[position] = bytes([bent[position][0] ^ 8]) + bent[position][1:]
        probes.append((f"path[{position}] bit flipped", index, size, leaf, bent, root))
    if path:
        probes.append(("last element removed", index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append(("element inserted", index, size, leaf, [path[0], SOME_HASH, *path[1:]], root))
    return probes


def consistency_probes(first, second, root1, root2, proof):
    probes = [
        ("first - 1", first - 1, second, root1, root2, proof),
        ("first + 1", first + 1, second, root1, root2, proof),
        ("first ^ 2", first ^ 2, second, root1, root2, proof),
        ("second * 2", first, second * 2, root1, root2, proof),
        ("second // 2", first, second // 2, root1, root2, proof),
        ("wrong root1", first, second, SOME_HASH, root2, proof),
        ("wrong root2", first, second, root1, SOME_HASH, proof),
        ("swapped roots", first, second, root2, root1, proof),
        ("empty proof", first, second, root1, root2, []),
        ("trailing root1", first, second, root1, root2, [*proof, root1]),
        ("trailing root2", first, second, root1, root2, [*proof, root2]),
        ("preceding root1", first, second, root1, root2, [root1, *proof]),
        ("preceding root2", first, second, root1, root2, [root2, *proof]),
        ("preceding proof[0]", first, second, root1, root2, [proof[0], *proof]),
        ("truncated", first, second, root1, root2, proof[:-1]),
    ]
    for position in range(len(proof)):
        bent = list(proof)
        bent[position] = bytes([bent[position][0] ^ 16]) + bent[position][1:]
        probes.append((f"proof[{position}] bit flipped", first, second, root1, root2, bent))
    return probes


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"leaf{v['leaf']}-of-{v['size']}")
def test_published_inclusion_proofs_verify_and_every_corruption_fails(impl, vector):
    index, size = vector["leaf"] - 1, vector["size"]
    path = [bytes.fromhex(item) for item in vector["proof"]]
    assert impl.inclusion_ok(index, size, LEAVES[index], path, ROOTS[size - 1])
    accepted = [name for name, *probe in inclusion_probes(index, size, LEAVES[index], path, ROOTS[size - 1]) if impl.inclusion_ok(*probe)]
    assert accepted == []


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: f"{v['size1']}-to-{v['size2']}")
def test_published_consistency_proofs_verify_and_every_corruption_fails(impl, vector):
    first, second = vector["size1"], vector["size2"]
    proof = [bytes.fromhex(item) for item in vector["proof"]]
    assert impl.consistency_ok(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)
    if not proof:
        return
    accepted = [
        name
        for name, *probe in consistency_probes(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)
        if impl.consistency_ok(*probe)
    ]
    assert accepted == []


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_every_proof_of_every_small_tree_verifies(impl):
    leaves = [merkle.leaf_hash(f"entry {n}".encode()) for n in range(70)]

    def range_hash(start, end):
        return rfc6962_mth(leaves[start:end])

    for size in range(1, 70):
        root = rfc6962_mth(leaves[:size])
        assert impl.root(leaves[:size]) == root
        for index in range(size):
            path = merkle.inclusion_path(index, size, range_hash)
            assert impl.inclusion_ok(index, size, leaves[index], path, root)
            assert not impl.inclusion_ok(index, size, leaves[(index + 1) % 70], path, root)
        for first in range(1, size + 1):
            proof = merkle.consistency_path(first, size, range_hash)
            assert impl.consistency_ok(first, size, rfc6962_mth(leaves[:first]), root, proof)
            if first < size:
                assert not impl.consistency_ok(first, size, rfc6962_mth(leaves[1 : first + 1]), root, proof)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_edge_cases_are_refused(impl):
    leaf = impl.leaf_hash(b"data")
    assert impl.inclusion_ok(0, 1, leaf, [], leaf)
    assert not impl.inclusion_ok(0, 0, leaf, [], leaf)
    assert not impl.inclusion_ok(1, 1, leaf, [], leaf)
    assert not impl.consistency_ok(2, 1, ROOTS[1], ROOTS[0], [])  # the log may not shrink
    assert not impl.consistency_ok(1, 2, ROOTS[0], ROOTS[1], [])  # growth needs a proof
    assert not impl.consistency_ok(1, 1, ROOTS[0], ROOTS[1], [])  # one size, two roots
    assert impl.consistency_ok(0, 3, merkle.EMPTY_ROOT, ROOTS[2], [])
