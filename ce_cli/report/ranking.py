"""ROC-AUC and average precision in ``ce score`` (``--auc``, ``--auc-bins B``): options, the
memory check before reading, and the report's ``auc`` block, per-class values and warnings.

Averages, over the classes whose ROC-AUC is defined (positive and negative mass both > 0; the
others are null, named in a warning and left out, where scikit-learn's ``roc_auc_score`` would
raise or return NaN):
  macro    = the mean of the per-class values (one-vs-rest);
  weighted = Σ_k support_k · AUC_k / Σ_k support_k (support = Σ s·y, scikit-learn's 'weighted').
Binary (two classes, one label per row): the positive class's values (index 1), as
``roc_auc_score(y, p)`` and ``average_precision_score(y, p)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.limits import MAX_BINS
from ce_cli.core.vocab import AucMethod, TargetKind, Task
from ce_cli.engine.ranking_sums import RankingSums, check_budget, exact_bytes
from ce_cli.report.view import Table, finite_or_none

if TYPE_CHECKING:
    from ce_cli.engine.loss_sums import LossSetup

NAMED = 5  # classes named in the "undefined" warning


def check_auc_options(auc: bool, bins: int | None) -> None:
    if auc and bins is not None:
        raise CEError(
            "--auc keeps every score and --auc-bins B bins them: pass one of them, not both"
        )
    if bins is not None and not 2 <= bins <= MAX_BINS:
        raise CEError(f"--auc-bins must be in 2 … {MAX_BINS}, not {bins}")


def auc_setup(auc: bool, bins: int | None, target_kind: str) -> dict[str, Any]:
    """``LossSetup``'s ``auc`` and ``auc_bins``; an error for soft targets (no 0/1 truth)."""
    if not auc and bins is None:
        return {"auc": None, "auc_bins": None}
    if target_kind == TargetKind.SOFT:
        flag = "--auc" if auc else "--auc-bins"
        raise CEError(
            f"{flag}: ROC-AUC and average precision need 0/1 or class-index labels, and these "
            f"targets are soft (class probabilities); drop {flag}"
        )
    if auc:
        return {"auc": AucMethod.EXACT, "auc_bins": None}
    return {"auc": AucMethod.BINNED, "auc_bins": bins}


def check_auc_budget(setup: LossSetup, n_rows: int | None, weighted: bool) -> None:
    """Before reading: the histograms of ``--auc-bins``, and the bytes ``--auc`` would keep for
    ``n_rows`` rows (when known; else checked as the scores arrive), within ``AUC_MAX_BYTES``."""
    if setup.auc == AucMethod.BINNED and setup.auc_bins is not None:
        size = 16 * setup.n_cols * setup.auc_bins
        check_budget(size, f"--auc-bins {setup.auc_bins}", setup.file, binned=True)
    if setup.auc != AucMethod.EXACT or n_rows is None:
        return
    size = exact_bytes(n_rows, setup.n_cols, setup.target_kind, weighted)
    where = f"{setup.file} ({n_rows} rows × {setup.n_cols} columns)"
    check_budget(size, "--auc", where, binned=False)


def add_auc(report: Any, sums: RankingSums | None, classes: tuple[str, ...]) -> None:
    """The ``auc`` block, per-class ``roc_auc`` / ``average_precision`` and the warnings of a
    ``ScoreReport`` (typed ``Any``: score.py imports this module)."""
    if sums is None:
        return
    r = sums.compute(len(classes))
    for i, row in enumerate(report.per_class):
        row.roc_auc = finite_or_none(r.roc_auc[i])
        row.average_precision = finite_or_none(r.average_precision[i])
    defined = r.defined
    binary = len(classes) == 2 and report.target_kind == TargetKind.INDEX
    pick = np.array([False, True]) if binary else defined
    pick &= defined
    report.auc = {
        "method": str(sums.method),
        "bins": sums.bins,
        "max_error": _largest(r.roc_auc_error[pick]),
        "average_precision_max_error": _largest(r.average_precision_error[pick]),
        "roc_auc_macro": _mean(r.roc_auc[pick]),
        "average_precision_macro": _mean(r.average_precision[pick]),
        "roc_auc_weighted": _mean(r.roc_auc[pick], r.positives[pick]),
        "memory_bytes": sums.memory_bytes,
    }
    report.warnings += _undefined(classes, r.positives, r.negatives, binary)


def _mean(values: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    if values.size == 0 or (weights is not None and not weights.sum() > 0):
        return None
    return finite_or_none(float(np.average(values, weights=weights)))


def _largest(errors: np.ndarray) -> float | None:
    return finite_or_none(float(errors.max())) if errors.size else None


def _undefined(
    classes: tuple[str, ...], positives: np.ndarray, negatives: np.ndarray, binary: bool
) -> list[str]:
    """One warning naming the classes without positives or without negatives."""
    if binary:
        if positives[1] > 0 and negatives[1] > 0:
            return []
        missing = "positive" if positives[1] <= 0 else "negative"
        return [
            f"ROC-AUC and average precision are undefined: no {missing} rows (class "
            f"{classes[1]!r} {'never' if missing == 'positive' else 'always'} true)"
        ]
    lacking = [
        f"{name} (no {'positive' if positives[i] <= 0 else 'negative'} rows)"
        for i, name in enumerate(classes)
        if not (positives[i] > 0 and negatives[i] > 0)
    ]
    if not lacking:
        return []
    shown = ", ".join(lacking[:NAMED]) + (
        f" and {len(lacking) - NAMED} more" if len(lacking) > NAMED else ""
    )
    return [
        f"ROC-AUC and average precision are undefined for {len(lacking)} of {len(classes)} "
        f"classes, left out of the macro and weighted averages: {shown}"
    ]


def auc_summary(auc: dict[str, Any] | None, task: str) -> list[tuple[str, Any]]:
    """The summary's ROC-AUC and AP; binned: each followed by its worst-case error (±)."""
    if auc is None:
        return []
    which = {Task.BINARY: "", Task.MULTILABEL: " (macro over labels)"}.get(
        Task(task) if task in Task.values() else Task.MULTICLASS, " (macro, one-vs-rest)"
    )
    binned = auc["method"] == AucMethod.BINNED
    items: list[tuple[str, Any]] = [(f"ROC-AUC{which}", auc["roc_auc_macro"])]
    if binned:
        items.append(("±", auc["max_error"]))
    items.append(("AP", auc["average_precision_macro"]))
    if binned:
        items.append(("±", auc["average_precision_max_error"]))
    return items


def add_auc_columns(
    table: Table, per_class: list[Any], auc: dict[str, Any] | None, csv: bool = False
) -> None:
    """Append ROC-AUC and AP columns to the per-class table (its rows in class order)."""
    if auc is None:
        return
    table.columns += ["roc_auc", "average_precision"] if csv else ["ROC-AUC", "AP"]
    for row, c in zip(table.rows, per_class, strict=True):
        row += [c.roc_auc, c.average_precision]
