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

For F1-type metrics (macro/weighted/micro F1, macro precision/recall, balanced accuracy,
Cohen's kappa, MCC, class F1 and precision) a fourth C × G array, the mass predicted as each
class, joins them: with tp_c (the right rows of class c), predicted_c and support_c per
replicate, each is ``core.classification``'s formula of these three C-vectors, evaluated for a
block of replicates at once (``CLASS_TABLE``, ``classification_statistic``). Multi-label sums
(``multilabel=True``) keep per label c: tp_c = Σ s·[ŷ_c ∧ y_c], predicted_c = Σ s·ŷ_c and
support_c = Σ s·y_c (positives), from the score's decisions, and no per-label loss.
``confusion[A,B]`` keeps one G array per requested pair (Σ s of the rows labelled A predicted
as B) over support_A. Each metric is then a ``Statistic``: the group arrays it reads and a
function of their weighted totals.

Memory per model: 8·G·(7 + k·C + P) bytes (k = 0, 3 or 4 per-class arrays, P requested pairs);
``groups_for`` keeps G·C·k near 3·2^19 when C is large.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli.core import classification as cm
from ce_cli.core.progress import Progress, metered

GROUPS = 4096
MIN_GROUPS = 64
CHUNK = 128  # replicates drawn per block: a block of weights is CHUNK × G float64
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_KEY_SALT = np.uint64(0x5851F42D4C957F2D)
_LABEL_SALT = np.uint64(0x14057B7EF767814F)

Parts = tuple[np.ndarray, np.ndarray]
"""A metric as a ratio of group sums: (numerator per group, denominator per group)."""


def groups_for(n_classes: int = 0, arrays: int = 3) -> int:
    """G: 4096, fewer (a power of two, at least 64) when ``arrays`` per-class arrays of C × G
    would hold more than 3·2^19 cells (12 MiB)."""
    g = GROUPS
    while g > MIN_GROUPS and g * n_classes * arrays > 3 * (1 << 19):
        g //= 2
    return g


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK


def label_set_codes(truth: np.ndarray) -> np.ndarray:
    """One uint64 per row of an (n, K) 0/1 array: Σ_k y_k·mix64(k) mod 2^64, a hash of the
    row's set of positive labels (the multi-label counterpart of a class index)."""
    tags = mix64(np.arange(truth.shape[1], dtype=np.uint64))
    with np.errstate(over="ignore"):
        return np.where(np.asarray(truth, dtype=bool), tags, np.uint64(0)).sum(
            axis=1, dtype=np.uint64
        )


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
    class_predicted: np.ndarray | None = None  # (C, G) Σ s of the rows predicted as c
    pair_count: np.ndarray | None = None  # (P, G) Σ s of the rows labelled a predicted b
    pairs: tuple[tuple[int, int], ...] = field(default=())  # the P (a, b) class indices

    @classmethod
    def empty(
        cls,
        groups: int = GROUPS,
        n_classes: int = 0,
        *,
        predicted: bool = False,
        pairs: Sequence[tuple[int, int]] = (),
        multilabel: bool = False,
    ) -> GroupSums:
        """Zero sums; per-class arrays when ``n_classes``, with ``predicted`` the predicted mass
        per class too, and one array per (true, predicted) pair of ``pairs``. ``multilabel``:
        the per-class arrays are per label (tp, predicted positives, positives; no loss)."""

        def z() -> np.ndarray:
            return np.zeros(groups)

        def zc() -> np.ndarray | None:
            return np.zeros((n_classes, groups)) if n_classes else None

        pairs = tuple((int(a), int(b)) for a, b in pairs)
        return cls(
            z(),
            z(),
            z(),
            z(),
            np.zeros(groups, np.int64),
            np.zeros(groups, np.uint64),
            np.zeros(groups, np.uint64),
            None if multilabel else zc(),
            zc(),
            zc(),
            zc() if predicted else None,
            np.zeros((len(pairs), groups)) if pairs else None,
            pairs,
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
        predicted: np.ndarray | None = None,
        decision: np.ndarray | None = None,
        truth: np.ndarray | None = None,
    ) -> None:
        """Add rows: their key hashes, loss, 0/1 correctness, denominator (default 1), sample
        weight (default 1), class index (needed with per-class arrays; -1: none) and predicted
        class index (needed with predicted mass or pairs). Multi-label sums take the (n, K)
        boolean ``decision`` (predicted positive) and ``truth`` (positive) instead of classes."""
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
        given = labels.view(np.uint64) if truth is None else label_set_codes(truth)
        with np.errstate(over="ignore"):
            np.add.at(self.checksum, group, mix64(hashes ^ _KEY_SALT))
            tagged = mix64(hashes ^ mix64(given ^ _LABEL_SALT))
            np.add.at(self.label_checksum, group, tagged)
        if decision is not None and truth is not None:
            self._add_multilabel(group, s, decision, truth)
        elif self.class_mass is not None:
            assert self.class_loss is not None and self.class_correct is not None
            c = self.n_classes
            keep = (labels >= 0) & (labels < c)
            cell = labels[keep] * g + group[keep]
            size = c * g
            sk = s[keep]
            self.class_loss += np.bincount(cell, sk * loss[keep], size).reshape(c, g)
            self.class_correct += np.bincount(cell, sk * correct[keep], size).reshape(c, g)
            self.class_mass += np.bincount(cell, sk, size).reshape(c, g)
        if decision is None and (self.class_predicted is not None or self.pair_count is not None):
            assert predicted is not None, "predicted classes are needed for these sums"
            self._add_predicted(group, s, labels, np.asarray(predicted, dtype=np.int64))

    def _add_multilabel(
        self, group: np.ndarray, s: np.ndarray, decision: np.ndarray, truth: np.ndarray
    ) -> None:
        """Per (label c, group g): tp = Σ s·[ŷ_c ∧ y_c], predicted = Σ s·ŷ_c, support = Σ s·y_c
        over the rows of g — one ``bincount`` over the nonzero cells of each (n, K) matrix."""
        assert self.class_correct is not None and self.class_predicted is not None
        assert self.class_mass is not None
        g = self.groups
        size = self.n_classes * g
        targets = (self.class_correct, self.class_predicted, self.class_mass)
        for out, cells in zip(targets, (decision & truth, decision, truth), strict=True):
            rows, cols = np.nonzero(cells)
            out += np.bincount(cols * g + group[rows], s[rows], size).reshape(-1, g)

    def _add_predicted(
        self, group: np.ndarray, s: np.ndarray, labels: np.ndarray, predicted: np.ndarray
    ) -> None:
        """Σ s per (predicted class, group), and per (requested pair, group)."""
        g = self.groups
        if self.class_predicted is not None:
            c = self.class_predicted.shape[0]
            keep = (predicted >= 0) & (predicted < c) & (labels >= 0)
            cell = predicted[keep] * g + group[keep]
            self.class_predicted += np.bincount(cell, s[keep], c * g).reshape(c, g)
        if self.pair_count is not None:
            for i, (a, b) in enumerate(self.pairs):
                hit = (labels == a) & (predicted == b)
                self.pair_count[i] += np.bincount(group[hit], s[hit], g)

    def _shape(self) -> tuple[Any, ...]:
        """What must agree for two sums to merge: groups, classes, which arrays, the pairs."""
        kept = (self.class_loss is None, self.class_predicted is None)
        return (self.groups, self.n_classes, kept, self.pairs)

    def merge(self, other: GroupSums) -> GroupSums:
        """The sums of both (a new object); equal to one pass over the rows of both."""
        if self._shape() != other._shape():
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
                add(self.class_predicted, other.class_predicted),
                add(self.pair_count, other.pair_count),
                self.pairs,
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
            num = self.class_loss if metric == "class_loss" else self.class_correct
            if num is None or self.class_mass is None or class_index is None:
                raise ValueError(
                    f"{metric} needs per-class arrays and a class index (multi-label sums keep "
                    "no per-label loss, so class_loss has none)"
                )
            return num[class_index], self.class_mass[class_index]
        raise ValueError(f"no group sums for metric {metric!r}")


def _quotient(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Σ w·num / Σ w·den per replicate (NaN or inf where the denominator is 0: dropped)."""
    return num / den


@dataclass(frozen=True)
class Statistic:
    """A metric of weighted group sums: the arrays it reads — each (G,) or (k, G) — and a
    function of their weighted totals (each (n,) or (k, n) for n replicates) → (n,) values.

    One replicate with group weights w gives ``compute(*(a @ w for a in sources))``; the full
    data (every w_g = 1) gives ``value()``. Arrays shared by several statistics are weighted
    once per block of replicates."""

    sources: tuple[np.ndarray, ...]
    compute: Callable[..., np.ndarray]

    @classmethod
    def ratio(cls, parts: Parts) -> Statistic:
        """Σ w·num / Σ w·den."""
        return cls(tuple(parts), _quotient)

    def value(self, cache: dict[int, np.ndarray] | None = None) -> float:
        """The statistic of the full data; ``cache`` shares the totals of arrays (by
        identity) between statistics."""
        cache = {} if cache is None else cache
        totals = []
        for a in self.sources:
            if id(a) not in cache:
                cache[id(a)] = np.asarray(a).sum(axis=-1)[..., None]
            totals.append(cache[id(a)])
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(self.compute(*totals)[0])


def _of_sums(
    formula: Callable[[cm.ClassSums], Any],
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A ``core.classification`` formula as a function of (tp, predicted, support) totals, each
    (C, n) — or (n,) for one class — for n replicates at once."""

    def of_totals(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> np.ndarray:
        return np.asarray(formula(cm.ClassSums(tp, predicted, support)))

    of_totals.__name__ = formula.__name__
    return of_totals


CLASS_TABLE: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    **{name: _of_sums(getattr(cm, name)) for name in cm.SCALAR_METRICS},
    "class_f1": _of_sums(cm.f1),
    "class_precision": _of_sums(cm.precision),
}
"""The metrics of per-class (tp, predicted, support) totals — ``core.classification``'s
formulas, vectorised over replicates; ``class_*`` are per class (given one class's totals)."""


def classification_statistic(
    sums: GroupSums, metric: str, class_index: int | None = None
) -> Statistic:
    """``metric`` (a ``CLASS_TABLE`` name, or ``confusion`` with ``class_index`` the pair's
    index in ``sums.pairs``) as a Statistic of these sums: the C × G arrays of tp, predicted
    and support (one class's rows of them for ``class_*``), or for ``confusion[A,B]`` the pair's
    count over support_A."""
    if metric == "confusion":
        if sums.pair_count is None or class_index is None or sums.class_mass is None:
            raise ValueError("confusion needs the pair's counts and per-class arrays")
        true_class = sums.pairs[class_index][0]
        return Statistic.ratio((sums.pair_count[class_index], sums.class_mass[true_class]))
    if sums.class_predicted is None or sums.class_correct is None or sums.class_mass is None:
        raise ValueError(f"{metric} needs per-class tp, predicted and support arrays")
    arrays = (sums.class_correct, sums.class_predicted, sums.class_mass)
    if metric.startswith("class_"):
        if class_index is None:
            raise ValueError(f"{metric} needs a class index")
        arrays = tuple(a[class_index] for a in arrays)
    return Statistic(arrays, CLASS_TABLE[metric])


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


def _statistic(x: Parts | Statistic) -> Statistic:
    return x if isinstance(x, Statistic) else Statistic.ratio(x)


def _replicates(stat: Statistic, w: np.ndarray, cache: dict[int, np.ndarray]) -> np.ndarray:
    """The statistic under each row of group weights ``w`` (n × G); each source array is
    weighted once per block (``cache``, by identity)."""
    totals = []
    for a in stat.sources:
        if id(a) not in cache:
            cache[id(a)] = w @ a if a.ndim == 1 else a @ w.T
        totals.append(cache[id(a)])
    return stat.compute(*totals)


def paired_intervals(
    pairs: Mapping[str, tuple[Parts | Statistic, Parts | Statistic]],
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    progress: Progress | None = None,
) -> dict[str, Interval | None]:
    """For each named metric, the bootstrap interval of candidate − baseline.

    ``pairs[name] = (candidate, baseline)``, each a ratio's (numerator, denominator) parts or a
    ``Statistic``; every metric sees the same replicate weights. None where fewer than half the
    replicates give a defined difference. ``progress`` is told the replicates done (as its
    rows).
    """
    if not pairs:
        return {}
    stats = {name: (_statistic(c), _statistic(b)) for name, (c, b) in pairs.items()}
    groups = next(iter(stats.values()))[0].sources[0].shape[-1]
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in pairs}
    blocks = poisson_weights(groups, replicates, seed)
    label = f"bootstrap ({replicates} replicates)"
    for w in metered(blocks, progress, label, replicates, lambda w: (w.shape[0], w.nbytes)):
        cache: dict[int, np.ndarray] = {}
        for name, (cur, base) in stats.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                diffs[name].append(_replicates(cur, w, cache) - _replicates(base, w, cache))
    alpha = (1 - level) / 2
    out: dict[str, Interval | None] = {}
    full: dict[int, np.ndarray] = {}
    for name, (cur, base) in stats.items():
        estimate = cur.value(full) - base.value(full)
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
