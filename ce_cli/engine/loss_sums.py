"""The loss accumulator behind ``ce score``: per batch, PyTorch's loss terms → mergeable sums.

Geometry, fixed before the first batch (``LossSetup``; which loss scores which data in which
geometry is ``core.loss_table.LOSSES``):
  - ``softmax``: K ≥ 2 prediction columns and one class per row (index or soft targets) —
    the spec's ``rows`` terms (``ce``: ``nn.CrossEntropyLoss``; ``focal``:
    −α_y (1−p_y)^γ log p_y), through its ``fused_rows`` kernel for logits and index targets;
  - ``sigmoid``: one column per class scored independently against 0/1 targets (binary with
    one column, multi-label, or ``--loss bce`` on K columns with one-hot targets) — the spec's
    ``elements`` terms (``bce``: ``nn.BCEWithLogitsLoss``; ``focal``: torchvision's
    ``sigmoid_focal_loss``); one logit column with index targets takes a fused path.
A temperature T divides logits; probabilities become logits first (softmax: log p, then a
log-softmax of log p / T; sigmoid: logit(p) / T), so T applies to both.

Beside the loss, ``metrics`` (``engine.metric_sums.ClassificationSums``) adds the sums of the
classification metrics (confusion matrix, top-k hits, per-label counts; none for soft targets).
The prediction is the argmax for K ≥ 2 softmax columns (with ``--threshold`` and two columns:
class 1 when p_1 ≥ t); for one column and for multi-label, positive when σ(z/T) ≥ t, i.e.
z/T ≥ logit(t) (exactly z ≥ 0 at t = 1/2), or p ≥ t for probabilities.

Reductions, with sample weights s_n (1 without ``--weight-col``) read as replication counts:
  mean = Σ s·l / Σ s·d, where d = w_{y_n} for ``ce`` with index targets (PyTorch's weighted
  mean) and d = 1 per element otherwise (BCE: N·K elements; focal: elements or rows);
  sum = Σ s·l.
For the other conventions the accumulator also keeps Σ s·ω (``weight_mass``: ω = w_y per row,
Σ_c w_c t_c for soft targets, w·(P·y + 1 − y) per sigmoid element) and counts rows whose sample
weight is not 1 (``n_reweighted``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.loss_table import LOSSES, LossParams, LossSpec
from ce_cli.core.topk import TopK
from ce_cli.core.vocab import Geometry, InputKind, Loss, OnInvalid, TargetKind
from ce_cli.engine.metric_sums import ClassificationSums
from ce_cli.engine.multilabel_sums import LabelRule, label_block_sums
from ce_cli.engine.ranking_sums import RankingSums
from ce_cli.io.batch import Batch

ON_SIMPLEX_TOL = 1e-6  # per column: a row of logits "sums to 1" within this × K
SUM_BLOCK_ROWS = 1 << 15  # binary_class_sums: rows per block (scratch: (m + 3) × 256 KiB)


@dataclass(frozen=True)
class LossSetup:
    """Everything decided before the first batch."""

    loss: str  # the loss whose kernels run: a ``vocab.Loss`` (ce | bce | focal)
    geometry: str  # softmax | sigmoid (``vocab.Geometry``)
    inputs: str  # logits | probs (``vocab.InputKind``)
    n_classes: int  # C (class set size)
    n_cols: int  # K prediction columns (1 for single-column binary)
    target_kind: str  # index | multi-hot | soft (``vocab.TargetKind``)
    class_weight: np.ndarray | None = None  # (C,) or (K,) for sigmoid
    pos_weight: np.ndarray | None = None  # (K,)
    label_smoothing: float = 0.0
    temperature: float = 1.0
    gamma: float = 2.0
    focal_alpha: float | None = 0.25  # sigmoid focal: weight of positives
    top_k: int = 10
    on_invalid: str = OnInvalid.ERROR  # error | skip
    threshold: float | None = None  # --threshold t (None: not given, 0.5 where one is used)
    top_k_accuracy: int | None = None  # --top-k-accuracy K
    confusion_pairs: tuple[tuple[int, int], ...] = ()  # (true, predicted) pairs ce check names
    name: str = ""  # the loss as reported: what the user asked for (ce on one column is BCE)
    file: str = ""  # the predictions file and columns, for messages
    columns: tuple[str, ...] = ()
    auc: str | None = None  # ROC-AUC / AP: exact | binned (``vocab.AucMethod``) | None
    auc_bins: int | None = None  # bins of ``binned``
    row_terms: bool = False  # keep multi-label (n, K) terms and decisions per batch (a row sink)

    @property
    def spec(self) -> LossSpec:
        """The loss table's entry whose kernels score this data."""
        return LOSSES[Loss(self.loss)]

    @property
    def params(self) -> LossParams:
        return LossParams(
            class_weight=self.class_weight,
            pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
            gamma=self.gamma,
            focal_alpha=self.focal_alpha,
        )

    @property
    def decision_threshold(self) -> float:
        """t of the decision p ≥ t (binary one column, multi-label): --threshold, else 1/2."""
        return 0.5 if self.threshold is None else self.threshold

    @property
    def logit_cut(self) -> float:
        """logit(t) = log t − log(1 − t): σ(z) ≥ t ⇔ z ≥ logit(t), exactly 0 for t = 1/2."""
        t = self.decision_threshold
        return 0.0 if t == 0.5 else math.log(t) - math.log1p(-t)

    @property
    def cut(self) -> np.float64:
        """``logit_cut`` as a float64 scalar: float32 predictions compare in float64 (numpy
        would round a Python float to float32 first)."""
        return np.float64(self.logit_cut)

    @property
    def thresholds_two_columns(self) -> bool:
        """Two softmax columns and index targets with --threshold: class 1 when p_1 ≥ t."""
        return (
            self.threshold is not None
            and self.geometry == Geometry.SOFTMAX
            and self.n_cols == 2
            and self.target_kind == TargetKind.INDEX
        )

    @property
    def weighted(self) -> bool:
        """Some class weight or pos_weight is not 1."""
        return self.params.weighted

    @property
    def plain(self) -> bool:
        """The loss terms are the plain log loss (no weight, smoothing or focusing)."""
        return self.spec.is_plain(self.params)


@dataclass
class RowTerms:
    """Per-row results of one batch (used rows only), for top-K and ``--reduction none``."""

    rows: np.ndarray  # 0-based input row numbers
    loss: np.ndarray  # per-row loss (class-weighted, no sample weight); multi-label: row mean
    label: np.ndarray  # class index (single-label) or -1
    predicted: np.ndarray  # class index (single-label) or -1
    p_true: np.ndarray  # probability of the true class (NaN where undefined)
    elements: np.ndarray | None = None  # sigmoid geometry: per-class terms (n, K)
    decision: np.ndarray | None = None  # multi-label: (n, K) bool, predicted positive (p ≥ t)
    truth: np.ndarray | None = None  # multi-label: (n, K) bool, labelled positive
    worst_of: Callable[[np.ndarray], np.ndarray] | None = None  # positions → worst label
    batch_positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class SoftmaxRows:
    """One batch's per-row softmax results, before they are added up."""

    loss: np.ndarray  # the loss's terms (class-weighted, smoothed, focused)
    denom: np.ndarray  # its mean's denominator per row
    plain: np.ndarray  # the plain NLL −log q_y (soft: −Σ t log q)
    label: np.ndarray  # class index (soft: the most probable class)
    p_true: np.ndarray  # q_y (NaN for soft targets)
    class_mass: np.ndarray | None  # ω per row: w_y, or Σ_c w_c t_c (None: no class weight)
    predicted: np.ndarray | None = None  # argmax per row, when the kernel found it on its way


@dataclass
class SigmoidElements:
    """One batch's per-element sigmoid results, before they are added up."""

    terms: np.ndarray  # (n, K) the loss's terms
    plain: np.ndarray  # (n, K) the plain BCE
    prob: np.ndarray  # (n, K) σ(z) or p; logits and index targets: the true value's σ;
    # logits and multi-hot targets: empty (only ``positive`` is used)
    y: np.ndarray  # (n, K) float 0/1 (or soft) targets
    positive: np.ndarray | None = None  # (n, K) z/T ≥ logit(t) for logits
    threshold: float = 0.5  # t: probabilities are positive when p ≥ t

    def decision(self) -> np.ndarray:
        """The decision per element: σ(z/T) ≥ t, i.e. z/T ≥ logit(t) (logits), or p ≥ t."""
        return self.prob >= self.threshold if self.positive is None else self.positive


class LossAccumulator:
    """Sums and counts for the loss, accuracy, NCE, per-class table, pitfalls and top-K."""

    def __init__(self, setup: LossSetup) -> None:
        self.setup = setup
        c, k = setup.n_classes, setup.n_cols
        self.n_rows = 0  # rows seen
        self.n_used = 0  # rows scored
        self.n_ignored = 0
        self.n_masked = 0
        self.n_invalid = 0
        self.n_reweighted = 0  # used rows whose sample weight is not 1
        self.first_invalid: tuple[int, int] | None = None  # (row, column index)
        self.sample_mass = 0.0  # Σ s over used rows
        self.loss_sum = 0.0  # Σ s·l
        self.denom_sum = 0.0  # Σ s·d (PyTorch's mean denominator)
        self.weight_mass = 0.0  # Σ s·ω (class weight mass; sigmoid: over elements)
        self.plain_sum = 0.0  # Σ s·(unweighted, unsmoothed NLL / BCE)
        self.entropy_sum = 0.0  # Σ s·H(target) for soft targets (KL = CE − H)
        self.correct = 0.0  # Σ s·[prediction right] (multi-label: all labels right)
        self.label_errors = 0.0  # multi-label: Σ s·(wrong labels)
        self.support = np.zeros(c)
        self.class_loss = np.zeros(c)
        self.class_hits = np.zeros(c)  # recall numerators
        self.prior = np.zeros(k if setup.geometry == Geometry.SIGMOID else c)  # label mass
        self.n_clipped = 0
        self.hard_rows = 0  # used rows with a hard prediction (y_pred) …
        self.hard_agree = 0  # … equal to the argmax of the scores
        self.n_exact_true = 0  # exact 0/1 probability on the true class
        self.rows_off_simplex = 0  # multiclass probability rows not summing to 1
        self.rows_on_simplex = 0  # rows whose values sum to 1 (logits that look like probs)
        self.pred_min = np.inf
        self.pred_max = -np.inf
        self.pos_score = np.zeros(2)  # binary: Σ score, count of positives
        self.neg_score = np.zeros(2)
        self.top = TopK(setup.top_k)
        self.top_ids: dict[int, Any] = {}
        self.ranking = None if setup.auc is None else ranking_sums(setup)
        self.metrics = classification_sums(setup)

    # ------------------------------------------------------------------ update
    def update(self, batch: Batch) -> RowTerms | None:
        """Add one batch; returns its per-row terms (for ``--reduction none``)."""
        assert batch.preds is not None and batch.target is not None
        s = self.setup
        self.n_rows += batch.n
        self.n_ignored += batch.n_ignored
        self.n_masked += batch.n_masked
        used = self._used_rows(batch)
        if used is None:
            return None
        positions, preds, low, high = used
        target = batch.target[positions] if positions.size < batch.n else batch.target
        weight = None
        if batch.sample_weight is not None:
            weight = batch.sample_weight[positions]
            self.n_reweighted += int(np.count_nonzero(weight != 1))
        self.n_used += positions.size
        self._check_range(preds, batch, positions)
        self.pred_min, self.pred_max = min(self.pred_min, low), max(self.pred_max, high)
        if self.ranking is not None:
            self.ranking.update(batch.row_start, preds, target, weight)
        unit = low >= 0 and high <= 1  # every value could be a probability
        if s.geometry == Geometry.SOFTMAX:
            terms = self._softmax(preds, target, weight, unit)
        elif s.target_kind == TargetKind.MULTI_HOT and s.inputs == InputKind.LOGITS:
            terms = self._multilabel_logits(preds, target, weight, unit)
        elif s.n_cols == 1 and s.inputs == InputKind.LOGITS and s.target_kind == TargetKind.INDEX:
            terms = self._binary_logits(preds, target, weight)
        else:
            terms = self._sigmoid(preds, target, weight, unit)
        terms.rows = batch.row_start + positions
        terms.batch_positions = positions
        if batch.hard_pred is not None:
            hard = batch.hard_pred[positions]
            self.hard_rows += hard.size
            self.hard_agree += int((hard == terms.predicted).sum())
        self._offer_top(terms, batch)
        return terms

    def _used_rows(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, float, float] | None:
        """(positions, their predictions, min, max) of the rows to score; None if none is.

        min and max are NaN or ±inf when any value is: if not, and every row is valid, every
        row is used (the common case, with no per-row mask to build). Rows with a NaN or
        infinite prediction are counted (and the first remembered) and left out."""
        preds = batch.preds
        assert preds is not None
        low, high = (float(preds.min()), float(preds.max())) if batch.n else (np.nan, np.nan)
        if math.isfinite(low) and math.isfinite(high) and batch.valid.all():
            return np.arange(batch.n), preds, low, high
        used = batch.valid.copy()
        finite = np.isfinite(preds).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite & used)
            self.n_invalid += bad.size
            if bad.size and self.first_invalid is None:
                col = int(np.flatnonzero(~np.isfinite(preds[bad[0]]))[0])
                self.first_invalid = (batch.row_start + int(bad[0]), col)
            used &= finite
        positions = np.flatnonzero(used)
        if positions.size == 0:
            return None
        if positions.size < batch.n:
            preds = preds[positions]
        return positions, preds, float(preds.min()), float(preds.max())

    def _check_range(self, preds: np.ndarray, batch: Batch, positions: np.ndarray) -> None:
        if self.setup.inputs != InputKind.PROBS:
            return
        bad = (preds < 0) | (preds > 1)
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            s = self.setup
            col = s.columns[c] if c < len(s.columns) else f"#{c + 1}"
            raise CEError(
                f"{s.file}: column {col} has {int(bad.sum())} values outside [0, 1] (first at row "
                f"{batch.row_start + positions[r] + 1}: {preds[r, c]:.6g}) but the inputs are "
                "taken as probabilities; pass --inputs logits if these are logits"
            )

    def _sample(self, values: np.ndarray, weight: np.ndarray | None) -> float:
        return float(values.sum() if weight is None else values @ weight)

    def _count_on_simplex(self, preds: np.ndarray) -> None:
        """Rows whose K values sum to 1 (probabilities, whatever they are scored as)."""
        sums = preds.sum(axis=1, dtype=np.float64)
        self.rows_on_simplex += int((np.abs(sums - 1) <= ON_SIMPLEX_TOL * preds.shape[1]).sum())

    # ------------------------------------------------------------------ softmax geometry
    def _softmax(
        self, preds: np.ndarray, target: np.ndarray, weight: np.ndarray | None, unit: bool
    ) -> RowTerms:
        s = self.setup
        if s.inputs == InputKind.LOGITS and unit:
            self._count_on_simplex(preds)
        if s.target_kind == TargetKind.SOFT:
            rows = self._soft_rows(self._log_probs(preds), target, weight)
        else:
            rows = self._index_rows(preds, target)
        ones = np.ones(preds.shape[0]) if weight is None else weight
        if s.thresholds_two_columns:
            predicted = self._two_column_decision(preds)
        else:
            predicted = row_argmax(preds) if rows.predicted is None else rows.predicted
        self._add_rows(rows, predicted, ones, weight)
        if self.metrics is not None:
            self.metrics.add_labels(rows.label, predicted, weight)
            self.metrics.add_top_k(preds, rows.label, weight)
        if s.target_kind == TargetKind.SOFT:
            self.prior += ones @ target
        else:
            self.prior += np.bincount(rows.label, weights=ones, minlength=s.n_classes)
        return RowTerms(np.empty(0), rows.loss, rows.label, predicted, rows.p_true)

    def _two_column_decision(self, preds: np.ndarray) -> np.ndarray:
        """Class 1 where its probability p_1 ≥ t: the given p_1 for probabilities (T = 1),
        else softmax(x / T)_1 ≥ t ⇔ (x_1 − x_0) / T ≥ logit(t), with x = z or log clip(p)."""
        s = self.setup
        if s.inputs == InputKind.PROBS and s.temperature == 1:
            return (preds[:, 1] >= np.float64(s.decision_threshold)).astype(np.int64)
        x = preds.astype(np.float64)
        if s.inputs == InputKind.PROBS:
            x = np.log(np.clip(x, losses.EPS, 1 - losses.EPS))
        return ((x[:, 1] - x[:, 0]) / s.temperature >= s.logit_cut).astype(np.int64)

    def _log_probs(self, preds: np.ndarray) -> np.ndarray:
        """log q (n, C) in float64: log-softmax of z / T, or of log clip(p) / T for probs."""
        s = self.setup
        if s.inputs == InputKind.LOGITS:
            return losses.log_softmax(preds, s.temperature)
        logp, clipped = losses.log_probs_from_probs(preds, eps=losses.EPS)
        self.n_clipped += clipped
        self.rows_off_simplex += losses.rows_off_simplex(preds)
        if s.temperature != 1:
            logp = losses.log_softmax(logp, s.temperature)
        return logp

    def _index_rows(self, preds: np.ndarray, label: np.ndarray) -> SoftmaxRows:
        """Index targets: the spec's fused kernel on logits when it has one, else its terms on
        log q."""
        s, spec, params = self.setup, self.setup.spec, self.setup.params
        predicted = None
        if s.inputs == InputKind.LOGITS and spec.fused_rows is not None:
            predicted = np.empty(preds.shape[0], dtype=np.int64)
            plain, denom = losses.ce_index_rows(
                preds, label, temperature=s.temperature, argmax_out=predicted
            )
            loss = plain
            if not s.plain:
                loss, denom = spec.fused_rows(preds, label, s.temperature, params)
        else:
            assert spec.rows is not None
            logp = self._log_probs(preds)
            plain = -logp[np.arange(logp.shape[0]), label]
            loss, denom = spec.rows(logp, label, params)
        if s.inputs == InputKind.PROBS:
            exact = preds[np.arange(preds.shape[0]), label]
            self.n_exact_true += int(((exact == 0) | (exact == 1)).sum())
        mass = None if s.class_weight is None else s.class_weight[label]
        return SoftmaxRows(loss, denom, plain, label, np.exp(-plain), mass, predicted)

    def _soft_rows(
        self, logp: np.ndarray, soft: np.ndarray, weight: np.ndarray | None
    ) -> SoftmaxRows:
        """Soft targets t: the spec's terms, the plain −Σ t log q, and H(t) for the KL."""
        s = self.setup
        assert s.spec.rows is not None
        loss, denom = s.spec.rows(logp, soft, s.params)
        plain, _ = losses.ce_terms(logp, soft)
        self.entropy_sum += self._sample(-np.sum(_xlogx(soft), axis=1), weight)
        mass = None if s.class_weight is None else soft @ s.class_weight
        nan = np.full(soft.shape[0], np.nan)
        return SoftmaxRows(loss, denom, plain, np.argmax(soft, axis=1), nan, mass)

    def _add_rows(
        self,
        rows: SoftmaxRows,
        predicted: np.ndarray,
        ones: np.ndarray,
        weight: np.ndarray | None,
    ) -> None:
        """Add one batch of softmax rows (``ones``: the sample weights, 1 without any)."""
        c, label = self.setup.n_classes, rows.label
        self.sample_mass += float(ones.sum())
        self.loss_sum += self._sample(rows.loss, weight)
        self.denom_sum += self._sample(rows.denom, weight)
        self.plain_sum += self._sample(rows.plain, weight)
        mass = rows.class_mass
        self.weight_mass += float(ones.sum()) if mass is None else self._sample(mass, weight)
        hit = (predicted == label).astype(np.float64)
        self.correct += self._sample(hit, weight)
        self.support += np.bincount(label, weights=ones, minlength=c)
        self.class_loss += np.bincount(label, weights=rows.loss * ones, minlength=c)
        self.class_hits += np.bincount(label, weights=hit * ones, minlength=c)

    # ------------------------------------------------------------------ sigmoid geometry
    def _sigmoid(
        self, preds: np.ndarray, target: np.ndarray, weight: np.ndarray | None, unit: bool
    ) -> RowTerms:
        s = self.setup
        n, k = preds.shape
        if s.target_kind == TargetKind.INDEX:  # binary with one column, or one-hot over K
            y = target.astype(np.float64).reshape(n, 1) if k == 1 else np.eye(k)[target]
        else:
            y = target
        if k > 1 and (unit or s.inputs == InputKind.PROBS):
            self._count_on_simplex(preds)
        if s.inputs == InputKind.LOGITS:
            elements = self._elements_from_logits(preds, y)
        else:
            elements = self._elements_from_probs(preds, y)
        ones = np.ones(n) if weight is None else weight
        self._add_elements(elements, ones, weight)
        terms = elements.terms
        if s.target_kind == TargetKind.MULTI_HOT:
            label = predicted = np.full(n, -1)
            decision, truth = self._add_multilabel(elements, ones, weight)
            p_true = np.full(n, np.nan)
            return RowTerms(
                np.empty(0), terms.mean(axis=1), label, predicted, p_true, terms, decision, truth
            )
        label, predicted, p_true = self._add_single_label(preds, target, elements, ones, weight)
        return RowTerms(np.empty(0), terms.mean(axis=1), label, predicted, p_true, elements=terms)

    def _multilabel_logits(
        self, preds: np.ndarray, y: np.ndarray, weight: np.ndarray | None, unit: bool
    ) -> RowTerms:
        """Multi-hot targets on logits: ``_sigmoid``'s sums and terms, by row blocks
        (``multilabel_sums``); the (n, K) terms and decisions only when ``setup.row_terms``."""
        s = self.setup
        n, k = preds.shape
        if k > 1 and unit:
            self._count_on_simplex(preds)
        rule = self._label_rule()
        m = label_block_sums(preds, y, weight, rule, keep=s.row_terms)
        ones = np.ones(n) if weight is None else weight
        mass = float(ones.sum())
        self.sample_mass += mass
        self.loss_sum += self._sample(m.row_terms, weight)
        self.denom_sum += mass * k
        self.weight_mass += self._sample(m.row_omega, weight)
        self.plain_sum += self._sample(m.row_plain, weight)
        self.prior += m.positives
        self.correct += self._sample((m.errors == 0).astype(np.float64), weight)
        self.label_errors += self._sample(m.errors, weight)
        self.support += m.positives
        self.class_loss += m.class_terms
        self.class_hits += m.hits
        if self.metrics is not None:
            self.metrics.add_label_sums(m.hits, m.predicted, m.positives)
        none = np.full(n, -1)
        return RowTerms(
            np.empty(0),
            m.row_terms / k,  # the row mean, as terms.mean(axis=1)
            none,
            none,
            np.full(n, np.nan),
            m.elements,
            m.decision,
            m.truth,
            worst_of=lambda pick: rule.worst_labels(preds[pick], y[pick]),
        )

    def _label_rule(self) -> LabelRule:
        """The multi-label element kernel: the plain BCE (``binary_logit_elements``, one exp
        per element), and the loss's own terms when they differ (weights, smoothing, focal —
        focal's from the same exp, ``LossSpec.fused_elements``)."""
        s = self.setup
        spec, params = s.spec, s.params
        assert spec.elements is not None
        elements, fused = spec.elements, spec.fused_elements

        def kernel(
            z: np.ndarray, y: np.ndarray, truth: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
            if fused is not None and not s.plain:
                return fused(z, y, truth, params, column_major(z))
            plain = plain_bce(z, truth)
            return (plain, plain) if s.plain else (elements(z, y, params), plain)

        return LabelRule(kernel, s.temperature, s.cut, s.class_weight, s.pos_weight, plain=s.plain)

    def _elements_from_logits(self, preds: np.ndarray, y: np.ndarray) -> SigmoidElements:
        """The spec's element terms on z / T, the plain BCE and σ(z / T)."""
        s = self.setup
        z = preds / s.temperature if s.temperature != 1 else preds
        assert s.spec.elements is not None
        positive = z >= s.cut  # σ(z) ≥ t
        if s.target_kind == TargetKind.MULTI_HOT:  # 0/1 targets: one exp per element, chunked
            plain, _ = losses.binary_logit_elements(z, y)
            terms = plain if s.plain else s.spec.elements(z, y, s.params)
            return SigmoidElements(terms, plain, np.empty((0, 0)), y, positive)
        if s.target_kind == TargetKind.INDEX:  # one-hot: the true class's σ(z) too
            plain, q_true, _ = losses.binary_logit_rows(z, y)
            terms = plain if s.plain else s.spec.elements(z, y, s.params)
            return SigmoidElements(terms, plain, q_true, y, positive)
        terms = s.spec.elements(z, y, s.params)
        log_p, log_1mp = losses.log_sigmoid_pair(z)
        plain = -(y * log_p + (1 - y) * log_1mp)
        return SigmoidElements(terms, plain, np.exp(log_p), y, threshold=s.decision_threshold)

    def _elements_from_probs(self, preds: np.ndarray, y: np.ndarray) -> SigmoidElements:
        """Probabilities p: the spec's terms on clip(p); with T ≠ 1, on logit(clip(p)) / T."""
        s = self.setup
        prob = preds.astype(np.float64)
        exact_true = np.where(y == 1, prob, 1 - prob)
        self.n_exact_true += int(((exact_true == 0) | (exact_true == 1)).sum())
        if s.temperature != 1:
            log_p, log_1mp, clipped = losses.log_prob_pair_from_probs(preds, eps=losses.EPS)
            self.n_clipped += clipped
            return self._elements_from_logits(log_p - log_1mp, y)
        assert s.spec.elements_from_probs is not None
        terms, clipped = s.spec.elements_from_probs(preds, y, s.params)
        self.n_clipped += clipped
        plain, _ = losses.bce_terms_from_probs(preds, y, eps=losses.EPS)
        return SigmoidElements(terms, plain, prob, y, threshold=s.decision_threshold)

    def _add_elements(
        self, e: SigmoidElements, ones: np.ndarray, weight: np.ndarray | None
    ) -> None:
        """The sums every sigmoid batch adds: loss, denominator, weight mass, plain BCE."""
        s, (n, k) = self.setup, e.terms.shape
        self.sample_mass += float(ones.sum())
        self.loss_sum += self._sample(e.terms.sum(axis=1), weight)
        self.denom_sum += float(ones.sum()) * k
        omega = np.ones((1, k)) if s.class_weight is None else s.class_weight.reshape(1, k)
        if s.pos_weight is not None:
            omega = omega * (s.pos_weight.reshape(1, k) * e.y + (1 - e.y))
        self.weight_mass += self._sample(np.broadcast_to(omega, (n, k)).sum(axis=1), weight)
        self.plain_sum += self._sample(e.plain.sum(axis=1), weight)
        self.prior += ones @ e.y

    def _add_multilabel(
        self, e: SigmoidElements, ones: np.ndarray, weight: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Subset accuracy, Hamming errors and per-label sums (support = positives); returns
        the (n, K) boolean decisions and truths."""
        decision = e.decision()
        truth = e.y == 1
        errors = np.count_nonzero(decision != truth, axis=1).astype(np.float64)
        self.correct += self._sample((errors == 0).astype(np.float64), weight)
        self.label_errors += self._sample(errors, weight)
        self.support += ones @ e.y
        self.class_loss += ones @ e.terms
        hits = np.logical_and(decision, truth)
        if self.metrics is not None:
            self.metrics.add_multilabel(decision, truth, weight, hits=hits)
        if weight is None:  # counts are exact: no float products
            self.class_hits += np.count_nonzero(hits, axis=0)
        else:
            self.class_hits += ones @ hits.astype(np.float64)
        return decision, truth

    def _add_single_label(
        self,
        preds: np.ndarray,
        label: np.ndarray,
        e: SigmoidElements,
        ones: np.ndarray,
        weight: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Accuracy and per-class sums of index targets; (label, predicted, p_true)."""
        n, k = e.terms.shape
        predicted = row_argmax(preds) if k > 1 else e.decision()[:, 0].astype(np.int64)
        if self.metrics is not None:
            self.metrics.add_labels(label, predicted, weight)
            if k > 1:
                self.metrics.add_top_k(preds, label, weight)
        hit = (predicted == label).astype(np.float64)
        self.correct += self._sample(hit, weight)
        c = self.setup.n_classes
        self.support += np.bincount(label, weights=ones, minlength=c)
        self.class_loss += np.bincount(label, weights=e.terms.sum(axis=1) * ones, minlength=c)
        self.class_hits += np.bincount(label, weights=hit * ones, minlength=c)
        if k > 1:
            return label, predicted, e.prob[np.arange(n), label]
        score = preds[:, 0].astype(np.float64)
        pos = label == 1
        self.pos_score += [float(score[pos] @ ones[pos]), float(ones[pos].sum())]
        self.neg_score += [float(score[~pos] @ ones[~pos]), float(ones[~pos].sum())]
        if e.positive is not None:  # prob is already the true value's (σ(z) or 1 − σ(z))
            return label, predicted, e.prob[:, 0]
        return label, predicted, np.where(pos, e.prob[:, 0], 1 - e.prob[:, 0])

    def _binary_logits(
        self, preds: np.ndarray, target: np.ndarray, weight: np.ndarray | None
    ) -> RowTerms:
        """One logit column z, labels y ∈ {0, 1}: ``_sigmoid``'s sums and terms, by a fused path.

        The plain BCE term and p_true come from one kernel (``losses.binary_logit_rows``), the
        decision σ(z) ≥ t from z ≥ logit(t); the loss terms are those plain terms unless a class
        weight, pos_weight, label smoothing or the loss itself (focal) changes them. The
        per-class sums are one product ``[l, hit, score(, plain)] · [s·(1 − y), s·y]ᵀ``
        (``binary_class_sums``).
        """
        s = self.setup
        n = preds.shape[0]
        score = preds[:, 0]
        z = score / s.temperature if s.temperature != 1 else score
        plain, p_true, _ = losses.binary_logit_rows(z, target)
        positive = z >= s.cut
        terms = plain
        if not s.plain:
            assert s.spec.elements is not None
            terms = s.spec.elements(z, target, s.params)
        columns = [terms, positive == target, score] + ([] if terms is plain else [plain])
        support, (class_loss, class_hits, score_sum, *plain_sum) = binary_class_sums(
            columns, target, weight
        )
        mass = float(support.sum())
        self.sample_mass += mass
        self.denom_sum += mass
        self.support += support
        self.prior += support[1]
        self.class_loss += class_loss
        self.class_hits += class_hits
        self.correct += float(class_hits.sum())
        self.loss_sum += float(class_loss.sum())
        self.plain_sum += float((plain_sum[0] if plain_sum else class_loss).sum())
        # Σ s·ω with ω = w·(P·y + 1 − y), as in _add_elements
        cw = 1.0 if s.class_weight is None else float(s.class_weight[0])
        pw = 1.0 if s.pos_weight is None else float(s.pos_weight[0])
        self.weight_mass += cw * (pw * float(support[1]) + float(support[0]))
        self.pos_score += [score_sum[1], support[1]]
        self.neg_score += [score_sum[0], support[0]]
        predicted = positive.astype(np.int64)
        if self.metrics is not None:
            self.metrics.add_labels(target, predicted, weight)
        return RowTerms(np.empty(0), terms, target, predicted, p_true, elements=terms.reshape(n, 1))

    def _offer_top(self, terms: RowTerms, batch: Batch) -> None:
        pick = self.top.candidates(terms.loss)
        if pick.size == 0:
            return
        rows = terms.rows[pick]
        worst = np.full(pick.size, -1)
        if self.setup.target_kind == TargetKind.MULTI_HOT and terms.elements is not None:
            worst = np.argmax(terms.elements[pick], axis=1)
        elif self.setup.target_kind == TargetKind.MULTI_HOT and terms.worst_of is not None:
            worst = terms.worst_of(pick)
        self.top.update(
            terms.loss[pick],
            rows,
            label=terms.label[pick],
            predicted=terms.predicted[pick],
            p_true=terms.p_true[pick],
            worst=worst,
        )
        if batch.ids is not None:
            ids = batch.ids.values(terms.batch_positions[pick]).tolist()
            self.top_ids.update(zip(rows.tolist(), ids, strict=True))
            kept = set(self.top.rows.tolist())
            self.top_ids = {r: v for r, v in self.top_ids.items() if r in kept}

    # ------------------------------------------------------------------ merge
    def merge(self, other: LossAccumulator) -> LossAccumulator:
        merged = LossAccumulator(self.setup)
        if self.ranking is not None and other.ranking is not None:
            merged.ranking = self.ranking.merge(other.ranking)
        for name, value in vars(self).items():
            if name in ("setup", "top", "top_ids", "first_invalid", "metrics", "ranking"):
                continue  # merged by their own rules, here or below
            if name == "pred_min":
                merged.pred_min = min(self.pred_min, other.pred_min)
            elif name == "pred_max":
                merged.pred_max = max(self.pred_max, other.pred_max)
            else:
                setattr(merged, name, value + getattr(other, name))
        firsts = [f for f in (self.first_invalid, other.first_invalid) if f is not None]
        merged.first_invalid = min(firsts) if firsts else None
        if self.metrics is not None and other.metrics is not None:
            merged.metrics = self.metrics.merge(other.metrics)
        merged.top = self.top.merge(other.top)
        kept = set(merged.top.rows.tolist())
        merged.top_ids = {r: v for r, v in {**self.top_ids, **other.top_ids}.items() if r in kept}
        return merged


def classification_sums(setup: LossSetup) -> ClassificationSums | None:
    """The classification sums this data has: none for soft targets; per label for multi-hot
    targets; else the confusion matrix, and top-k hits when asked for with K ≥ 2 columns."""
    if setup.target_kind == TargetKind.SOFT:
        return None
    multilabel = setup.target_kind == TargetKind.MULTI_HOT
    top_k = setup.top_k_accuracy if setup.n_cols >= 2 else None
    pairs = () if multilabel else setup.confusion_pairs
    return ClassificationSums(setup.n_classes, multilabel=multilabel, top_k=top_k, pairs=pairs)


def ranking_sums(setup: LossSetup) -> RankingSums:
    """The ROC-AUC / AP store of ``--auc`` (exact) or ``--auc-bins B`` (binned)."""
    return RankingSums(
        str(setup.auc),
        setup.auc_bins,
        geometry=setup.geometry,
        inputs=setup.inputs,
        n_cols=setup.n_cols,
        target_kind=setup.target_kind,
        temperature=setup.temperature,
        file=setup.file,
    )


def binary_class_sums(
    columns: list[np.ndarray], y: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(support, sums)`` over rows with labels y ∈ {0, 1} and sample weights s (1 if None):
    ``support = [Σ s·(1 − y), Σ s·y]`` and ``sums[i] = [Σ s·(1 − y)·v_i, Σ s·y·v_i]`` for each
    column v_i — one small matrix product ``[1, v_1, …] · [s·(1 − y), s·y]ᵀ`` per block of
    ``SUM_BLOCK_ROWS`` rows, through scratch reused from block to block (no full-length float64
    temporaries, whatever the batch size)."""
    n = y.shape[0]
    rows = max(1, min(n, SUM_BLOCK_ROWS))
    values, by_class = np.empty((1 + len(columns), rows)), np.empty((2, rows))
    values[0] = 1.0
    sums = np.zeros((1 + len(columns), 2))
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        v, b = values[:, : hi - lo], by_class[:, : hi - lo]
        for row, column in zip(v[1:], columns, strict=True):
            np.copyto(row, column[lo:hi])
        np.copyto(b[1], y[lo:hi])
        np.subtract(1.0, b[1], out=b[0])
        if weight is not None:
            b *= weight[lo:hi]
        sums += v @ b.T
    return sums[0], sums[1:]


def plain_bce(z: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``losses.binary_logit_elements``' terms (``losses.binary_logit_terms``), laid out as
    the whole batch's would be: column-major for a block of column-major logits (numpy sums a
    row's K terms in another order in the other layout)."""
    return losses.binary_logit_terms(z, truth, fortran=column_major(z))


def column_major(z: np.ndarray) -> bool:
    """A block of column-major (n, K) logits, whose plain terms are laid out column-major."""
    return z.ndim == 2 and z.shape[0] > 1 and z.strides[0] < z.strides[1]


def row_argmax(x: np.ndarray) -> np.ndarray:
    """``np.argmax(x, axis=1)`` (ties: first index), without the row-major copy numpy makes of
    a column-major (n, K) array — a running maximum over the columns instead (4× faster)."""
    if x.flags.c_contiguous or x.shape[1] == 1:
        return np.argmax(x, axis=1)
    best = x[:, 0].copy()
    index = np.zeros(x.shape[0], dtype=np.int64)
    better = np.empty(x.shape[0], dtype=bool)
    for j in range(1, x.shape[1]):
        column = x[:, j]
        np.greater(column, best, out=better)
        np.maximum(best, column, out=best)
        index[better] = j
    return index


def _xlogx(p: np.ndarray) -> np.ndarray:
    return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
