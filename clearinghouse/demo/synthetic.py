"""A deterministic byte stream for synthetic demo data (seed_demo, benchmarks).

Not for privacy: every draw that protects a person comes from OpenDP. Demo worlds must be
reproducible from a seed, so this derives everything from SHAKE-256 of the seed, which
also produces millions of draws per call at C speed.
"""

from __future__ import annotations

import hashlib

import numpy as np


class DeterministicStream:
    def __init__(self, seed: str):
        self._seed = seed.encode()
        self._counter = 0

    def _bytes(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + b"/" + str(self._counter).encode()).digest(n)

    def uniform(self, n: int) -> np.ndarray:
        """n floats in [0, 1)."""
        raw = np.frombuffer(self._bytes(8 * n), dtype="<u8")
        return (raw >> np.uint64(11)).astype(np.float64) / float(1 << 53)

    def integers(self, low: int, high: int, n: int) -> np.ndarray:
        """n integers in [low, high)."""
        return (low + np.floor(self.uniform(n) * (high - low))).astype(np.int64)

    def choice(self, weights, n: int) -> np.ndarray:
        """n indices drawn with the given relative weights."""
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        return np.searchsorted(cumulative / cumulative[-1], self.uniform(n), side="right").clip(0, len(cumulative) - 1)
