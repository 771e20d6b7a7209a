"""Golden values for ce check's classification replicates (core/bootstrap.CLASS_TABLE).

Run with scikit-learn installed (never in the test venv):

    /tmp/goldenenv/bin/python tests/golden/make_check_metrics_golden.py

Writes tests/golden/check_metrics.json: small single-label cases (labels, predictions,
sample weights, classes — one class absent from the labels, one never predicted) and
scikit-learn's metrics of them, with labels=every class as ce's contract says; and multi-label
cases (0/1 indicator matrices of truths and decisions — one label never positive, one never
predicted) with the F1 family of scikit-learn's multi-label averages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

OUT = Path(__file__).with_name("check_metrics.json")


def metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray | None, c: int) -> dict:
    labels = list(range(c))
    kw = {"labels": labels, "sample_weight": w, "zero_division": 0}
    cm = confusion_matrix(y, p, labels=labels, sample_weight=w)
    per_f1 = f1_score(y, p, average=None, **kw)
    per_prec = precision_score(y, p, average=None, **kw)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    return {
        "macro_f1": f1_score(y, p, average="macro", **kw),
        "weighted_f1": f1_score(y, p, average="weighted", **kw),
        "micro_f1": f1_score(y, p, average="micro", **kw),
        "macro_precision": precision_score(y, p, average="macro", **kw),
        "macro_recall": recall_score(y, p, average="macro", **kw),
        "balanced_accuracy": balanced_accuracy_score(y, p, sample_weight=w),
        "cohen_kappa": cohen_kappa_score(y, p, sample_weight=w),
        "mcc": matthews_corrcoef(y, p, sample_weight=w),
        # per class: null where the denominator is 0 (ce reports it as undefined)
        "class_f1": [None if support[i] + predicted[i] == 0 else float(per_f1[i]) for i in labels],
        "class_precision": [None if predicted[i] == 0 else float(per_prec[i]) for i in labels],
        "confusion": cm.tolist(),
    }


def case(seed: int, n: int, c: int, weighted: bool) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c - 1, n)  # class c-1 has no rows
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, c, n))
    p[p == 1] = 0  # class 1 is never predicted
    w = rng.uniform(0.2, 3.0, n) if weighted else None
    out = metrics(y, p, w, c)
    out = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}
    return {
        "labels": y.tolist(),
        "predicted": p.tolist(),
        "weight": None if w is None else w.tolist(),
        "n_classes": c,
        "sklearn": out,
    }


def multilabel_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> dict:
    kw = {"sample_weight": w, "zero_division": 0}
    per_f1 = f1_score(y, p, average=None, **kw)
    per_prec = precision_score(y, p, average=None, **kw)
    support = (y if w is None else y * w[:, None]).sum(axis=0)
    predicted = (p if w is None else p * w[:, None]).sum(axis=0)
    k = y.shape[1]
    return {
        "macro_f1": float(f1_score(y, p, average="macro", **kw)),
        "weighted_f1": float(f1_score(y, p, average="weighted", **kw)),
        "micro_f1": float(f1_score(y, p, average="micro", **kw)),
        "macro_precision": float(precision_score(y, p, average="macro", **kw)),
        "macro_recall": float(recall_score(y, p, average="macro", **kw)),
        "class_f1": [
            None if support[i] + predicted[i] == 0 else float(per_f1[i]) for i in range(k)
        ],
        "class_precision": [None if predicted[i] == 0 else float(per_prec[i]) for i in range(k)],
    }


def multilabel_case(seed: int, n: int, k: int, weighted: bool) -> dict:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    y[:, k - 1] = 0  # label k-1 is never positive
    p = np.where(rng.random((n, k)) < 0.75, y, 1 - y)
    p[:, 0] = 0  # label 0 is never predicted
    w = rng.uniform(0.2, 3.0, n) if weighted else None
    return {
        "truth": y.tolist(),
        "decision": p.tolist(),
        "weight": None if w is None else w.tolist(),
        "sklearn": multilabel_metrics(y, p, w),
    }


def main() -> None:
    cases = {
        "plain": case(1, 200, 5, False),
        "weighted": case(2, 300, 4, True),
    }
    multilabel = {
        "plain": multilabel_case(3, 200, 5, False),
        "weighted": multilabel_case(4, 300, 4, True),
    }
    data = {"sklearn_version": sklearn.__version__, "cases": cases, "multilabel": multilabel}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
