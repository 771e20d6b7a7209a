"""Write tests/golden/auc.json: ROC-AUC and average precision from scikit-learn.

Run with an interpreter that has scikit-learn and scipy (kept out of the project's venv):

    /work/venv-torch/bin/python tests/golden/make_auc_golden.py

Each case stores a CSV (its text, written as ``ce`` reads it), the ``ce score`` arguments, and
what scikit-learn says: per class ``roc_auc_score(y == k, score_k)`` and
``average_precision_score(y == k, score_k)`` (null where the class has no positive or no
negative row), the macro and support-weighted averages over the defined classes, and for
binned runs scikit-learn on the bin indices min(⌊p·B⌋, B − 1) (which is what the binned
estimate is). Scores: multiclass → softmax of logits / T (scipy.special.softmax) or the given
probabilities; binary one column and multi-label → expit(z / T) or p; class 0 of a binary
one-column file scores 1 − p. Inputs are seeded and rounded (ties on purpose), so reruns write
the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from scipy.special import expit, softmax
from sklearn.metrics import average_precision_score, roc_auc_score

OUT = Path(__file__).with_name("auc.json")
BINS = (4, 10, 1000)


def _per_class(truth: np.ndarray, score: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
    """Per column of ``truth`` / ``score`` (n, K): sklearn's values, None where undefined."""
    roc, ap, support = [], [], []
    for k in range(truth.shape[1]):
        y, s = truth[:, k], score[:, k]
        mass = np.ones_like(s) if w is None else w
        pos, neg = float(mass[y == 1].sum()), float(mass[y == 0].sum())
        support.append(pos)
        if pos > 0 and neg > 0:
            roc.append(float(roc_auc_score(y, s, sample_weight=w)))
            ap.append(float(average_precision_score(y, s, sample_weight=w)))
        else:
            roc.append(None)
            ap.append(None)
    return {"roc_auc": roc, "average_precision": ap, "support": support}


def _averages(values: dict[str, Any], binary: bool) -> dict[str, Any]:
    roc, ap, support = values["roc_auc"], values["average_precision"], values["support"]
    if binary:
        return {
            "roc_auc_macro": roc[1],
            "average_precision_macro": ap[1],
            "roc_auc_weighted": roc[1],
        }
    keep = [i for i, v in enumerate(roc) if v is not None]
    return {
        "roc_auc_macro": float(np.mean([roc[i] for i in keep])),
        "average_precision_macro": float(np.mean([ap[i] for i in keep])),
        "roc_auc_weighted": float(
            np.average([roc[i] for i in keep], weights=[support[i] for i in keep])
        ),
    }


def _csv(columns: dict[str, np.ndarray]) -> str:
    names = list(columns)
    n = len(next(iter(columns.values())))
    lines = [",".join(names)]
    for i in range(n):
        lines.append(
            ",".join(
                repr(float(columns[c][i])) if columns[c].dtype.kind == "f" else str(columns[c][i])
                for c in names
            )
        )
    return "\n".join(lines) + "\n"


def case(
    name: str,
    columns: dict[str, np.ndarray],
    args: list[str],
    truth: np.ndarray,
    score: np.ndarray,
    w: np.ndarray | None,
    binary: bool,
) -> dict[str, Any]:
    exact = _per_class(truth, score, w)
    binned = {}
    for b in BINS:
        index = np.minimum((score * b).astype(np.int64), b - 1).astype(np.float64)
        if binary:  # class 0 of one column: the bins of p, reversed
            index[:, 0] = (b - 1) - index[:, 1]
        values = _per_class(truth, index, w)
        binned[str(b)] = {**values, **_averages(values, binary)}
    return {
        "name": name,
        "csv": _csv(columns),
        "args": args,
        "exact": {**exact, **_averages(exact, binary)},
        "binned": binned,
    }


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return (y.reshape(-1, 1) == np.arange(k)).astype(int)


def main() -> None:
    rng = np.random.default_rng(20261206)
    cases = []

    # binary, one logit column; duplicated rows make ties
    n = 400
    y = (rng.random(n) < 0.3).astype(int)
    z = np.round(rng.normal(size=n) + 1.5 * y, 3)
    z[:40] = z[40:80]
    y[:40] = 1 - y[40:80]
    p = expit(z)
    score = np.column_stack([1 - p, p])
    cases.append(
        case("binary_logits", {"label": y, "logit": z}, [], _one_hot(y, 2), score, None, True)
    )

    # binary, probabilities of 2 decimals (many ties), sample weights with zeros
    p = np.round(np.clip(rng.beta(2, 2, n) * 0.6 + 0.4 * y, 0, 1), 2)
    w = np.round(rng.random(n) * 3, 2)
    w[rng.random(n) < 0.1] = 0
    cols = {"label": y, "prob": p, "w": w}
    cases.append(
        case(
            "binary_probs_weighted",
            cols,
            ["--weight-col", "w"],
            _one_hot(y, 2),
            np.column_stack([1 - p, p]),
            w,
            True,
        )
    )

    # multiclass logits, T = 1.7; repeated rows (ties)
    n, k = 600, 5
    y = rng.choice(k, n, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    z = np.round(rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y], 2)
    z[:60] = z[60:120]
    names = ["cat", "dog", "bird", "fish", "horse"]
    cols = {"label": np.array([names[i] for i in y])} | {
        f"logit_{c}": z[:, i] for i, c in enumerate(names)
    }
    score = softmax(z / 1.7, axis=1)
    cases.append(
        case(
            "multiclass_logits_T",
            cols,
            ["--temperature", "1.7"],
            _one_hot(y, k),
            score,
            None,
            False,
        )
    )

    # multiclass probabilities from a few rows (ties), class 3 never the label, weights
    rows = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.25, 0.25, 0.25, 0.25],
            [0.2, 0.2, 0.5, 0.1],
            [0.4, 0.4, 0.1, 0.1],
            [0.1, 0.1, 0.1, 0.7],
        ]
    )
    n, k = 300, 4
    pick = rng.integers(0, len(rows), n)
    P = rows[pick]
    y = np.where(rng.random(n) < 0.6, np.argmax(P, axis=1), rng.integers(0, 3, n))
    y = np.where(y == 3, 0, y)
    w = np.round(rng.random(n) * 2 + 0.1, 1)
    cols = {"label": y} | {f"prob_{i}": P[:, i] for i in range(k)} | {"w": w}
    cases.append(
        case(
            "multiclass_probs_ties_absent", cols, ["--weight-col", "w"], _one_hot(y, k), P, w, False
        )
    )

    # multi-label logits, one label always 0 (no positives) and one always 1 (no negatives)
    n, k = 500, 5
    Y = (rng.random((n, k)) < [0.3, 0.1, 0.5, 0.0, 1.0]).astype(int)
    z = np.round(rng.normal(size=(n, k)) + 1.0 * Y, 2)
    labels = ["person", "car", "dog", "bus", "sky"]
    cols = {f"label_{c}": Y[:, i] for i, c in enumerate(labels)} | {
        f"logit_{c}": z[:, i] for i, c in enumerate(labels)
    }
    cases.append(case("multilabel_logits", cols, [], Y, expit(z), None, False))
    Yd = Y[:, :3]
    cases[-1]["sklearn_macro_defined"] = float(roc_auc_score(Yd, expit(z[:, :3]), average="macro"))
    cases[-1]["sklearn_weighted_defined"] = float(
        roc_auc_score(Yd, expit(z[:, :3]), average="weighted")
    )
    cases[-1]["sklearn_ap_macro_defined"] = float(
        average_precision_score(Yd, expit(z[:, :3]), average="macro")
    )

    # multiclass logits, sample weights: sklearn's own multiclass call, every class present
    n, k = 500, 3
    y = rng.integers(0, k, n)
    z = np.round(rng.normal(size=(n, k)) + 0.8 * np.eye(k)[y], 3)
    w = np.round(rng.random(n) * 4, 3)
    cols = {"label": y} | {f"logit_{i}": z[:, i] for i in range(k)} | {"w": w}
    P = softmax(z, axis=1)
    cases.append(
        case("multiclass_weighted", cols, ["--weight-col", "w"], _one_hot(y, k), P, w, False)
    )
    cases[-1]["sklearn_ovr_macro"] = float(
        roc_auc_score(y, P, multi_class="ovr", average="macro", sample_weight=w)
    )
    cases[-1]["sklearn_ovr_weighted"] = float(
        roc_auc_score(y, P, multi_class="ovr", average="weighted", sample_weight=w)
    )
    cases[-1]["sklearn_ap_macro"] = float(
        average_precision_score(y, P, average="macro", sample_weight=w)
    )

    OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
