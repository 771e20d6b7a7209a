"""Classification metrics from per-class sums, as scikit-learn defines them (pure numpy, O(C)).

Every metric here is a function of four sums over the used rows, with sample weights s_n (1
without ``--weight-col``; scikit-learn's ``sample_weight``) and predictions ŷ_n:

  tp_c = Σ s·[y = c ∧ ŷ = c]    predicted_c = Σ s·[ŷ = c]    support_c = Σ s·[y = c]
  total = Σ_c support_c         (single-label: every row has one true and one predicted class)

For multi-label data the same sums are taken per label over the 0/1 indicators (y_nc, ŷ_nc).
No C×C matrix is needed: Cohen's kappa and the multiclass MCC only use the diagonal and the
margins of the confusion matrix. Where a denominator is zero scikit-learn's default
``zero_division="warn"`` gives 0: per-class values are NaN here (the report prints null / "—"),
and count as 0 in the averages, which run over all C classes of the class list (scikit-learn
with ``labels=`` every class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SCALAR_METRICS = (
    "macro_f1",
    "weighted_f1",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "balanced_accuracy",
    "cohen_kappa",
    "mcc",
)
"""The metrics of ``ClassSums`` that are one number, each a function of this module by its name
(the score report's ``classification`` keys and ``ce check``'s metric names)."""

CONFUSION_MAX_CLASSES = 1024
"""Above this many classes the C×C confusion matrix (8·C² bytes) is not kept; the O(C) sums
still give every metric here."""


@dataclass(frozen=True)
class ClassSums:
    """The sufficient statistics: ``tp``, ``predicted`` and ``support`` per class, (C,) each —
    or (C, n) each for n bootstrap replicates at once (``core.bootstrap``): every formula below
    works along axis 0 and gives a float for (C,) sums, an (n,) array for (C, n) sums."""

    tp: np.ndarray
    predicted: np.ndarray
    support: np.ndarray

    @property
    def total(self) -> float:
        """Σ_c support_c: the weighted row count (single-label)."""
        return float(self.support.sum())


Value = Any
"""A metric of ``ClassSums``: a float (np.float64) for (C,) sums, an (n,) array for (C, n)."""


def _ratio(num: np.ndarray, den: np.ndarray, undefined: float = math.nan) -> Value:
    """num / den element-wise; ``undefined`` where den = 0 (a float for 0-d inputs)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), den)
    out = np.full(num.shape, undefined)
    np.divide(num, den, out=out, where=den != 0)
    return out[()]


def precision(s: ClassSums) -> np.ndarray:
    """P_c = tp_c / predicted_c (NaN when the class is never predicted)."""
    return _ratio(s.tp, s.predicted)


def recall(s: ClassSums) -> np.ndarray:
    """R_c = tp_c / support_c (NaN when the class has no rows)."""
    return _ratio(s.tp, s.support)


def f1(s: ClassSums) -> np.ndarray:
    """F1_c = 2·tp_c / (predicted_c + support_c) (scikit-learn ≥ 1.3 computes it from tp, fp, fn
    this way, so it is 0 — not undefined — when only one of P_c, R_c is; NaN when the class is
    neither present nor predicted)."""
    return _ratio(2 * s.tp, s.predicted + s.support)


def _mean0(values: np.ndarray) -> Value:
    """(1/C) Σ_c v_c with undefined (NaN) v_c as 0 — zero_division=0 in an average."""
    if not values.shape[0]:
        return np.zeros(values.shape[1:])[()]
    return np.nan_to_num(values, nan=0.0).mean(axis=0)


def macro_precision(s: ClassSums) -> Value:
    """(1/C) Σ_c P_c (undefined P_c as 0): ``precision_score(average='macro')``."""
    return _mean0(precision(s))


def macro_recall(s: ClassSums) -> Value:
    """(1/C) Σ_c R_c (undefined R_c as 0): ``recall_score(average='macro')``."""
    return _mean0(recall(s))


def macro_f1(s: ClassSums) -> Value:
    """(1/C) Σ_c F1_c (undefined F1_c as 0): ``f1_score(average='macro')``."""
    return _mean0(f1(s))


def weighted_f1(s: ClassSums) -> Value:
    """Σ_c support_c·F1_c / Σ_c support_c (0 when no class has support):
    ``f1_score(average='weighted')``."""
    weighted = (np.nan_to_num(f1(s), nan=0.0) * s.support).sum(axis=0)
    return _ratio(weighted, s.support.sum(axis=0), 0.0)


def micro_f1(s: ClassSums) -> Value:
    """2·Σ_c tp_c / (Σ_c predicted_c + Σ_c support_c) (0 when both are 0):
    ``f1_score(average='micro')``. Single-label with every class listed this is the accuracy
    Σ tp / total."""
    den = s.predicted.sum(axis=0) + s.support.sum(axis=0)
    return _ratio(2 * s.tp.sum(axis=0), den, 0.0)


def balanced_accuracy(s: ClassSums) -> Value:
    """(1/|A|) Σ_{c ∈ A} R_c over A = {c : support_c > 0}: ``balanced_accuracy_score``
    (scikit-learn drops the classes only predicted, with a warning). NaN when A is empty."""
    present = s.support > 0
    recalls = np.where(present, np.nan_to_num(recall(s), nan=0.0), 0.0)
    return _ratio(recalls.sum(axis=0), present.sum(axis=0))


def cohen_kappa(s: ClassSums) -> Value:
    """κ = 1 − (n − Σ_c tp_c) / (Σ_c p_c·(n − t_c) / n), with n = Σ_c t_c, p = predicted,
    t = support: ``cohen_kappa_score`` (unweighted), whose observed and expected off-diagonal
    mass are these margins' sums. NaN where it is undefined (n = 0, or one class only in labels
    and predictions alike: scikit-learn's ``replace_undefined_by=np.nan``)."""
    n = s.support.sum(axis=0)
    expected = _ratio((s.predicted * (n - s.support)).sum(axis=0), n, 0.0)
    return 1 - _ratio(n - s.tp.sum(axis=0), expected)


def mcc(s: ClassSums) -> Value:
    """Multiclass Matthews correlation (Gorodkin 2004), as ``matthews_corrcoef``:
    (c·n − Σ_k p_k·t_k) / √((n² − Σ_k p_k²)·(n² − Σ_k t_k²)), with c = Σ_k tp_k, n = Σ_k p_k,
    p = predicted, t = support; 0 when the denominator is 0 (as scikit-learn). Binary data gives
    the usual (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN))."""
    t, p = s.support.astype(np.float64), s.predicted.astype(np.float64)
    n = p.sum(axis=0)
    cov_ytyp = s.tp.sum(axis=0) * n - (t * p).sum(axis=0)
    product = (n**2 - (p * p).sum(axis=0)) * (n**2 - (t * t).sum(axis=0))
    return _ratio(cov_ytyp, np.sqrt(np.maximum(product, 0.0)), 0.0)


def top_k_hits(scores: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Per row, whether the true class is among the k best scores, by scikit-learn's
    ``top_k_accuracy_score`` ranking (a stable ascending argsort, reversed: among equal scores
    the higher class index ranks first). The true class y ranks at
    r = #{j : x_j > x_y} + #{j > y : x_j = x_y} (0-based); a hit is r < k. Vectorised: O(n·K)
    (the second count only over the rows with a tie)."""
    n, width = scores.shape
    if k >= width:
        return np.ones(n, dtype=bool)
    true = scores[np.arange(n), label][:, None]
    rank = np.count_nonzero(scores > true, axis=1)
    tied = np.flatnonzero(np.count_nonzero(scores == true, axis=1) > 1)  # few rows, usually
    if tied.size:
        later = np.arange(width)[None, :] > label[tied, None]
        rank[tied] += np.count_nonzero((scores[tied] == true[tied]) & later, axis=1)
    return rank < k


def top_pairs(
    matrix: np.ndarray, support: np.ndarray, limit: int | None
) -> list[tuple[int, int, float, float]]:
    """The off-diagonal cells of a confusion matrix (rows true, columns predicted) with a count
    above 0, as ``(true, predicted, count, count / support_true)``: largest count first, then
    largest rate, then class order (true, then predicted); at most ``limit`` (None: all)."""
    off = matrix.copy()
    np.fill_diagonal(off, 0.0)
    rows, cols = np.nonzero(off > 0)
    counts = off[rows, cols]
    rates = counts / support[rows]
    order = np.lexsort((cols, rows, -rates, -counts))
    if limit is not None:
        order = order[:limit]
    return [(int(rows[i]), int(cols[i]), float(counts[i]), float(rates[i])) for i in order.tolist()]
