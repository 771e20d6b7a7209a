"""Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) as cleanlab 2.x implements it.

Pure numpy, over blocks of rows, so the streamed passes of ``ce label-issues`` can call it:

- thresholds (pass 1): ``t_j = mean of p_j over rows labelled j``; a class no row is labelled
  gets 2 (no probability reaches it); floored at 2e-6 (``cleanlab.count.get_confident_thresholds``);
- the confident joint (pass 2): a row counts in ``C[given][true]`` when some ``p_j >= t_j - 1e-6``
  (``true`` = that class, or ``argmax p`` when several reach their threshold); the diagonal is
  then raised to at least 1 (``cleanlab.count.compute_confident_joint``);
- calibration: each row of C scaled to the label counts, the whole to N, rounded keeping row
  totals (``calibrate_confident_joint``, ``round_preserving_row_totals``);
- the prune quotas of ``prune_by_noise_rate`` / ``prune_by_class`` (``filter.find_label_issues``
  with ``frac_noise=1``, ``min_examples_per_class=1``);
- a row is never flagged when its given label is (within 1e-6) the argmax (``_reduce_issues``);
- label-quality scores (``cleanlab.rank``): self-confidence ``p_y``; normalized margin
  ``(p_y - max_{k≠y} p_k + 1) / 2``; confidence-weighted entropy
  ``log(1 + H(p)/s) / max(H(p)/s, 1e-6)`` with ``H`` the entropy / log K and
  ``s = max(p_y, 1e-6)``.

Multi-label data is one-vs-rest, as cleanlab's ``multi_label=True``: label j of every row is a
binary problem with probabilities ``[1 − p_j, p_j]`` and given class ``y_j``; each problem has its
own two thresholds, 2×2 confident joint, quotas and flags, and a row is flagged when any of its
labels is. Its quality score aggregates the per-label scores (``multilabel_quality_scores``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.vocab import RANK_BY

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

FLOATING_POINT_COMPARISON = 1e-6
THRESHOLD_FLOOR = 2 * FLOATING_POINT_COMPARISON
MISSING_CLASS_THRESHOLD = 2.0
CLIPPING_LOWER_BOUND = 1e-6
TINY_VALUE = 1e-100


BLOCK_ELEMENTS = 1 << 18  # rows are converted and normalised in cache-sized blocks


def c_order_rows(preds: NDArray[Any], rows: I64 | None = None) -> F64:
    """``preds[rows]`` (all rows when None) as a C-order float64 array, converted block by
    block (a column-major float32 batch costs ~10× more converted whole)."""
    n = preds.shape[0] if rows is None else rows.size
    out = np.empty((n, preds.shape[1]))
    step = max(1, BLOCK_ELEMENTS // max(preds.shape[1], 1))
    for start in range(0, n, step):
        block = slice(start, start + step)
        out[block] = preds[block] if rows is None else preds[rows[block]]
    return out


# ---------------------------------------------------------------------- pass 1
def threshold_sums(probs: F64, given: I64) -> tuple[F64, I64]:
    """(Σ p_{n,y_n} per class y, rows per class): the sufficient statistics of the thresholds."""
    k = probs.shape[1]
    p_given = probs[np.arange(given.size), given]
    return (
        np.bincount(given, weights=p_given, minlength=k).astype(np.float64),
        np.bincount(given, minlength=k).astype(np.int64),
    )


def thresholds(sums: F64, counts: I64) -> F64:
    """``t_j = sums_j / counts_j`` (2 for a class without rows), floored at 2e-6."""
    t = np.full(sums.shape, MISSING_CLASS_THRESHOLD)
    seen = counts > 0
    t[seen] = sums[seen] / counts[seen]
    return np.clip(t, THRESHOLD_FLOOR, None)


# ---------------------------------------------------------------------- pass 2: per row
class RowFacts(NamedTuple):
    """What confident learning says of each row of a block."""

    true_guess: I64  # the confident class, -1 when no class reaches its threshold
    suggested: I64  # argmax p (first on ties)
    p_suggested: F64
    given_is_top: NDArray[np.bool_]  # argmax of p with p_y + 1e-6 is y: never flagged


def row_facts(probs: F64, given: I64, t: F64) -> RowFacts:
    """The confident class (``compute_confident_joint``), the argmax and ``_reduce_issues``."""
    n = given.size
    rows = np.arange(n)
    confident = probs >= t - FLOATING_POINT_COMPARISON
    n_confident = confident.sum(axis=1)
    suggested = probs.argmax(axis=1)
    guess = np.where(n_confident > 1, suggested, confident.argmax(axis=1))
    guess = np.where(n_confident > 0, guess, -1)
    bumped = probs.copy()
    bumped[rows, given] += FLOATING_POINT_COMPARISON
    return RowFacts(
        guess.astype(np.int64),
        suggested.astype(np.int64),
        probs[rows, suggested],
        bumped.argmax(axis=1) == given,
    )


def issue_masks(facts: RowFacts, given: I64) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(off the joint's diagonal, argmax ≠ given), both unless the given label is the argmax
    within 1e-6: the rows ``confident_learning`` and ``predicted_neq_given`` flag."""
    keep = ~facts.given_is_top
    off = (facts.true_guess >= 0) & (facts.true_guess != given) & keep
    return off, (facts.suggested != given) & keep


def joint_counts(given: I64, true_guess: I64, k: int) -> I64:
    """Counts of (given, confident true) pairs, rows without a confident class left out."""
    used = true_guess >= 0
    cells = given[used] * k + true_guess[used]
    return np.bincount(cells, minlength=k * k).reshape(k, k).astype(np.int64)


def confident_joint(counts: I64) -> I64:
    """The confident joint from the pair counts: the diagonal raised to at least 1."""
    cj = counts.copy()
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    return cj


def round_preserving_sum(floats: F64) -> I64:
    """Round to integers keeping the (rounded) sum: cleanlab's ``round_preserving_sum``."""
    floats = np.asarray(floats, dtype=float)
    ints = floats.round()
    orig_sum = np.sum(floats).round()
    int_sum = np.sum(ints).round()
    while abs(int_sum - orig_sum) > FLOATING_POINT_COMPARISON:
        diff = np.round(orig_sum - int_sum)
        increment = -1 if int(diff < 0.0) else 1
        changes = min(int(abs(diff)), len(floats))
        for i in np.argsort(floats - ints)[::-increment][:changes]:
            ints[i] = ints[i] + increment
        int_sum = np.sum(ints).round()
    return ints.astype(np.int64)


def round_preserving_row_totals(matrix: F64) -> I64:
    return np.array([round_preserving_sum(row) for row in matrix], dtype=np.int64).reshape(
        matrix.shape
    )


def calibrate(cj: I64, label_counts: I64) -> I64:
    """Rows of ``cj`` scaled to the label counts, the whole to N, rounded keeping row totals."""
    rows = np.clip(cj.sum(axis=1), TINY_VALUE, None)
    scaled = (cj.T / rows * label_counts).T
    scaled = scaled / np.clip(np.sum(scaled), TINY_VALUE, None) * np.sum(label_counts)
    return round_preserving_row_totals(scaled)


# ---------------------------------------------------------------------- prune quotas
def _keep_at_least_one_per_class(pcm: I64) -> I64:
    """cleanlab's ``_keep_at_least_n_per_class`` with n = 1 and ``frac_noise`` = 1."""
    diagonal = np.diagonal(pcm)
    new_diagonal = np.maximum(diagonal, 1)
    diff_per_col = new_diagonal - diagonal
    per_col = np.maximum(np.count_nonzero(pcm, axis=0) - 1.0, 1.0)
    new = pcm - diff_per_col / per_col
    new[new < 0] = 0
    np.fill_diagonal(new, new_diagonal)
    reduced = new * 1.0
    np.fill_diagonal(reduced, new.diagonal() + np.sum(new - reduced, axis=0))
    return round_preserving_row_totals(reduced.astype(int).astype(float))


def prune_quotas(calibrated: I64, label_counts: I64) -> I64:
    """``Q[y][j]``: how many rows labelled y each prune step takes.

    ``j ≠ y`` (``prune_by_noise_rate``): the rows with the largest ``p_j − p_y``;
    ``j = y`` (``prune_by_class``): the rows with the smallest ``p_y``. A class with at most
    one row is never pruned."""
    pcm = _keep_at_least_one_per_class(calibrated.T)
    quota = pcm.T.copy()  # quota[y][j] = pcm[j][y]
    np.fill_diagonal(quota, label_counts - np.diagonal(pcm))
    quota[label_counts <= 1, :] = 0
    return np.clip(quota, 0, None).astype(np.int64)


def prune_scores(probs: F64, given: I64) -> F64:
    """Per row and class j: ``p_j − p_y`` (j ≠ y) and ``−p_y`` (j = y); larger is pruned first."""
    rows = np.arange(given.size)
    p_given = probs[rows, given]
    scores = probs - p_given[:, None]
    scores[rows, given] = -p_given
    return scores


# ---------------------------------------------------------------------- quality scores
def self_confidence(probs: F64, given: I64) -> F64:
    return probs[np.arange(given.size), given]


def normalized_margin(probs: F64, given: I64) -> F64:
    rows = np.arange(given.size)
    others = probs.copy()
    others[rows, given] = -np.inf
    return (probs[rows, given] - others.max(axis=1) + 1) / 2


def normalized_entropy(probs: F64) -> F64:
    """``−Σ p log p / log K`` (0 log 0 = 0)."""
    safe = np.where(probs > 0, probs, 1.0)
    xlogx = np.where(probs > 0, probs * np.log(safe), 0.0)
    return -np.sum(xlogx, axis=1) / np.log(probs.shape[1])


def confidence_weighted_entropy(probs: F64, given: I64) -> F64:
    sc = np.clip(self_confidence(probs, given), CLIPPING_LOWER_BOUND, None)
    scores = normalized_entropy(probs) / sc
    clipped = np.clip(scores, CLIPPING_LOWER_BOUND, None)
    return np.log(scores + 1) / clipped


def quality_scores(probs: F64, given: I64, method: str) -> F64:
    """cleanlab's ``rank.get_label_quality_scores(labels, pred_probs, method=...)``."""
    if method == "self_confidence":
        return self_confidence(probs, given)
    if method == "normalized_margin":
        return normalized_margin(probs, given)
    if method == "confidence_weighted_entropy":
        return confidence_weighted_entropy(probs, given)
    raise ValueError(f"unknown label-quality method {method!r}; known: {', '.join(RANK_BY)}")


# ---------------------------------------------------------------------- multi-label
EMA_ALPHA = 0.8  # cleanlab.multilabel_classification.rank: the default aggregator's alpha


def binary_columns(p: F64) -> F64:
    """``[1 − p, p]``: label j's one-vs-rest problem (cleanlab's ``stack_complement``)."""
    return np.column_stack([1 - p, p])


def exponential_moving_average(scores: F64, alpha: float = EMA_ALPHA) -> F64:
    """Per row, the scores sorted from largest to smallest ``s_1 ≥ … ≥ s_L``, then
    ``EMA_1 = s_1``, ``EMA_t = α·s_t + (1 − α)·EMA_{t−1}``; the row's score is ``EMA_L``."""
    ordered = np.fliplr(np.sort(scores, axis=1)).T
    ema = ordered[0]
    for s in ordered[1:]:
        ema = alpha * s + (1 - alpha) * ema
    return np.asarray(ema, dtype=np.float64)


def label_threshold_sums(probs: F64, given: I64) -> tuple[F64, I64]:
    """``threshold_sums`` of every label's binary problem at once: (L, 2) sums and counts —
    side 0: Σ (1 − p_j) over the rows without label j, side 1: Σ p_j over the rows with it."""
    pos = given == 1
    sums = np.stack(
        [np.where(pos, 0.0, 1 - probs).sum(axis=0), np.where(pos, probs, 0.0).sum(axis=0)], axis=1
    )
    counts = np.stack([(~pos).sum(axis=0), pos.sum(axis=0)], axis=1).astype(np.int64)
    return sums, counts


class LabelFacts(NamedTuple):
    """``RowFacts`` of every label's binary problem ``[1 − p_j, p_j]``, as (n, L) arrays."""

    true_guess: NDArray[np.int8]  # the confident side (0 or 1), -1 when neither reaches its t
    suggested: NDArray[np.bool_]  # argmax of [1 − p, p]: p > 1 − p (ties: 0)
    given_is_top: NDArray[np.bool_]  # the given side is the argmax with 1e-6 added to it


def label_row_facts(probs: F64, given: I64, t: F64) -> LabelFacts:
    """``row_facts`` of every label at once (``t``: (L, 2)); the same comparisons, in the
    same floating-point operations, as ``row_facts`` on ``[1 − p_j, p_j]``."""
    p0 = 1 - probs
    c0 = p0 >= t[:, 0] - FLOATING_POINT_COMPARISON
    c1 = probs >= t[:, 1] - FLOATING_POINT_COMPARISON
    suggested = probs > p0
    guess = np.where(c0 & c1, suggested, np.where(c0, 0, 1)).astype(np.int8)
    guess[~(c0 | c1)] = -1
    top = np.where(
        given == 1,
        probs + FLOATING_POINT_COMPARISON > p0,
        p0 + FLOATING_POINT_COMPARISON >= probs,
    )
    return LabelFacts(guess, suggested, top)


def label_issue_masks(facts: LabelFacts, given: I64) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """``issue_masks`` of every label: (n, L) off-diagonal and argmax ≠ given masks."""
    keep = ~facts.given_is_top
    off = (facts.true_guess >= 0) & (facts.true_guess != given) & keep
    return off, (facts.suggested != (given == 1)) & keep


def label_joint_counts(given: I64, true_guess: NDArray[np.int8]) -> I64:
    """(L, 2, 2): per label the counts of (given, confident side) pairs."""
    pairs = np.empty((given.shape[1], 2, 2), dtype=np.int64)
    for y in (0, 1):
        for g in (0, 1):
            pairs[:, y, g] = ((given == y) & (true_guess == g)).sum(axis=0)
    return pairs


def per_label(fn: Any, *arrays: NDArray[Any]) -> NDArray[Any]:
    """``fn`` on every label's slice of ``arrays`` (L, …), stacked: e.g. the (L, 2, 2) calibrated
    joints of a multi-label file."""
    return np.stack([fn(*(a[j] for a in arrays)) for j in range(arrays[0].shape[0])])


def multilabel_quality_scores(probs: F64, given: I64, method: str) -> F64:
    """``cleanlab.multilabel_classification.rank.get_label_quality_scores``: label j's binary
    score on ``[1 − p_j, p_j]`` (``quality_scores``), aggregated over labels by
    ``exponential_moving_average`` (α = 0.8)."""
    per_label = np.empty(probs.shape)
    for j in range(probs.shape[1]):
        per_label[:, j] = quality_scores(binary_columns(probs[:, j]), given[:, j], method)
    return exponential_moving_average(per_label)
