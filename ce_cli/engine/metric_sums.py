"""``ClassificationSums``: the mergeable sums behind ``ce score``'s classification metrics.

State, with sample weights s (1 without ``--weight-col``), all float64 and merged by ``+``:
  - single-label: the confusion matrix M[y, ŷ] = Σ s (C×C, rows true, columns predicted, as
    scikit-learn) when C ≤ ``CONFUSION_MAX_CLASSES``, one ``np.bincount`` of y·C + ŷ per batch;
    above that only tp, predicted and support per class (O(C)), and the report says so;
  - the count Σ s·[y = a ∧ ŷ = b] of each (a, b) pair ``ce check`` names (``confusion[A,B]``),
    whatever C: read off the matrix when it is kept, else P numbers of their own;
  - the top-k hits Σ s·[rank of y < k] (``--top-k-accuracy``), vectorised per batch;
  - multi-label: per label tp, predicted positives and support (positives), from the decisions.
The metrics themselves are ``core.classification``'s functions of these sums.
"""

from __future__ import annotations

import numpy as np

from ce_cli.core import classification as cm


class ClassificationSums:
    """Per-class sums (and the confusion matrix when C is small) of one stream of rows."""

    def __init__(
        self,
        n_classes: int,
        *,
        multilabel: bool = False,
        top_k: int | None = None,
        pairs: tuple[tuple[int, int], ...] = (),
    ):
        c = n_classes
        self.n_classes = c
        self.multilabel = multilabel
        self.top_k = None if multilabel else top_k
        self.pairs = () if multilabel else tuple(pairs)
        keep_matrix = not multilabel and c <= cm.CONFUSION_MAX_CLASSES
        self.matrix: np.ndarray | None = np.zeros((c, c)) if keep_matrix else None
        self.tp = np.zeros(c)  # kept here only without a matrix (its diagonal otherwise)
        self.predicted = np.zeros(c)
        self.support = np.zeros(c)
        self.top_k_hits = 0.0
        self.top_k_mass = 0.0  # Σ s over the rows ranked for top-k
        self.pair_counts = np.zeros(len(self.pairs))  # kept here only without a matrix

    # ------------------------------------------------------------------ update
    def add_labels(
        self, label: np.ndarray, predicted: np.ndarray, weight: np.ndarray | None
    ) -> None:
        """One batch of single-label rows: true and predicted class indices."""
        c = self.n_classes
        if self.matrix is not None:
            flat = label.astype(np.int64) * c + predicted
            if c * c <= 8 * flat.size:
                counts = np.bincount(flat, weights=weight, minlength=c * c)
                self.matrix += counts.reshape(c, c)
            else:  # a small batch: no C² temporary
                np.add.at(self.matrix.reshape(-1), flat, 1.0 if weight is None else weight)
            return
        for i, (a, b) in enumerate(self.pairs):
            hit = (label == a) & (predicted == b)
            self.pair_counts[i] += np.count_nonzero(hit) if weight is None else weight[hit].sum()
        hit = label == predicted
        self.support += np.bincount(label, weights=weight, minlength=c)
        self.predicted += np.bincount(predicted, weights=weight, minlength=c)
        w = hit.astype(np.float64) if weight is None else np.where(hit, weight, 0.0)
        self.tp += np.bincount(label, weights=w, minlength=c)

    def add_top_k(self, scores: np.ndarray, label: np.ndarray, weight: np.ndarray | None) -> None:
        """Top-k hits of one batch, ranking the raw scores (logits or probabilities: the same
        order, as softmax and ``/ T`` are increasing)."""
        if self.top_k is None:
            return
        hits = cm.top_k_hits(scores, label, self.top_k)
        if weight is None:
            self.top_k_hits += float(np.count_nonzero(hits))
            self.top_k_mass += float(hits.size)
        else:
            self.top_k_hits += float(weight[hits].sum())
            self.top_k_mass += float(weight.sum())

    def add_multilabel(
        self,
        decision: np.ndarray,
        truth: np.ndarray,
        weight: np.ndarray | None,
        hits: np.ndarray | None = None,
    ) -> None:
        """One batch of (n, C) boolean decisions and truths, one label per column (``hits``:
        decision ∧ truth, when the caller has it already)."""
        hits = decision & truth if hits is None else hits
        if weight is None:  # exact counts, no float products
            self.tp += np.count_nonzero(hits, axis=0)
            self.predicted += np.count_nonzero(decision, axis=0)
            self.support += np.count_nonzero(truth, axis=0)
            return
        self.tp += weight @ hits
        self.predicted += weight @ decision
        self.support += weight @ truth

    def add_label_sums(self, tp: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> None:
        """Per-label sums added up elsewhere (``multilabel_sums``, row block by row block):
        Σ s·[decision ∧ truth], Σ s·[decision] and Σ s·[truth], one value per label."""
        self.tp += tp
        self.predicted += predicted
        self.support += support

    # ------------------------------------------------------------------ merge
    def merge(self, other: ClassificationSums) -> ClassificationSums:
        """The sums of both streams (element-wise +)."""
        out = ClassificationSums(
            self.n_classes, multilabel=self.multilabel, top_k=self.top_k, pairs=self.pairs
        )
        if self.matrix is not None and other.matrix is not None:
            out.matrix = self.matrix + other.matrix
        for name in ("tp", "predicted", "support", "top_k_hits", "top_k_mass", "pair_counts"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    def __eq__(self, other: object) -> bool:
        """The same classes and options, and the same sums up to the rounding of their order
        of addition (1e-12 relative: a merge adds the same weights in another order)."""
        if not isinstance(other, ClassificationSums):
            return NotImplemented
        options = (self.n_classes, self.multilabel, self.top_k, self.pairs)
        same = options == (other.n_classes, other.multilabel, other.top_k, other.pairs)
        if not same or (self.matrix is None) != (other.matrix is None):
            return False
        arrays = ("matrix", "tp", "predicted", "support", "top_k_hits", "top_k_mass", "pair_counts")
        return all(
            np.allclose(getattr(self, name), getattr(other, name), rtol=1e-12, atol=0.0)
            for name in arrays
            if getattr(self, name) is not None
        )

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ results
    def sums(self) -> cm.ClassSums:
        """tp, predicted and support per class (from the matrix's diagonal and margins)."""
        if self.matrix is not None:
            m = self.matrix
            return cm.ClassSums(np.diag(m).copy(), m.sum(axis=0), m.sum(axis=1))
        return cm.ClassSums(self.tp, self.predicted, self.support)

    def pair_count(self, index: int) -> float:
        """Σ s of the rows labelled a predicted b, for ``pairs[index]`` = (a, b)."""
        if self.matrix is not None:
            a, b = self.pairs[index]
            return float(self.matrix[a, b])
        return float(self.pair_counts[index])

    def top_k_accuracy(self) -> float | None:
        """Σ s·hit / Σ s over the ranked rows; None when not asked for or no row was ranked."""
        if self.top_k is None or self.top_k_mass == 0:
            return None
        return self.top_k_hits / self.top_k_mass
