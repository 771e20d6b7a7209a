"""``ce score``'s classification block: per-class precision / F1, the averages, kappa, MCC,
top-k accuracy and the confusion matrix, from the accumulator's ``ClassificationSums``
(formulas: ``core.classification``), and how a person reads them (tables of the ``View``)."""

from __future__ import annotations

from typing import Any

from ce_cli.core import classification as cm
from ce_cli.core.vocab import Geometry, TargetKind
from ce_cli.engine.loss_sums import LossSetup
from ce_cli.engine.metric_sums import ClassificationSums
from ce_cli.report.view import Table, finite_or_none

TOP_PAIRS = 10  # confused pairs in the JSON (all of them with --confusion)
TABLE_PAIRS = 5  # … in the table
MATRIX_MAX_TEXT = 30  # --confusion prints the whole matrix up to this many classes


def decision_threshold(setup: LossSetup) -> float | None:
    """The threshold t of the decision p ≥ t when one decides (binary one column, multi-label,
    two softmax columns with --threshold); None when the prediction is the argmax."""
    sigmoid = setup.geometry == Geometry.SIGMOID
    if sigmoid and (setup.target_kind == TargetKind.MULTI_HOT or setup.n_cols == 1):
        return setup.decision_threshold
    return setup.decision_threshold if setup.thresholds_two_columns else None


def per_class_values(sums: ClassificationSums | None) -> list[tuple[Any, Any, Any]]:
    """(precision, F1, predicted) per class, None where undefined (or no sums: soft targets)."""
    if sums is None:
        return []
    s = sums.sums()
    return [
        (finite_or_none(p), finite_or_none(f), float(n))
        for p, f, n in zip(cm.precision(s), cm.f1(s), s.predicted, strict=True)
    ]


def classification_block(
    sums: ClassificationSums | None,
    setup: LossSetup,
    classes: tuple[str, ...],
    all_pairs: bool = False,
) -> dict[str, Any] | None:
    """The JSON ``classification`` object (None for soft targets)."""
    if sums is None:
        return None
    s = sums.sums()
    single = not sums.multilabel
    k_value = sums.top_k_accuracy()
    return {
        "threshold": decision_threshold(setup),
        "macro_precision": cm.macro_precision(s),
        "macro_recall": cm.macro_recall(s),
        "macro_f1": cm.macro_f1(s),
        "weighted_f1": cm.weighted_f1(s),
        "micro_f1": cm.micro_f1(s),
        "balanced_accuracy": finite_or_none(cm.balanced_accuracy(s)) if single else None,
        "cohen_kappa": finite_or_none(cm.cohen_kappa(s)) if single else None,
        "mcc": finite_or_none(cm.mcc(s)) if single else None,
        "top_k_accuracy": None if k_value is None else {"k": sums.top_k, "value": k_value},
        "confusion": _confusion(sums, s, classes, all_pairs) if single else None,
    }


def _confusion(
    sums: ClassificationSums, s: cm.ClassSums, classes: tuple[str, ...], all_pairs: bool
) -> dict[str, Any]:
    """The ``confusion`` object: the matrix and its top pairs (the matrix is kept up to
    CONFUSION_MAX_CLASSES classes), and the pairs a check asked for, at any C."""
    out: dict[str, Any]
    if sums.matrix is None:
        note = (
            f"{len(classes)} classes: the confusion matrix is kept up to "
            f"{cm.CONFUSION_MAX_CLASSES} classes (8·C² bytes); the per-class sums give every "
            "other metric"
        )
        out = {"classes": list(classes), "matrix": None, "top_pairs": [], "note": note}
    else:
        top = cm.top_pairs(sums.matrix, s.support, None if all_pairs else TOP_PAIRS)
        out = {
            "classes": list(classes),
            "matrix": sums.matrix.tolist(),
            "top_pairs": [_pair(classes, a, b, n, r) for a, b, n, r in top],
            "note": None,
        }
    if sums.pairs:
        out["requested_pairs"] = [
            _pair(classes, a, b, n, n / s.support[a] if s.support[a] else None)
            for (a, b), n in ((p, sums.pair_count(i)) for i, p in enumerate(sums.pairs))
        ]
    return out


def _pair(classes: tuple[str, ...], a: int, b: int, count: float, rate: Any) -> dict[str, Any]:
    """One confused pair: rows labelled ``classes[a]`` predicted as ``classes[b]``."""
    rate = None if rate is None else float(rate)
    return {"true": classes[a], "predicted": classes[b], "count": count, "rate": rate}


def notes(setup: LossSetup, sums: ClassificationSums | None) -> list[str]:
    """Say when --threshold or --top-k-accuracy was given but does not apply to this data."""
    out = []
    if sums is None:
        if setup.threshold is not None or setup.top_k_accuracy is not None:
            out.append("soft targets: no classification metrics (--threshold, --top-k-accuracy)")
        return out
    if setup.threshold is not None and decision_threshold(setup) is None:
        out.append(
            "--threshold applies to binary and multi-label predictions; these predictions "
            "are the argmax over the classes"
        )
    if setup.top_k_accuracy is not None and sums.top_k is None:
        out.append("--top-k-accuracy needs one class per row and two or more score columns")
    return out


# ---------------------------------------------------------------------- the text view
def summary_items(block: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The headline metrics for the summary line."""
    if block is None:
        return []
    items: list[tuple[str, Any]] = [("macro-F1", block["macro_f1"])]
    if block["threshold"] is not None:
        items.insert(0, ("threshold", block["threshold"]))
    if block["balanced_accuracy"] is None and block["mcc"] is None:  # multi-label
        return [*items, ("micro-F1", block["micro_f1"])]
    items += [
        ("balanced acc", block["balanced_accuracy"]),
        ("kappa", block["cohen_kappa"]),
        ("MCC", block["mcc"]),
    ]
    if block["top_k_accuracy"] is not None:
        top = block["top_k_accuracy"]
        items.append((f"top-{top['k']} acc", top["value"]))
    return items


def class_table(names: list[str], values: list[tuple[Any, Any, Any]], recall: list[Any]) -> Table:
    """Per class: rows predicted as it, precision, recall, F1 ("—" where undefined)."""
    rows = [
        [name, predicted, precision, r, f1]
        for name, (precision, f1, predicted), r in zip(names, values, recall, strict=True)
    ]
    return Table(["class", "predicted", "precision", "recall", "F1"], rows, optional=("predicted",))


def pair_table(block: dict[str, Any]) -> Table | None:
    """The most confused pairs: ``A → B``, the count, and the share of A's rows (%)."""
    confusion = block.get("confusion")
    if not confusion or not confusion["top_pairs"]:
        return None
    rows = [
        [f"{p['true']} → {p['predicted']}", p["count"], 100 * p["rate"]]
        for p in confusion["top_pairs"][:TABLE_PAIRS]
    ]
    return Table(
        ["confused (true → predicted)", "count", "% of true"],
        rows,
        caption="most confused pairs",
    )


def matrix_table(block: dict[str, Any]) -> Table | None:
    """The whole confusion matrix (rows true, columns predicted), when C ≤ MATRIX_MAX_TEXT."""
    confusion = block.get("confusion")
    if not confusion or confusion["matrix"] is None:
        return None
    classes = confusion["classes"]
    if len(classes) > MATRIX_MAX_TEXT:
        return None
    rows = [[name, *row] for name, row in zip(classes, confusion["matrix"], strict=True)]
    return Table(["true \\ predicted", *classes], rows, caption="confusion matrix")


def matrix_note(block: dict[str, Any] | None) -> str | None:
    """What --confusion shows instead of a matrix too large for the text."""
    confusion = None if block is None else block.get("confusion")
    if not confusion:
        return None
    if confusion["matrix"] is None:
        return str(confusion["note"])
    if len(confusion["classes"]) > MATRIX_MAX_TEXT:
        return (
            f"the confusion matrix has more than {MATRIX_MAX_TEXT} classes: it is in the JSON "
            "report (--format json), classification.confusion.matrix"
        )
    return None
