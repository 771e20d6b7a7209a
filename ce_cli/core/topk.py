"""A mergeable top-K: the K rows with the largest key, ties broken by the smaller row number.

State is at most K entries (key, row, and any per-row payload arrays), so it is bounded and
merges by concatenating and keeping the K best — the same result for any chunking.
"""

from __future__ import annotations

import numpy as np


class TopK:
    def __init__(self, k: int) -> None:
        self.k = k
        self.keys = np.empty(0, dtype=np.float64)
        self.rows = np.empty(0, dtype=np.int64)
        self.payload: dict[str, np.ndarray] = {}

    def candidates(self, keys: np.ndarray) -> np.ndarray:
        """Positions in ``keys`` that could enter the top K (all ties at the cut included);
        gather payloads for these only, then call ``update``."""
        if self.k <= 0 or keys.size == 0:
            return np.empty(0, dtype=np.int64)
        positions = None
        if self.keys.size == self.k and not np.isnan(cut := self.keys[-1]):
            # Full: a row below the K-th best kept key cannot enter (kept keys are sorted best
            # first); ties with it can, by a smaller row number.
            positions = np.flatnonzero(keys >= cut)
            keys = keys[positions]
        if keys.size > self.k:
            part = np.argpartition(-keys, self.k - 1)[: self.k]
            best = np.flatnonzero(keys >= keys[part].min())
            positions = best if positions is None else positions[best]
        return np.arange(keys.size) if positions is None else positions

    def update(self, keys: np.ndarray, rows: np.ndarray, **payload: np.ndarray) -> None:
        """Offer candidate rows (any number); the best K of these and those kept stay."""
        if self.k <= 0 or keys.size == 0:
            return
        self._keep(
            np.concatenate([self.keys, keys]),
            np.concatenate([self.rows, rows]),
            {
                name: np.concatenate([self.payload[name], values])
                if name in self.payload
                else values
                for name, values in payload.items()
            },
        )

    def _keep(self, keys: np.ndarray, rows: np.ndarray, payload: dict[str, np.ndarray]) -> None:
        order = np.lexsort((rows, -keys))[: self.k]
        self.keys, self.rows = keys[order], rows[order]
        self.payload = {name: values[order] for name, values in payload.items()}

    def merge(self, other: TopK) -> TopK:
        merged = TopK(self.k)
        names = self.payload.keys() | other.payload.keys()
        merged._keep(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.rows, other.rows]),
            {
                n: np.concatenate([p[n] for p in (self.payload, other.payload) if n in p])
                for n in names
            },
        )
        return merged
