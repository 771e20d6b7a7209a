"""A paired bootstrap in bounded memory: rows are hashed into G groups by their key.

Each model's pass adds its per-row results into G group sums — Σ s·l (loss), Σ s·d (the loss
mean's denominator), Σ s·[right] and Σ s (sample mass), with s the sample weight — so the
state is a few arrays of G numbers whatever the file size, and merges by ``+``. Because the
group of a row depends only on its key (the id column, or the row number when there is none),
the candidate's and the baseline's group sums pair up without holding either file or joining
them. A replicate draws one Poisson(1) weight per group — the same weights for both models —
and recomputes each metric as a ratio of weighted sums; the interval of the difference
(candidate − baseline) is the 2.5th–97.5th percentile over replicates (95 %).

Rows are spread over groups uniformly at random (by a fixed hash), so resampling groups
estimates the same variance as resampling rows (a random-groups estimator) as long as G is
large; G = 4096 by default. Optional per-class arrays (shape C × G: loss, right and mass of the
rows whose label is c) give per-class intervals and, with class weights, the loss denominator
Σ_c w_c·mass_c. A per-group count and two checksums (of the keys, and of keys with labels)
verify that both passes saw the same rows with the same labels.

Memory per model: 8·G·(7 + 3·C) bytes (C = 0 without per-class arrays); ``groups_for`` keeps
G·C near 2^19 when C is large.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ce_cli.core.progress import Progress, metered

GROUPS = 4096
MIN_GROUPS = 64
CHUNK = 128  # replicates drawn per block: a block of weights is CHUNK × G float64
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_KEY_SALT = np.uint64(0x5851F42D4C957F2D)
_LABEL_SALT = np.uint64(0x14057B7EF767814F)

Parts = tuple[np.ndarray, np.ndarray]
"""A metric as a ratio of group sums: (numerator per group, denominator per group)."""


def groups_for(n_classes: int = 0) -> int:
    """G: 4096, fewer (a power of two, at least 64) when C per-class arrays would be large."""
    if n_classes <= 128:
        return GROUPS
    g = GROUPS
    while g > MIN_GROUPS and g * n_classes > (1 << 19):
        g //= 2
    return g


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK


def key_hashes(keys: Sequence[object] | np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of row keys: integers hash by value, anything else by its text."""
    arr = np.asarray(keys) if isinstance(keys, np.ndarray) else None
    if arr is None and all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys
    ):
        arr = np.asarray(keys, dtype=np.int64)
    if arr is not None and arr.dtype.kind in "iu":
        return mix64(arr.astype(np.int64).view(np.uint64))
    digests = (hashlib.blake2b(str(k).encode(), digest_size=8).digest() for k in keys)
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


@dataclass
class GroupSums:
    """Per-group sums of one model's per-row results (and optionally per class)."""

    loss: np.ndarray  # (G,) Σ s·l
    denom: np.ndarray  # (G,) Σ s·d
    correct: np.ndarray  # (G,) Σ s·[right]
    mass: np.ndarray  # (G,) Σ s
    count: np.ndarray  # (G,) rows, int64
    checksum: np.ndarray  # (G,) Σ hash(key) mod 2^64
    label_checksum: np.ndarray  # (G,) Σ hash(key, label) mod 2^64
    class_loss: np.ndarray | None = None  # (C, G)
    class_correct: np.ndarray | None = None  # (C, G)
    class_mass: np.ndarray | None = None  # (C, G)

    @classmethod
    def empty(cls, groups: int = GROUPS, n_classes: int = 0) -> GroupSums:
        def z() -> np.ndarray:
            return np.zeros(groups)

        def zc() -> np.ndarray | None:
            return np.zeros((n_classes, groups)) if n_classes else None

        return cls(
            z(),
            z(),
            z(),
            z(),
            np.zeros(groups, np.int64),
            np.zeros(groups, np.uint64),
            np.zeros(groups, np.uint64),
            zc(),
            zc(),
            zc(),
        )

    @property
    def groups(self) -> int:
        return int(self.loss.size)

    @property
    def n_classes(self) -> int:
        return 0 if self.class_mass is None else int(self.class_mass.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.count.sum())

    def update(
        self,
        hashes: np.ndarray,
        loss: np.ndarray,
        correct: np.ndarray,
        *,
        denom: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        label: np.ndarray | None = None,
    ) -> None:
        """Add rows: their key hashes, loss, 0/1 correctness, denominator (default 1), sample
        weight (default 1) and class index (needed with per-class arrays; -1: none)."""
        g = self.groups
        group = (hashes % np.uint64(g)).astype(np.int64)
        s = np.ones(loss.size) if weight is None else np.asarray(weight, dtype=np.float64)
        d = s if denom is None else s * denom
        self.loss += np.bincount(group, weights=s * loss, minlength=g)
        self.denom += np.bincount(group, weights=d, minlength=g)
        self.correct += np.bincount(group, weights=s * correct, minlength=g)
        self.mass += np.bincount(group, weights=s, minlength=g)
        self.count += np.bincount(group, minlength=g)
        labels = np.full(loss.size, -1, np.int64) if label is None else label.astype(np.int64)
        with np.errstate(over="ignore"):
            np.add.at(self.checksum, group, mix64(hashes ^ _KEY_SALT))
            tagged = mix64(hashes ^ mix64(labels.view(np.uint64) ^ _LABEL_SALT))
            np.add.at(self.label_checksum, group, tagged)
        if self.class_mass is not None:
            assert self.class_loss is not None and self.class_correct is not None
            c = self.n_classes
            keep = (labels >= 0) & (labels < c)
            cell = labels[keep] * g + group[keep]
            size = c * g
            sk = s[keep]
            self.class_loss += np.bincount(cell, sk * loss[keep], size).reshape(c, g)
            self.class_correct += np.bincount(cell, sk * correct[keep], size).reshape(c, g)
            self.class_mass += np.bincount(cell, sk, size).reshape(c, g)

    def merge(self, other: GroupSums) -> GroupSums:
        """The sums of both (a new object); equal to one pass over the rows of both."""
        if (self.groups, self.n_classes) != (other.groups, other.n_classes):
            raise ValueError("group sums of different shapes do not merge")

        def add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else a + b

        with np.errstate(over="ignore"):
            return GroupSums(
                self.loss + other.loss,
                self.denom + other.denom,
                self.correct + other.correct,
                self.mass + other.mass,
                self.count + other.count,
                self.checksum + other.checksum,
                self.label_checksum + other.label_checksum,
                add(self.class_loss, other.class_loss),
                add(self.class_correct, other.class_correct),
                add(self.class_mass, other.class_mass),
            )

    def same_rows(self, other: GroupSums) -> bool:
        return bool(
            np.array_equal(self.count, other.count)
            and np.array_equal(self.checksum, other.checksum)
        )

    def same_labels(self, other: GroupSums) -> bool:
        return bool(np.array_equal(self.label_checksum, other.label_checksum))

    def parts(
        self,
        metric: str,
        class_index: int | None = None,
        class_weight: Sequence[float] | None = None,
    ) -> Parts:
        """The metric as (numerator, denominator) per group.

        ``loss``: Σ s·l / Σ s·d, where with ``class_weight`` (and per-class arrays) the
        denominator is Σ_c w_c·mass_c (PyTorch's weighted mean); ``accuracy``: Σ s·right / Σ s;
        ``class_loss`` and ``class_recall``: the same over the rows of class ``class_index``.
        """
        if metric == "loss":
            if class_weight is not None:
                if self.class_mass is None:
                    raise ValueError("a class-weighted denominator needs per-class arrays")
                return self.loss, np.asarray(class_weight, dtype=np.float64) @ self.class_mass
            return self.loss, self.denom
        if metric == "accuracy":
            return self.correct, self.mass
        if metric in ("class_loss", "class_recall"):
            if self.class_mass is None or class_index is None:
                raise ValueError(f"{metric} needs per-class arrays and a class index")
            assert self.class_loss is not None and self.class_correct is not None
            num = self.class_loss if metric == "class_loss" else self.class_correct
            return num[class_index], self.class_mass[class_index]
        raise ValueError(f"no group sums for metric {metric!r}")


@dataclass
class Interval:
    estimate: float  # candidate − baseline on the full data
    low: float
    high: float
    replicates: int  # replicates with a defined value (a replicate can miss a rare class)
    level: float = 0.95


def poisson_weights(groups: int, replicates: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of Poisson(1) group weights (rows = replicates); the same stream for any block
    size, so the result depends only on (groups, replicates, seed)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < replicates:
        n = min(CHUNK, replicates - done)
        yield rng.poisson(1.0, size=(n, groups)).astype(np.float64)
        done += n


def paired_intervals(
    pairs: Mapping[str, tuple[Parts, Parts]],
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    progress: Progress | None = None,
) -> dict[str, Interval | None]:
    """For each named metric, the bootstrap interval of candidate − baseline.

    ``pairs[name] = (candidate parts, baseline parts)``; every metric sees the same replicate
    weights. None where fewer than half the replicates give a defined difference.
    ``progress`` is told the replicates done (as its rows).
    """
    if not pairs:
        return {}
    groups = next(iter(pairs.values()))[0][0].size
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in pairs}
    blocks = poisson_weights(groups, replicates, seed)
    label = f"bootstrap ({replicates} replicates)"
    for w in metered(blocks, progress, label, replicates, lambda w: (w.shape[0], w.nbytes)):
        for name, ((cn, cd), (bn, bd)) in pairs.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                diffs[name].append((w @ cn) / (w @ cd) - (w @ bn) / (w @ bd))
    alpha = (1 - level) / 2
    out: dict[str, Interval | None] = {}
    for name, ((cn, cd), (bn, bd)) in pairs.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = float(cn.sum() / cd.sum() - bn.sum() / bd.sum())
        d = np.concatenate(diffs[name]) if diffs[name] else np.empty(0)
        d = d[np.isfinite(d)]
        if d.size < max(1, replicates // 2) or not np.isfinite(estimate):
            out[name] = None
            continue
        low, high = np.quantile(d, [alpha, 1 - alpha])
        out[name] = Interval(estimate, float(low), float(high), int(d.size), level)
    return out


def paired_difference(
    candidate: GroupSums,
    baseline: GroupSums,
    metric: str,
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """CI of metric(candidate) − metric(baseline); metric is 'loss' (Σl/Σd) or 'accuracy'."""
    pair = (candidate.parts(metric), baseline.parts(metric))
    interval = paired_intervals({metric: pair}, replicates, seed, level)[metric]
    if interval is None:
        raise ValueError(f"{metric}: the bootstrap difference is undefined")
    return interval
