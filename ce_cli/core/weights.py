"""Class frequencies → class weights (pure numpy; no I/O).

``counts[c]`` is the (sample-weighted) number of rows of class c — for multi-label data, the
number of positives of label c — and ``total`` is N, the (weighted) number of rows.
A class with count 0 has no defined weight: its entry is NaN here (``None`` in reports).

Schemes (C = number of classes, n_c = counts[c], N = total):
  balanced      w_c = N / (n_c · C)              seed "Proposition"; sklearn 'balanced'
  inverse       w_c = N / n_c
  sqrt-inverse  w_c = sqrt(N / n_c)
  effective     w_c ∝ (1 − β) / (1 − β^n_c), scaled so Σ w_c = number of classes with n_c > 0
                (Cui et al., CVPR 2019)
  median        w_c = median_j(f_j) / f_c, f_c = n_c / N over classes with n_c > 0
                (Eigen & Fergus, ICCV 2015)
pos_weight (binary / multi-label): P_c = (N − n_c) / n_c, PyTorch's BCEWithLogitsLoss pos_weight.
"""

from __future__ import annotations

import numpy as np

from ce_cli.core.vocab import WEIGHT_SCHEMES as SCHEMES


def class_weights(
    counts: np.ndarray, total: float, scheme: str = "balanced", beta: float = 0.999
) -> np.ndarray:
    """Weights per class by ``scheme`` (see the module docstring); NaN where n_c = 0."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    safe = np.where(present, counts, 1.0)
    if scheme == "balanced":
        weights = total / (safe * len(counts))
    elif scheme == "inverse":
        weights = total / safe
    elif scheme == "sqrt-inverse":
        weights = np.sqrt(total / safe)
    elif scheme == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), not {beta}")
        raw = (1 - beta) / -np.expm1(safe * np.log(beta)) if beta > 0 else np.ones_like(safe)
        weights = raw * present.sum() / raw[present].sum() if present.any() else raw
    elif scheme == "median":
        freq = safe / total
        weights = np.median(freq[present]) / freq if present.any() else freq
    else:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return np.where(present, weights, np.nan)


def pos_weights(counts: np.ndarray, total: float) -> np.ndarray:
    """P_c = negatives / positives = (N − n_c) / n_c; NaN where n_c = 0."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    return np.where(present, (total - counts) / np.where(present, counts, 1.0), np.nan)


def imbalance_ratio(counts: np.ndarray) -> float:
    """Largest count / smallest non-zero count (NaN when no class has a count)."""
    counts = np.asarray(counts, dtype=np.float64)
    nonzero = counts[counts > 0]
    return float(counts.max() / nonzero.min()) if nonzero.size else float("nan")


def normalized_entropy(counts: np.ndarray, total: float, multilabel: bool = False) -> float:
    """Label entropy in [0, 1]: 1 means balanced.

    Single-label: H(f) / log C with f_c = n_c / Σ n. Multi-label: the mean over labels of the
    binary entropy H_b(n_c / N) / log 2. NaN when undefined (one class, or no rows).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if multilabel:
        if total <= 0:
            return float("nan")
        p = np.clip(counts / total, 0.0, 1.0)
        h = -(_xlogx(p) + _xlogx(1 - p)) / np.log(2)
        return float(h.mean())
    mass = counts.sum()
    if len(counts) < 2 or mass <= 0:
        return float("nan")
    return float(-_xlogx(counts / mass).sum() / np.log(len(counts)))


def _xlogx(p: np.ndarray) -> np.ndarray:
    return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
