"""``ce score``'s weight options → the loss parameters (``core.loss_table.LossParams``).

``--alpha``: ``balanced`` (α_i = N / (count_i · C), a first pass over the labels), a comma list
of one weight per class, one number (the sigmoid focal loss's α), or a weights JSON file written
by ``ce weights -o``. Which of these a text is, is decided by its syntax alone — a comma, or a
number, makes a list; anything else is a path — so a long list never reaches the filesystem.
``--pos-weight``: ``balanced`` (negatives / positives per column), one number, or one per column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.loss_table import LossChoice, LossParams, spread_smoothing
from ce_cli.core.vocab import DataShape, Geometry, Loss, SmoothingSpread
from ce_cli.core.weights import class_weights, pos_weights
from ce_cli.engine import runner
from ce_cli.engine.accumulate import ClassCounter
from ce_cli.io.dataset import Dataset, InputOptions

BALANCED = "balanced"
TORCHVISION_FOCAL_ALPHA = 0.25  # sigmoid_focal_loss's default α
Counts = tuple[np.ndarray, float]  # (rows per class, N)


def loss_params(
    choice: LossChoice,
    alpha: str | None,
    pos_weight: str | None,
    label_smoothing: float,
    gamma: float,
    classes: tuple[str, ...],
    n_cols: int,
    counts: Counts | None,
) -> tuple[LossParams, list[str]]:
    """The parameters of this run, and a note on the focal α where it applies."""
    geometry, notes = choice.geometry, []
    focal_alpha: float | None = None
    class_weight = None
    if geometry in choice.scored.scalar_alpha:
        focal_alpha = focal_alpha_of(alpha)
        notes.append(
            f"sigmoid focal loss (torchvision): α = {focal_alpha} weights positives"
            if focal_alpha is not None
            else "sigmoid focal loss (torchvision), no α"
        )
    elif alpha is not None:
        n_weights = n_cols if geometry == Geometry.SIGMOID else len(classes)
        if alpha == BALANCED and geometry == Geometry.SIGMOID and n_cols == 1:
            raise CEError(
                "--alpha balanced on a single-column binary file: use --pos-weight "
                "balanced (PyTorch's pos_weight) instead"
            )
        class_weight = class_weights_of(alpha, classes, n_weights, counts)
    positives = None if pos_weight is None else pos_weight_of(pos_weight, n_cols, counts)
    params = LossParams(class_weight, positives, label_smoothing, gamma, focal_alpha)
    return params, notes


def smoothing_of(
    choice: LossChoice, shape: DataShape, eps: float, spread: str, n_classes: int
) -> tuple[float, list[str]]:
    """(ε' for the kernels, a note naming the spread): ``--smoothing-spread others`` maps to
    PyTorch's spread with ε' = ε·K/(K−1) (``loss_table.spread_smoothing``), for ce on one
    class per row, and for ε < (K−1)/K — the targets PyTorch's ε in [0, 1) can express."""
    spread = SmoothingSpread.parse(spread, "--smoothing-spread")
    if not eps:
        return eps, []
    if spread == SmoothingSpread.ALL:
        if choice.reported.name != Loss.CE:
            return eps, []
        return eps, [f"label smoothing ε = {eps} spread over all classes (PyTorch): ε/K each"]
    if choice.reported.name != Loss.CE or shape not in (DataShape.MULTICLASS, DataShape.BINARY):
        what = "soft targets" if shape == DataShape.SOFT else f"--loss {choice.reported.name}"
        if shape == DataShape.MULTILABEL:
            what = "multi-label data"
        raise CEError(
            f"--smoothing-spread others needs --loss ce on one class per row, not {what}; "
            "drop it (PyTorch's spread: --smoothing-spread all)"
        )
    k = max(n_classes, 2)
    if eps >= (k - 1) / k:
        raise CEError(
            f"--smoothing-spread others needs --label-smoothing below (K−1)/K = {(k - 1) / k:g} "
            f"with K = {k} classes (at it the targets are uniform); not {eps}"
        )
    note = (
        f"label smoothing ε = {eps} spread over the other classes (seed 001 §5.1): 1−ε on the "
        f"true class, ε/(K−1) on each other (= PyTorch's spread with ε' = "
        f"{spread_smoothing(eps, spread, k):.12g})"
    )
    return spread_smoothing(eps, spread, k), [note]


def label_counts(options: InputOptions, alpha: str | None, pos_weight: str | None) -> Counts | None:
    """(counts per class, N) from a first pass over the labels, for ``balanced`` weights."""
    if BALANCED not in (alpha, pos_weight):
        return None
    if options.path == "-":
        raise CEError(
            "'balanced' weights need two passes over the file; stdin can be read "
            "once: save it to a file, or pass the weights (ce weights -o w.json)"
        )
    dataset = Dataset(options, read_preds=False)
    classes = dataset.layout.classes
    counter = runner.accumulate(
        dataset, lambda: ClassCounter(classes), ClassCounter.update, options, "counting"
    )
    counts = counter.compute()
    return counts.counts, counts.total


def is_number_list(text: str) -> bool:
    """A comma list, or one number: decided by the text alone (never by the filesystem)."""
    if "," in text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def numbers(spec: str, what: str) -> list[float]:
    try:
        return [float(v) for v in spec.split(",")]
    except ValueError:
        raise CEError(
            f"{what} {spec!r}: expected a number, a comma list of numbers, "
            "'balanced' or a weights JSON file"
        ) from None


def class_weights_of(
    spec: str, classes: tuple[str, ...], n: int, counts: Counts | None
) -> np.ndarray:
    """``--alpha`` as n class weights (finite, >= 0)."""
    if spec == BALANCED:
        assert counts is not None
        weights = class_weights(counts[0], counts[1], "balanced")
        missing = [classes[i] for i in np.flatnonzero(np.isnan(weights))]
        if missing:
            raise CEError(
                f"--alpha balanced: class {missing[0]!r} has no rows, so its weight "
                "is undefined; pass the weights explicitly"
            )
        return weights
    values = numbers(spec, "--alpha") if is_number_list(spec) else weights_file(spec, classes)
    if len(values) == 1 and n > 1:
        raise CEError(
            f"--alpha {spec}: one weight for {n} classes; give one per class "
            f"({', '.join(classes)}), or 'balanced' (a scalar α is for --loss focal on "
            "binary / multi-label data)"
        )
    if len(values) != n:
        raise CEError(
            f"--alpha has {len(values)} weights for {n} classes "
            f"({', '.join(classes)}); give one per class"
        )
    weights = np.array(values)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise CEError(f"--alpha {spec}: class weights must be finite and >= 0")
    return weights


def _read_weights_json(path: str) -> dict[str, object]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CEError(
            f"--alpha {path!r}: expected a number, a comma list of numbers, 'balanced' or a "
            f"weights JSON file ({why})"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CEError(
            f"--alpha {path}: not a weights file written by 'ce weights -o' ({exc})"
        ) from None
    return data if isinstance(data, dict) else {}


def weights_file(path: str, classes: tuple[str, ...]) -> list[float]:
    """The weights of a ``ce weights -o`` JSON file, checked against this file's classes."""
    data = _read_weights_json(path)
    try:
        names = [c["name"] for c in data["classes"]]  # type: ignore[attr-defined]
        weights = list(data["weights"])  # type: ignore[call-overload]
    except (KeyError, TypeError) as exc:
        raise CEError(
            f"--alpha {path}: not a weights file written by 'ce weights -o' ({exc})"
        ) from None
    if tuple(names) != classes:
        raise CEError(
            f"--alpha {path}: its classes ({', '.join(map(str, names))}) differ from this "
            f"file's ({', '.join(classes)})"
        )
    undefined = [n for n, w in zip(names, weights, strict=True) if w is None]
    if undefined:
        raise CEError(
            f"--alpha {path}: class {undefined[0]!r} has no weight (null); edit "
            "the file or pass the weights explicitly"
        )
    return [float(w) for w in weights]


def focal_alpha_of(spec: str | None) -> float | None:
    """The sigmoid focal loss's α: torchvision's 0.25 by default; ``none`` / -1 turn it off."""
    if spec is None:
        return TORCHVISION_FOCAL_ALPHA
    if spec in ("none", "-1"):
        return None
    value = numbers(spec, "--alpha")
    if len(value) != 1 or not 0 <= value[0] <= 1:
        raise CEError(
            f"--alpha {spec}: the sigmoid focal loss takes one α in [0, 1] (the "
            "weight of positives; 'none' or -1 turns it off)"
        )
    return value[0]


def pos_weight_of(spec: str, k: int, counts: Counts | None) -> np.ndarray:
    """``--pos-weight`` as k values: balanced = negatives / positives per column."""
    if spec == BALANCED:
        assert counts is not None
        pos_counts = counts[0][1:2] if k == 1 else counts[0]
        weights = pos_weights(pos_counts, counts[1])
        if np.isnan(weights).any():
            raise CEError(
                "--pos-weight balanced: a class has no positives, so its pos_weight "
                "is undefined; pass the values explicitly"
            )
        return weights
    values = numbers(spec, "--pos-weight")
    if len(values) == 1:
        values = values * k
    if len(values) != k:
        raise CEError(
            f"--pos-weight has {len(values)} values for {k} prediction columns; give "
            "one, or one per column"
        )
    weights = np.array(values)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise CEError(f"--pos-weight {spec}: values must be finite and >= 0")
    return weights
