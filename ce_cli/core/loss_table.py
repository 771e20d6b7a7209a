"""The table of losses: one ``LossSpec`` per loss, and everything that follows from it.

A spec says which data shapes a loss scores and with which geometry (softmax over the classes
of a row, or one sigmoid per value), which options apply to it, and which kernels compute its
per-batch terms. The ``--loss`` choices (``vocab.Loss``), the JSON Schema enum of
``loss.name``, the "this loss does not fit this data" errors and the report's parameter block
are all read from here.

Term functions, one per geometry (``p`` holds ``class_weight`` w, ``pos_weight`` P,
``label_smoothing`` ε, ``gamma`` γ, ``focal_alpha`` α):

- ``rows(logp, target, p) -> (loss, denom)``: per row, from log-probabilities (n, C); the
  mean is ``Σ s·loss / Σ s·denom`` (``ce``: denom = w_y, PyTorch's weighted mean; else 1);
- ``fused_rows(logits, label, T, p) -> (loss, denom)``: the same from logits and class indices
  in one blocked pass (optional fast path; no (n, C) float64 temporaries);
- ``elements(z, y, p)`` / ``elements_from_probs(q, y, p) -> (terms, n_clipped)``: per element
  (n, K) from logits / probabilities; the mean is over elements, ``Σ s·terms / (Σ s · K)``.

Adding a loss: its kernel in ``core/losses.py``, one ``LossSpec`` below, its name in
``vocab.Loss``, one golden case in ``tests/golden/make_score_golden.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.vocab import DataShape, Geometry, Loss, SmoothingSpread, Vocab

F64 = NDArray[np.float64]


class LossParam(Vocab):
    """The options a loss may take (``--alpha``, ``--pos-weight``, …), as report keys."""

    ALPHA = "alpha"
    POS_WEIGHT = "pos_weight"
    LABEL_SMOOTHING = "label_smoothing"
    GAMMA = "gamma"

    @property
    def option(self) -> str:
        return "--" + self.value.replace("_", "-")


@dataclass(frozen=True)
class LossParams:
    """The parameter values of one scoring run (None / 0 where an option is not given)."""

    class_weight: F64 | None = None  # (C,) softmax, (K,) sigmoid
    pos_weight: F64 | None = None  # (K,)
    label_smoothing: float = 0.0
    gamma: float = 2.0
    focal_alpha: float | None = 0.25  # sigmoid focal: weight of positives

    @property
    def weighted(self) -> bool:
        """Some class weight or pos_weight is not 1."""
        return any(
            w is not None and bool(np.any(w != 1)) for w in (self.class_weight, self.pos_weight)
        )


RowTerms = Callable[[F64, NDArray[Any], LossParams], tuple[F64, F64]]
FusedRowTerms = Callable[[NDArray[Any], NDArray[Any], float, LossParams], tuple[F64, F64]]
ElementTerms = Callable[[NDArray[Any], NDArray[Any], LossParams], F64]
ProbElementTerms = Callable[[NDArray[Any], NDArray[Any], LossParams], tuple[F64, int]]
# (logits, 0/1 targets, y = 1 as booleans, params, column-major plain terms)
#   → (the loss's terms, the plain BCE)
FusedElementTerms = Callable[
    [NDArray[Any], NDArray[Any], NDArray[np.bool_], LossParams, bool], tuple[F64, F64]
]

SHAPE_WORDS = {
    DataShape.MULTICLASS: "one class per row",
    DataShape.BINARY: "one prediction column for two classes",
    DataShape.MULTILABEL: "multi-label data (0/1 per label)",
    DataShape.SOFT: "soft targets (class probabilities)",
}


@dataclass(frozen=True)
class LossSpec:
    """One loss: what it scores, how, with which options, and what it is called."""

    name: Loss
    title: str  # what it equals, for notes and docs
    shapes: Mapping[DataShape, Geometry]  # the data it scores, and the geometry it uses there
    params: frozenset[LossParam]
    rows: RowTerms | None = None  # softmax geometry
    fused_rows: FusedRowTerms | None = None  # softmax, logits and index targets
    elements: ElementTerms | None = None  # sigmoid geometry, logits
    elements_from_probs: ProbElementTerms | None = None  # sigmoid geometry, probabilities
    fused_elements: FusedElementTerms | None = None  # sigmoid, logits, 0/1 targets: with plain
    scored_as: Mapping[DataShape, Loss] = field(default_factory=dict)  # ce on one column: bce
    scalar_alpha: frozenset[Geometry] = frozenset()  # α is one number (the positives' weight)
    weights_normalise: bool = False  # the mean divides by Σ class weights (PyTorch's ce)
    plain_log_loss: bool = False  # with no weight and no smoothing, the terms are the log loss

    @property
    def json_name(self) -> str:
        """``loss.name`` in the JSON report."""
        return str(self.name.value)

    def takes(self, param: LossParam) -> bool:
        return param in self.params

    def is_plain(self, params: LossParams) -> bool:
        """These parameters leave the terms equal to the plain log loss (a fast path may skip
        computing them twice)."""
        return self.plain_log_loss and not params.weighted and not params.label_smoothing


# ---------------------------------------------------------------------- per-loss term functions
def _ce_rows(logp: F64, target: NDArray[Any], p: LossParams) -> tuple[F64, F64]:
    """``nn.CrossEntropyLoss`` terms: index or soft targets (``losses.ce_terms``)."""
    return losses.ce_terms(
        logp, target, class_weight=p.class_weight, label_smoothing=p.label_smoothing
    )


def _ce_fused_rows(
    logits: NDArray[Any], label: NDArray[Any], temperature: float, p: LossParams
) -> tuple[F64, F64]:
    """``_ce_rows`` from logits by the blocked kernel ``losses.ce_index_rows``."""
    return losses.ce_index_rows(
        logits,
        label,
        p.class_weight,
        label_smoothing=p.label_smoothing,
        temperature=temperature,
    )


def _bce_elements(z: NDArray[Any], y: NDArray[Any], p: LossParams) -> F64:
    """``nn.BCEWithLogitsLoss`` terms ``-w·[P·y'·log σ(z) + (1 − y')·log(1 − σ(z))]``."""
    return losses.bce_terms_from_logits(
        z, y, weight=p.class_weight, pos_weight=p.pos_weight, label_smoothing=p.label_smoothing
    )


def _bce_elements_from_probs(q: NDArray[Any], y: NDArray[Any], p: LossParams) -> tuple[F64, int]:
    return losses.bce_terms_from_probs(
        q,
        y,
        weight=p.class_weight,
        pos_weight=p.pos_weight,
        label_smoothing=p.label_smoothing,
        eps=losses.EPS,
    )


def _focal_rows(logp: F64, target: NDArray[Any], p: LossParams) -> tuple[F64, F64]:
    """Softmax focal ``-α_y (1 − p_y)^γ log p_y``; the mean is over rows (denom 1)."""
    loss = losses.softmax_focal_terms(logp, target, alpha=p.class_weight, gamma=p.gamma)
    return loss, np.ones(loss.shape[0])


def _focal_elements(z: NDArray[Any], y: NDArray[Any], p: LossParams) -> F64:
    """torchvision's ``sigmoid_focal_loss`` terms ``BCE · (1 − p_t)^γ · α_t``."""
    return losses.sigmoid_focal_terms(z, y, alpha=p.focal_alpha, gamma=p.gamma)


def _focal_fused_elements(
    z: NDArray[Any], y: NDArray[Any], truth: NDArray[np.bool_], p: LossParams, fortran: bool
) -> tuple[F64, F64]:
    """``_focal_elements`` and the plain BCE of 0/1 targets from one ``exp`` per element."""
    return losses.sigmoid_focal_logit_terms(
        z, y, truth, alpha=p.focal_alpha, gamma=p.gamma, fortran=fortran
    )


def _focal_elements_from_probs(q: NDArray[Any], y: NDArray[Any], p: LossParams) -> tuple[F64, int]:
    return losses.sigmoid_focal_terms_from_probs(
        q, y, alpha=p.focal_alpha, gamma=p.gamma, eps=losses.EPS
    )


# ---------------------------------------------------------------------- the table
_SOFTMAX, _SIGMOID = Geometry.SOFTMAX, Geometry.SIGMOID
_ALPHA, _POS = LossParam.ALPHA, LossParam.POS_WEIGHT
_SMOOTH, _GAMMA = LossParam.LABEL_SMOOTHING, LossParam.GAMMA

LOSSES: dict[Loss, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec(
            name=Loss.CE,
            title="nn.CrossEntropyLoss",
            shapes={
                DataShape.MULTICLASS: _SOFTMAX,
                DataShape.SOFT: _SOFTMAX,
                DataShape.BINARY: _SIGMOID,  # CE over (0, z) is BCE on z
            },
            params=frozenset({_ALPHA, _SMOOTH}),
            rows=_ce_rows,
            fused_rows=_ce_fused_rows,
            scored_as={DataShape.BINARY: Loss.BCE},
            weights_normalise=True,
            plain_log_loss=True,
        ),
        LossSpec(
            name=Loss.BCE,
            title="nn.BCEWithLogitsLoss",
            shapes={shape: _SIGMOID for shape in DataShape},
            params=frozenset({_ALPHA, _POS, _SMOOTH}),
            elements=_bce_elements,
            elements_from_probs=_bce_elements_from_probs,
            plain_log_loss=True,
        ),
        LossSpec(
            name=Loss.FOCAL,
            title="focal loss (softmax; torchvision's sigmoid_focal_loss on sigmoids)",
            shapes={
                DataShape.MULTICLASS: _SOFTMAX,
                DataShape.BINARY: _SIGMOID,
                DataShape.MULTILABEL: _SIGMOID,
            },
            params=frozenset({_ALPHA, _GAMMA}),
            rows=_focal_rows,
            elements=_focal_elements,
            elements_from_probs=_focal_elements_from_probs,
            fused_elements=_focal_fused_elements,
            scalar_alpha=frozenset({_SIGMOID}),
        ),
    )
}
"""Every loss ``ce score`` knows, by name (``vocab.Loss`` minus ``auto``)."""

AUTO: dict[DataShape, Loss] = {
    DataShape.MULTICLASS: Loss.CE,
    DataShape.SOFT: Loss.CE,
    DataShape.BINARY: Loss.BCE,
    DataShape.MULTILABEL: Loss.BCE,
}
"""What ``--loss auto`` means for each data shape."""


@dataclass(frozen=True)
class LossChoice:
    """The loss decided for a file: as reported, as scored, and the geometry."""

    reported: LossSpec  # what the user asked for (``ce`` on one column is reported as ce)
    scored: LossSpec  # whose kernels run (``bce`` there)
    geometry: Geometry


def choose_loss(requested: str, shape: DataShape) -> LossChoice:
    """The spec for ``--loss requested`` on data of this shape, or a one-line error."""
    name = AUTO[shape] if requested == Loss.AUTO else Loss.parse(requested, "--loss")
    spec = LOSSES[name]
    if shape not in spec.shapes:
        fits = [str(s.name) for s in LOSSES.values() if shape in s.shapes]
        scores = "; ".join(SHAPE_WORDS[s] for s in spec.shapes)
        raise CEError(
            f"--loss {name} does not fit {SHAPE_WORDS[shape]}: it scores {scores}; "
            f"pass --loss {' or '.join(fits)}"
        )
    scored = LOSSES[spec.scored_as.get(shape, name)]
    return LossChoice(spec, scored, spec.shapes[shape])


def check_params(spec: LossSpec, given: Mapping[LossParam, bool]) -> None:
    """A one-line error for an option given (True) that ``spec`` does not take."""
    for param, is_given in given.items():
        if is_given and not spec.takes(param):
            takers = [str(s.name) for s in LOSSES.values() if s.takes(param)]
            raise CEError(
                f"{param.option} does not apply to --loss {spec.name}; it applies to "
                f"--loss {' and '.join(takers)}"
            )


def spread_smoothing(eps: float, spread: str, n_classes: int) -> float:
    """The ε' of PyTorch's spread that gives the targets of ``spread`` with ε over K classes.

    ``all`` (PyTorch, Keras): p̃_y = 1 − ε + ε/K, p̃_k = ε/K, so ε' = ε. ``others`` (seed 001
    §5.1): p̃_y = 1 − ε, p̃_k = ε/(K−1) for k ≠ y; PyTorch's spread with ε' = ε·K/(K−1) gives
    p̃_k = ε'/K = ε/(K−1) and p̃_y = 1 − ε'·(K−1)/K = 1 − ε, the same targets. With class
    weights both read l_n = −Σ_k w_k p̃_{n,k} log q_{n,k}, the mean over Σ_n w_{y_n}; with
    K = 2 (one sigmoid column) ε' = 2ε turns y' = y(1 − ε') + ε'/2 into 1 − ε and ε.
    """
    if spread == SmoothingSpread.OTHERS and n_classes >= 2:
        return eps * n_classes / (n_classes - 1)
    return eps


def parameter_block(
    spec: LossSpec,
    geometry: Geometry,
    params: LossParams,
    temperature: float,
    smoothing: tuple[float, str] | None = None,
) -> dict[str, Any]:
    """The report's ``parameters``: the weights, smoothing and temperature always; γ and the
    scalar α where the loss takes them. ``smoothing`` (ε as given, its spread) replaces the
    kernel's ε' (``spread_smoothing``) and names the spread."""
    block: dict[str, Any] = {
        "class_weight": None if params.class_weight is None else params.class_weight.tolist(),
        "pos_weight": None if params.pos_weight is None else params.pos_weight.tolist(),
        "label_smoothing": params.label_smoothing,
        "temperature": temperature,
    }
    if smoothing is not None:
        block["label_smoothing"], block["smoothing_spread"] = smoothing[0], str(smoothing[1])
    if spec.takes(LossParam.GAMMA):
        block["gamma"] = params.gamma
    if geometry in spec.scalar_alpha:
        block["alpha"] = params.focal_alpha
    return block
