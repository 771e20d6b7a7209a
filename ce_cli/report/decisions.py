"""Decisions shared by the commands, taken once before the first batch is scored.

- ``class_set``: the classes the prediction columns score;
- ``decide_inputs``: logits or probabilities, and what said so;
- ``data_shape``: which of the four (targets, predictions) shapes the file has — multiclass,
  binary with one column, multi-label, soft targets — with the column count checked against the
  class count.
"""

from __future__ import annotations

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.vocab import DataShape, InputKind, TargetKind
from ce_cli.io.batch import Batch
from ce_cli.io.layout import Layout


def class_set(layout: Layout) -> tuple[str, ...]:
    """The class names, in prediction-column order."""
    if layout.classes is None:
        k = len(layout.preds.names) if layout.preds is not None else 0
        kinds = {"string": "string", "int": "integer", "bool": "boolean"}
        seen = f"{kinds.get(layout.encoding, layout.encoding)} labels and {k} prediction column"
        fix = (
            "--classes NEG,POS to say which class the column scores"
            if k == 1
            else "--classes A,B,… (one per prediction column, in column order)"
        )
        raise CEError(
            f"{layout.label_file}: the class set is unknown ({seen}{'s' if k != 1 else ''}); "
            f"pass {fix}"
        )
    return layout.classes


def decide_inputs(layout: Layout, first: Batch, requested: str) -> tuple[InputKind, str]:
    """(logits | probs, how it was decided) — once, before the first batch is scored.

    An explicit ``--inputs`` wins; then the column prefix (``logit_*`` / ``prob_*``); then the
    first batch: any finite value outside [0, 1] means logits.
    """
    if requested != InputKind.AUTO:
        kind = InputKind.parse(requested, "--inputs")
        return kind, f"--inputs {kind}"
    assert layout.preds is not None
    hint = layout.preds.kind_hint
    if hint is not None:
        named = f"{layout.preds.prefix}*" if layout.preds.prefix else layout.preds.names[0]
        return InputKind(hint), f"the column name {named}"
    preds = first.preds
    assert preds is not None
    finite = preds[np.isfinite(preds)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        return InputKind.LOGITS, "values outside [0, 1] in the first batch"
    return InputKind.PROBS, "every value of the first batch in [0, 1]"


def data_shape(layout: Layout, n_cols: int, n_classes: int) -> DataShape:
    """The shape of targets and predictions, once ``n_cols`` was checked against ``n_classes``."""
    file, k, c = layout.pred_file, n_cols, n_classes
    if layout.target_kind == TargetKind.MULTI_HOT:
        if k != c:
            raise CEError(f"{file}: {k} prediction columns for {c} labels; they must match")
        return DataShape.MULTILABEL
    if k == 1:
        if c != 2:
            raise CEError(
                f"{file}: one prediction column but {c} classes; a single column "
                "scores binary data (pass one column per class)"
            )
        if layout.target_kind == TargetKind.SOFT:
            raise CEError(f"{file}: soft targets need one prediction column per class")
        return DataShape.BINARY
    if k != c:
        raise CEError(
            f"{file}: {k} prediction columns for {c} classes "
            f"({', '.join(layout.classes or ())}); they must match one to one"
        )
    return DataShape.SOFT if layout.target_kind == TargetKind.SOFT else DataShape.MULTICLASS


def check_predictions(
    preds: np.ndarray, rows: np.ndarray, file: str, columns: tuple[str, ...], *, probs: bool
) -> None:
    """Every value finite and, for probabilities, in [0, 1]; else a CEError naming the column
    and the first bad row (``rows``: the 0-based input rows of ``preds``; messages count from
    1, header excluded). All finite is seen from one sum (a NaN or ±inf makes it NaN or ±inf;
    so may an overflow, which then only costs the full check)."""
    with np.errstate(over="ignore", invalid="ignore"):
        all_finite = bool(np.isfinite(preds.sum())) if preds.dtype.kind == "f" else False
    bad = None if all_finite else ~np.isfinite(preds)
    if bad is not None and bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise CEError(
            f"{file}: column {columns[c] if c < len(columns) else c} has NaN or infinite "
            f"predictions (first at row {rows[r] + 1}); fix or drop those rows"
        )
    outside = (preds < 0) | (preds > 1) if probs else None
    if outside is not None and outside.any():
        r, c = (int(i) for i in np.argwhere(outside)[0])
        raise CEError(
            f"{file}: column {columns[c] if c < len(columns) else c} has a value outside [0, 1] "
            f"(row {rows[r] + 1}: {preds[r, c]:.6g}) but the inputs are taken as "
            "probabilities; pass --inputs logits"
        )
