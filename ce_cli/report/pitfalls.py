"""What the data alone says is probably wrong with a ``ce score`` run (reference/losses.md §5).

Each rule is a small function of the finished accumulator that returns its warning or None;
``RULES`` runs them in order. Every bound a rule tests is a named constant here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ce_cli.core.listing import shortened
from ce_cli.core.vocab import Geometry, InputKind, OnInvalid, TargetKind
from ce_cli.engine.loss_sums import LossAccumulator
from ce_cli.io.layout import Layout

SIGMOID_OF_ONE = 1 / (1 + math.exp(-1))
"""σ(1) = 0.7311: probabilities in [0.5, σ(1)] are sigmoids of values in [0, 1]."""

PROB_CLIP_EPS = float(np.finfo(float).eps)
"""The probability clip (float64 eps): a per-value loss is at most −log(eps) = 36.04."""

MIN_CLASSES_FOR_DOUBLE_SOFTMAX = 3
"""With two classes softmax(p) of a probability row spans too much to be a tell."""

MIN_CLASSES_FOR_ONE_BASED = 3
"""Class 0 empty while every other class has rows: only a tell with a few classes or more."""


def softmax_floor(n_classes: int) -> float:
    """The least CE of softmax applied to probabilities: −log(e / (e + C − 1))."""
    return math.log(math.e + n_classes - 1) - 1


def softmax_of_unit_range(n_classes: int) -> tuple[float, float]:
    """Softmax of a row of values in [0, 1] lies in [1 / (e + C − 1), e / (e + C − 1)]."""
    return 1 / (math.e + n_classes - 1), math.e / (math.e + n_classes - 1)


@dataclass(frozen=True)
class Facts:
    """What a rule may look at."""

    acc: LossAccumulator
    layout: Layout
    classes: tuple[str, ...]

    @property
    def all_unit(self) -> bool:
        """Every prediction lies in [0, 1]."""
        return bool(self.acc.pred_min >= 0 and self.acc.pred_max <= 1)

    @property
    def every_row_sums_to_one(self) -> bool:
        return self.acc.rows_on_simplex == self.acc.n_used


Rule = Callable[[Facts], "str | None"]


def probabilities_scored_as_logits(f: Facts) -> str | None:
    s = f.acc.setup
    if s.inputs != InputKind.LOGITS or not f.all_unit:
        return None
    if f.every_row_sums_to_one and s.n_cols > 1:
        return (
            "the predictions look like probabilities (all in [0, 1], rows sum to 1) but "
            "are scored as logits: softmax is applied twice and the loss cannot go below "
            f"{softmax_floor(len(f.classes)):.4f}; pass --inputs probs"
        )
    return (
        "every prediction is in [0, 1] but they are scored as logits (sigmoid/softmax "
        "applied twice?); pass --inputs probs if these are probabilities"
    )


def softmax_on_multilabel(f: Facts) -> str | None:
    s = f.acc.setup
    if s.target_kind == TargetKind.MULTI_HOT and s.n_cols > 1 and f.every_row_sums_to_one:
        return (
            "multi-label targets but every prediction row sums to 1: softmax outputs "
            "on a multi-label task? use one sigmoid per label"
        )
    return None


def softmax_applied_twice(f: Facts) -> str | None:
    s, acc, c = f.acc.setup, f.acc, len(f.classes)
    if s.inputs != InputKind.PROBS or s.n_cols < 2 or c < MIN_CLASSES_FOR_DOUBLE_SOFTMAX:
        return None
    low, high = softmax_of_unit_range(c)
    if acc.pred_min >= low and acc.pred_max <= high:
        return (
            f"every probability lies in [{low:.4f}, {high:.4f}] = softmax of values in "
            "[0, 1]: softmax applied twice?"
        )
    return None


def sigmoid_applied_twice(f: Facts) -> str | None:
    acc = f.acc
    if (
        acc.setup.inputs == InputKind.PROBS
        and acc.pred_min >= 0.5
        and acc.pred_max <= SIGMOID_OF_ONE
    ):
        return (
            f"every probability lies in [0.5, {SIGMOID_OF_ONE:.4f}] = sigmoid of values in "
            "[0, 1]: sigmoid applied twice?"
        )
    return None


def rows_not_on_simplex(f: Facts) -> str | None:
    s, acc = f.acc.setup, f.acc
    if (
        s.inputs == InputKind.PROBS
        and acc.rows_off_simplex
        and s.geometry == Geometry.SOFTMAX
        and s.target_kind != TargetKind.MULTI_HOT
    ):
        return (
            f"{acc.rows_off_simplex} probability rows do not sum to 1; they are not "
            "renormalised (as scikit-learn >= 1.5)"
        )
    return None


def exact_zero_or_one(f: Facts) -> str | None:
    if not f.acc.n_exact_true:
        return None
    return (
        f"{f.acc.n_exact_true} rows give the true class a probability of exactly 0 or "
        f"1: the loss there depends on the clip (eps = {PROB_CLIP_EPS:.3g}, "
        f"at most {-math.log(PROB_CLIP_EPS):.2f} per value)"
    )


def one_based_labels(f: Facts) -> str | None:
    acc, s = f.acc, f.acc.setup
    if (
        f.layout.encoding == "int"
        and s.target_kind == TargetKind.INDEX
        and len(f.classes) >= MIN_CLASSES_FOR_ONE_BASED
        and acc.support[0] == 0
        and (acc.support[1:] > 0).all()
    ):
        return (
            "class 0 has no rows and every other class has some: are the labels "
            "1-based? subtract 1 from the labels"
        )
    return None


def flipped_binary_score(f: Facts) -> str | None:
    acc = f.acc
    if acc.setup.n_cols != 1 or not acc.pos_score[1] or not acc.neg_score[1]:
        return None
    if acc.pos_score[0] / acc.pos_score[1] < acc.neg_score[0] / acc.neg_score[1]:
        return (
            "positives score lower than negatives on average: is the column "
            "P(negative), or the logit's sign flipped?"
        )
    return None


def invalid_rows_skipped(f: Facts) -> str | None:
    if f.acc.setup.on_invalid == OnInvalid.SKIP and f.acc.n_invalid:
        return (
            f"{f.acc.n_invalid} rows with NaN or infinite predictions were skipped "
            "(--on-invalid skip)"
        )
    return None


def ignored_rows(f: Facts) -> str | None:
    if not f.acc.n_ignored:
        return None
    return (
        f"{f.acc.n_ignored} rows with label {f.layout.ignore_index} (--ignore-index) were left out"
    )


def masked_rows(f: Facts) -> str | None:
    if not f.acc.n_masked:
        return None
    return f"{f.acc.n_masked} rows with a false {f.layout.mask_col} were left out"


def empty_classes(f: Facts) -> str | None:
    zero = [name for name, support in zip(f.classes, f.acc.support, strict=False) if support == 0]
    if zero and f.acc.setup.target_kind != TargetKind.SOFT:
        return f"classes with no rows: {shortened(zero)} (their recall is undefined)"
    return None


RULES: tuple[Rule, ...] = (
    probabilities_scored_as_logits,
    softmax_on_multilabel,
    softmax_applied_twice,
    sigmoid_applied_twice,
    rows_not_on_simplex,
    exact_zero_or_one,
    one_based_labels,
    flipped_binary_score,
    invalid_rows_skipped,
    ignored_rows,
    masked_rows,
    empty_classes,
)


def pitfalls(acc: LossAccumulator, layout: Layout, classes: tuple[str, ...]) -> list[str]:
    """Every rule's warning, in rule order."""
    facts = Facts(acc, layout, classes)
    return [warning for rule in RULES if (warning := rule(facts)) is not None]
