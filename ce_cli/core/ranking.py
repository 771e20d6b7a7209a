"""ROC-AUC and average precision: exact (as scikit-learn) and from score histograms, with a bound.

Exact, for one class: scores s_n, truth y_n ∈ {0, 1}, sample weights w_n (1 if None). Sorted by
descending score, the distinct scores are the thresholds t_1 > t_2 > …; at each,
  TP_i = Σ_{s_n ≥ t_i} w_n y_n,   FP_i = Σ_{s_n ≥ t_i} w_n (1 − y_n),   P = TP_last, N = FP_last
(scikit-learn's ``_binary_clf_curve`` / ``confusion_matrix_at_thresholds``: tied scores are one
threshold).
  ROC-AUC = Σ_i (FP_i − FP_{i−1}) (TP_i + TP_{i−1}) / (2 P N)   (the trapezoid through the ROC
            points (FP_i/N, TP_i/P), from (0, 0): ``roc_auc_score``; a tie of a positive and a
            negative counts ½)
  AP      = Σ_i (TP_i − TP_{i−1}) / P · TP_i / (TP_i + FP_i)    (the step sum, no interpolation:
            ``average_precision_score``)
with TP_0 = FP_0 = 0. Both are undefined (NaN here) when P = 0 or N = 0.

Binned, for one class: uniform bins on [0, 1] (bin b = min(⌊p·B⌋, B − 1), monotone in p), with the
positive mass P_b and the negative mass N_b of each bin. The estimate is the exact value with every
score replaced by its bin (all scores of a bin tied). Its worst-case error:
  ROC-AUC: a positive and a negative in different bins are ordered as their scores are; a pair in
    one bin counts ½ in the estimate and 0, ½ or 1 truly, so
      |AUC − AUC_binned| ≤ ½ Σ_b P_b N_b / (P N).
  AP: bin b's positives carry recall P_b / P in both. With T = Σ_{b' > b} P_{b'} and
    F = Σ_{b' > b} N_{b'} (the mass in higher bins), their true precisions are
    (T + a)/(T + a + F + c), with a ∈ (0, P_b] the positive and c ∈ [0, N_b] the negative mass
    of the bin ranked with or above them. Their true contribution Σ Δa · prec lies in
      [∫_0^{P_b} (T + a)/(T + a + F + N_b) da,  P_b (T + P_b)/(T + P_b + F)]
    (the lower end: every negative of the bin first, precision increasing in a and taken at each
    step's right end; the upper: no negative first, a = P_b), and the estimate's is
    P_b (T + P_b)/(T + P_b + F + N_b). The integral is P_b − D ln((T + P_b + D)/(T + D)), with
    D = F + N_b. The bound is the larger distance from the estimate to the sum of the lower or of
    the upper ends, divided by P.
The ROC-AUC bound is 0 when no bin holds both a positive and a negative. The AP bound cannot
tell one row from many in a bin (a histogram does not say), so it stays above 0 even when every
bin holds one score; both shrink as B grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ranked:
    """Per-class ROC-AUC and average precision (NaN where undefined), with the worst-case error
    of each (0 when exact)."""

    roc_auc: np.ndarray  # (K,)
    average_precision: np.ndarray  # (K,)
    positives: np.ndarray  # (K,) Σ w·y per class
    negatives: np.ndarray  # (K,) Σ w·(1 − y) per class
    roc_auc_error: np.ndarray  # (K,) |AUC − AUC_exact| ≤ this
    average_precision_error: np.ndarray  # (K,)

    @property
    def defined(self) -> np.ndarray:
        """Classes with positive and negative mass (their AUC and AP are defined)."""
        return (self.positives > 0) & (self.negatives > 0)


# ---------------------------------------------------------------------- exact
def threshold_sums(
    score: np.ndarray, truth: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(TP_i, FP_i) at the distinct scores in descending order, summed in float64 (scikit-learn's
    ``confusion_matrix_at_thresholds``). Tied scores are one threshold, so the order among them
    only moves the last bit of weighted sums: numpy's default sort (4× faster than a stable one
    on 1M scores; deterministic, so the same input gives the same bits)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64))
    s = np.asarray(score, dtype=np.float64)[order]
    y = np.asarray(truth, dtype=np.float64)[order]
    last = np.flatnonzero(np.diff(s))
    ends = np.append(last, s.size - 1) if s.size else last
    if weight is None:
        tps = np.cumsum(y)[ends]
        fps = 1.0 + ends - tps
    else:
        w = np.asarray(weight, dtype=np.float64)[order]
        tps = np.cumsum(y * w)[ends]
        fps = np.cumsum((1 - y) * w)[ends]
    return tps, fps


def roc_auc_from_sums(tps: np.ndarray, fps: np.ndarray) -> float:
    """The trapezoid through (FP_i/N, TP_i/P) from (0, 0); NaN when P = 0 or N = 0."""
    if tps.size == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def average_precision_from_sums(tps: np.ndarray, fps: np.ndarray) -> float:
    """Σ_i (R_i − R_{i−1}) · Prec_i, R_0 = 0 (precision 0 where TP + FP = 0); NaN when P = 0
    or N = 0."""
    if tps.size == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = np.concatenate(([0.0], tps / tps[-1]))
    return float(max(0.0, np.sum(np.diff(recall) * precision)))


def exact(
    score: np.ndarray, truth: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float, float, float]:
    """(ROC-AUC, AP, positive mass, negative mass) of one class, as scikit-learn's
    ``roc_auc_score`` and ``average_precision_score``."""
    tps, fps = threshold_sums(score, truth, weight)
    if tps.size == 0:
        return float("nan"), float("nan"), 0.0, 0.0
    return (
        roc_auc_from_sums(tps, fps),
        average_precision_from_sums(tps, fps),
        float(tps[-1]),
        float(fps[-1]),
    )


# ---------------------------------------------------------------------- binned
def bin_index(prob: np.ndarray, bins: int) -> np.ndarray:
    """min(⌊p·B⌋, B − 1) for p in [0, 1]: uniform bins, by arithmetic (monotone in p)."""
    index = (np.asarray(prob, dtype=np.float64) * bins).astype(np.int64)
    return np.minimum(index, bins - 1, out=index)


def binned(pos: np.ndarray, neg: np.ndarray) -> Ranked:
    """Per-class ROC-AUC and AP from histograms ``pos``, ``neg`` of shape (K, B) (bin b = scores
    in [b/B, (b+1)/B)), with their worst-case errors (see the module docstring)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    p_total, n_total = pos.sum(axis=1), neg.sum(axis=1)
    defined = (p_total > 0) & (n_total > 0)
    # mass strictly above each bin (bins in descending order of score)
    p_above = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1] - pos
    n_above = np.cumsum(neg[:, ::-1], axis=1)[:, ::-1] - neg
    pairs = p_total * n_total
    safe_pairs = np.where(defined, pairs, 1.0)
    auc = (neg * (p_above + pos / 2)).sum(axis=1) / safe_pairs
    auc_error = (pos * neg).sum(axis=1) / 2 / safe_pairs
    ap, ap_error = _binned_ap(pos, neg, p_above, n_above, np.where(defined, p_total, 1.0))
    nan = np.full(pos.shape[0], np.nan)
    return Ranked(
        roc_auc=np.where(defined, auc, nan),
        average_precision=np.where(defined, ap, nan),
        positives=p_total,
        negatives=n_total,
        roc_auc_error=np.where(defined, auc_error, nan),
        average_precision_error=np.where(defined, ap_error, nan),
    )


def _binned_ap(
    pos: np.ndarray, neg: np.ndarray, p_above: np.ndarray, n_above: np.ndarray, p_total: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(AP with every bin one threshold, its worst-case error), per class."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = p_above + pos
        estimate = np.where(pos > 0, pos * hits / (hits + n_above + neg), 0.0)
        upper = np.where(pos > 0, pos * hits / (hits + n_above), 0.0)
        d = n_above + neg
        lower = pos - d * np.log1p(pos / (p_above + d))
        lower = np.where((pos > 0) & (d > 0), lower, upper)
    ap = estimate.sum(axis=1) / p_total
    low, high = lower.sum(axis=1) / p_total, upper.sum(axis=1) / p_total
    error = np.maximum(high - ap, ap - low)
    return ap, np.maximum(error, 0.0)
