"""The mergeable state behind ROC-AUC and average precision (``--auc`` / ``--auc-bins B``).

Scores, per class column: multiclass (softmax geometry) → the softmax probabilities of z / T (or
the given probabilities; with T ≠ 1, the softmax of log clip(p) / T); binary one column and
multi-label (sigmoid geometry) → σ(z / T) = 1 / (1 + exp(−z / T)) (or p; with T ≠ 1,
σ(logit(clip p) / T)). Truth: label = k (index targets), or the 0/1 target (multi-hot).

Two modes:
  - ``exact``: keeps every used row's scores (float64, one (K, n) block per batch), labels and
    sample weights; merge concatenates the lists, and ``compute`` puts the blocks back in input
    row order first, so the result is the same bit for bit whatever the batch size, thread count
    or engine. Memory: 8·N·K bytes of scores (+ N·4 for labels, N·K for multi-label truth, N·8
    for sample weights): ``memory_bytes``.
  - ``binned``: per class, the negative and positive mass of B uniform bins on [0, 1], one
    (K, B, 2) float64 array that merge adds: 16·K·B bytes, whatever N.
``core.ranking`` turns either into the values and the worst-case error of the binned ones.
"""

from __future__ import annotations

import numpy as np

from ce_cli.core import losses, ranking
from ce_cli.core.errors import CEError
from ce_cli.core.limits import AUC_MAX_BYTES
from ce_cli.core.vocab import AucMethod, Geometry, InputKind, TargetKind

BLOCK_ROWS = 4096  # rows turned into scores at a time (scratch: a few × 4096·K float64)


class RankingSums:
    """Scores and truth per class for ROC-AUC and AP: kept (``exact``) or binned."""

    def __init__(
        self,
        method: str,
        bins: int | None,
        *,
        geometry: str,
        inputs: str,
        n_cols: int,
        target_kind: str,
        temperature: float = 1.0,
        file: str = "",
    ) -> None:
        self.method = AucMethod(method)
        self.bins = int(bins) if bins is not None else None
        self.geometry, self.inputs, self.target_kind = geometry, inputs, target_kind
        self.n_cols, self.temperature, self.file = n_cols, temperature, file
        self.blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.stored = 0  # bytes held by ``blocks``
        self.hist: np.ndarray | None = None
        if self.method == AucMethod.BINNED:
            assert self.bins is not None
            check_budget(16 * n_cols * self.bins, f"--auc-bins {self.bins}", file, binned=True)
            self.hist = np.zeros((n_cols, self.bins, 2))

    def empty(self) -> RankingSums:
        return RankingSums(
            self.method,
            self.bins,
            geometry=self.geometry,
            inputs=self.inputs,
            n_cols=self.n_cols,
            target_kind=self.target_kind,
            temperature=self.temperature,
            file=self.file,
        )

    @property
    def memory_bytes(self) -> int:
        """What the store holds: the kept blocks, or the histogram."""
        return int(self.hist.nbytes) if self.hist is not None else self.stored

    # ------------------------------------------------------------------ update
    def update(
        self, row_start: int, preds: np.ndarray, target: np.ndarray, weight: np.ndarray | None
    ) -> None:
        """Add the used rows of one batch (``row_start``: the batch's first input row, which
        orders the kept blocks), ``BLOCK_ROWS`` rows at a time (small scratch, whatever the
        batch)."""
        n, k = preds.shape
        if n == 0:
            return
        if self.hist is not None:
            for lo in range(0, n, BLOCK_ROWS):
                part = slice(lo, min(lo + BLOCK_ROWS, n))
                w = None if weight is None else weight[part]
                self._add_to_bins(self.scores(preds[part]), self._truth(target[part]), w)
            return
        index = self.target_kind == TargetKind.INDEX
        size = n * (8 * k + (4 if index else k) + (0 if weight is None else 8))
        check_budget(self.stored + size, "--auc", self.file, binned=False)
        kept = np.empty((k, n))
        for lo in range(0, n, BLOCK_ROWS):
            hi = min(lo + BLOCK_ROWS, n)
            kept[:, lo:hi] = self.scores(preds[lo:hi]).T
        label = target.astype(np.int32) if index else np.ascontiguousarray(target.T == 1)
        self.blocks.append((row_start, kept, label, weight))
        self.stored += size

    def scores(self, preds: np.ndarray) -> np.ndarray:
        """(n, K) float64 probabilities: softmax or sigmoid of z / T, or the probabilities."""
        t = self.temperature
        if self.inputs == InputKind.PROBS:
            if t == 1:
                return preds.astype(np.float64)
            if self.geometry == Geometry.SOFTMAX:
                return losses.softmax_inplace(
                    losses.log_probs_from_probs(preds, eps=losses.EPS)[0] / t
                )
            log_p, log_1mp, _ = losses.log_prob_pair_from_probs(preds, eps=losses.EPS)
            return _sigmoid((log_p - log_1mp) / t)
        z = preds.astype(np.float64) / t if t != 1 else preds.astype(np.float64)
        return losses.softmax_inplace(z) if self.geometry == Geometry.SOFTMAX else _sigmoid(z)

    def _truth(self, target: np.ndarray) -> np.ndarray:
        """(n, K) bool: is row n a positive of column k."""
        if self.target_kind != TargetKind.INDEX:
            return target == 1
        if self.n_cols == 1:
            return (target == 1).reshape(-1, 1)
        return target.reshape(-1, 1) == np.arange(self.n_cols)

    def _add_to_bins(self, prob: np.ndarray, truth: np.ndarray, weight: np.ndarray | None) -> None:
        assert self.hist is not None and self.bins is not None
        k = prob.shape[1]
        flat = ranking.bin_index(prob, self.bins)
        flat += np.arange(k) * self.bins
        flat *= 2
        flat += truth
        w = None if weight is None else np.repeat(weight, k)
        counts = np.bincount(flat.ravel(), weights=w, minlength=self.hist.size)
        self.hist += counts.reshape(self.hist.shape)

    # ------------------------------------------------------------------ merge
    def merge(self, other: RankingSums) -> RankingSums:
        merged = self.empty()
        if self.hist is not None and other.hist is not None:
            merged.hist = self.hist + other.hist
        merged.blocks = self.blocks + other.blocks
        merged.stored = self.stored + other.stored
        check_budget(merged.stored, "--auc", self.file, binned=False)
        return merged

    # ------------------------------------------------------------------ compute
    def compute(self, n_classes: int) -> ranking.Ranked:
        """Per class (``n_classes``: 2 for binary with one column) ROC-AUC, AP and error bounds."""
        if self.hist is not None:
            neg, pos = self.hist[..., 0], self.hist[..., 1]
            if self.n_cols == 1 and n_classes == 2:  # class 0 scores 1 − p: the bins reversed
                neg, pos = np.vstack([pos[:, ::-1], neg]), np.vstack([neg[:, ::-1], pos])
            return ranking.binned(pos, neg)
        return self._exact(n_classes)

    def _exact(self, n_classes: int) -> ranking.Ranked:
        blocks = sorted(self.blocks, key=lambda b: b[0])
        weight = None
        if blocks and blocks[0][3] is not None:
            weight = np.concatenate([b[3] for b in blocks if b[3] is not None])
        index = self.target_kind == TargetKind.INDEX
        label = np.concatenate([b[2] for b in blocks]) if index and blocks else None
        values = np.full((4, n_classes), np.nan)
        for c in range(n_classes):
            col = 0 if self.n_cols == 1 else c
            score = np.concatenate([b[1][col] for b in blocks]) if blocks else np.empty(0)
            if self.n_cols == 1 and c == 0:
                score = 1 - score
            if label is not None:
                truth = label == c
            else:
                truth = np.concatenate([b[2][c] for b in blocks]) if blocks else np.empty(0)
            values[:, c] = ranking.exact(score, truth, weight)
        zero = np.where(np.isnan(values[0]), np.nan, 0.0)
        return ranking.Ranked(values[0], values[1], values[2], values[3], zero, zero)


def check_budget(size: int, flag: str, file: str, *, binned: bool) -> None:
    """A one-line error when the score store would hold more than ``AUC_MAX_BYTES``."""
    if size <= AUC_MAX_BYTES:
        return
    fix = "pass fewer --auc-bins" if binned else "use --auc-bins B instead (bounded memory)"
    what = "histograms" if binned else "scores"
    raise CEError(
        f"{file}: {flag} needs {_human(size)} for its {what}, over the {_human(AUC_MAX_BYTES)} "
        f"limit; {fix}"
    )


def _human(size: int) -> str:
    """``2 GiB``, ``1.5 MiB``, ``800 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def exact_bytes(n_rows: int, n_cols: int, target_kind: str, weighted: bool) -> int:
    """What ``--auc`` keeps for ``n_rows`` rows: 8·N·K of scores, the truth and the weights."""
    truth = 4 if target_kind == TargetKind.INDEX else n_cols
    return n_rows * (8 * n_cols + truth + (8 if weighted else 0))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(−z)) (scipy.special.expit's formula; monotone in z, 0 below −745)."""
    with np.errstate(over="ignore"):
        out = np.exp(-z)
    out += 1
    np.reciprocal(out, out=out)
    return out
