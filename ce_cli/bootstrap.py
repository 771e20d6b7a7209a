"""A paired bootstrap in bounded memory: rows are hashed into G groups by their id.

Each model's pass adds its per-row (loss, denominator, correct, sample weight) into G group
sums, so the state is G × 4 numbers whatever the file size, and merges by ``+``. Because the
group of a row depends only on its id (or its row number when there is no id column), the
candidate's and the baseline's group sums pair up without holding either file or joining them.
A replicate draws one Poisson(1) weight per group — the same weights for both models — and
recomputes each metric as a ratio of weighted sums; the 95% interval of the difference is the
2.5th–97.5th percentile over replicates.

Rows are spread over groups uniformly at random (by a fixed hash), so resampling groups
estimates the same variance as resampling rows (a random-groups estimator) as long as G is
large; G = 4096 by default. A per-group count and id checksum verify that both passes saw the
same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

GROUPS = 4096
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK


def key_hashes(keys: list[object] | np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of row keys (ints hash by value, anything else by its text)."""
    arr = np.asarray(keys)
    if arr.dtype.kind in "iu":
        return mix64(arr.astype(np.int64).view(np.uint64))
    digests = (hashlib.blake2b(str(k).encode(), digest_size=8).digest() for k in keys)
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


@dataclass
class GroupSums:
    """Per-group sums of one model's per-row results."""

    loss: np.ndarray
    denom: np.ndarray
    correct: np.ndarray
    mass: np.ndarray
    count: np.ndarray
    checksum: np.ndarray  # Σ of a second hash of the keys, mod 2^64

    @classmethod
    def empty(cls, groups: int = GROUPS) -> GroupSums:
        z = np.zeros(groups)
        return cls(
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            np.zeros(groups, np.int64),
            np.zeros(groups, np.uint64),
        )

    def update(
        self,
        hashes: np.ndarray,
        loss: np.ndarray,
        denom: np.ndarray,
        correct: np.ndarray,
        weight: np.ndarray | None = None,
    ) -> None:
        g = self.loss.size
        group = (hashes % np.uint64(g)).astype(np.int64)
        s = np.ones(loss.size) if weight is None else weight
        self.loss += np.bincount(group, weights=s * loss, minlength=g)
        self.denom += np.bincount(group, weights=s * denom, minlength=g)
        self.correct += np.bincount(group, weights=s * correct, minlength=g)
        self.mass += np.bincount(group, weights=s, minlength=g)
        self.count += np.bincount(group, minlength=g)
        check = mix64(hashes ^ np.uint64(0x5851F42D4C957F2D))
        with np.errstate(over="ignore"):
            np.add.at(self.checksum, group, check)

    def merge(self, other: GroupSums) -> GroupSums:
        with np.errstate(over="ignore"):
            return GroupSums(
                self.loss + other.loss,
                self.denom + other.denom,
                self.correct + other.correct,
                self.mass + other.mass,
                self.count + other.count,
                self.checksum + other.checksum,
            )

    def same_rows(self, other: GroupSums) -> bool:
        return bool(
            np.array_equal(self.count, other.count)
            and np.array_equal(self.checksum, other.checksum)
        )


@dataclass
class Interval:
    estimate: float  # candidate − baseline on the full data
    low: float
    high: float
    replicates: int


def paired_difference(
    candidate: GroupSums,
    baseline: GroupSums,
    metric: str,
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """CI of metric(candidate) − metric(baseline); metric is 'loss' (Σl/Σd) or 'accuracy'."""
    rng = np.random.default_rng(seed)
    weights = rng.poisson(1.0, size=(replicates, candidate.loss.size)).astype(np.float64)

    def values(sums: GroupSums, w: np.ndarray) -> np.ndarray:
        if metric == "loss":
            return (w @ sums.loss) / (w @ sums.denom)
        return (w @ sums.correct) / (w @ sums.mass)

    ones = np.ones((1, candidate.loss.size))
    estimate = float((values(candidate, ones) - values(baseline, ones))[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = values(candidate, weights) - values(baseline, weights)
    diff = diff[np.isfinite(diff)]
    alpha = (1 - level) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high), int(diff.size))
