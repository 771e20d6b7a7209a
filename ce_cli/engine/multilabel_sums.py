"""Multi-label BCE / sigmoid focal on logits, in one pass over row blocks.

``LossAccumulator`` (``engine.loss_sums``) scores multi-hot targets on logits through
``label_block_sums``: per block of about ``LABEL_BLOCK_ELEMENTS`` values it computes the
element terms (the loss's, and the plain BCE when they differ), the decision z/T ≥ logit(t) and
the truth y = 1, and keeps only

  - per row: Σ_k l (→ the row mean, the top-K key), Σ_k plain, Σ_k ω, the wrong labels;
  - per label: Σ s·l, Σ s·y (support, prior), Σ s·decision, Σ s·(decision ∧ truth);

so no whole-batch (n, K) float64 array is made beside the batch's own. The full (n, K) terms,
decisions and truths are kept only when asked for (``keep``: ``--reduction none`` writes the
terms per label; the bootstrap of ``ce check`` reads the decisions).

Every element term is the kernel's value on that element alone, so blocks change no term; the
row sums add the same values in the same order as on the whole batch (the block has the
batch's memory layout), hence per-row values, and the batch's Σ s·(row sum), are bit for bit
those of the whole-batch path. Per-label sums with sample weights add block by block (the last
bits may differ from one whole-batch product), as do the per-label loss sums; the counts of
unweighted rows are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

LABEL_BLOCK_ELEMENTS = 1 << 17
"""Values per row block (1 MiB of float64 per block array; the block's arrays stay in L2)."""

# (z, y, y = 1) of one block → (the loss's terms, the plain BCE): one array when they are equal
ElementKernel = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class LabelBlockSums:
    """One batch's multi-label sums (sample weights s; 1 when there are none)."""

    row_terms: np.ndarray  # (n,) Σ_k l: the loss's terms per row
    row_plain: np.ndarray  # (n,) Σ_k plain BCE (the same array when the terms are plain)
    row_omega: np.ndarray  # (n,) Σ_k ω, ω = w_k·(P_k·y + 1 − y)
    errors: np.ndarray  # (n,) float64 wrong labels per row
    class_terms: np.ndarray  # (K,) Σ s·l per label
    positives: np.ndarray  # (K,) Σ s·y
    predicted: np.ndarray  # (K,) Σ s·[decision]
    hits: np.ndarray  # (K,) Σ s·[decision ∧ truth]
    elements: np.ndarray | None = None  # (n, K) terms, when kept
    decision: np.ndarray | None = None  # (n, K) bool, when kept
    truth: np.ndarray | None = None  # (n, K) bool, when kept


@dataclass(frozen=True)
class LabelRule:
    """How one batch is scored: the kernel, T, the logit cut and the per-label weights."""

    kernel: ElementKernel  # element terms of (z, y) blocks
    temperature: float
    cut: np.float64  # logit(t): positive when z/T ≥ cut
    class_weight: np.ndarray | None = None  # (K,)
    pos_weight: np.ndarray | None = None  # (K,)
    plain: bool = True  # the kernel's terms are the plain BCE (one array)

    def logits(self, preds: np.ndarray) -> np.ndarray:
        """z / T (a view when T = 1), elementwise as the whole-batch path divides."""
        return preds / self.temperature if self.temperature != 1 else preds

    def worst_labels(self, preds: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The label of the largest term per row (ties: the first), for a few rows."""
        terms, _ = self.kernel(self.logits(preds), y, _truth(y))
        return np.argmax(terms, axis=1)


def block_rows(n_cols: int) -> int:
    """Rows per block: about ``LABEL_BLOCK_ELEMENTS`` values, at least 64 rows."""
    return max(64, LABEL_BLOCK_ELEMENTS // max(n_cols, 1))


def label_block_sums(
    preds: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    rule: LabelRule,
    keep: bool = False,
) -> LabelBlockSums:
    """The sums of one batch of (n, K) logits and 0/1 targets, block by block (see the module
    docstring); ``keep``: the (n, K) terms, decisions and truths too."""
    n, k = preds.shape
    out = _empty_sums(n, k, rule, keep, preds.flags.f_contiguous and not preds.flags.c_contiguous)
    rows, lo = block_rows(k), 0
    while lo < n:
        hi = min(lo + rows, n)
        if hi == n - 1:  # no one-row last block: numpy sums a lone row in another order
            hi = n
        w = None if weight is None else weight[lo:hi]
        _add_block(out, slice(lo, hi), preds[lo:hi], y[lo:hi], w, rule)
        lo = hi
    if rule.pos_weight is None:  # ω does not depend on y: the same sum on every row
        omega = np.ones((1, k)) if rule.class_weight is None else rule.class_weight.reshape(1, k)
        out.row_omega[:] = np.broadcast_to(omega, (1, k)).sum(axis=1)[0]
    return out


def _empty_sums(n: int, k: int, rule: LabelRule, keep: bool, fortran: bool) -> LabelBlockSums:
    order: Literal["C", "F"] = "F" if fortran else "C"
    row_terms = np.empty(n)
    return LabelBlockSums(
        row_terms=row_terms,
        row_plain=row_terms if rule.plain else np.empty(n),
        row_omega=np.empty(n),
        errors=np.empty(n),
        class_terms=np.zeros(k),
        positives=np.zeros(k),
        predicted=np.zeros(k),
        hits=np.zeros(k),
        elements=np.empty((n, k), order=order) if keep else None,
        decision=np.empty((n, k), dtype=bool, order=order) if keep else None,
        truth=np.empty((n, k), dtype=bool, order=order) if keep else None,
    )


def _add_block(
    out: LabelBlockSums,
    rows: slice,
    preds: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    rule: LabelRule,
) -> None:
    """One block's terms, decisions and sums into ``out`` (rows ``rows`` of the batch)."""
    z = rule.logits(preds)
    truth = _truth(y)
    terms, plain = rule.kernel(z, y, truth)
    terms.sum(axis=1, out=out.row_terms[rows])
    if plain is not terms:
        plain.sum(axis=1, out=out.row_plain[rows])
    decision = z >= rule.cut  # σ(z/T) ≥ t
    wrong = decision != truth
    wrong.sum(axis=1, out=out.errors[rows])
    hits = np.logical_and(decision, truth, out=wrong)
    if w is None:  # exact counts (sums of booleans: no float products, no bool copies)
        out.class_terms += terms.sum(axis=0)
        out.positives += truth.sum(axis=0)
        out.predicted += decision.sum(axis=0)
        out.hits += hits.sum(axis=0)
    else:
        out.class_terms += w @ terms
        out.positives += w @ y
        out.predicted += w @ decision
        out.hits += w @ hits
    if rule.pos_weight is not None:
        k = y.shape[1]
        omega = np.ones((1, k)) if rule.class_weight is None else rule.class_weight.reshape(1, k)
        omega = omega * (rule.pos_weight.reshape(1, k) * y + (1 - y))
        omega.sum(axis=1, out=out.row_omega[rows])
    if out.elements is not None and out.decision is not None and out.truth is not None:
        out.elements[rows] = terms
        out.decision[rows] = decision
        out.truth[rows] = truth


def _truth(y: np.ndarray) -> np.ndarray:
    """y = 1 as booleans; ValueError unless every target is 0 or 1."""
    truth = y == 1
    if np.count_nonzero(truth) + np.count_nonzero(y == 0) != y.size:
        raise ValueError("binary targets must be 0 or 1")
    return truth
